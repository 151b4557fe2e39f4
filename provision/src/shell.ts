import { createHash } from 'node:crypto';

/** POSIX single-quote a value for sh -c. */
export function q(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export interface WriteSpec {
  path: string;
  content: string;
  /** Octal mode, e.g. "0644". */
  mode: string;
  owner: string;
  group: string;
}

/**
 * The command that replaces a file atomically: the new content goes to a temporary file in the
 * same directory (same filesystem, so `mv` is a rename), gets its mode and owner, then replaces
 * the target in one step. Content travels base64-encoded so no quoting can corrupt it.
 */
export function atomicWriteCommand(w: WriteSpec): string {
  const dir = w.path.slice(0, w.path.lastIndexOf('/')) || '/';
  const b64 = Buffer.from(w.content, 'utf8').toString('base64');
  return (
    `mkdir -p ${q(dir)} && tmp=$(mktemp ${q(w.path)}.XXXXXX) && ` +
    `printf %s ${q(b64)} | base64 -d > "$tmp" && chmod ${w.mode} "$tmp" && ` +
    `chown ${q(`${w.owner}:${w.group}`)} "$tmp" && mv -f "$tmp" ${q(w.path)}`
  );
}

/**
 * Like atomicWriteCommand, with the content read from the command's stdin: for secrets, which a
 * command line would show in `-v`, `--json` and the host's process list (base64 hides nothing).
 */
export function atomicWriteFromStdinCommand(w: Omit<WriteSpec, 'content'>): string {
  const dir = w.path.slice(0, w.path.lastIndexOf('/')) || '/';
  return (
    `mkdir -p ${q(dir)} && tmp=$(mktemp ${q(w.path)}.XXXXXX) && cat > "$tmp" && ` +
    `chmod ${w.mode} "$tmp" && chown ${q(`${w.owner}:${w.group}`)} "$tmp" && mv -f "$tmp" ${q(w.path)}`
  );
}

/** curl with the inventory's proxy (every download goes through it when one is set). */
export function curl(url: string, proxy: string | undefined, out: string): string {
  const p = proxy ? ` --proxy ${q(proxy)}` : '';
  return `curl -fsSL --retry 3${p} -o ${out} ${q(url)}`;
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}
