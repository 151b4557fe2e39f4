import { isIPv4, isIPv6 } from 'node:net';
import { lookup } from 'node:dns/promises';

const LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^${LABEL}(\\.${LABEL})*\\.?$`);

export const isDnsName = (s: string): boolean => s.length <= 253 && DNS_NAME.test(s);

/**
 * An HTTP proxy URL reduced to what apt, curl and containerd need: scheme http/https, a host (DNS
 * name, IPv4, or [IPv6]) and an optional port, nothing else. The raw string is matched, not only
 * `new URL()`'s result: the WHATWG parser silently drops tabs and newlines and accepts quotes,
 * and those are exactly what would break out of apt.conf or a systemd unit. Returns what is
 * wrong, or null when the value is allowed.
 */
export function proxyProblem(v: unknown): string | null {
  if (typeof v !== 'string') return 'not a string';
  const m = /^(https?):\/\/(?:([^@/]*)@)?(\[[^\]/]*\]|[^:/[\]]*)(?::(\d{1,5}))?(.*)$/s.exec(v);
  if (!m) return 'not an http:// or https:// URL';
  const [, , userinfo, host, port, rest] = m;
  // Credentials would be world-readable: /etc/apt/apt.conf.d is 0644 and a unit's Environment= is
  // shown by `systemctl show` to every user. An allow-listed (by source address) proxy needs none.
  if (userinfo !== undefined) return 'user:password@ is not allowed (it would be readable by every user)';
  if (rest && rest !== '/')
    return /^[/?#]/.test(rest!)
      ? 'no path, query or fragment is allowed'
      : `${JSON.stringify(rest)} after the host and port`;
  const h = host!;
  const hostOk = h.startsWith('[') ? isIPv6(h.slice(1, -1)) : isIPv4(h) || isDnsName(h);
  if (!hostOk) return 'the host must be a DNS name, an IPv4 address or an [IPv6] address';
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return 'the port must be 1-65535';
  return null;
}

function cidrOk(s: string): boolean {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  if (isIPv4(ip!)) return Number(bits) <= 32;
  return isIPv6(ip!) && Number(bits) <= 128;
}

/** NO_PROXY entries Go's httpproxy (containerd) understands: a host, `.domain`, an IP or a CIDR. */
export function noProxyEntryOk(s: unknown): boolean {
  if (typeof s !== 'string' || s === '') return false;
  if (s.includes('/')) return cidrOk(s);
  if (isIPv4(s) || isIPv6(s)) return true;
  return isDnsName(s.startsWith('.') ? s.slice(1) : s);
}

/** A Debian mirror URL: like a proxy, plus a path of plain URL characters (it lands in a sources.list line). */
export function mirrorOk(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const m = /^(https?:\/\/[^/]*)(\/[A-Za-z0-9._~%+/-]*)?$/.exec(v);
  return !!m && proxyProblem(m[1]) === null;
}

/** The WHATWG URL serialisation (RFC 5952 compression), with IPv4-mapped addresses as the IPv4 address. */
function canonicalIPv6(a: string): string {
  const v6 = new URL(`http://[${a}]/`).hostname.slice(1, -1);
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!m) return v6;
  const [hi, lo] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** The addresses a host name or literal stands for, canonical (IPv4 shorthand like 127.1 expanded, IPv4-mapped IPv6 as IPv4). */
export async function resolveAddress(address: string): Promise<string[]> {
  try {
    const all = await lookup(address, { all: true });
    return [...new Set(all.map((a) => (a.family === 6 ? canonicalIPv6(a.address) : a.address)))];
  } catch {
    return []; // unresolvable here: the connection reports it
  }
}

/**
 * Hosts that are the same machine under two spellings (127.0.0.1 and 127.1, ::1 and 0:0::1, a
 * name and its address): found after resolving, as inventory problems naming both hosts.
 */
export async function duplicateAddressProblems(
  hosts: { name: string; address: string }[],
): Promise<string[]> {
  const resolved = await Promise.all(hosts.map((h) => resolveAddress(h.address)));
  const owner = new Map<string, string>();
  const problems: string[] = [];
  hosts.forEach((h, i) => {
    const clash = resolved[i]!.find((a) => owner.has(a) && owner.get(a) !== h.name);
    if (clash)
      problems.push(
        `host "${h.name}": field "address" is ${JSON.stringify(h.address)}; allowed: an address no other host uses (host "${owner.get(clash)}" is the same machine: both are ${clash})`,
      );
    else for (const a of resolved[i]!) owner.set(a, h.name);
  });
  return problems;
}
