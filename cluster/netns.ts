/**
 * Pod networking, as a CNI bridge plugin does it: a bridge on the host holds the pod CIDR's gateway
 * address (and the host's "node" address pods reach the API server at), and every pod the node
 * agent runs gets its own network namespace with a veth into the bridge and its pod IP. The API
 * server refuses loopback addresses in Endpoints and EndpointSlices, so pods cannot live in
 * 127.0.0.0/8; the addresses inside namespaces this harness creates are its own test hosts.
 */
import { execFileSync } from 'node:child_process';
import type { Layout } from './layout.ts';

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function linkExists(name: string): boolean {
  try {
    ip(['link', 'show', name]);
    return true;
  } catch {
    return false;
  }
}

/** The namespaces of this cluster's pods (`<prefix>-<n>`). */
export function podNamespaces(l: Layout): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((n) => n.startsWith(`${l.netnsPrefix}-`));
}

/** The bridge, with the pod CIDR's gateway and the host's node address on it. */
export function createBridge(l: Layout, podGateway: string, podPrefix: number): void {
  if (linkExists(l.bridge))
    throw new Error(`network device ${l.bridge} already exists: run npm run cluster:down first`);
  ip(['link', 'add', l.bridge, 'type', 'bridge']);
  ip(['addr', 'add', `${podGateway}/${podPrefix}`, 'dev', l.bridge]);
  ip(['addr', 'add', `${l.hostIp}/32`, 'dev', l.bridge]);
  ip(['link', 'set', l.bridge, 'up']);
}

/** A pod's sandbox: its own network namespace, a veth into the bridge, its IP and default route. */
export function createPodNetwork(
  l: Layout,
  slot: number,
  podIp: string,
  podPrefix: number,
  gateway: string,
): string {
  const ns = `${l.netnsPrefix}-${slot}`;
  const hostEnd = `${l.vethPrefix}${slot}`;
  ip(['netns', 'add', ns]);
  ip(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  ip(['link', 'set', hostEnd, 'master', l.bridge, 'up']);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  ip(['-n', ns, 'addr', 'add', `${podIp}/${podPrefix}`, 'dev', 'eth0']);
  ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', ns, 'route', 'add', 'default', 'via', gateway]);
  return ns;
}

/** Removes a pod's namespace (its veth pair goes with it). */
export function deletePodNetwork(ns: string): void {
  try {
    ip(['netns', 'delete', ns]);
  } catch {
    /* already gone */
  }
}

/** Removes every pod namespace and the bridge; says what it removed. */
export function deleteNetwork(l: Layout): string[] {
  const removed = podNamespaces(l);
  for (const ns of removed) deletePodNetwork(ns);
  if (linkExists(l.bridge)) {
    ip(['link', 'delete', l.bridge]);
    removed.push(l.bridge);
  }
  return removed;
}
