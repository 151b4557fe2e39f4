/**
 * `--limit` host patterns, as Ansible's: host names, groups (`all`, the node roles
 * `control-plane`, `worker`, and `gpu`: hosts whose inventory says `gpu: true` or `auto`, since an
 * `auto` host's hardware is known only once facts are read; there the GPU roles skip) and globs (`gpu-*`, `node-?`, `node-[12]`), separated by `,` or `:`;
 * `!pattern` leaves hosts out, `&pattern` keeps only hosts it matches too.
 */
import type { HostSpec } from './inventory.ts';

export const LIMIT_GROUPS = ['all', 'control-plane', 'worker', 'gpu'] as const;

export class LimitError extends Error {}

const PATTERN = /^[!&]?[a-z0-9*?[\]-]+$/;

function matcher(pattern: string): (h: HostSpec) => boolean {
  if (pattern === 'all') return () => true;
  if (pattern === 'control-plane' || pattern === 'worker')
    return (h) => h.role === pattern || h.name === pattern;
  if (pattern === 'gpu') return (h) => h.gpu !== false || h.name === pattern;
  if (!/[*?[]/.test(pattern)) return (h) => h.name === pattern;
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  );
  return (h) => re.test(h.name);
}

/** The hosts the patterns select, in inventory order; a pattern that matches nothing is an error naming it. */
export function limitHosts(hosts: HostSpec[], patterns: string[]): HostSpec[] {
  const names = hosts.map((h) => h.name).join(', ');
  const known = `hosts: ${names}; groups: ${LIMIT_GROUPS.join(', ')}`;
  const include: ((h: HostSpec) => boolean)[] = [];
  const require: ((h: HostSpec) => boolean)[] = [];
  const exclude: ((h: HostSpec) => boolean)[] = [];
  for (const p of patterns) {
    if (!PATTERN.test(p) || /^[!&]?$/.test(p) || /\[[^\]]*$/.test(p))
      throw new LimitError(
        `--limit: "${p}" is not a host pattern; allowed: a host name, a group, a glob with * ? [..], optionally prefixed with ! (exclude) or & (intersect); ${known}`,
      );
    const m = matcher(p.replace(/^[!&]/, ''));
    if (!hosts.some(m)) throw new LimitError(`--limit: pattern "${p}" matches no host or group; ${known}`);
    (p.startsWith('!') ? exclude : p.startsWith('&') ? require : include).push(m);
  }
  const selected = hosts.filter(
    (h) =>
      (include.length === 0 || include.some((m) => m(h))) &&
      require.every((m) => m(h)) &&
      !exclude.some((m) => m(h)),
  );
  if (selected.length === 0)
    throw new LimitError(`--limit ${patterns.join(',')}: together the patterns select no host; ${known}`);
  return selected;
}
