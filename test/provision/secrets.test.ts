/** Secrets (bootstrap tokens, the certificate key) never reach -v, --json or error messages. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { LocalConnector } from '../../provision/src/connector.ts';
import { runHost, type HostPlan, type HostResult } from '../../provision/src/engine.ts';
import { validateInventory } from '../../provision/src/inventory.ts';
import { commandTask } from '../../provision/src/ops/command.ts';
import { lineReporter } from '../../provision/src/report.ts';
import type { RoleContext } from '../../provision/src/roles/context.ts';
import { controlPlaneRole, kubeadmInitConfig } from '../../provision/src/roles/control-plane.ts';
import { joinRole } from '../../provision/src/roles/join.ts';
import { atomicWriteFromStdinCommand } from '../../provision/src/shell.ts';
import { changed, type Connector, type HostFacts, type Task } from '../../provision/src/types.ts';
import { BOOKWORM_FACTS_OUTPUT } from './bookworm-facts.ts';

const TOKEN = 'abcdef.0123456789abcdef';
const CERT_KEY = 'f'.repeat(8) + '0123456789abcdef'.repeat(3) + '01234567';

/** Every base64 run in the text, decoded: a secret must not hide in an encoded payload either. */
const decodedBase64 = (text: string): string =>
  [...text.matchAll(/[A-Za-z0-9+/]{16,}={0,2}/g)]
    .map((m) => Buffer.from(m[0], 'base64').toString('latin1'))
    .join('\n');

const dir = mkdtempSync(join(tmpdir(), 'cdk8s-prov-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const facts: HostFacts = {
  osId: 'debian',
  osVersionId: '12',
  osCodename: 'bookworm',
  kernel: '6.1',
  arch: 'amd64',
  container: 'none',
  modulesSupported: true,
  procSysWritable: true,
  nvidiaGpu: false,
  swapActive: false,
  kubeadmMember: false,
};

/** A host that answers the facts and records what it was asked to run, with the stdin it got. */
class Recording implements Connector {
  readonly name = 'recording';
  readonly ran: { cmd: string; stdin?: string }[] = [];
  async exec(cmd: string, _out?: unknown, stdin?: string) {
    if (cmd.startsWith('. /etc/os-release'))
      return {
        code: 0,
        stdout: BOOKWORM_FACTS_OUTPUT,
        stderr: '',
      };
    this.ran.push({ cmd, ...(stdin !== undefined ? { stdin } : {}) });
    return { code: 0, stdout: '', stderr: '' };
  }
  async put() {}
  async close() {}
}

function verboseRun(hp: HostPlan): Promise<{ result: HostResult; text: string }> {
  let text = '';
  const reporter = lineReporter({ diff: true, verbose: true, write: (x) => void (text += x) });
  return runHost(hp, { check: false, reporter }).then((result) => ({ result, text }));
}

describe('secrets in output', () => {
  it('join: the bootstrap token reaches the host on stdin, never in a command (-v, --json), not even base64-encoded', async () => {
    const inv = validateInventory({
      hosts: {
        cp: { address: '10.0.0.10', role: 'control-plane' },
        'gpu-1': { address: '10.0.0.21', role: 'worker' },
      },
    });
    const cpCommands: string[] = [];
    const ctx: RoleContext = {
      host: inv.hosts[1]!,
      facts,
      cluster: inv.cluster,
      site: {},
      gpu: false,
      controlPlane: {
        name: 'cp',
        address: '10.0.0.10',
        ready: async () => {},
        exec: async (cmd) => {
          cpCommands.push(cmd);
          return {
            code: 0,
            stdout: `kubeadm join 10.0.0.10:6443 --token ${TOKEN} --discovery-token-ca-cert-hash sha256:${'a'.repeat(64)} \n`,
            stderr: '',
          };
        },
      },
    };
    const host = new Recording();
    const { result, text } = await verboseRun({
      name: 'gpu-1',
      connect: async () => host,
      tasks: () => joinRole(ctx).filter((t) => t.name === 'kubeadm join'),
      handlers: [],
      allowReboot: false,
    });
    expect(result.error).toBeUndefined();
    const shown = text + JSON.stringify(result);
    expect(shown).not.toContain(TOKEN);
    expect(decodedBase64(shown)).not.toContain(TOKEN);
    const written = host.ran.find((r) => r.stdin !== undefined);
    expect(written?.stdin).toContain(`token: ${TOKEN}`);
    expect(host.ran.map((r) => r.cmd).join('\n')).not.toContain(TOKEN);
    expect(decodedBase64(host.ran.map((r) => r.cmd).join('\n'))).not.toContain(TOKEN);
    expect(cpCommands).toEqual(['kubeadm token create --ttl 15m0s --print-join-command']);
  });

  it('kubeadm init: no --upload-certs (one control plane), token not printed, its bootstrap token lives 15 minutes', () => {
    const inv = validateInventory({ hosts: { cp: { address: '10.0.0.10', role: 'control-plane' } } });
    const ctx = { host: inv.hosts[0]!, cluster: inv.cluster, gpu: false };
    const init = parseAllDocuments(kubeadmInitConfig(ctx, 'v1.37.1')).map((d) => d.toJS());
    expect(init[0]).toMatchObject({ kind: 'InitConfiguration', bootstrapTokens: [{ ttl: '15m0s' }] });
    const tasks = controlPlaneRole({ ...ctx, facts, site: {} } as RoleContext);
    const task = tasks.find((t) => t.name === 'kubeadm init')!;
    return task
      .plan({ facts: { read: async () => ({ code: 1, stdout: '', stderr: '' }) }, host: facts, check: true })
      .then((p) =>
        expect(p.steps).toEqual([
          { run: 'kubeadm init --config /etc/kubernetes/kubeadm-config.yaml --skip-token-print' },
        ]),
      );
  });

  describe.skipIf(process.getuid?.() !== 0)('with the local connector', () => {
    const local = (tasks: Task[]): HostPlan => ({
      name: 'local',
      connect: async () => new LocalConnector(false),
      tasks: () => tasks,
      handlers: [],
      allowReboot: false,
    });

    it('-v streams command output with tokens and certificate keys masked, even when split across chunks; failures and --json too', async () => {
      // kubeadm init's own output, printed in pieces (the token is cut in the middle of a write).
      const run = `printf 'kubeadm join 10.0.0.10:6443 --token ${TOKEN.slice(0, 10)}'; sleep 0.2; printf '${TOKEN.slice(10)} \\\\\\n'; echo '--certificate-key ${CERT_KEY}'`;
      const { result, text } = await verboseRun(local([commandTask('cp', 'init', { run })]));
      expect(result.error).toBeUndefined();
      expect(text).toContain('    [local] kubeadm join 10.0.0.10:6443 --token <redacted> \\\n');
      expect(text).toContain('    [local] --certificate-key <redacted>\n');
      const failed = await verboseRun(
        local([commandTask('cp', 'fails', { run: `echo 'join with --token ${TOKEN}' >&2; exit 1` })]),
      );
      expect(failed.result.error).toBe(
        "cp : fails: command failed (exit 1): echo 'join with --token <redacted>' >&2; exit 1: join with --token <redacted>",
      );
      for (const shown of [text, failed.text, JSON.stringify([result, failed.result])]) {
        expect(shown).not.toContain(TOKEN);
        expect(shown).not.toContain(CERT_KEY);
      }
    });

    it('a file written from stdin: content, mode and owner as asked, nothing of it in the command', async () => {
      const path = join(dir, 'kubeadm-join.yaml');
      const secret = `token: ${TOKEN}\n`;
      const run = atomicWriteFromStdinCommand({ path, mode: '0600', owner: 'root', group: 'root' });
      const write: Task = {
        role: 'join',
        name: 'write',
        tags: [],
        plan: async () => changed('missing', [{ run, stdin: secret }]),
      };
      const { result } = await verboseRun(local([write]));
      expect(result.error).toBeUndefined();
      expect(readFileSync(path, 'utf8')).toBe(secret);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(run).not.toContain('abcdef');
    });
  });
});
