import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { validator } from './validate.ts';
import { POD_SECURITY_VERSION } from './versions.ts';

/** The Pod Security Standards levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/). */
export type PodSecurityLevel = 'restricted' | 'baseline' | 'privileged';
export const POD_SECURITY_LEVELS: readonly PodSecurityLevel[] = ['restricted', 'baseline', 'privileged'];
/** Pod Security admission's modes; each gets the level and the version label. */
export const POD_SECURITY_MODES = ['enforce', 'audit', 'warn'] as const;

export interface SystemNamespaceProps {
  /** Name of the namespace. */
  readonly name: string;
  /**
   * Pod Security Standards level the namespace enforces, audits and warns at. `privileged` only for
   * workloads that need host access (dcgm-exporter's hostPath socket, the device plugin).
   * @default 'restricted'
   */
  readonly podSecurity?: PodSecurityLevel;
  /**
   * Version of the Pod Security Standards (`v1.N` or `latest`).
   * @default POD_SECURITY_VERSION ('v1.37', the Kubernetes release the manifests target)
   */
  readonly podSecurityVersion?: string;
}

/**
 * A namespace labelled for Pod Security admission (the same level in enforce, audit and warn, each
 * pinned to a version). Ingress is denied by DefaultDenyIngress, in the workloads' chart.
 */
export class SystemNamespace extends Construct {
  readonly name: string;
  readonly podSecurity: PodSecurityLevel;
  readonly podSecurityVersion: string;
  readonly namespace: k8s.KubeNamespace;

  constructor(scope: Construct, id: string, props: SystemNamespaceProps) {
    super(scope, id);
    const v = validator(this);
    this.name = v.dnsLabel('name', props.name);
    this.podSecurity = v.oneOf('podSecurity', props.podSecurity ?? 'restricted', POD_SECURITY_LEVELS);
    this.podSecurityVersion = props.podSecurityVersion ?? POD_SECURITY_VERSION;
    if (!/^(latest|v1\.(0|[1-9][0-9]*))$/.test(this.podSecurityVersion)) {
      throw v.error(
        `podSecurityVersion must be "latest" or a Kubernetes minor version such as "v1.37", got ${JSON.stringify(this.podSecurityVersion)}`,
      );
    }
    const labels = Object.fromEntries(
      POD_SECURITY_MODES.flatMap((mode) => [
        [`pod-security.kubernetes.io/${mode}`, this.podSecurity],
        [`pod-security.kubernetes.io/${mode}-version`, this.podSecurityVersion],
      ]),
    );
    this.namespace = new k8s.KubeNamespace(this, 'Namespace', { metadata: { name: this.name, labels } });
  }
}
