import { serviceFact, type ServiceFact } from '../facts.ts';
import { changed, ok, type Plan, type Step, type Task } from '../types.ts';

export interface ServiceSpec {
  name: string;
  /** @default true */
  enabled?: boolean;
  /** "unmanaged" leaves the running state alone (kubelet crash-loops until kubeadm configures it). @default "started" */
  state?: 'started' | 'stopped' | 'unmanaged';
}

const ENABLED = new Set(['enabled', 'enabled-runtime', 'static', 'alias', 'indirect', 'generated']);

export function planService(spec: ServiceSpec, actual: ServiceFact): Plan {
  const wantEnabled = spec.enabled ?? true;
  const state = spec.state ?? 'started';
  const isEnabled = ENABLED.has(actual.enabled);
  const isActive = actual.active === 'active';
  const steps: Step[] = [];
  const why: string[] = [];
  if (wantEnabled !== isEnabled) {
    steps.push({ run: `systemctl ${wantEnabled ? 'enable' : 'disable'} ${spec.name}` });
    why.push(`is-enabled: ${actual.enabled}`);
  }
  if (state !== 'unmanaged' && (state === 'started') !== isActive) {
    steps.push({ run: `systemctl ${state === 'started' ? 'start' : 'stop'} ${spec.name}` });
    why.push(`is-active: ${actual.active}`);
  }
  if (steps.length === 0) return ok(`${spec.name} ${actual.enabled}, ${actual.active}`);
  return changed(`${spec.name} ${why.join(', ')}`, steps);
}

export function serviceTask(role: string, spec: ServiceSpec, tags: string[] = []): Task {
  return {
    role,
    name: `service ${spec.name}`,
    tags,
    plan: async (ctx) => planService(spec, await serviceFact(ctx.facts, spec.name)),
  };
}

/** Handler steps: reload units (a drop-in may have changed) and restart. */
export const restartSteps = (unit: string): Step[] => [
  { run: 'systemctl daemon-reload' },
  { run: `systemctl restart ${unit}` },
];
