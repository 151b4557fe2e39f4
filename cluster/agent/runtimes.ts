/**
 * What the node agent can run for real, by container image: the image's entrypoint as a process
 * on this machine, with the files the image would hold taken from where this repository or the
 * component cache keeps them. Every other image is emulated by kwok.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { IMAGES } from '../../constructs/versions.ts';
import { COMPONENTS, type GoComponent } from '../components.ts';
import { binary } from '../build.ts';
import { REPO_ROOT } from '../layout.ts';
import { KEDA_IMAGES } from '../keda-stack.ts';

/** The operator image of upstream's example Deployment (cluster/monitoring-stack.ts applies it). */
export const OPERATOR_IMAGE = `quay.io/prometheus-operator/prometheus-operator:${COMPONENTS.prometheusOperator.version}`;

export interface Runtime {
  /** The image's entrypoint (argv[0..]): the container's args follow it. */
  entrypoint(): string[];
  /** Paths inside the image mapped to where their files are here. */
  readonly imageFiles: Readonly<Record<string, string>>;
  /**
   * argv for a container whose `command` replaces the image's CMD (an image without ENTRYPOINT):
   * the server image's `node ...` becomes this machine's Node. @default entrypoint() followed by
   * the command's arguments (the command names the image's binary)
   */
  readonly command?: (command: readonly string[]) => string[];
  /** The image's WORKDIR. @default the pod's folder under .cluster/pods */
  readonly workdir?: string;
  /**
   * Work the pod's init containers do, done before the process starts and again whenever its
   * volumes change; `mapText` rewrites in-image paths of mounted volumes to where they are here.
   */
  readonly prepare?: (
    volumeDir: (name: string) => string,
    env: Readonly<Record<string, string>>,
    mapText: (text: string) => string,
  ) => void;
  /** How a sidecar tells the process its volumes changed (config-reloader). */
  readonly reload?: { readonly port: number; readonly path: string };
}

/** An image whose entrypoint is one binary of a pinned component, with no files of its own. */
const goBinary = (c: GoComponent, name: string): Runtime => ({
  entrypoint: () => [binary(c, name)],
  imageFiles: {},
});

export const RUNTIMES: Readonly<Record<string, Runtime>> = {
  /**
   * server/Dockerfile: `node server/main.ts` with the bundled models at /models; with a `command`,
   * what else the image carries (controllers/csr-approver/main.ts, KubeletCsrApprover).
   */
  [IMAGES.inferenceServer]: {
    entrypoint: () => [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'server', 'main.ts')],
    imageFiles: { '/models': join(REPO_ROOT, 'server', 'models') },
    workdir: REPO_ROOT,
    // KubeletCsrApprover's CSR_APPROVER_COMMAND; its paths are relative to the WORKDIR, the
    // repository root here as in the image.
    command: (command) => (command[0] === 'node' ? [process.execPath, ...command.slice(1)] : [...command]),
  },
  /**
   * STAND-IN, not DCGM (there is no GPU): dcgm-standin.ts publishes dcgm-exporter's series from
   * the node's emulated GPU, whose socket the agent gives this pod (pod-runner.ts).
   */
  [IMAGES.dcgmExporter]: {
    entrypoint: () => [
      process.execPath,
      '--import',
      'tsx',
      join(REPO_ROOT, 'cluster', 'agent', 'dcgm-standin.ts'),
    ],
    imageFiles: {},
    workdir: REPO_ROOT,
  },
  [IMAGES.prometheusAdapter]: goBinary(COMPONENTS.prometheusAdapter, 'adapter'),
  /**
   * The Prometheus pod prometheus-operator generates. Its init container (prometheus-config-reloader
   * --watch-interval=0) unpacks the generated configuration from the `config` Secret volume into
   * `config-out`, expanding $(VAR) from the environment, and its config-reloader sidecar does the
   * same on every change and calls /-/reload: both are done by the agent (pod-runner.ts syncVolumes).
   */
  [IMAGES.prometheus]: {
    ...goBinary(COMPONENTS.prometheus, 'prometheus'),
    prepare: (volumeDir, env, mapText) => {
      const gz = readFileSync(join(volumeDir('config'), 'prometheus.yaml.gz'));
      const expanded = gunzipSync(gz)
        .toString('utf8')
        .replace(/\$\((\w+)\)/g, (m, name: string) => env[name] ?? m);
      const out = join(volumeDir('config-out'), 'prometheus.env.yaml');
      const text = mapText(expanded);
      if (!existsSync(out) || readFileSync(out, 'utf8') !== text) writeFileSync(out, text);
    },
    reload: { port: 9090, path: '/-/reload' },
  },
  [OPERATOR_IMAGE]: goBinary(COMPONENTS.prometheusOperator, 'operator'),
  /** KEDA's operator and metrics API server (cluster/keda-stack.ts), `/keda` and `/keda-adapter`. */
  [KEDA_IMAGES.operator]: goBinary(COMPONENTS.keda, 'keda'),
  [KEDA_IMAGES.metricsApiServer]: goBinary(COMPONENTS.keda, 'keda-adapter'),
  [IMAGES.kubeStateMetrics]: goBinary(COMPONENTS.kubeStateMetrics, 'kube-state-metrics'),
  [IMAGES.metricsServer]: goBinary(COMPONENTS.metricsServer, 'metrics-server'),
};

export const AGENT_IMAGES: readonly string[] = Object.keys(RUNTIMES);
