/**
 * A Kubernetes Pod object (as `kubectl get pod -o json` or the API returns it) to the calculator's
 * PodState, for feeding a real cluster's pods into the HPA computation. Times become epoch seconds,
 * so pass `now = Date.now() / 1000` with them.
 */
import type { PodPhase, PodState } from './replica-calculator.ts';
import type { Quantity } from '../../constructs/autoscaling-v2/quantity.ts';
import { quantityToMilli } from './spec.ts';

interface ContainerObject {
  readonly name?: string;
  readonly restartPolicy?: string;
  readonly resources?: { readonly requests?: Readonly<Record<string, Quantity>> };
}

/** The fields of a core/v1 Pod the HPA reads. */
export interface PodObject {
  readonly metadata: { readonly name: string; readonly deletionTimestamp?: string | null };
  readonly spec?: {
    readonly containers?: readonly ContainerObject[];
    readonly initContainers?: readonly ContainerObject[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly startTime?: string | null;
    readonly conditions?: readonly {
      readonly type: string;
      readonly status: string;
      readonly lastTransitionTime?: string;
    }[];
  };
}

function epochSeconds(text: string, field: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`${field}: ${JSON.stringify(text)} is not an RFC 3339 time`);
  return ms / 1000;
}

/**
 * calculatePodRequests for one pod: the sum of the containers' (and restartable init containers')
 * requests of `resource`, null when one of them has none.
 */
function podRequestMilli(pod: PodObject, resource: string): number | null {
  const containers = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
  ];
  let sum = 0;
  for (const c of containers) {
    const q = c.resources?.requests?.[resource];
    if (q === undefined) return null;
    sum += quantityToMilli(q, `pod ${pod.metadata.name} container ${c.name ?? '?'} requests.${resource}`);
  }
  return sum;
}

/**
 * `resource` is the resource whose request Utilization targets divide by (e.g. 'cpu').
 * A Ready condition with status Unknown counts as not ready.
 */
export function podStateFromObject(pod: PodObject, resource = 'cpu'): PodState {
  const name = pod.metadata.name;
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name,
    phase: (pod.status?.phase ?? 'Pending') as PodPhase,
    ready: ready ? ready.status === 'True' : null,
    readyTransitionTime: ready?.lastTransitionTime
      ? epochSeconds(ready.lastTransitionTime, `pod ${name} Ready.lastTransitionTime`)
      : 0,
    startTime: pod.status?.startTime
      ? epochSeconds(pod.status.startTime, `pod ${name} status.startTime`)
      : null,
    deleting: pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null,
    requestMilli: podRequestMilli(pod, resource),
  };
}
