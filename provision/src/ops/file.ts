import { unifiedDiff } from '../diff.ts';
import { fileFact, type FileFact } from '../facts.ts';
import { atomicWriteCommand, q } from '../shell.ts';
import { changed, ok, type Plan, type Step, type Task } from '../types.ts';

export interface FileSpec {
  path: string;
  content: string;
  /** @default "0644" */
  mode?: string;
  /** @default "root" */
  owner?: string;
  /** @default "root" */
  group?: string;
  /** Handlers notified when the file changes. */
  notify?: string[];
}

/** Desired file vs the file on the host: a full atomic rewrite when content differs, chmod/chown when only metadata does. */
export function planFile(spec: FileSpec, actual: FileFact): Plan {
  const mode = spec.mode ?? '0644';
  const owner = spec.owner ?? 'root';
  const group = spec.group ?? 'root';
  const notify = spec.notify;
  if (!actual.exists || actual.content !== spec.content) {
    const diff = unifiedDiff(spec.path, actual.exists ? actual.content : null, spec.content);
    const reason = actual.exists ? `content of ${spec.path} differs` : `${spec.path} does not exist`;
    return changed(
      reason,
      [{ run: atomicWriteCommand({ path: spec.path, content: spec.content, mode, owner, group }) }],
      {
        diff,
        notify,
      },
    );
  }
  const steps: Step[] = [];
  const why: string[] = [];
  if (actual.mode !== mode) {
    steps.push({ run: `chmod ${mode} ${q(spec.path)}` });
    why.push(`mode ${actual.mode} -> ${mode}`);
  }
  if (actual.owner !== owner || actual.group !== group) {
    steps.push({ run: `chown ${q(`${owner}:${group}`)} ${q(spec.path)}` });
    why.push(`owner ${actual.owner}:${actual.group} -> ${owner}:${group}`);
  }
  if (steps.length === 0) return ok(`${spec.path} is up to date`);
  return changed(`${spec.path}: ${why.join(', ')}`, steps, { notify });
}

export interface LineSpec extends Omit<FileSpec, 'content'> {
  /** Lines matching this (JavaScript) regular expression are the ones managed. */
  regexp: string;
  /** The line to have in the file (state present); the last matching line is replaced, else it is appended. */
  line?: string;
  /** @default "present" */
  state?: 'present' | 'absent';
}

/** Ansible lineinfile: the new content is computed in memory, then handled like any file edit. */
export function editLine(spec: LineSpec, before: string): string {
  const re = new RegExp(spec.regexp);
  const lines = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  if ((spec.state ?? 'present') === 'absent') {
    const kept = lines.filter((l) => !re.test(l));
    return kept.length ? kept.join('\n') + '\n' : '';
  }
  if (spec.line === undefined)
    throw new Error(`line for ${spec.path}: "line" is required when state is present`);
  let last = -1;
  lines.forEach((l, i) => {
    if (re.test(l)) last = i;
  });
  if (last >= 0) lines[last] = spec.line;
  else lines.push(spec.line);
  return lines.join('\n') + '\n';
}

export function planLine(spec: LineSpec, actual: FileFact): Plan {
  const before = actual.exists ? actual.content : '';
  const after = editLine(spec, before);
  if (actual.exists && after === before)
    return ok(`${spec.path}: line already ${spec.state === 'absent' ? 'absent' : 'present'}`);
  return planFile(
    { ...spec, content: after, mode: spec.mode ?? (actual.exists ? actual.mode : undefined) },
    actual,
  );
}

export interface ReplaceSpec extends Omit<FileSpec, 'content'> {
  /** Global, multi-line regular expression. */
  regexp: string;
  replacement: string;
}

/** Ansible replace: every match replaced; a missing file is nothing to edit. */
export function planReplace(spec: ReplaceSpec, actual: FileFact): Plan {
  if (!actual.exists) return ok(`${spec.path} does not exist, nothing to replace`);
  const after = actual.content.replace(new RegExp(spec.regexp, 'gm'), spec.replacement);
  if (after === actual.content) return ok(`${spec.path}: no line matches ${spec.regexp}`);
  return planFile(
    { ...spec, content: after, mode: actual.mode, owner: actual.owner, group: actual.group },
    actual,
  );
}

export function fileTask(role: string, name: string, spec: FileSpec, tags: string[] = []): Task {
  return { role, name, tags, plan: async (ctx) => planFile(spec, await fileFact(ctx.facts, spec.path)) };
}

export function lineTask(role: string, name: string, spec: LineSpec, tags: string[] = []): Task {
  return { role, name, tags, plan: async (ctx) => planLine(spec, await fileFact(ctx.facts, spec.path)) };
}

export function replaceTask(role: string, name: string, spec: ReplaceSpec, tags: string[] = []): Task {
  return { role, name, tags, plan: async (ctx) => planReplace(spec, await fileFact(ctx.facts, spec.path)) };
}
