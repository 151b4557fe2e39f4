import { readFileSync } from 'node:fs';

/** What server metadata answers on every protocol. */
export const SERVER_NAME = 'cdk8s-gpu-inference';
export const SERVER_VERSION: string = JSON.parse(
  readFileSync(new URL('./package.json', import.meta.url), 'utf8'),
).version;

/** Protocol extensions every front end implements (REST adds its codecs', e.g. binary_tensor_data). */
export const EXTENSIONS: readonly string[] = [
  'model_repository',
  'model_configuration',
  'statistics',
  'classification',
];
