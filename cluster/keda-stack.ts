/**
 * KEDA as its release manifest installs it (the `config/minimal` kustomize tree of the pinned
 * module, rendered by kubectl's built-in kustomize: CRDs, RBAC, the operator, the metrics API server
 * and the `v1beta1.external.metrics.k8s.io` APIService), with three changes a user of provisioning's
 * topology makes too: the images pinned to the release instead of `latest`, a toleration of the
 * control plane's taint (every node is tainted there, as for prometheus-operator), and the
 * operator's certificate folder passed as a flag (it is the flag's default, `/certs`; the node
 * agent maps paths it sees in arguments). The operator generates the certificates itself
 * (`--enable-cert-rotation`), writes them to the `kedaorg-certs` Secret and the APIService's
 * caBundle, as it does in a cluster.
 */
import { dirname } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONTROL_PLANE_TOLERATION } from '../constructs/k8s-helpers.ts';
import { COMPONENTS } from './components.ts';
import { moduleFile } from './build.ts';
import { kubectl } from './kubectl.ts';
import type { Layout } from './layout.ts';

/** The images of KEDA's release manifest, at the pinned release (run by the node agent). */
const kedaTag = COMPONENTS.keda.version.replace(/^v/, '');
export const KEDA_IMAGES = {
  operator: `ghcr.io/kedacore/keda:${kedaTag}`,
  metricsApiServer: `ghcr.io/kedacore/keda-metrics-apiserver:${kedaTag}`,
} as const;

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: {
    template?: {
      spec: {
        tolerations?: unknown[];
        containers: { name: string; image: string; args?: string[] }[];
      };
    };
  };
};

/** KEDA's objects, CRDs first. */
export function kedaStack(l: Layout): Obj[] {
  const tree = dirname(moduleFile(COMPONENTS.keda, 'config/minimal/kustomization.yaml'));
  const objs = parseAllDocuments(kubectl(l, ['kustomize', tree])).map((d) => d.toJS() as Obj);
  for (const o of objs) {
    const pod = o.kind === 'Deployment' ? o.spec?.template?.spec : undefined;
    if (!pod) continue;
    pod.tolerations = [...(pod.tolerations ?? []), CONTROL_PLANE_TOLERATION];
    for (const c of pod.containers) {
      if (c.image.startsWith('ghcr.io/kedacore/keda-metrics-apiserver:'))
        c.image = KEDA_IMAGES.metricsApiServer;
      else if (c.image.startsWith('ghcr.io/kedacore/keda:')) {
        c.image = KEDA_IMAGES.operator;
        if (!c.args?.some((a) => a.startsWith('--cert-dir')))
          c.args = [...(c.args ?? []), '--cert-dir=/certs'];
      }
    }
  }
  const crd = (o: Obj) => o.kind === 'CustomResourceDefinition';
  return [...objs.filter(crd), ...objs.filter((o) => !crd(o))];
}
