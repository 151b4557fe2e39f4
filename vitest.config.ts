import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // Server, Prometheus and the Debian host use real ports and processes: run files one at a time
    // on this 2-core machine so that they do not starve each other.
    fileParallelism: false,
  },
});
