/** The parts of the Pod API the node agent reads and writes. */

export interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: 'HTTP' | 'HTTPS' };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  resources?: { limits?: Record<string, string> };
  lifecycle?: { preStop?: { sleep?: { seconds: number }; httpGet?: Probe['httpGet'] } };
}

interface KeyToPath {
  key: string;
  path: string;
}

export interface VolumeSource {
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
  secret?: { name: string; items?: KeyToPath[]; optional?: boolean };
  serviceAccountToken?: { path: string; expirationSeconds?: number };
  downwardAPI?: { items?: { path: string; fieldRef?: { fieldPath: string } }[] };
}

export interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
  emptyDir?: object;
  secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean };
  projected?: { sources: VolumeSource[] };
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    labels?: Record<string, string>;
  };
  spec: {
    nodeName?: string;
    containers: Container[];
    volumes?: Volume[];
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    terminationGracePeriodSeconds?: number;
    runtimeClassName?: string;
  };
  status?: { phase?: string };
}

export interface List<T> {
  items: T[];
}

/** The container port a probe or preStop hook names (by number or by port name). */
export function resolvePort(c: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`container ${c.name} has no port named ${port}`);
  return p.containerPort;
}
