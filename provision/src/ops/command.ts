import { q } from '../shell.ts';
import { changed, ok, skipped, type Plan, type Task } from '../types.ts';

export interface CommandSpec {
  run: string;
  /** Local files pushed first (air-gapped artifacts), into the host's staging directory (STAGE). */
  put?: { local: string; name: string }[];
  /** Skip when this path exists (the command's own product). */
  creates?: string;
  /** Skip when this read-only check command exits 0. */
  unless?: string;
  notify?: string[];
}

export interface CommandFacts {
  createsExists?: boolean;
  unlessSucceeded?: boolean;
}

export function planCommand(spec: CommandSpec, f: CommandFacts): Plan {
  if (spec.creates && f.createsExists) return ok(`${spec.creates} exists`);
  if (spec.unless && f.unlessSucceeded) return ok(`guard succeeded: ${spec.unless}`);
  const why = spec.creates
    ? `${spec.creates} missing`
    : spec.unless
      ? `guard failed: ${spec.unless}`
      : 'no guard';
  return changed(why, [...(spec.put ?? []).map((put) => ({ put })), { run: spec.run }], {
    notify: spec.notify,
  });
}

export function commandTask(role: string, name: string, spec: CommandSpec, tags: string[] = []): Task {
  return {
    role,
    name,
    tags,
    plan: async (ctx) => {
      const f: CommandFacts = {};
      if (spec.creates) f.createsExists = (await ctx.facts.read(`test -e ${q(spec.creates)}`)).code === 0;
      if (spec.unless && !f.createsExists) f.unlessSucceeded = (await ctx.facts.read(spec.unless)).code === 0;
      return planCommand(spec, f);
    },
  };
}

/** A task that only reads and reports (e.g. nvidia-smi): failed when the check fails, never "changed". */
export function checkTask(
  role: string,
  name: string,
  check: string,
  explain: string,
  tags: string[] = [],
): Task {
  return {
    role,
    name,
    tags,
    plan: async (ctx) => {
      const r = await ctx.facts.read(check);
      if (r.code === 0) return ok(r.stdout.trim().split('\n')[0] || explain);
      if (ctx.check)
        return skipped(
          `check mode: ${explain} not verifiable before earlier changes apply (${r.stderr.trim() || `exit ${r.code}`})`,
        );
      throw new Error(`${explain}: \`${check}\` exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    },
  };
}
