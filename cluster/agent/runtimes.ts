/**
 * What the node agent can run for real, by container image: the image's entrypoint as a process
 * on this machine, with the files the image would hold taken from where this repository or the
 * component cache keeps them. Every other image is emulated by kwok.
 */
import { join } from 'node:path';
import { IMAGES } from '../../constructs/versions.ts';
import { COMPONENTS } from '../components.ts';
import { binary } from '../build.ts';
import { REPO_ROOT } from '../layout.ts';

export interface Runtime {
  /** The image's entrypoint (argv[0..]): the container's args follow it. */
  entrypoint(): string[];
  /** Paths inside the image mapped to where their files are here. */
  readonly imageFiles: Readonly<Record<string, string>>;
  /** The image's WORKDIR. @default the pod's folder under .cluster/pods */
  readonly workdir?: string;
}

export const RUNTIMES: Readonly<Record<string, Runtime>> = {
  /** server/Dockerfile: `node server/main.ts` with the bundled models at /models. */
  [IMAGES.inferenceServer]: {
    entrypoint: () => [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'server', 'main.ts')],
    imageFiles: { '/models': join(REPO_ROOT, 'server', 'models') },
    workdir: REPO_ROOT,
  },
  [IMAGES.prometheusAdapter]: {
    entrypoint: () => [binary(COMPONENTS.prometheusAdapter, 'adapter')],
    imageFiles: {},
  },
  [IMAGES.metricsServer]: {
    entrypoint: () => [binary(COMPONENTS.metricsServer, 'metrics-server')],
    imageFiles: {},
  },
};

export const AGENT_IMAGES: readonly string[] = Object.keys(RUNTIMES);
