import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { appLabels } from './k8s-helpers.ts';
import { validator } from './validate.ts';

export interface DefaultDenyIngressProps {
  /** Namespace whose pods get no ingress but what their own NetworkPolicies allow. */
  readonly namespace: string;
}

/**
 * A NetworkPolicy selecting every pod of a namespace with no ingress rule: traffic reaches a pod
 * only through another policy that allows it. Its own construct, not part of SystemNamespace, so
 * that it is applied with the workloads (after the namespace exists): a file holding a Namespace
 * and an object inside it fails `kubectl apply --dry-run=server`.
 */
export class DefaultDenyIngress extends Construct {
  readonly policy: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: DefaultDenyIngressProps) {
    super(scope, id);
    const v = validator(this);
    this.policy = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: {
        name: 'default-deny-ingress',
        namespace: v.dnsLabel('namespace', props.namespace),
        labels: appLabels('network-policy', 'default-deny-ingress'),
      },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
  }
}
