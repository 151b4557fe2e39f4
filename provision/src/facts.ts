import type { FactReader, HostFacts } from './types.ts';
import { q } from './shell.ts';

export interface FileFact {
  exists: boolean;
  content: string;
  mode: string;
  owner: string;
  group: string;
}

export const fileFactCommand = (path: string): string =>
  `if [ -f ${q(path)} ]; then stat -c '%a %U %G' ${q(path)} && base64 -w0 ${q(path)}; else echo ABSENT; fi`;

export function parseFileFact(stdout: string): FileFact {
  const [head = '', b64 = ''] = stdout.split('\n');
  if (head.trim() === 'ABSENT') return { exists: false, content: '', mode: '', owner: '', group: '' };
  const [mode = '', owner = '', group = ''] = head.trim().split(' ');
  return {
    exists: true,
    content: Buffer.from(b64.trim(), 'base64').toString('utf8'),
    mode: mode.padStart(4, '0'),
    owner,
    group,
  };
}

export async function fileFact(r: FactReader, path: string): Promise<FileFact> {
  return parseFileFact(await must(r, fileFactCommand(path)));
}

export interface PackageFact {
  /** Installed version, or null when not installed. */
  version: string | null;
  held: boolean;
}

export const packagesFactCommand = (names: string[]): string =>
  `dpkg-query -W -f='\${Package} \${Version} \${db:Status-Abbrev}\\n' ${names.map(q).join(' ')} 2>/dev/null; echo ---; apt-mark showhold`;

export function parsePackagesFact(names: string[], stdout: string): Record<string, PackageFact> {
  const [installed = '', held = ''] = stdout.split('---\n');
  const heldSet = new Set(
    held
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const out: Record<string, PackageFact> = {};
  for (const n of names) out[n] = { version: null, held: heldSet.has(n) };
  for (const line of installed.split('\n')) {
    const [name, version, status] = line.trim().split(/\s+/);
    // "ii" = desired install, installed; anything else (rc = removed, config left) is absent.
    if (name && version && status === 'ii' && name in out) out[name]!.version = version;
  }
  return out;
}

export async function packagesFact(r: FactReader, names: string[]): Promise<Record<string, PackageFact>> {
  return parsePackagesFact(names, (await r.read(packagesFactCommand(names))).stdout);
}

export interface ServiceFact {
  /** systemctl is-enabled: enabled, disabled, static, masked, or "not-found". */
  enabled: string;
  /** systemctl is-active: active, inactive, failed, ... */
  active: string;
}

export const serviceFactCommand = (unit: string): string =>
  `echo "enabled=$(systemctl is-enabled ${q(unit)} 2>/dev/null)"; echo "active=$(systemctl is-active ${q(unit)} 2>/dev/null)"`;

export function parseServiceFact(stdout: string): ServiceFact {
  const get = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(stdout)?.[1]?.trim() ?? '';
  // is-enabled prints nothing for a unit that does not exist (yet).
  return { enabled: get('enabled') || 'not-found', active: get('active') || 'inactive' };
}

export async function serviceFact(r: FactReader, unit: string): Promise<ServiceFact> {
  return parseServiceFact((await r.read(serviceFactCommand(unit))).stdout);
}

/** The live value of a sysctl, or null when the key does not exist on this kernel. */
export async function sysctlFact(r: FactReader, key: string): Promise<string | null> {
  const res = await r.read(`cat /proc/sys/${key.replace(/\./g, '/')} 2>/dev/null`);
  return res.code === 0 ? res.stdout.trim().replace(/\s+/g, ' ') : null;
}

export async function moduleLoadedFact(r: FactReader, name: string): Promise<boolean> {
  return (await r.read(`grep -q '^${name} ' /proc/modules`)).code === 0;
}

export async function sha256Fact(r: FactReader, path: string): Promise<string | null> {
  const res = await r.read(`sha256sum ${q(path)} 2>/dev/null`);
  return res.code === 0 ? (res.stdout.split(/\s+/)[0] ?? null) : null;
}

export const hostFactsCommand = [
  '. /etc/os-release 2>/dev/null; echo "os=$ID|$VERSION_ID|$VERSION_CODENAME"',
  'echo "kernel=$(uname -r)"',
  'echo "arch=$(dpkg --print-architecture 2>/dev/null || uname -m)"',
  'echo "container=$(systemd-detect-virt -c 2>/dev/null || true)"',
  'echo "modules=$([ -e /proc/modules ] && echo yes || echo no)"',
  'echo "procsys=$([ -w /proc/sys/net/ipv4/ip_forward ] && echo yes || echo no)"',
  // GPU presence: lspci when pciutils is installed, else the same vendor id (10de) from sysfs.
  'echo "gpu=$( (command -v lspci >/dev/null && lspci -n -d 10de: ; cat /sys/bus/pci/devices/*/vendor 2>/dev/null | grep -i 0x10de) | head -1)"',
  'echo "swap=$(tail -n +2 /proc/swaps 2>/dev/null | wc -l)"',
  'echo "kubeadm=$([ -f /etc/kubernetes/kubelet.conf ] && echo yes || echo no)"',
].join('; ');

export function parseHostFacts(stdout: string): HostFacts {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const [osId = '', osVersionId = '', osCodename = ''] = (kv.get('os') ?? '').split('|');
  return {
    osId,
    osVersionId,
    osCodename,
    kernel: kv.get('kernel') ?? '',
    arch: kv.get('arch') ?? '',
    container: kv.get('container') || 'none',
    modulesSupported: kv.get('modules') === 'yes',
    procSysWritable: kv.get('procsys') === 'yes',
    nvidiaGpu: (kv.get('gpu') ?? '') !== '',
    swapActive: Number(kv.get('swap') ?? '0') > 0,
    kubeadmMember: kv.get('kubeadm') === 'yes',
  };
}

export async function hostFacts(r: FactReader): Promise<HostFacts> {
  return parseHostFacts(await must(r, hostFactsCommand));
}

/** Debian releases this playbook supports, by VERSION_ID. */
export const SUPPORTED_DEBIAN: Record<string, string> = {
  '11': 'bullseye',
  '12': 'bookworm',
  '13': 'trixie',
};

/** Null when supported, else the reason the host is refused. */
export function unsupportedOs(f: HostFacts): string | null {
  if (f.osId === 'debian' && f.osVersionId in SUPPORTED_DEBIAN) return null;
  return (
    `unsupported OS: ID=${f.osId || '(none)'} VERSION_ID=${f.osVersionId || '(none)'} in /etc/os-release; ` +
    `supported: debian 11 (bullseye), 12 (bookworm), 13 (trixie). Nothing was changed on this host.`
  );
}

async function must(r: FactReader, command: string): Promise<string> {
  const res = await r.read(command);
  if (res.code !== 0)
    throw new Error(`fact command failed (exit ${res.code}): ${command}: ${res.stderr.trim()}`);
  return res.stdout;
}

/**
 * The NVIDIA kernel module's version from /proc/driver/nvidia/version's first line, e.g. "NVRM
 * version: NVIDIA UNIX x86_64 Kernel Module  535.261.03  ..." or "... Open Kernel Module for x86_64
 * 570.124.06  Release Build ..."; null when no module is loaded (or the text is not that).
 */
export function parseNvidiaModuleVersion(text: string): string | null {
  return /Kernel Module\b.*?\s(\d{3,}\.\d+(?:\.\d+)?)(?:\s|$)/.exec(text.split('\n')[0] ?? '')?.[1] ?? null;
}

/** The loaded NVIDIA driver's version (the kernel module: what containers get), or null. */
export async function nvidiaModuleFact(r: FactReader): Promise<string | null> {
  const res = await r.read('cat /proc/driver/nvidia/version 2>/dev/null');
  return res.code === 0 ? parseNvidiaModuleVersion(res.stdout) : null;
}

/** The driver version in a Debian package version: "1:535.261.03-1" -> "535.261.03". */
export const driverOfPackageVersion = (version: string): string =>
  version.replace(/^\d+:/, '').split('-')[0]!.split('~')[0]!;
