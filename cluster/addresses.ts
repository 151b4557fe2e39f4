/**
 * How the pod CIDR is split: its first address is the bridge's gateway, the lower half holds the
 * pods the node agent runs (a real network namespace each), the upper half the addresses kwok
 * gives the pods it emulates.
 */
const toInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

export interface PodAddressing {
  readonly prefix: number;
  readonly gateway: string;
  /** The agent's pod IP for slot n (n >= 0). */
  agentPodIp(slot: number): string;
  readonly agentSlots: number;
  /** kwok's `--cidr`: its first address and the upper half's prefix. */
  readonly kwokCidr: string;
}

export function podAddressing(podCidr: string): PodAddressing {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(podCidr);
  const prefix = Number(m?.[2]);
  if (!m || prefix < 8 || prefix > 22)
    throw new Error(`podCidr ${podCidr}: allowed: an IPv4 CIDR from /8 to /22`);
  const size = 2 ** (32 - prefix);
  const base = toInt(m[1]!) - (toInt(m[1]!) % size);
  return {
    prefix,
    gateway: toIp(base + 1),
    agentPodIp: (slot) => toIp(base + 2 + slot),
    agentSlots: size / 2 - 3,
    kwokCidr: `${toIp(base + size / 2 + 1)}/${prefix + 1}`,
  };
}
