/**
 * Small helpers for tests that work inside one booted DebianHost over SSH, as the provisioning CLI
 * does: the known_hosts line read from the host's own key, and one command run as root.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshConnector } from '../../provision/src/connector.ts';
import { hostFacts } from '../../provision/src/facts.ts';
import type { Inventory } from '../../provision/src/inventory.ts';
import type { RoleContext } from '../../provision/src/roles/context.ts';
import type { DebianHost } from './debian-host.ts';

export interface HostLogin {
  /** The private key the host's authorized_keys accepts (makeKey). */
  keyPath: string;
  /** A known_hosts file holding the host's ed25519 key (writeKnownHosts). */
  knownHosts: string;
}

/** Writes the host's ed25519 key, read from its root, as the only line of `file`. */
export function writeKnownHosts(h: DebianHost, file: string): void {
  const pub = readFileSync(join(h.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
  writeFileSync(file, `${h.address} ${pub.split(' ').slice(0, 2).join(' ')}\n`);
}

/** Connects as root, key only, refusing an unknown host key. */
export function connectTo(h: DebianHost, login: HostLogin): Promise<SshConnector> {
  return SshConnector.connect({
    host: h.address,
    port: 22,
    user: 'root',
    keyPath: login.keyPath,
    become: true,
    knownHosts: login.knownHosts,
    acceptNewHostKeys: false,
  });
}

/** One command inside the host (its /run, services and journal are its own). */
export async function onHost(
  h: DebianHost,
  login: HostLogin,
  cmd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = await connectTo(h, login);
  try {
    return await c.exec(cmd);
  } finally {
    await c.close();
  }
}

/** What a role of the inventory's first host is built from, with the facts gathered over `connect`. */
export async function roleContextOn(
  connect: () => Promise<SshConnector>,
  inv: Inventory,
): Promise<RoleContext> {
  const c = await connect();
  try {
    const facts = await hostFacts({ read: (cmd) => c.exec(cmd) });
    return { host: inv.hosts[0]!, cluster: inv.cluster, gpu: false, site: {}, facts } as RoleContext;
  } finally {
    await c.close();
  }
}
