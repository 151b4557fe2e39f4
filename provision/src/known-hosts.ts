/**
 * OpenSSH known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): what a host's key must be before
 * anything is sent to it. Plain and hashed (`|1|salt|hash`, HashKnownHosts) host patterns,
 * wildcards, negation, `[host]:port` for other ports and `@revoked` are understood;
 * `@cert-authority` lines (host certificates) are not used for verification.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How a host is named in known_hosts: `host`, or `[host]:port` when the port is not 22. */
export const knownHostsName = (host: string, port: number): string =>
  port === 22 ? host : `[${host}]:${port}`;

/** The SHA256 fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64 of the key blob. */
export const fingerprint = (blob: Buffer): string =>
  `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

/** The key type named at the start of an SSH public key blob (a uint32 length, then the name). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown';
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hashedMatch(pattern: string, name: string): boolean {
  const [, magic, salt, hash] = pattern.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** A comma-separated host pattern list: any positive match, and no negated (`!`) match. */
export function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let matched = false;
  for (const p of patterns.split(',')) {
    const negated = p.startsWith('!');
    if (globMatch(negated ? p.slice(1) : p, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

interface Entry {
  marker?: string;
  keyType: string;
  blob: Buffer;
}

function entriesFor(text: string, name: string): Entry[] {
  const out: Entry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    const marker = f[0]!.startsWith('@') ? f.shift() : undefined;
    const [patterns, type, b64] = f;
    if (!patterns || !type || !b64 || !hostMatches(patterns, name)) continue;
    out.push({ ...(marker ? { marker } : {}), keyType: type, blob: Buffer.from(b64, 'base64') });
  }
  return out;
}

export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'revoked' }
  /** The host has entries, none of them this key. */
  | { status: 'changed'; known: string[] };

export function verifyHostKey(text: string, name: string, blob: Buffer): HostKeyVerdict {
  const entries = entriesFor(text, name);
  if (entries.some((e) => e.marker === '@revoked' && e.blob.equals(blob))) return { status: 'revoked' };
  const plain = entries.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.blob.equals(blob))) return { status: 'known' };
  if (plain.length === 0) return { status: 'unknown' };
  return { status: 'changed', known: plain.map((e) => `${e.keyType} ${fingerprint(e.blob)}`) };
}

/** The key types known_hosts has for this host, so the connection asks the server for one of them first (as OpenSSH does). */
export function knownKeyTypes(text: string, name: string): string[] {
  return [
    ...new Set(
      entriesFor(text, name)
        .filter((e) => e.marker === undefined)
        .map((e) => e.keyType),
    ),
  ];
}

export const readKnownHosts = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** Record a first-seen key (accept-new), creating the file (0600) and its directory (0700) as ssh does. */
export function appendKnownHost(path: string, name: string, blob: Buffer): void {
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const existed = existsSync(path);
  const text = existed ? readFileSync(path, 'utf8') : '';
  const sep = text && !text.endsWith('\n') ? '\n' : '';
  appendFileSync(path, `${sep}${name} ${keyType(blob)} ${blob.toString('base64')}\n`);
  if (!existed) chmodSync(path, 0o600);
}
