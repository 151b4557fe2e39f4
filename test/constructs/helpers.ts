import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { App, Chart, Testing } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { createSystem, type SystemOptions } from '../../main.ts';
import { closedSchema, unknownBuiltinFields } from './strict-fields.ts';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const crdDir = join(repoRoot, 'third_party', 'crds');

/** A synthesized Kubernetes object. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  /** labels and annotations may be absent; tests that read them expect them present. */
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [field: string]: any;
}

/** Synthesize one construct in a fresh chart. */
export function synthChart(build: (chart: Chart) => void): K8sObject[] {
  const chart = new Chart(Testing.app(), 'test');
  build(chart);
  return Testing.synth(chart) as K8sObject[];
}

/** The backend x monitoring combinations of main.ts that the system-wide tests synthesize. */
export const VARIANTS = [
  { backend: 'prometheus-adapter', monitoring: 'kube-prometheus-stack' },
  { backend: 'keda', monitoring: 'kube-prometheus-stack' },
  { backend: 'prometheus-adapter', monitoring: 'bundled' },
] as const;

/** Synthesize the whole system of main.ts with these options, every chart. */
export function synthSystem(options: SystemOptions = {}): {
  system: ReturnType<typeof createSystem>;
  objects: K8sObject[];
} {
  const app: App = Testing.app();
  const system = createSystem(app, options);
  const objects = app.charts.flatMap((c) => Testing.synth(c) as K8sObject[]);
  return { system, objects };
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
}

/** Custom resources we validate against the CRDs in third_party/crds. */
const CRD_FILES: Record<string, string> = {
  'monitoring.coreos.com/v1:ServiceMonitor': 'monitoring.coreos.com_servicemonitors.yaml',
  'monitoring.coreos.com/v1:PodMonitor': 'monitoring.coreos.com_podmonitors.yaml',
  'monitoring.coreos.com/v1:PrometheusRule': 'monitoring.coreos.com_prometheusrules.yaml',
  'keda.sh/v1alpha1:ScaledObject': 'keda.sh_scaledobjects.yaml',
};

/** CRD patterns are Go regexps: their `(?i)` is the JavaScript `i` flag. */
const goRegExp = Object.assign(
  (pattern: string, flags: string) =>
    pattern.includes('(?i)')
      ? new RegExp(pattern.replaceAll('(?i)', ''), `${flags}i`)
      : new RegExp(pattern, flags),
  { code: 'new RegExp' },
);

const crdValidators = new Map<string, ValidateFunction>();

function crdValidator(apiVersion: string, kind: string): ValidateFunction | undefined {
  const key = `${apiVersion}:${kind}`;
  const file = CRD_FILES[key];
  if (!file) return undefined;
  let validate = crdValidators.get(key);
  if (!validate) {
    const crd = parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))[0].toJS();
    const version = apiVersion.split('/')[1];
    const schema = crd.spec.versions.find((v: { name: string }) => v.name === version).schema.openAPIV3Schema;
    // Kubernetes' structural-schema extensions (x-kubernetes-*) are not JSON Schema keywords.
    const ajv = new Ajv({
      strict: false,
      allErrors: true,
      validateFormats: false,
      code: { regExp: goRegExp },
    });
    validate = ajv.compile(closedSchema(schema) as object);
    crdValidators.set(key, validate);
  }
  return validate;
}

/**
 * Validate an object: built-in kinds with kubernetes-models (the Kubernetes OpenAPI schema),
 * custom resources with their CRD's openAPIV3Schema. Unknown fields fail both (see strict-fields.ts).
 * Returns the error text, or undefined.
 */
export async function validateObject(obj: K8sObject): Promise<string | undefined> {
  const crd = crdValidator(obj.apiVersion, obj.kind);
  if (crd) {
    return crd(obj) ? undefined : JSON.stringify(crd.errors);
  }
  if (obj.apiVersion.includes('.') && !obj.apiVersion.includes('k8s.io')) {
    return `no schema known for ${obj.apiVersion} ${obj.kind}`;
  }
  const mod = (await import(/* @vite-ignore */ `kubernetes-models/${obj.apiVersion}`)) as Record<
    string,
    new (data: unknown) => { validate(): void }
  >;
  const Model = mod[obj.kind];
  if (!Model) return `kubernetes-models has no ${obj.apiVersion} ${obj.kind}`;
  try {
    new Model(obj).validate();
  } catch (err) {
    return String(err);
  }
  const unknown = unknownBuiltinFields(obj);
  if (!unknown) return `kubernetes-models has no type for ${obj.apiVersion} ${obj.kind}`;
  return unknown.length ? unknown.join('; ') : undefined;
}

/** A scratch directory. */
export function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `constructs-${prefix}-`));
}

/** Run promtool; returns its output, throws with the output on a non-zero exit. */
export function promtool(args: string[], cwd: string): string {
  try {
    return execFileSync('promtool', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

export function writeJson(dir: string, name: string, data: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(data, null, 2));
  return path;
}

export function listFiles(dir: string): string[] {
  return readdirSync(dir);
}

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
  'e',
]);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions, keywords,
 * label names in grouping clauses or matchers, strings or numbers.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\]|\\.)*'/g, "''")
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2]) continue; // a function call
    if (PROMQL_KEYWORDS.has(m[1].toLowerCase())) continue;
    names.add(m[1]);
  }
  return [...names];
}

/**
 * A construct's validation message as thrown: the construct's path (`test/<id>...` in synthChart's
 * chart) in front of `message`.
 */
export function atPath(message: string): RegExp {
  return new RegExp(`^test/[\\w/-]+: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
}
