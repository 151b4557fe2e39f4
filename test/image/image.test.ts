/**
 * The server's CPU image, built by `npm run image` and booted: unpacked with umoci into an OCI
 * bundle and run as the bundle's config.json says (args, env, cwd, user), in a mount namespace
 * whose root is the bundle's rootfs bound read-only, with a tmpfs on /tmp as the Deployment's
 * emptyDir. systemd-nspawn --oci-bundle cannot run here: without systemd as PID 1 it stops at
 * "Cannot stat /run/systemd/nspawn/propagate/<machine>", and podman/crun fail on rlimits and
 * cgroups; unshare + chroot is what these checks need of a runtime. The network namespace is the
 * host's: the server listens on 127.0.0.1 on free ports.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CSR_APPROVER_COMMAND,
  ENV,
  MODEL_REPOSITORY_PATH,
  READINESS_PATH,
  SERVER_IMAGE,
  SERVER_PORT,
  SERVER_UID,
} from '../../constructs/contract.ts';
import { freePort } from '../free-port.ts';
import { installed } from '../preflight.ts';

const root = join(import.meta.dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
const tools = ['buildah', 'umoci', 'debootstrap', 'unshare', 'nsenter', 'chroot'];
const absent = tools.filter((t) => !installed(t));
const skip = !isRoot
  ? 'it needs root (buildah, debootstrap, mount namespaces); CI runs it as root'
  : absent.length > 0
    ? `${absent.join(', ')} not installed (apt-get install -y buildah umoci debootstrap)`
    : '';
if (skip) console.warn(`SKIPPED image test: ${skip}.`);

interface Bundle {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
}

// Mount namespace set-up, then exec: the process the test holds is the server itself, so its
// signals and exit status are the server's.
const BOOT = `set -e
mount --make-rprivate /
mount --bind "$ROOTFS" "$ROOTFS"
mount -o remount,bind,ro "$ROOTFS"
mount -t proc proc "$ROOTFS/proc"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m tmpfs "$ROOTFS/tmp"
exec chroot --userspec="$IMAGE_USER" "$ROOTFS" /usr/bin/env -i "$@"`;

describe.skipIf(skip)('the server image (npm run image), booted', () => {
  let dir = '';
  let digest = '';
  let bundle: Bundle;
  let server: ChildProcess;
  let exited: Promise<number | null>;
  let url = '';
  let log = '';

  beforeAll(async () => {
    const t0 = Date.now();
    const out = execFileSync('npm', ['run', '--silent', 'image'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    })
      .trim()
      .split('\n');
    const archive = out.at(-1)!;
    digest = out.at(-2)!;
    console.info(`image ${digest} built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    dir = mkdtempSync(join(tmpdir(), 'image-test-'));
    execFileSync('mkdir', [join(dir, 'layout')]);
    execFileSync('tar', ['-C', join(dir, 'layout'), '-xf', archive]);
    execFileSync('umoci', [
      'unpack',
      '--image',
      `${join(dir, 'layout')}:${SERVER_IMAGE}`,
      join(dir, 'bundle'),
    ]);
    bundle = JSON.parse(readFileSync(join(dir, 'bundle', 'config.json'), 'utf8')) as Bundle;

    const [port, metricsPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
    const { args, env, cwd, user } = bundle.process;
    // The image's own environment, with ports and address moved to free ones on loopback.
    const overrides = [
      `${ENV.port}=${port}`,
      `${ENV.metricsPort}=${metricsPort}`,
      `${ENV.grpcPort}=${grpcPort}`,
      `${ENV.host}=127.0.0.1`,
    ];
    const command = ['sh', '-c', 'cd "$0" && exec "$@"', cwd, ...args];
    server = spawn('unshare', ['--mount', 'sh', '-c', BOOT, 'boot', ...env, ...overrides, ...command], {
      env: {
        PATH: process.env.PATH,
        ROOTFS: join(dir, 'bundle', 'rootfs'),
        IMAGE_USER: `${user.uid}:${user.gid}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    server.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    exited = new Promise((resolve) => server.once('exit', (code) => resolve(code)));
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await fetch(`${url}${READINESS_PATH}`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (server.exitCode !== null || Date.now() > deadline)
        throw new Error(`the image did not become ready (exit ${server.exitCode}):\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    console.info(`ready ${((Date.now() - t0) / 1000).toFixed(1)} s after the build started`);
  }, 600_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is configured as server/Dockerfile and the contract say', () => {
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { args, env, cwd, user } = bundle.process;
    expect(args).toEqual(['node', '--import', 'tsx', 'server/main.ts']);
    expect(cwd).toBe('/app');
    expect(user).toEqual({ uid: SERVER_UID, gid: SERVER_UID });
    expect(env).toEqual(
      expect.arrayContaining([
        `${ENV.modelRepository}=${MODEL_REPOSITORY_PATH}`,
        `${ENV.port}=${SERVER_PORT}`,
      ]),
    );
  });

  it('runs one node process as the contract user', () => {
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    expect(/^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/)).toEqual(Array(4).fill(String(SERVER_UID)));
    expect(/^Gid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/)).toEqual(Array(4).fill(String(SERVER_UID)));
    expect(readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('node');
  });

  it('serves both bundled models', async () => {
    const mlp = (await fetch(`${url}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: [...Array(16).keys()] }],
      }),
    }).then((r) => r.json())) as { outputs: { shape: number[]; data: number[] }[] };
    expect(mlp.outputs[0]!.shape).toEqual([1, 4]);

    const meta = (await fetch(`${url}/v2/models/squeezenet1_1`).then((r) => r.json())) as {
      inputs: { name: string; shape: number[] }[];
    };
    const input = meta.inputs[0]!;
    const shape = input.shape.map((d) => (d < 0 ? 1 : d));
    const size = shape.reduce((a, b) => a * b, 1);
    const res = await fetch(`${url}/v2/models/squeezenet1_1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: input.name, shape, datatype: 'FP32', data: Array(size).fill(0.5) }],
      }),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { outputs: { shape: number[] }[] };
    expect(out.outputs[0]!.shape).toEqual([1, 1000]);
  });

  it("starts KubeletCsrApprover's command: its files and dependencies are in the image", () => {
    // No service account is mounted here, so it stops at its configuration check (exit 2) naming
    // the token's folder; a missing file or module would fail before, with ERR_MODULE_NOT_FOUND.
    const { env, cwd, user } = bundle.process;
    const command = ['sh', '-c', 'cd "$0" && exec "$@"', cwd, ...CSR_APPROVER_COMMAND];
    const r = spawnSync(
      'unshare',
      [
        '--mount',
        'sh',
        '-c',
        BOOT,
        'boot',
        ...env,
        'KUBERNETES_SERVICE_HOST=127.0.0.1',
        'KUBERNETES_SERVICE_PORT=6443',
        ...command,
      ],
      {
        env: {
          PATH: process.env.PATH,
          ROOTFS: join(dir, 'bundle', 'rootfs'),
          IMAGE_USER: `${user.uid}:${user.gid}`,
        },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 2, stderr: '' });
    expect(JSON.parse(r.stdout.trim())).toMatchObject({
      level: 'error',
      msg: 'bad configuration',
      error: expect.stringContaining(
        "cannot read the service account's /var/run/secrets/kubernetes.io/serviceaccount/ca.crt (ENOENT)",
      ),
    });
  });

  it('has a read-only root file system, even for root inside it', () => {
    let error = '';
    try {
      execFileSync(
        'nsenter',
        ['--target', String(server.pid), '--mount', '--root', 'touch', '/app/written'],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          encoding: 'utf8',
        },
      );
    } catch (e) {
      error = String((e as { stderr?: string }).stderr);
    }
    expect(error).toContain('Read-only file system');
  });

  it('drains on SIGTERM and exits 0', async () => {
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toContain('"msg":"stopped"');
  });
});
