import { configDefaults, defineConfig } from 'vitest/config';

const isRoot = process.getuid?.() === 0;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/cluster/ runs a Kubernetes cluster in network namespaces: root only (test/global-setup.ts
    // says so when it skips them).
    exclude: [...configDefaults.exclude, ...(isRoot ? [] : ['test/cluster/**'])],
    // The tools the tests spawn, checked before any test starts (test/preflight.ts).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // Server, Prometheus and the Debian host use real ports and processes: run files one at a time
    // on this 2-core machine so that they do not starve each other.
    fileParallelism: false,
  },
});
