/** The engine over the real local connector (zx): real files, real shell, this Debian machine. */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalConnector } from '../../provision/src/connector.ts';
import { runHost, runSerial, type HostPlan, type TaskResult } from '../../provision/src/engine.ts';
import { anyFailed, lineReporter, recap } from '../../provision/src/report.ts';
import { commandTask } from '../../provision/src/ops/command.ts';
import { downloadTask } from '../../provision/src/ops/download.ts';
import { fileTask, lineTask } from '../../provision/src/ops/file.ts';
import { changed, type Connector, type Task } from '../../provision/src/types.ts';
import { BOOKWORM_FACTS_OUTPUT } from './bookworm-facts.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdk8s-prov-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string) => join(dir, f);
const owner = process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'root');

function plan(tasks: Task[]): HostPlan {
  return {
    name: 'local',
    connect: async () => new LocalConnector(false),
    tasks: () => tasks,
    handlers: [{ name: 'reload', steps: [{ run: `echo reloaded >> ${p('handler.log')}` }] }],
    allowReboot: false,
  };
}
const quiet = { task: () => {} };
const statuses = (ts: TaskResult[]) => ts.map((t) => `${t.role}|${t.task}|${t.status}`);

describe.skipIf(owner !== 'root')('engine with the local connector', () => {
  const tasks = [
    fileTask('app', 'config', {
      path: p('app.conf'),
      content: 'port = 8080\n',
      owner,
      group: owner,
      notify: ['reload'],
    }),
    lineTask('app', 'limit', {
      path: p('limits.conf'),
      regexp: '^limit',
      line: 'limit = 3',
      owner,
      group: owner,
      notify: ['reload'],
    }),
    commandTask('app', 'marker', { run: `touch ${p('marker')}`, creates: p('marker') }),
  ];

  it('check mode reports the changes and touches nothing', async () => {
    const r = await runHost(plan(tasks), { check: true, reporter: quiet });
    expect(statuses(r.tasks)).toEqual([
      'facts|gather|ok',
      'app|config|changed',
      'app|limit|changed',
      'app|marker|changed',
      'app|handler: reload|changed',
    ]);
    expect(r.tasks.at(-1)!.reason).toBe('notified (check mode: not run)');
    expect(existsSync(p('app.conf')) || existsSync(p('marker')) || existsSync(p('handler.log'))).toBe(false);
  });

  it('applies, runs the handler once for two notifications, then a second run changes nothing', async () => {
    const first = await runHost(plan(tasks), { check: false, reporter: quiet });
    expect(first.counts).toEqual({ ok: 1, changed: 4, skipped: 0, failed: 0, unreachable: 0 });
    expect(readFileSync(p('app.conf'), 'utf8')).toBe('port = 8080\n');
    expect(readFileSync(p('limits.conf'), 'utf8')).toBe('limit = 3\n');
    expect(readFileSync(p('handler.log'), 'utf8')).toBe('reloaded\n');
    const second = await runHost(plan(tasks), { check: false, reporter: quiet });
    expect(second.counts).toEqual({ ok: 4, changed: 0, skipped: 0, failed: 0, unreachable: 0 });
    expect(readFileSync(p('handler.log'), 'utf8')).toBe('reloaded\n');
  });

  it('a failing command stops this host with the exit code, the command and its stderr; later tasks do not run', async () => {
    const r = await runHost(
      plan([
        commandTask('app', 'breaks', { run: `echo boom >&2; exit 3` }),
        commandTask('app', 'never', { run: `touch ${p('never')}` }),
      ]),
      { check: false, reporter: quiet },
    );
    expect(r.error).toBe('app : breaks: command failed (exit 3): echo boom >&2; exit 3: boom');
    expect(statuses(r.tasks)).toEqual(['facts|gather|ok', 'app|breaks|failed']);
    expect(existsSync(p('never'))).toBe(false);
  });

  it('--verbose: command output is streamed, line by line, prefixed with the host', async () => {
    let text = '';
    const reporter = lineReporter({ diff: false, verbose: true, write: (x) => void (text += x) });
    await runHost(plan([commandTask('app', 'talk', { run: 'echo one; echo two >&2' })]), {
      check: false,
      reporter,
    });
    expect(text).toContain('changed: [local] app | talk - no guard\n    $ echo one; echo two >&2\n');
    expect(text).toContain('    [local] one\n');
    expect(text).toContain('    [local] two\n');
  });

  it('--tags selects roles and task tags', async () => {
    const r = await runHost(
      plan([commandTask('a', 'one', { run: 'true' }, ['x']), commandTask('b', 'two', { run: 'true' })]),
      { check: true, tags: ['x'], reporter: quiet },
    );
    expect(statuses(r.tasks)).toEqual(['facts|gather|ok', 'a|one|changed']);
  });

  it('air-gapped download: pushed from the artifacts directory, checksum verified, installed; a wrong checksum fails and installs nothing', async () => {
    const art = mkdtempSync(join(dir, 'artifacts-'));
    writeFileSync(join(art, 'tool-1.0-linux-amd64.tar.gz'), 'payload');
    const sum = createHash('sha256').update('payload').digest('hex');
    writeFileSync(
      join(art, 'tool-1.0-linux-amd64.tar.gz.sha256sum'),
      `${sum}  tool-1.0-linux-amd64.tar.gz\n`,
    );
    const url = 'https://example.invalid/dl/tool-1.0-linux-amd64.tar.gz';
    const site = { artifactsDir: art };
    const ok = downloadTask(
      'dl',
      'tool',
      { url, sha256Url: `${url}.sha256sum`, dest: p('bin/tool.tgz') },
      site,
    );
    const r1 = await runHost(plan([ok]), { check: false, reporter: quiet });
    expect(r1.tasks[1]).toMatchObject({ status: 'changed', reason: `${p('bin/tool.tgz')} missing` });
    expect(readFileSync(p('bin/tool.tgz'), 'utf8')).toBe('payload');
    const r2 = await runHost(plan([ok]), { check: false, reporter: quiet });
    expect(r2.tasks[1]).toMatchObject({
      status: 'ok',
      reason: `${p('bin/tool.tgz')} has sha256 ${sum.slice(0, 12)}…`,
    });
    const bad = downloadTask('dl', 'tool', { url, sha256: 'f'.repeat(64), dest: p('bin/other.tgz') }, site);
    const r3 = await runHost(plan([bad]), { check: false, reporter: quiet });
    expect(r3.error).toMatch(
      /checksum mismatch for https:\/\/example\.invalid\/dl\/tool-1\.0-linux-amd64\.tar\.gz/,
    );
    expect(existsSync(p('bin/other.tgz'))).toBe(false);
  });
});

describe('reboot handler (unit test of the engine layer with a scripted connector; the real reboot needs a real machine)', () => {
  class Scripted implements Connector {
    readonly name = 'scripted';
    closed = false;
    constructor(
      readonly id: number,
      readonly log: string[],
    ) {}
    async exec(cmd: string) {
      this.log.push(`${this.id}: ${cmd.split(';')[0]}`);
      if (cmd.startsWith('. /etc/os-release'))
        return {
          code: 0,
          stdout: BOOKWORM_FACTS_OUTPUT,
          stderr: '',
        };
      return { code: 0, stdout: '', stderr: '' };
    }
    async put() {}
    async close() {
      this.closed = true;
    }
  }
  const driver: Task = {
    role: 'nvidia',
    name: 'driver',
    tags: [],
    plan: async () =>
      changed('nvidia-driver not installed', [{ run: 'apt-get install nvidia-driver' }], {
        notify: ['reboot'],
      }),
  };
  const after: Task = {
    role: 'kubernetes',
    name: 'next',
    tags: [],
    plan: async () => changed('x', [{ run: 'echo after-reboot' }]),
  };
  const hp = (allowReboot: boolean, log: string[], attempts: { n: number }): HostPlan => ({
    name: 'gpu-1',
    connect: async () => {
      attempts.n++;
      if (attempts.n === 2) throw new Error('connect ECONNREFUSED (still booting)');
      return new Scripted(attempts.n, log);
    },
    tasks: () => [driver, after],
    handlers: [{ name: 'reboot', steps: [{ run: 'systemctl reboot' }], reboot: true }],
    allowReboot,
    rebootSettleMs: 10,
  });

  it('reboots through a transient timer, reconnects (retrying), and continues on the new connection', async () => {
    const log: string[] = [];
    const attempts = { n: 0 };
    const r = await runHost(hp(true, log, attempts), { check: false, reporter: quiet });
    expect(r.error).toBeUndefined();
    expect(log).toEqual([
      '1: . /etc/os-release 2>/dev/null',
      '1: apt-get install nvidia-driver',
      '1: systemd-run --on-active=2 --timer-property=AccuracySec=1s systemctl reboot',
      '3: echo after-reboot',
    ]);
    expect(attempts.n).toBe(3);
    expect(statuses(r.tasks)).toEqual([
      'facts|gather|ok',
      'nvidia|driver|changed',
      'nvidia|handler: reboot|changed',
      'kubernetes|next|changed',
    ]);
  });

  it('without allowReboot the reboot is reported as skipped with what to do', async () => {
    const log: string[] = [];
    const r = await runHost(hp(false, log, { n: 0 }), { check: false, reporter: quiet });
    expect(r.tasks[2]).toMatchObject({
      task: 'handler: reboot',
      status: 'skipped',
      reason:
        'reboot required (new driver or kernel module); cluster.allowReboot is false: reboot this host yourself',
    });
    expect(log.some((l) => l.includes('systemctl reboot'))).toBe(false);
  });
});

describe('recap', () => {
  it('counts an unreachable host as Ansible does: unreachable=1, failed=0, and the run as failed', async () => {
    const r = await runHost(
      {
        name: 'gone',
        connect: async () => {
          throw new Error('cannot connect to root@127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
        },
        tasks: () => [],
        handlers: [],
        allowReboot: false,
      },
      { check: true, reporter: quiet },
    );
    expect(r.counts).toEqual({ ok: 0, changed: 0, skipped: 0, failed: 0, unreachable: 1 });
    expect(statuses(r.tasks)).toEqual(['connect|ssh|unreachable']);
    expect(recap([r])).toBe(
      `\nPLAY RECAP ${'*'.repeat(60)}\ngone       : ok=0 changed=0 unreachable=1 failed=0 skipped=0\n` +
        '             cannot connect to root@127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n',
    );
    expect(anyFailed([r])).toBe(true);
  });
});

describe('--serial batches (engine layer, scripted connectors as in the reboot test above)', () => {
  const facts = { code: 0, stdout: BOOKWORM_FACTS_OUTPUT, stderr: '' };
  /** A host whose every command is logged as "host: command"; `fail` makes its task fail. */
  const host = (name: string, log: string[], o: { reboot?: boolean; fail?: boolean } = {}): HostPlan => {
    let boots = 0;
    return {
      name,
      connect: async () => {
        log.push(`${name}: connect`);
        boots++;
        return {
          name,
          exec: async (cmd: string) => {
            if (cmd.startsWith('. /etc/os-release')) return facts;
            log.push(`${name}: ${cmd}`);
            // Each command takes a little time, so hosts of one batch interleave.
            await new Promise((r) => setTimeout(r, 20));
            return { code: cmd === 'false' ? 1 : 0, stdout: '', stderr: cmd === 'false' ? 'no' : '' };
          },
          put: async () => {},
          close: async () => {},
        } satisfies Connector;
      },
      tasks: () => [
        {
          role: 'nvidia',
          name: 'driver',
          tags: [],
          plan: async () =>
            changed(
              'x',
              [{ run: o.fail ? 'false' : `install-driver` }],
              o.reboot ? { notify: ['reboot'] } : {},
            ),
        },
        {
          role: 'gpu-node',
          name: 'after',
          tags: [],
          plan: async () => changed('y', [{ run: `after-boot-${boots}` }]),
        },
      ],
      handlers: [{ name: 'reboot', steps: [], reboot: true }],
      allowReboot: true,
      rebootSettleMs: 1,
    };
  };
  const opts = { check: false, reporter: quiet };

  it('--serial 1 rolls a driver reboot through one node at a time', async () => {
    const log: string[] = [];
    const r = await runSerial(
      [host('gpu-1', log, { reboot: true }), host('gpu-2', log, { reboot: true })],
      opts,
      1,
    );
    expect(r.notRun).toEqual([]);
    expect(log).toEqual([
      'gpu-1: connect',
      'gpu-1: install-driver',
      'gpu-1: systemd-run --on-active=2 --timer-property=AccuracySec=1s systemctl reboot',
      'gpu-1: connect',
      'gpu-1: after-boot-2',
      'gpu-2: connect',
      'gpu-2: install-driver',
      'gpu-2: systemd-run --on-active=2 --timer-property=AccuracySec=1s systemctl reboot',
      'gpu-2: connect',
      'gpu-2: after-boot-2',
    ]);
  });

  it('without --serial every host runs at once', async () => {
    const log: string[] = [];
    await runSerial([host('a', log), host('b', log)], opts);
    expect(log.slice(0, 2).sort()).toEqual(['a: connect', 'b: connect']);
  });

  it('a failure in a batch stops the later batches, which are reported as not run and never contacted', async () => {
    const log: string[] = [];
    const r = await runSerial(
      [host('a', log), host('b', log, { fail: true }), host('c', log), host('d', log)],
      opts,
      2,
    );
    expect(r.results.map((x) => [x.host, x.counts.failed])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    expect(r.notRun).toEqual(['c', 'd']);
    expect(log.filter((l) => /^[cd]:/.test(l))).toEqual([]);
    // The batch itself ran to its end: a's later task ran although b failed.
    expect(log).toContain('a: after-boot-1');
  });

  it('an unreachable host stops the later batches too', async () => {
    const log: string[] = [];
    const gone: HostPlan = {
      ...host('gone', log),
      connect: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    };
    const r = await runSerial([gone, host('b', log)], opts, 1);
    expect(r.results[0]!.counts.unreachable).toBe(1);
    expect(r.notRun).toEqual(['b']);
    expect(log).toEqual([]);
  });
});
