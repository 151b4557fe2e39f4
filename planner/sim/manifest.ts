/**
 * An HPA to simulate read from Kubernetes manifests (YAML or JSON, several documents allowed), such
 * as the synthesized dist/40-autoscaling.k8s.yaml: the robust input, exactly what gets applied.
 */
import { parseAllDocuments } from 'yaml';
import type { HpaSpec } from '../../constructs/autoscaling-v2/types.ts';
import { TargetError, fromHpaSpec, type HpaUnderTest } from './target.ts';

interface Manifest {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string };
  readonly spec?: HpaSpec;
}

/** The first (or the named) autoscaling/v2 HorizontalPodAutoscaler in `text`. */
export function hpaFromManifests(source: string, text: string, name?: string): HpaUnderTest {
  const docs = parseAllDocuments(text);
  const hpas: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new TargetError(`${source}: not YAML/JSON: ${doc.errors[0].message}`);
    const m = doc.toJS() as Manifest | null;
    if (m && m.kind === 'HorizontalPodAutoscaler') hpas.push(m);
  }
  const found = name === undefined ? hpas[0] : hpas.find((h) => h.metadata?.name === name);
  if (!found) {
    const names = hpas.map((h) => h.metadata?.name ?? '?');
    throw new TargetError(
      `${source}: no HorizontalPodAutoscaler${name === undefined ? '' : ` named ${JSON.stringify(name)}`}; found ${names.length ? names.join(', ') : 'none'}`,
    );
  }
  if (found.apiVersion !== 'autoscaling/v2') {
    throw new TargetError(
      `${source}: HorizontalPodAutoscaler apiVersion ${JSON.stringify(found.apiVersion)}; the planner reads autoscaling/v2`,
    );
  }
  if (!found.spec)
    throw new TargetError(`${source}: HorizontalPodAutoscaler ${found.metadata?.name} has no spec`);
  return fromHpaSpec(`HPA ${found.metadata?.name ?? ''} (${source})`, found.spec);
}
