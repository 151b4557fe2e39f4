import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryError, validateInventory } from '../../provision/src/inventory.ts';
import { parseCli, UsageError } from '../../provision/src/cli.ts';
import { runCli } from './cli-helpers.ts';

const host = { address: '10.0.0.10', role: 'control-plane', ssh: { user: 'root', key: '/k' } };
const problems = (raw: unknown): string[] => {
  try {
    validateInventory(raw, '/inv');
  } catch (e) {
    if (e instanceof InventoryError) return e.problems;
    throw e;
  }
  return [];
};

describe('inventory validation', () => {
  it('fills every default from one place', () => {
    const inv = validateInventory({ hosts: { cp: host } }, '/inv');
    expect(inv.cluster).toEqual({
      kubernetesVersion: '1.37',
      podCidr: '192.168.0.0/16',
      serviceCidr: '10.96.0.0/12',
      cni: 'calico',
      nvidiaDriver: 'auto',
      containerd: { source: 'release', version: '2.3.4', runcVersion: '1.3.6', cniPluginsVersion: '1.9.1' },
      gpuTimeSlicingReplicas: 1,
      noProxy: [],
      aptMirror: 'http://deb.debian.org/debian',
      allowReboot: false,
      knownHosts: join(homedir(), '.ssh', 'known_hosts'),
      aptLockTimeout: 60,
      images: [],
      registryMirrors: {},
    });
    expect(inv.hosts).toEqual([
      {
        name: 'cp',
        address: '10.0.0.10',
        connection: 'ssh',
        role: 'control-plane',
        gpu: 'auto',
        ssh: { user: 'root', port: 22, key: '/k' },
        become: true,
      },
    ]);
  });

  it('resolves relative key and artifacts paths against the inventory file; host proxy overrides the cluster one', () => {
    const inv = validateInventory(
      {
        cluster: { proxy: 'http://p:3128', artifactsDir: 'art', knownHosts: 'ssh/known_hosts' },
        hosts: {
          cp: { ...host, ssh: { key: 'keys/id' } },
          w: { address: 'w', role: 'worker', proxy: 'http://q:8080' },
        },
      },
      '/srv/site',
    );
    expect(inv.cluster.artifactsDir).toBe('/srv/site/art');
    expect(inv.cluster.knownHosts).toBe('/srv/site/ssh/known_hosts');
    expect(inv.hosts[0]).toMatchObject({ ssh: { key: '/srv/site/keys/id' }, proxy: 'http://p:3128' });
    expect(inv.hosts[1]).toMatchObject({ proxy: 'http://q:8080', ssh: { user: 'root', port: 22 } });
  });

  it.each([
    [
      { cluster: { kubernetesVersion: 1.3 }, hosts: { cp: host } },
      'cluster: field "kubernetesVersion" is 1.3; allowed: a string "1.MINOR" or "1.MINOR.PATCH" with MINOR >= 28 (pkgs.k8s.io has v1.28 and later; quote it in YAML)',
    ],
    [
      { cluster: { podCidr: '192.168.0.0/33' }, hosts: { cp: host } },
      'cluster: field "podCidr" is "192.168.0.0/33"; allowed: an IPv4 CIDR like 192.168.0.0/16',
    ],
    [
      { cluster: { cni: 'flannel' }, hosts: { cp: host } },
      'cluster: field "cni" is "flannel"; allowed: "calico" or "none"',
    ],
    [
      { cluster: { nvidiaDriver: 'nvidia-driver-515' }, hosts: { cp: host } },
      'cluster: field "nvidiaDriver" is "nvidia-driver-515"; allowed: "auto" (per Debian release: NVIDIA CUDA repository on 11, Debian nvidia-driver on 12 and 13), "debian" (non-free nvidia-driver), "cuda" (NVIDIA CUDA repository cuda-drivers) or "none" (already installed)',
    ],
    [
      { cluster: { containerd: { source: 'release', version: '1.7.28' } }, hosts: { cp: host } },
      'cluster.containerd: field "version" is "1.7.28"; allowed: a 2.x release (containerd 1.x support ends with Kubernetes 1.35)',
    ],
    [
      { cluster: { gpuTimeSlicingReplicas: 0 }, hosts: { cp: host } },
      'cluster: field "gpuTimeSlicingReplicas" is 0; allowed: an integer from 1 (no sharing) to 64',
    ],
    [
      { cluster: { proxy: 'proxy:3128' }, hosts: { cp: host } },
      'cluster: field "proxy" is "proxy:3128"; allowed: an http(s) URL of scheme, host and port only, like http://proxy.example:3128 (no user:password@, path, query or fragment): not an http:// or https:// URL',
    ],
    [
      { cluster: { swap: false }, hosts: { cp: host } },
      'cluster: field "swap" is false; allowed: one of kubernetesVersion, podCidr, serviceCidr, cni, nvidiaDriver, containerd, gpuTimeSlicingReplicas, proxy, noProxy, artifactsDir, aptMirror, allowReboot, knownHosts, aptLockTimeout, bastion, images, registryMirrors, imageRepository',
    ],
    [
      { cluster: { aptLockTimeout: -1 }, hosts: { cp: host } },
      'cluster: field "aptLockTimeout" is -1; allowed: an integer number of seconds from 0 (fail at once when another apt holds the lock) to 3600',
    ],
    [
      { cluster: { aptLockTimeout: '60' }, hosts: { cp: host } },
      'cluster: field "aptLockTimeout" is "60"; allowed: an integer number of seconds from 0 (fail at once when another apt holds the lock) to 3600',
    ],
    [
      { cluster: { bastion: 'jump.example' }, hosts: { cp: host } },
      'cluster: field "bastion" is "jump.example"; allowed: a mapping with address, port, user, key (address required)',
    ],
    [
      { cluster: { bastion: { address: 'jump.example', port: 0 } }, hosts: { cp: host } },
      'cluster: field "bastion.port" is 0; allowed: an integer 1-65535',
    ],
    [
      { hosts: { cp: { ...host, bastion: { port: 22 } } } },
      'host "cp": field "bastion.address" is (missing); allowed: an IP address or DNS name of the jump host',
    ],
    [
      { hosts: { cp: { ...host, bastion: { address: 'j', user: 'Root!' } } } },
      'host "cp": field "bastion.user" is "Root!"; allowed: a POSIX user name',
    ],
    [
      { hosts: { cp: { ...host, bastion: { address: 'j', proxyCommand: 'nc %h %p' } } } },
      'host "cp": field "bastion.proxyCommand" is "nc %h %p"; allowed: one of address, port, user, key',
    ],
    [
      { hosts: { cp: { ...host, connection: 'local', bastion: { address: 'j' } } } },
      'host "cp": field "bastion" is {"address":"j"}; allowed: omitted (or false) for connection "local"',
    ],
    [
      { hosts: { cp: { ...host, gpu: 'yes' } } },
      'host "cp": field "gpu" is "yes"; allowed: true, false or "auto"',
    ],
    [
      { hosts: { cp: host, w: { address: 'w', role: 'master' } } },
      'host "w": field "role" is "master"; allowed: "control-plane" or "worker"',
    ],
    [
      { hosts: { cp: { ...host, ssh: { port: 70000 } } } },
      'host "cp": field "ssh.port" is 70000; allowed: an integer 1-65535',
    ],
    [
      { hosts: { cp: { ...host, become: 'yes' } } },
      'host "cp": field "become" is "yes"; allowed: true (sudo -n for a non-root user) or false',
    ],
    [
      { hosts: { GPU_1: { ...host } } },
      'host "GPU_1": field "(name)" is "GPU_1"; allowed: a DNS label: lower-case letters, digits and "-" (it becomes the Kubernetes node name)',
    ],
    [
      { hosts: { cp: host, w: { ...host, role: 'worker' } } },
      'host "w": field "address" is "10.0.0.10"; allowed: an address no other host uses (host "cp" has it)',
    ],
    [
      { hosts: { w: { ...host, role: 'worker' } } },
      'hosts: no host has role "control-plane"; allowed: exactly one',
    ],
    [
      { hosts: {} },
      'inventory: field "hosts" is {}; allowed: a mapping of host name -> host settings, at least one host',
    ],
  ])('rejects %j', (raw, message) => {
    expect(problems(raw)).toEqual([message]);
  });

  it("allows Debian's containerd package only up to Kubernetes 1.35 (the last release supporting containerd 1.x)", () => {
    expect(
      problems({
        cluster: { kubernetesVersion: '1.35', containerd: { source: 'debian' } },
        hosts: { cp: host },
      }),
    ).toEqual([]);
    expect(
      problems({
        cluster: { kubernetesVersion: '1.37', containerd: { source: 'debian' } },
        hosts: { cp: host },
      }),
    ).toEqual([
      'cluster.containerd: field "source" is "debian"; allowed: "release": Kubernetes 1.37 needs containerd 2 and Debian 11-13 ship containerd 1.4-1.7 (the Debian package is only for kubernetesVersion 1.35 or older, on Debian 12/13: Debian 11\'s 1.4 lacks the CRI v1 API every Kubernetes >= 1.26 needs)',
    ]);
  });

  it('proxy and noProxy values that would add directives to apt.conf or a systemd unit are refused, each named', () => {
    const aptInjection = 'http://p:3128";APT::Update::Pre-Invoke{"touch /tmp/pwned";};"';
    const unitInjection = 'registry.site\nExecStartPre=/bin/touch /tmp/pwned';
    expect(
      problems({
        cluster: {
          proxy: aptInjection,
          noProxy: ['registry.site', '.example.com', '10.0.0.0/8', 'fd00::/8', '2001:db8::1', unitInjection],
          aptMirror: 'http://deb.debian.org/debian [trusted=yes]',
        },
        hosts: {
          cp: { ...host, proxy: 'http://user:secret@p:3128' },
          w: { address: '10.0.0.11', role: 'worker', proxy: 'http://p:3128/path?x#y' },
          v: { address: '10.0.0.12', role: 'worker', proxy: 'http://p:3128/' },
        },
      }),
    ).toEqual([
      `cluster: field "proxy" is ${JSON.stringify(aptInjection)}; allowed: an http(s) URL of scheme, host and port only, like http://proxy.example:3128 (no user:password@, path, query or fragment): ${JSON.stringify(aptInjection.slice(13))} after the host and port`,
      `cluster: field "noProxy[5]" is ${JSON.stringify(unitInjection)}; allowed: a host name, a domain (.example.com), an IPv4/IPv6 address or a CIDR (10.0.0.0/8)`,
      'cluster: field "aptMirror" is "http://deb.debian.org/debian [trusted=yes]"; allowed: an http(s) URL of a Debian mirror: scheme, host, optional port and a path of letters, digits and ._~%+/-',
      'host "cp": field "proxy" is "http://user:secret@p:3128"; allowed: an http(s) URL of scheme, host and port only, like http://proxy.example:3128 (no user:password@, path, query or fragment): user:password@ is not allowed (it would be readable by every user)',
      'host "w": field "proxy" is "http://p:3128/path?x#y"; allowed: an http(s) URL of scheme, host and port only, like http://proxy.example:3128 (no user:password@, path, query or fragment): no path, query or fragment is allowed',
    ]);
  });

  it('bastion: the cluster one for every SSH host, a host may name its own or opt out with false; key paths resolved', () => {
    const inv = validateInventory(
      {
        cluster: { bastion: { address: 'jump.example', key: 'keys/jump' } },
        hosts: {
          cp: host,
          w1: {
            address: '10.0.0.11',
            role: 'worker',
            bastion: { address: '10.0.0.1', port: 2222, user: 'ops' },
          },
          w2: { address: '10.0.0.12', role: 'worker', bastion: false },
          w3: { address: '10.0.0.13', role: 'worker', connection: 'local' },
        },
      },
      '/srv/site',
    );
    const jump = { address: 'jump.example', port: 22, user: 'root', key: '/srv/site/keys/jump' };
    expect(inv.cluster.bastion).toEqual(jump);
    expect(Object.fromEntries(inv.hosts.map((h) => [h.name, h.bastion]))).toEqual({
      cp: jump,
      w1: { address: '10.0.0.1', port: 2222, user: 'ops' },
      w2: undefined,
      w3: undefined,
    });
  });

  it('reports every problem at once', () => {
    expect(
      problems({
        cluster: { cni: 'x', podCidr: 'y' },
        hosts: { cp: { ...host, gpu: 1 }, w: { role: 'worker' } },
      }),
    ).toEqual([
      'cluster: field "podCidr" is "y"; allowed: an IPv4 CIDR like 192.168.0.0/16',
      'cluster: field "cni" is "x"; allowed: "calico" or "none"',
      'host "cp": field "gpu" is 1; allowed: true, false or "auto"',
      'host "w": field "address" is (missing); allowed: an IP address or DNS name',
    ]);
  });
});

describe('command line', () => {
  it('parses flags and rejects unknown ones and unknown tags', () => {
    expect(
      parseCli(['-i', 'h.yaml', '--check', '--diff', '--limit', 'a,b', '--tags', 'common,swap', '--json']),
    ).toEqual({
      inventory: 'h.yaml',
      check: true,
      diff: true,
      limit: ['a', 'b'],
      tags: ['common', 'swap'],
      json: true,
      verbose: false,
      acceptNewHostKeys: false,
      listTasks: false,
      help: false,
    });
    expect(parseCli(['-i', 'h.yaml', '--accept-new-host-keys']).acceptNewHostKeys).toBe(true);
    expect(
      parseCli(['-i', 'h.yaml', '--serial', '2', '--skip-tags', 'nvidia', '--list-tasks']),
    ).toMatchObject({
      serial: { count: 2 },
      skipTags: ['nvidia'],
      listTasks: true,
    });
    expect(parseCli(['-i', 'h.yaml', '--serial', '25%', '--limit', 'gpu-*:!gpu-3']).serial).toEqual({
      percent: 25,
    });
    expect(parseCli(['-i', 'h.yaml', '--limit', 'gpu-*:!gpu-3']).limit).toEqual(['gpu-*', '!gpu-3']);
    expect(() => parseCli(['--inventory', 'h.yaml', '--tags', 'docker'])).toThrow(UsageError);
    expect(() => parseCli(['--inventory', 'h.yaml', '--force'])).toThrow(/Unknown option '--force'/);
    expect(() => parseCli([])).toThrow('--inventory FILE is required');
  });

  describe('a bad inventory touches no host', () => {
    let server: Server;
    let port = 0;
    let connections = 0;
    const dir = mkdtempSync(join(tmpdir(), 'cdk8s-prov-inv-'));
    beforeAll(async () => {
      // A stand-in "host" on loopback that counts connection attempts.
      server = createServer((s) => {
        connections++;
        s.destroy();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const cli = (args: string[]) => runCli(args, 60_000);

    it('exits 2 naming host, field, value and what is allowed; nothing connected', async () => {
      const inv = join(dir, 'bad.yaml');
      writeFileSync(
        inv,
        `hosts:\n  cp:\n    address: 127.0.0.1\n    role: control-plane\n    ssh: { port: ${port} }\n  gpu-1:\n    address: 127.0.0.2\n    role: worker\n    gpu: yes-please\n`,
      );
      const r = await cli(['--inventory', inv]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'error: invalid inventory (no host was contacted):\n  - host "gpu-1": field "gpu" is "yes-please"; allowed: true, false or "auto"\n',
      );
      expect(connections).toBe(0);
    });

    it('the same machine under two spellings (127.0.0.1, 127.1, ::ffff:7f00:1) is a duplicate host: exit 2 naming both, nothing connected', async () => {
      const inv = join(dir, 'dup.yaml');
      writeFileSync(
        inv,
        `hosts:\n  cp:\n    address: 127.0.0.1\n    role: control-plane\n    ssh: { port: ${port} }\n  w1:\n    address: "127.1"\n    role: worker\n    ssh: { port: ${port} }\n  w2:\n    address: "::ffff:7f00:1"\n    role: worker\n    ssh: { port: ${port} }\n`,
      );
      const r = await cli(['--inventory', inv, '--check']);
      expect(r.stderr).toBe(
        'error: invalid inventory (no host was contacted):\n' +
          '  - host "w1": field "address" is "127.1"; allowed: an address no other host uses (host "cp" is the same machine: both are 127.0.0.1)\n' +
          '  - host "w2": field "address" is "::ffff:7f00:1"; allowed: an address no other host uses (host "cp" is the same machine: both are 127.0.0.1)\n',
      );
      expect(r.code).toBe(2);
      expect(connections).toBe(0);
    });

    it('--limit with an unknown host exits 2 before any connection', async () => {
      const inv = join(dir, 'ok.yaml');
      writeFileSync(
        inv,
        `hosts:\n  cp:\n    address: 127.0.0.1\n    role: control-plane\n    ssh: { port: ${port} }\n`,
      );
      const r = await cli(['--inventory', inv, '--limit', 'cp,nope']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'error: --limit: pattern "nope" matches no host or group; hosts: cp; groups: all, control-plane, worker, gpu\n',
      );
      expect(connections).toBe(0);
    });

    // Four hosts that all point at the counting stand-in: any connection would show.
    const fleet = () => {
      const inv = join(dir, 'fleet.yaml');
      const h = (n: number, role: string, gpu: string) =>
        `  ${role === 'control-plane' ? 'cp' : `${gpu === 'false' ? 'cpu' : 'gpu'}-${n}`}:\n    address: 127.0.0.${n}\n    role: ${role}\n    gpu: ${gpu}\n    ssh: { port: ${port} }\n`;
      writeFileSync(
        inv,
        'hosts:\n' +
          h(1, 'control-plane', 'false') +
          h(2, 'worker', 'auto') +
          h(3, 'worker', 'true') +
          h(4, 'worker', 'false'),
      );
      return inv;
    };
    const listedHosts = (out: string) => [...out.matchAll(/^ {2}host (\S+) /gm)].map((m) => m[1]);

    it("--list-tasks prints each selected host's tasks with their tags, contacting nothing", async () => {
      const r = await cli(['--inventory', fleet(), '--list-tasks']);
      expect(r.code, r.stderr).toBe(0);
      expect(listedHosts(r.stdout)).toEqual(['cp', 'gpu-2', 'gpu-3', 'cpu-4']);
      expect(r.stdout).toContain(
        '  host cp (control-plane, gpu: false):\n    common : apt update\tTAGS: [common, apt]\n',
      );
      const section = (name: string) => r.stdout.split(`  host ${name} `)[1]!.split('\n\n')[0]!;
      expect(section('cp')).toContain('control-plane : kubeadm init');
      expect(section('cp')).not.toContain('nvidia :');
      // gpu: auto -> the GPU roles are listed, marked as decided by the host's hardware.
      expect(section('gpu-2')).toMatch(
        /nvidia : driver \(Debian nvidia-driver\)\tTAGS: \[nvidia\]\t\(only if an NVIDIA GPU is found\)/,
      );
      expect(section('gpu-2')).toMatch(/common : swap off\tTAGS: \[common, swap\]\n/);
      expect(section('gpu-3')).toMatch(/nvidia : driver \(Debian nvidia-driver\)\tTAGS: \[nvidia\]\n/);
      expect(section('cpu-4')).not.toContain('nvidia');
      expect(connections).toBe(0);
    });

    it('--limit globs, groups, exclusion and intersection; --tags and --skip-tags filter the list', async () => {
      const inv = fleet();
      const list = async (...args: string[]) => {
        const r = await cli(['--inventory', inv, '--list-tasks', ...args]);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout;
      };
      expect(listedHosts(await list('--limit', 'gpu-*'))).toEqual(['gpu-2', 'gpu-3']);
      expect(listedHosts(await list('--limit', 'control-plane'))).toEqual(['cp']);
      // gpu: true and auto hosts (auto's hardware is known only from facts), not gpu: false.
      expect(listedHosts(await list('--limit', 'gpu'))).toEqual(['gpu-2', 'gpu-3']);
      expect(listedHosts(await list('--limit', 'worker:!gpu'))).toEqual(['cpu-4']);
      expect(listedHosts(await list('--limit', 'worker:!gpu-3'))).toEqual(['gpu-2', 'cpu-4']);
      expect(listedHosts(await list('--limit', 'all,&*-[34]'))).toEqual(['gpu-3', 'cpu-4']);
      const tagged = await list('--limit', 'cp', '--tags', 'common', '--skip-tags', 'apt,sysctl');
      const tasks = tagged.split('\n').filter((l) => l.startsWith('    '));
      expect(tasks.length).toBeGreaterThan(0);
      expect(tasks.every((l) => l.startsWith('    common : '))).toBe(true);
      expect(tasks.some((l) => /\b(apt|sysctl)\b/.test(l.split('TAGS')[1]!))).toBe(false);
      expect(tagged).toContain('common : swap off\t');
      const skipped = await list('--limit', 'cp', '--skip-tags', 'common');
      expect(skipped).not.toContain('common :');
      expect(skipped).toContain('kubernetes : ');
      expect(connections).toBe(0);
    });

    it('bad --limit, --serial, --tags, --skip-tags: exit 2 naming flag, value and what is allowed; nothing connected', async () => {
      const inv = fleet();
      const err = async (...args: string[]) => {
        const r = await cli(['--inventory', inv, ...args]);
        expect(r.code).toBe(2);
        return r.stderr.split('\n')[0];
      };
      expect(await err('--limit', 'gpu-9*')).toBe(
        'error: --limit: pattern "gpu-9*" matches no host or group; hosts: cp, gpu-2, gpu-3, cpu-4; groups: all, control-plane, worker, gpu',
      );
      expect(await err('--limit', 'cp,!cp')).toBe(
        'error: --limit cp,!cp: together the patterns select no host; hosts: cp, gpu-2, gpu-3, cpu-4; groups: all, control-plane, worker, gpu',
      );
      expect(await err('--limit', 'GPU_2')).toBe(
        'error: --limit: "GPU_2" is not a host pattern; allowed: a host name, a group, a glob with * ? [..], optionally prefixed with ! (exclude) or & (intersect); hosts: cp, gpu-2, gpu-3, cpu-4; groups: all, control-plane, worker, gpu',
      );
      expect(await err('--serial', '0')).toBe(
        'error: --serial: "0" is not a batch size; allowed: a whole number of hosts >= 1, or a percentage 1%-100% of the selected hosts',
      );
      expect(await err('--serial', '150%')).toMatch(/^error: --serial: "150%" is not a batch size/);
      expect(await err('--serial', 'two')).toMatch(/^error: --serial: "two" is not a batch size/);
      expect(await err('--skip-tags', 'docker')).toBe(
        'error: --skip-tags: "docker" is not a role or tag; allowed: common, containerd, nvidia, kubernetes, control-plane, join, gpu-node, apt, swap, modules, sysctl, images',
      );
      expect(await err('--tags', ',')).toMatch(/^error: --tags: "," names no role or tag/);
      expect(connections).toBe(0);
    });

    it('YAML syntax errors and missing files are inventory errors too', async () => {
      const inv = join(dir, 'broken.yaml');
      writeFileSync(inv, 'hosts: [\n');
      expect((await cli(['--inventory', inv])).stderr).toMatch(
        /^error: invalid inventory \(no host was contacted\):\n {2}- .*broken\.yaml: not valid YAML/,
      );
      expect((await cli(['--inventory', join(dir, 'none.yaml')])).stderr).toMatch(
        /none\.yaml: cannot read: ENOENT/,
      );
    });

    // Last in this block: it connects (once), the tests above count zero connections.
    it('--serial 1: the control plane (first batch) unreachable stops the run; the later hosts are never contacted and listed as not run', async () => {
      const inv = join(dir, 'serial.yaml');
      const h = (name: string, n: number, role: string) =>
        `  ${name}:\n    address: 127.0.0.${n}\n    role: ${role}\n    gpu: false\n    ssh: { port: ${port} }\n`;
      writeFileSync(
        inv,
        `cluster:\n  knownHosts: ${join(dir, 'kh')}\nhosts:\n` +
          h('w-1', 2, 'worker') +
          h('cp', 1, 'control-plane') +
          h('w-2', 3, 'worker'),
      );
      const before = connections;
      const r = await cli(['--inventory', inv, '--serial', '1', '--check']);
      expect(r.code, r.stderr).toBe(1);
      expect(connections - before).toBe(1);
      expect(r.stdout).toMatch(/^cp +: ok=0 changed=0 unreachable=1 failed=0 skipped=0$/m);
      expect(r.stdout).not.toMatch(/^w-\d/m);
      expect(r.stdout).toContain(
        'NOT RUN (a host in an earlier --serial batch failed; nothing was done on them): w-1, w-2\n',
      );
      const json = await cli(['--inventory', inv, '--serial', '50%', '--check', '--json']);
      expect(json.json?.hosts.map((x) => x.host)).toEqual(['w-1', 'cp']);
      expect(json.json?.notRun).toEqual(['w-2']);
    });
  });
});
