/**
 * The kubelet's part for the pods whose image the agent can run (runtimes.ts): a network namespace
 * per pod, the volumes, the service-account token at its usual path, the container's process with
 * the pod's environment, the start-up delay a GPU pod has, readiness from the pod's own probe, and
 * termination as the kubelet does it (preStop, SIGTERM, SIGKILL after the grace period, then the
 * pod object is deleted). One container per pod: every pod the constructs deploy has one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import type { Layout } from '../layout.ts';
import type { PodAddressing } from '../addresses.ts';
import { createPodNetwork, deletePodNetwork } from '../netns.ts';
import { ApiError, type ApiClient } from './api.ts';
import {
  resolvePort,
  type Container,
  type EnvVar,
  type List,
  type Pod,
  type Probe,
  type Volume,
  type VolumeSource,
} from './pod-spec.ts';
import { RUNTIMES } from './runtimes.ts';
import type { EmulatedGpu } from './emulated-gpu.ts';
import { EMULATED_GPU_ENV } from '../../server/emulated-gpu.ts';
import { NVIDIA_RUNTIME_CLASS } from '../../constructs/nvidia-device-plugin.ts';

export interface RunnerOptions {
  readonly layout: Layout;
  readonly api: ApiClient;
  readonly addressing: PodAddressing;
  /** The API server as pods reach it (KUBERNETES_SERVICE_HOST / _PORT). */
  readonly apiHost: string;
  readonly apiPort: number;
  /**
   * Seconds from Running to the container's process starting, for pods on GPU nodes: the image
   * pull and model load a GPU pod has that a process here does not (planner DEFAULT_STARTUP).
   */
  readonly gpuStartupSeconds: number;
  readonly gpuResource: string;
  /** The emulated GPU of a node (emulated-gpu.ts), whose socket GPU pods on it get. */
  readonly gpuFor: (node: string) => EmulatedGpu;
  readonly log: (msg: string) => void;
}

interface Tracked {
  readonly pod: Pod;
  readonly container: Container;
  readonly slot: number;
  readonly ip: string;
  readonly netns: string;
  readonly dir: string;
  child?: ChildProcess;
  startedAt?: string;
  ready: boolean;
  started: boolean;
  restarts: number;
  terminating: boolean;
  probeFailures: number;
  nextProbe: number;
  startTimer?: NodeJS.Timeout;
  /** Rewrites the volumes (and what prepare derives from them); returns their digest. */
  refresh?: () => Promise<string>;
  volumesDigest?: string;
  nextRefresh: number;
}

const now = () => new Date().toISOString();

export class PodRunner {
  private readonly pods = new Map<string, Tracked>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;

  constructor(private readonly o: RunnerOptions) {}

  /** One pass: admit new pods, probe running ones, terminate deleted ones. */
  async sync(): Promise<void> {
    const list = await this.o.api.get<List<Pod>>('/api/v1/pods?fieldSelector=spec.nodeName!%3D');
    const mine = list.items.filter((p) => RUNTIMES[p.spec.containers[0]!.image] !== undefined);
    const seen = new Set<string>();
    for (const pod of mine) {
      seen.add(pod.metadata.uid);
      const t = this.pods.get(pod.metadata.uid);
      if (!t) {
        if (!pod.metadata.deletionTimestamp) await this.admit(pod);
        else await this.finish(pod);
      } else if (pod.metadata.deletionTimestamp && !t.terminating) {
        void this.terminate(t, pod);
      }
    }
    for (const [uid, t] of this.pods) if (!seen.has(uid) && !t.terminating) this.kill(t);
    await this.refreshServiceHosts();
    await Promise.all([...this.pods.values()].map((t) => this.probe(t)));
    await Promise.all([...this.pods.values()].map((t) => this.syncVolumes(t)));
  }

  private allocate(): number {
    return this.freeSlots.shift() ?? this.nextSlot++;
  }

  private async admit(pod: Pod): Promise<void> {
    const container = pod.spec.containers[0]!;
    const slot = this.allocate();
    if (slot >= this.o.addressing.agentSlots) throw new Error(`no pod address left for ${pod.metadata.name}`);
    const ip = this.o.addressing.agentPodIp(slot);
    const netns = createPodNetwork(
      this.o.layout,
      slot,
      ip,
      this.o.addressing.prefix,
      this.o.addressing.gateway,
    );
    const dir = join(this.o.layout.dir, 'pods', `${pod.metadata.namespace}_${pod.metadata.name}`);
    mkdirSync(dir, { recursive: true });
    const t: Tracked = {
      pod,
      container,
      slot,
      ip,
      netns,
      dir,
      ready: false,
      started: false,
      restarts: 0,
      terminating: false,
      probeFailures: 0,
      nextProbe: 0,
      nextRefresh: 0,
    };
    this.pods.set(pod.metadata.uid, t);
    this.o.log(`admit ${pod.metadata.namespace}/${pod.metadata.name} on ${pod.spec.nodeName} at ${ip}`);
    await this.report(t);
    const delay = requestsGpu(container, this.o.gpuResource) ? this.o.gpuStartupSeconds * 1000 : 0;
    t.startTimer = setTimeout(() => this.start(t), delay);
  }

  /** Launches the container, retrying as the kubelet does while a volume cannot be set up yet. */
  private start(t: Tracked): void {
    this.launch(t).catch((e: Error) => {
      this.o.log(`start ${t.pod.metadata.name}: ${e.message}; retrying in 2 s`);
      if (!t.terminating) t.startTimer = setTimeout(() => this.start(t), 2000);
    });
  }

  /** Volumes, token and hosts file, then the process inside the pod's namespace. */
  private async launch(t: Tracked): Promise<void> {
    if (t.terminating) return;
    const { pod, container } = t;
    const runtime = RUNTIMES[container.image]!;
    const mounts: Record<string, string> = { ...runtime.imageFiles };
    const volumeDir = (name: string) => join(t.dir, 'volumes', name);
    for (const v of pod.spec.volumes ?? []) await this.materialize(t, v, volumeDir(v.name));
    // Paths a program cannot be told about (the service-account token client libraries read) are
    // bind-mounted at their place; every other mount is passed by rewriting the paths in the args.
    const binds: [string, string][] = [];
    for (const m of container.volumeMounts ?? []) {
      const from = m.subPath ? join(volumeDir(m.name), m.subPath) : volumeDir(m.name);
      if (/^\/(var\/)?run\//.test(m.mountPath)) binds.push([from, m.mountPath.replace(/^\/var/, '')]);
      else mounts[m.mountPath] = from;
    }
    const mapPath = (s: string): string => {
      for (const [inImage, here] of Object.entries(mounts).sort((a, b) => b[0].length - a[0].length))
        if (s === inImage || s.startsWith(`${inImage}/`)) return here + s.slice(inImage.length);
        else {
          const eq = s.indexOf('=');
          if (eq > 0 && (s.slice(eq + 1) === inImage || s.slice(eq + 1).startsWith(`${inImage}/`)))
            return s.slice(0, eq + 1) + here + s.slice(eq + 1 + inImage.length);
        }
      return s;
    };
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: t.dir,
      HOSTNAME: pod.metadata.name,
      KUBERNETES_SERVICE_HOST: this.o.apiHost,
      KUBERNETES_SERVICE_PORT: String(this.o.apiPort),
    };
    const fieldOf = (e: EnvVar): string => {
      const field = e.valueFrom?.fieldRef?.fieldPath;
      if (field === 'metadata.name') return pod.metadata.name;
      if (field === 'metadata.namespace') return pod.metadata.namespace;
      if (field === 'status.podIP') return t.ip;
      if (field === 'spec.nodeName') return pod.spec.nodeName ?? '';
      return '';
    };
    for (const e of container.env ?? []) env[e.name] = mapPath(e.value ?? fieldOf(e));
    // What the pod's other containers (sidecars such as config-reloader) see, for prepare.
    const podEnv: Record<string, string> = {};
    for (const c of pod.spec.containers.slice(1))
      for (const e of c.env ?? []) podEnv[e.name] = e.value ?? fieldOf(e);
    if (requestsGpu(container, this.o.gpuResource)) {
      const gpu = this.o.gpuFor(pod.spec.nodeName!);
      env[EMULATED_GPU_ENV] = gpu.socketPath;
      // Allocated until the pod is terminated: the pod-resources listing the DCGM stand-in reads.
      const { namespace, name } = pod.metadata;
      gpu.attach({ namespace, pod: name, container: container.name }, () => !t.terminating);
    } else if (pod.spec.runtimeClassName === NVIDIA_RUNTIME_CLASS) {
      // The NVIDIA runtime shows a container its node's GPUs without allocating one: how
      // dcgm-exporter (here its stand-in, dcgm-standin.ts) reads them.
      env[EMULATED_GPU_ENV] = this.o.gpuFor(pod.spec.nodeName!).socketPath;
    }
    const mapText = (text: string): string =>
      Object.entries(mounts)
        .sort((a, b) => b[0].length - a[0].length)
        .reduce((acc, [inImage, here]) => acc.replaceAll(`${inImage}/`, `${here}/`), text);
    t.refresh = async () => {
      for (const v of pod.spec.volumes ?? []) await this.materialize(t, v, volumeDir(v.name));
      runtime.prepare?.(volumeDir, { ...podEnv, ...env }, mapText);
      // What the process writes (emptyDir volumes) does not count as a change.
      const written = new Set((pod.spec.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
      return volumeDigest(join(t.dir, 'volumes'), (name) => !written.has(name));
    };
    t.volumesDigest = await t.refresh();
    binds.push([this.writeHosts(t), '/etc/hosts']);
    const argv = [
      ...(container.command && runtime.command
        ? runtime.command(container.command)
        : [...runtime.entrypoint(), ...(container.command ?? []).slice(1)]),
      ...(container.args ?? []).map(mapPath),
    ];
    // `ip netns exec` gives the process a private mount namespace: the tmpfs on /run and the binds
    // stay inside it (/var/run is /run on Debian).
    const script = [
      'mount -t tmpfs -o mode=755 tmpfs /run',
      ...binds.map(([from, to]) => `mkdir -p ${to} 2>/dev/null; mount --bind ${from} ${to}`),
      'exec "$@"',
    ].join(' && ');
    const log = openSync(join(t.dir, 'container.log'), 'a');
    const child = spawn('ip', ['netns', 'exec', t.netns, 'sh', '-c', script, 'sh', ...argv], {
      env,
      cwd: runtime.workdir ?? t.dir,
      stdio: ['ignore', log, log],
      detached: true,
    });
    closeSync(log);
    t.child = child;
    // Recorded with the cluster's own processes, so cluster:down stops it even if the agent is gone.
    const pidFile = join(this.o.layout.pids, `pod-${pod.metadata.namespace}_${pod.metadata.name}.pid`);
    writeFileSync(pidFile, `${child.pid}\n`);
    t.startedAt = now();
    t.started = true;
    child.on('exit', (code, signal) => {
      rmSync(pidFile, { force: true });
      this.o.log(`${pod.metadata.name} exited (${signal ?? code})`);
      t.child = undefined;
      t.ready = false;
      if (!t.terminating) {
        t.restarts++;
        void this.report(t, { exitCode: code ?? 137 });
        t.startTimer = setTimeout(() => this.start(t), Math.min(10_000, 1000 * 2 ** t.restarts));
      }
    });
    this.o.log(`start ${pod.metadata.name}: ${argv.join(' ')}`);
    await this.report(t);
  }

  /**
   * A volume's files, as the kubelet writes them: ConfigMaps, Secrets, emptyDir, and projected
   * volumes of those plus service-account tokens (TokenRequest bound to the pod) and downward API
   * fields, which is what the API server's default `kube-api-access-*` volume holds.
   */
  private async materialize(t: Tracked, v: Volume, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const { namespace } = t.pod.metadata;
    const sources: VolumeSource[] = [
      ...(v.configMap ? [{ configMap: v.configMap }] : []),
      ...(v.secret
        ? [{ secret: { name: v.secret.secretName, items: v.secret.items, optional: v.secret.optional } }]
        : []),
      ...(v.projected?.sources ?? []),
    ];
    for (const src of sources) {
      if (src.serviceAccountToken) {
        // Renewed at 80 % of its lifetime, as the kubelet does; not on every refresh.
        const file = join(dir, src.serviceAccountToken.path);
        const lifetime = src.serviceAccountToken.expirationSeconds ?? 3607;
        if (!existsSync(file) || Date.now() - statSync(file).mtimeMs > 800 * lifetime)
          writeFileSync(file, await this.token(t, lifetime));
        continue;
      }
      if (src.downwardAPI) {
        for (const item of src.downwardAPI.items ?? []) {
          const field = item.fieldRef?.fieldPath;
          writeFileSync(
            join(dir, item.path),
            field === 'metadata.namespace' ? namespace : field === 'metadata.name' ? t.pod.metadata.name : '',
          );
        }
        continue;
      }
      const ref = src.configMap ?? src.secret;
      if (!ref) continue;
      const kind = src.configMap ? 'configmaps' : 'secrets';
      type Data = { data?: Record<string, string>; binaryData?: Record<string, string> };
      const obj = await this.o.api
        .get<Data>(`/api/v1/namespaces/${namespace}/${kind}/${ref.name}`)
        .catch((e: unknown) => {
          if (ref.optional && e instanceof ApiError && e.status === 404) return {} as Data;
          throw e;
        });
      const files = new Map<string, Buffer>();
      for (const [k, val] of Object.entries(obj.data ?? {}))
        files.set(k, kind === 'secrets' ? Buffer.from(val, 'base64') : Buffer.from(val));
      for (const [k, val] of Object.entries(obj.binaryData ?? {})) files.set(k, Buffer.from(val, 'base64'));
      const items = ref.items ?? [...files.keys()].map((key) => ({ key, path: key }));
      for (const item of items) {
        const data = files.get(item.key);
        if (data === undefined) continue;
        mkdirSync(dirname(join(dir, item.path)), { recursive: true });
        writeFileSync(join(dir, item.path), data);
      }
    }
  }

  /** A service-account token bound to the pod (TokenRequest, as the kubelet gets it). */
  private async token(t: Tracked, expirationSeconds = 3607): Promise<string> {
    const sa = t.pod.spec.serviceAccountName ?? 'default';
    const { namespace, name, uid } = t.pod.metadata;
    const tr = await this.o.api.send<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid } },
      },
    );
    return tr.status.token;
  }

  /**
   * /etc/hosts as the kubelet writes it, plus each Service's name on its first ready endpoint: the
   * part cluster DNS and kube-proxy play (there are neither here). Rewritten in place on every sync,
   * so a Service that gets endpoints later resolves in pods already running.
   */
  private writeHosts(t: Tracked): string {
    const lines = ['127.0.0.1 localhost', `${t.ip} ${t.pod.metadata.name}`, ...this.serviceHosts];
    const file = join(t.dir, 'hosts');
    const text = lines.join('\n') + '\n';
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
    return file;
  }

  private serviceHosts: string[] = [];

  private async refreshServiceHosts(): Promise<void> {
    const slices = await this.o.api.get<
      List<{
        metadata: { namespace: string; labels?: Record<string, string> };
        endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
      }>
    >('/apis/discovery.k8s.io/v1/endpointslices');
    const lines: string[] = [];
    for (const s of slices.items) {
      const svc = s.metadata.labels?.['kubernetes.io/service-name'];
      const addr = s.endpoints?.find((e) => e.conditions?.ready !== false)?.addresses[0];
      const ns = s.metadata.namespace;
      if (svc && addr) lines.push(`${addr} ${svc}.${ns}.svc ${svc}.${ns}.svc.cluster.local`);
    }
    this.serviceHosts = lines.sort();
    for (const t of this.pods.values()) if (t.child) this.writeHosts(t);
  }

  private async probe(t: Tracked): Promise<void> {
    if (!t.child || t.terminating || Date.now() < t.nextProbe) return;
    const p: Probe | undefined = t.container.readinessProbe;
    const period = (p?.periodSeconds ?? 10) * 1000;
    t.nextProbe = Date.now() + period;
    const ok = p?.httpGet ? await httpProbe(t.ip, t.container, p) : true;
    const threshold = p?.failureThreshold ?? 3;
    t.probeFailures = ok ? 0 : t.probeFailures + 1;
    const ready = ok ? true : t.ready && t.probeFailures < threshold;
    if (ready !== t.ready) {
      t.ready = ready;
      this.o.log(`${t.pod.metadata.name} ready=${ready}`);
      await this.report(t);
    }
  }

  /**
   * Every few seconds the volumes are rewritten from their ConfigMaps and Secrets, as the kubelet
   * syncs them (KEDA's operator waits for the certificates it put in a Secret to appear in its
   * mounted folder). For runtimes with a config-reloader sidecar the process is then told to reload
   * (Prometheus: POST /-/reload, with --web.enable-lifecycle as the operator sets it).
   */
  private async syncVolumes(t: Tracked): Promise<void> {
    if (!t.child || !t.refresh || t.terminating || Date.now() < t.nextRefresh) return;
    t.nextRefresh = Date.now() + 3000;
    const digest = await t.refresh();
    if (digest === t.volumesDigest) return;
    t.volumesDigest = digest;
    const reload = RUNTIMES[t.container.image]!.reload;
    if (!reload) return;
    const res = await fetch(`http://${t.ip}:${reload.port}${reload.path}`, { method: 'POST' }).catch(
      (e: Error) => e,
    );
    this.o.log(
      `${t.pod.metadata.name}: volumes changed, reload: ${res instanceof Error ? res.message : res.status}`,
    );
  }

  /** preStop, SIGTERM, SIGKILL after the grace period, then the pod object goes (grace 0). */
  private async terminate(t: Tracked, pod: Pod): Promise<void> {
    t.terminating = true;
    clearTimeout(t.startTimer);
    const grace =
      (pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    const deadline = Date.now() + grace;
    this.o.log(`terminate ${pod.metadata.name} (grace ${grace / 1000} s)`);
    const hook = t.container.lifecycle?.preStop;
    if (t.child && hook?.sleep) await sleepUntil(Math.min(deadline, Date.now() + hook.sleep.seconds * 1000));
    if (t.child && hook?.httpGet)
      await httpProbe(t.ip, t.container, { httpGet: hook.httpGet, timeoutSeconds: grace / 1000 });
    if (t.child) {
      const exited = new Promise<void>((r) => t.child?.once('exit', () => r()));
      signal(t.child, 'SIGTERM');
      const timer = setTimeout(
        () => t.child && signal(t.child, 'SIGKILL'),
        Math.max(0, deadline - Date.now()),
      );
      await exited;
      clearTimeout(timer);
    }
    await this.finish(pod, t);
  }

  private async finish(pod: Pod, t?: Tracked): Promise<void> {
    if (t) this.release(t);
    try {
      await this.o.api.send(
        'DELETE',
        `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
        {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        },
      );
    } catch (e) {
      if (!(e instanceof ApiError && (e.status === 404 || e.status === 409))) throw e;
    }
  }

  private kill(t: Tracked): void {
    clearTimeout(t.startTimer);
    t.terminating = true;
    if (t.child) signal(t.child, 'SIGKILL');
    this.release(t);
  }

  private release(t: Tracked): void {
    deletePodNetwork(t.netns);
    rmSync(join(t.dir, 'volumes'), { recursive: true, force: true });
    this.pods.delete(t.pod.metadata.uid);
    this.freeSlots.push(t.slot);
  }

  /** Writes the pod's status as the kubelet reports it. */
  private async report(t: Tracked, last?: { exitCode: number }): Promise<void> {
    const { pod, container } = t;
    const cond = (type: string, ok: boolean) => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: now(),
    });
    const running = t.child !== undefined;
    const status = {
      phase: 'Running',
      hostIP: this.o.apiHost,
      hostIPs: [{ ip: this.o.apiHost }],
      podIP: t.ip,
      podIPs: [{ ip: t.ip }],
      startTime: (pod.status as { startTime?: string } | undefined)?.startTime ?? now(),
      conditions: [
        cond('PodReadyToStartContainers', true),
        cond('Initialized', true),
        cond('ContainersReady', t.ready),
        cond('Ready', t.ready),
        cond('PodScheduled', true),
      ],
      containerStatuses: [
        {
          name: container.name,
          image: container.image,
          imageID: `${container.image}@local`,
          containerID: `agent://${pod.metadata.uid}`,
          ready: t.ready,
          started: t.started,
          restartCount: t.restarts,
          state: running
            ? { running: { startedAt: t.startedAt } }
            : { waiting: { reason: t.restarts ? 'CrashLoopBackOff' : 'ContainerCreating' } },
          ...(last
            ? { lastState: { terminated: { exitCode: last.exitCode, reason: 'Error', finishedAt: now() } } }
            : {}),
        },
      ],
    };
    try {
      await this.o.api.send(
        'PATCH',
        `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`,
        { status },
        'application/merge-patch+json',
      );
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  }

  /** Stops every pod's process (agent shutdown: cluster:down). */
  shutdown(): void {
    for (const t of this.pods.values()) this.kill(t);
  }

  /**
   * The containers whose process runs now, terminating ones included, for the kubelet's metrics
   * endpoints (kubelet-metrics.ts RunningContainer): pid is the process the container runs as,
   * which is also its process group (spawned detached).
   */
  running(): {
    namespace: string;
    pod: string;
    uid: string;
    container: string;
    image: string;
    node: string;
    pid: number;
  }[] {
    return [...this.pods.values()].flatMap((t) =>
      t.child?.pid === undefined
        ? []
        : [
            {
              namespace: t.pod.metadata.namespace,
              pod: t.pod.metadata.name,
              uid: t.pod.metadata.uid,
              container: t.container.name,
              image: t.container.image,
              node: t.pod.spec.nodeName ?? '',
              pid: t.child.pid,
            },
          ],
    );
  }
}

/** Digest of every file under dir (names and contents). */
function volumeDigest(dir: string, include: (volume: string) => boolean): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 1 << 24) h.update(p).update(readFileSync(p));
    }
  };
  if (existsSync(dir)) for (const v of readdirSync(dir).sort()) if (include(v)) walk(join(dir, v));
  return h.digest('hex');
}

const requestsGpu = (c: Container, resource: string) => Number(c.resources?.limits?.[resource] ?? 0) > 0;

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, sig);
  } catch {
    /* gone */
  }
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** An httpGet probe as the kubelet runs it: success is a status from 200 to 399. */
export function httpProbe(ip: string, c: Container, p: Probe): Promise<boolean> {
  const g = p.httpGet!;
  const https = g.scheme === 'HTTPS';
  const port = resolvePort(c, g.port);
  return new Promise((resolve) => {
    const req = (https ? httpsRequest : httpRequest)(
      {
        host: ip,
        port,
        path: g.path ?? '/',
        method: 'GET',
        timeout: (p.timeoutSeconds ?? 1) * 1000,
        rejectUnauthorized: false,
      },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
