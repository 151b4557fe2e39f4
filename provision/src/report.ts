import type { HostResult, Reporter, TaskResult } from './engine.ts';

export interface ReportOptions {
  diff: boolean;
  verbose: boolean;
  write: (s: string) => void;
}

/** Ansible-like lines: one per task and host as it finishes. */
export function lineReporter(o: ReportOptions): Reporter {
  return {
    task(r: TaskResult) {
      o.write(`${r.status}: [${r.host}] ${r.role} | ${r.task} - ${r.reason}\n`);
      if (o.verbose && r.status === 'changed')
        for (const c of r.commands) o.write(`    $ ${c.length > 300 ? c.slice(0, 300) + '…' : c}\n`);
      if (o.diff && r.diff) o.write(r.diff.replace(/^/gm, '    ').replace(/ {4}$/, ''));
    },
    output: o.verbose ? (host, chunk) => o.write(chunk.replace(/^(?=.)/gm, `    [${host}] `)) : undefined,
  };
}

export function recap(results: HostResult[]): string {
  const width = Math.max(...results.map((r) => r.host.length), 10);
  const lines = results.map(
    (r) =>
      `${r.host.padEnd(width)} : ok=${r.counts.ok} changed=${r.counts.changed} unreachable=${r.counts.unreachable} failed=${r.counts.failed} skipped=${r.counts.skipped}` +
      (r.error ? `\n${' '.repeat(width)}   ${r.error}` : ''),
  );
  return `\nPLAY RECAP ${'*'.repeat(60)}\n${lines.join('\n')}\n`;
}

export const anyFailed = (results: HostResult[]): boolean =>
  results.some((r) => r.counts.unreachable > 0 || r.counts.failed > 0);

/** After the recap: the hosts a failed --serial batch kept from running ('' when none). */
export const notRunLine = (notRun: string[]): string =>
  notRun.length
    ? `NOT RUN (a host in an earlier --serial batch failed; nothing was done on them): ${notRun.join(', ')}\n`
    : '';

export interface ListedHost {
  name: string;
  role: string;
  gpu: boolean | 'auto';
  tasks: { role: string; name: string; tags: string[]; conditional: boolean }[];
}

/** --list-tasks, as ansible-playbook prints it: per host, `role : task` and its tags. */
export function taskList(inventory: string, hosts: ListedHost[]): string {
  const out = [`playbook: provision (inventory ${inventory}; facts not gathered, no host contacted)`];
  for (const h of hosts) {
    out.push('', `  host ${h.name} (${h.role}, gpu: ${h.gpu}):`);
    if (h.tasks.length === 0) out.push('    (no task selected)');
    for (const t of h.tasks) {
      const tags = [t.role, ...t.tags].join(', ');
      out.push(
        `    ${t.role} : ${t.name}\tTAGS: [${tags}]${t.conditional ? '\t(only if an NVIDIA GPU is found)' : ''}`,
      );
    }
  }
  return out.join('\n') + '\n';
}
