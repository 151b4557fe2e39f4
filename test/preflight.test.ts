import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  COMPONENT_REQUIREMENTS,
  installed,
  missing,
  missingMessage,
  REQUIREMENTS,
  unbuiltComponents,
} from './preflight.ts';

const root = join(import.meta.dirname, '..');
const aptPackages = readFileSync(join(root, '.ci', 'apt-packages.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('the check before the suite (test/global-setup.ts)', () => {
  it(".ci/apt-packages.txt lists every package the check names, and npm run bench's load generator", () => {
    const needed = [...new Set(REQUIREMENTS.map((r) => r.debianPackage)), 'hey', 'time'];
    expect(needed.filter((p) => !aptPackages.includes(p))).toEqual([]);
  });

  it('each requirement names test files that exist', () => {
    const files = spawnSync('git', ['ls-files', 'test'], { cwd: root, encoding: 'utf8' }).stdout.split('\n');
    for (const r of REQUIREMENTS) {
      expect(
        files.filter((f) => r.files.test(f) && existsSync(join(root, f))),
        r.tool,
      ).not.toEqual([]);
    }
  });

  it('names a missing tool, its package and the install command; root-only tools only as root', () => {
    const files = ['test/constructs/promql.test.ts', 'test/provision/e2e-debian11.test.ts'];
    const asUser = missing(files, { root: false, path: '/nonexistent' });
    expect(asUser.map((r) => r.tool)).toEqual(['promtool', 'ssh-keygen', 'ip']);
    const asRoot = missing(files, { root: true, path: '/nonexistent' }).map((r) => r.tool);
    expect(asRoot).toEqual(expect.arrayContaining(['debootstrap', 'systemd-nspawn', 'tinyproxy', 'gpg']));
    const message = missingMessage(asUser, files);
    expect(message).toContain(
      '  - promtool (Debian package prometheus): checks rules, configs and metrics exposition; used by test/constructs/promql.test.ts\n',
    );
    expect(message).toContain(
      'sudo apt-get install -y --no-install-recommends prometheus openssh-client iproute2\n',
    );
    expect(message).toContain('.ci/run');
  });

  it("names the clients' virtual environment and the script that creates it", () => {
    const files = ['test/clients/tritonclient-http.test.ts'];
    const gaps = missing(files, {
      root: false,
      requirements: REQUIREMENTS.map((r) => ({ ...r, tool: '/nonexistent/bin/python' })),
    });
    expect(gaps.map((r) => r.debianPackage)).toEqual(['python3-venv']);
    const message = missingMessage(gaps, files);
    expect(message).toContain('used by test/clients/tritonclient-http.test.ts');
    expect(message).toContain('then create:\n  test/clients/venv.sh');
  });

  it('names the unbuilt components a file runs and npm run cluster:build; test/cluster/ only as root', () => {
    const all = ['kubernetes', 'kubeadm', 'etcd'];
    const verify = (name: string) => `${name} v1 is not built (no SHA256SUMS); run npm run cluster:build`;
    const validate = ['test/provision/kubeadm-validate.test.ts'];
    const asUser = unbuiltComponents(validate, { root: false, all, verify });
    expect(asUser).toEqual([expect.stringContaining('npm run cluster:build -- kubeadm builds it')]);
    expect(asUser[0]).toContain('\n  - kubeadm v1 is not built (no SHA256SUMS); run npm run cluster:build');
    expect(asUser[0]).not.toContain('etcd');
    const cluster = ['test/cluster/autoscale.test.ts'];
    expect(unbuiltComponents(cluster, { root: false, all, verify })).toEqual([]);
    // The local cluster runs everything but kubeadm.
    const asRoot = unbuiltComponents(cluster, { root: true, all, verify });
    expect(asRoot).toHaveLength(1);
    expect(asRoot[0]).toContain('  - kubernetes v1');
    expect(asRoot[0]).toContain('  - etcd v1');
    expect(asRoot[0]).not.toContain('kubeadm');
    expect(unbuiltComponents(validate, { root: true, all, verify: () => undefined })).toEqual([]);
  });

  it('each component requirement names test files that exist', () => {
    const files = spawnSync('git', ['ls-files', 'test'], { cwd: root, encoding: 'utf8' }).stdout.split('\n');
    for (const r of COMPONENT_REQUIREMENTS)
      expect(
        files.filter((f) => r.files.test(f) && existsSync(join(root, f))),
        r.why,
      ).not.toEqual([]);
  });

  it('finds tools on PATH and checks only the files of the run', () => {
    expect(installed('sh', '/nonexistent:/bin:/usr/bin')).toBe(true);
    expect(installed('sh', '/nonexistent')).toBe(false);
    expect(missing(['test/server/batcher.test.ts'], { root: true, path: '/nonexistent' })).toEqual([]);
  });
});
