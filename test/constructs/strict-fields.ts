/**
 * Unknown-field checks, which the schema validators alone do not make: kubernetes-models' compiled
 * validators and the CRDs' openAPIV3Schema both let properties they do not list pass (the API server
 * prunes or rejects them instead), so a misspelled field would validate and then be dropped in the
 * cluster. Built-in kinds are walked against kubernetes-models' TypeScript interfaces (generated from
 * the Kubernetes OpenAPI definitions, read here with the TypeScript checker); CRD schemas get
 * `additionalProperties: false` wherever they list properties and do not preserve unknown fields.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';

const require = createRequire(import.meta.url);
const modelsRoot = dirname(require.resolve('kubernetes-models/package.json'));

/** Built-in kinds the library emits, loaded in one program (a kind not listed adds itself, slower). */
const EMITTED_KINDS = [
  'v1:Namespace',
  'v1:ConfigMap',
  'v1:Service',
  'v1:ServiceAccount',
  'apps/v1:Deployment',
  'apps/v1:DaemonSet',
  'autoscaling/v2:HorizontalPodAutoscaler',
  'policy/v1:PodDisruptionBudget',
  'node.k8s.io/v1:RuntimeClass',
  'apiregistration.k8s.io/v1:APIService',
  'rbac.authorization.k8s.io/v1:ClusterRole',
  'rbac.authorization.k8s.io/v1:ClusterRoleBinding',
  'rbac.authorization.k8s.io/v1:Role',
  'rbac.authorization.k8s.io/v1:RoleBinding',
];

let program: ts.Program | undefined;
const roots = new Map<string, string>();
const declarationFile = (key: string): string => {
  const [apiVersion, kind] = key.split(':');
  return join(modelsRoot, apiVersion, `${kind}.d.ts`);
};
for (const key of EMITTED_KINDS) roots.set(key, declarationFile(key));

/** The `I<Kind>` interface kubernetes-models declares for apiVersion/kind, or undefined. */
function interfaceFor(
  apiVersion: string,
  kind: string,
): { checker: ts.TypeChecker; type: ts.Type } | undefined {
  const key = `${apiVersion}:${kind}`;
  const file = declarationFile(key);
  if (!program || !roots.has(key)) {
    roots.set(key, file);
    // One program over every root seen so far: the type of a root is resolved once it is in it.
    program = ts.createProgram(
      [...roots.values()],
      {
        noEmit: true,
        types: [],
        moduleResolution: ts.ModuleResolutionKind.Node10,
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
      },
      undefined,
      program,
    );
  }
  const source = program?.getSourceFile(file);
  if (!program || !source) return undefined;
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(source);
  const symbol = moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((s) => s.name === `I${kind}`);
  return symbol ? { checker, type: checker.getDeclaredTypeOfSymbol(symbol) } : undefined;
}

function walk(checker: ts.TypeChecker, value: unknown, declared: ts.Type, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object') return; // values are the schema validators' job
  const type = checker.getNonNullableType(declared);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return; // free-form (RawExtension, JSON)
  const members = type.isUnion() ? type.types : [type];
  if (Array.isArray(value)) {
    const arrays = members.filter((t) => checker.isArrayType(t));
    if (arrays.length === 0) return;
    const element = checker.getTypeArguments(arrays[0] as ts.TypeReference)[0];
    value.forEach((v, i) => walk(checker, v, element, `${path}[${i}]`, out));
    return;
  }
  const objects = members.filter((t) => t.flags & ts.TypeFlags.Object && !checker.isArrayType(t));
  if (objects.length === 0) return;
  for (const [key, v] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    const prop = objects.map((t) => t.getProperty(key)).find((p) => p !== undefined);
    if (prop) {
      walk(checker, v, checker.getTypeOfSymbol(prop), at, out);
      continue;
    }
    const index = objects.map((t) => checker.getIndexTypeOfType(t, ts.IndexKind.String)).find(Boolean);
    if (index) {
      walk(checker, v, index, at, out);
      continue;
    }
    out.push(`${at} is not a field of ${objects.map((t) => checker.typeToString(t)).join(' | ')}`);
  }
}

/**
 * Fields of a built-in object that its Kubernetes schema does not declare, as messages naming the
 * path; undefined when kubernetes-models has no type for apiVersion/kind.
 */
export function unknownBuiltinFields(obj: { apiVersion: string; kind: string }): string[] | undefined {
  const found = interfaceFor(obj.apiVersion, obj.kind);
  if (!found) return undefined;
  const out: string[] = [];
  walk(found.checker, obj, found.type, '', out);
  return out;
}

type Schema = Record<string, unknown>;

/**
 * A copy of a CRD's openAPIV3Schema that rejects the fields it does not list, as the API server's
 * pruning would drop them: `additionalProperties: false` on every schema with `properties`, unless it
 * has `x-kubernetes-preserve-unknown-fields` or its own additionalProperties.
 */
export function closedSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closedSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const s = schema as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    // `properties` and `patternProperties` map names to schemas; close each of those schemas.
    out[k] =
      (k === 'properties' || k === 'patternProperties' || k === 'definitions') && v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v as Schema).map(([name, sub]) => [name, closedSchema(sub)]))
        : // Value lists, and the value-validation branches of a structural schema, stay as they are.
          ['enum', 'default', 'example', 'required', 'anyOf', 'allOf', 'oneOf', 'not'].includes(k)
          ? v
          : closedSchema(v);
  }
  if (
    s.properties &&
    s['x-kubernetes-preserve-unknown-fields'] !== true &&
    s.additionalProperties === undefined
  ) {
    out.additionalProperties = false;
  }
  return out;
}
