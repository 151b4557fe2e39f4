/**
 * The kubelets' serving-certificate CSRs approved for as long as the cluster runs: provisioning
 * approves each node's first CSR (the bootstrap step, provision/README.md), this controller every
 * later one, when the kubelet rotates its certificate before it expires. Without it the rotated
 * CSRs stay pending, the old certificate expires and metrics-server (which verifies the kubelets'
 * TLS) loses the nodes' metrics. It does what postfinance/kubelet-csr-approver does, with the
 * Node's own addresses in place of its DNS and regex checks (controllers/csr-approver/), and runs
 * from the server image, so no other image has to be built, pulled or trusted.
 */
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  CSR_APPROVER_COMMAND,
  CSR_APPROVER_DEFAULTS,
  CSR_APPROVER_ENV,
  CSR_APPROVER_LOG_LEVELS,
  CSR_APPROVER_RESYNC_RANGE,
  SERVER_UID,
} from './contract.ts';
import { imageReference } from './image-reference.ts';
import {
  appLabels,
  CONTROL_PLANE_TOLERATION,
  nonRootPod,
  RESTRICTED_CONTAINER,
  selectorLabels,
  serviceAccountWithRbac,
} from './k8s-helpers.ts';
import { validator } from './validate.ts';
import { IMAGES } from './versions.ts';

export interface KubeletCsrApproverProps {
  /**
   * Name of the ServiceAccount, ClusterRole, binding and Deployment.
   * @default 'kubelet-csr-approver'
   */
  readonly name?: string;
  /**
   * Namespace of the ServiceAccount and Deployment.
   * @default 'kube-system'
   */
  readonly namespace?: string;
  /**
   * The server image, which carries the controller (controllers/csr-approver/).
   * @default IMAGES.inferenceServer (SERVER_IMAGE, the local name `npm run image` commits)
   */
  readonly image?: string;
  /**
   * Seconds between full relists of the CSRs, which also retry those left pending (a requestor
   * whose Node did not exist yet).
   * @default CSR_APPROVER_DEFAULTS.resyncSeconds (300)
   */
  readonly resyncSeconds?: number;
  /**
   * `info`: one JSON line per decision; `debug`: also every CSR it leaves alone.
   * @default 'info'
   */
  readonly logLevel?: (typeof CSR_APPROVER_LOG_LEVELS)[number];
}

export class KubeletCsrApprover extends Construct {
  readonly name: string;
  readonly namespace: string;
  readonly image: string;
  readonly deployment: k8s.KubeDeployment;

  constructor(scope: Construct, id: string, props: KubeletCsrApproverProps = {}) {
    super(scope, id);
    const v = validator(this);
    this.name = v.dnsLabel('name', props.name ?? 'kubelet-csr-approver');
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'kube-system');
    this.image = imageReference('image', props.image ?? IMAGES.inferenceServer, v);
    const { min, max } = CSR_APPROVER_RESYNC_RANGE;
    const resyncSeconds = v.integerInRange(
      'resyncSeconds',
      props.resyncSeconds ?? CSR_APPROVER_DEFAULTS.resyncSeconds,
      min,
      max,
    );
    const logLevel = v.oneOf(
      'logLevel',
      props.logLevel ?? CSR_APPROVER_DEFAULTS.logLevel,
      CSR_APPROVER_LOG_LEVELS,
    );

    const { name, namespace } = this;
    const labels = appLabels(name, name, 'csr-approver');
    serviceAccountWithRbac(this, {
      name,
      namespace,
      labels,
      // What kubelet-csr-approver's chart grants, plus reading Nodes (their addresses are the
      // allowed SANs): no create, delete or update of CSRs themselves, only their /approval, and
      // the `approve` verb for the kubelet-serving signer alone (the API server's
      // CertificateApproval admission checks it).
      clusterRules: [
        {
          apiGroups: ['certificates.k8s.io'],
          resources: ['certificatesigningrequests'],
          verbs: ['get', 'list', 'watch'],
        },
        {
          apiGroups: ['certificates.k8s.io'],
          resources: ['certificatesigningrequests/approval'],
          verbs: ['update'],
        },
        {
          apiGroups: ['certificates.k8s.io'],
          resources: ['signers'],
          resourceNames: ['kubernetes.io/kubelet-serving'],
          verbs: ['approve'],
        },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name, namespace, labels },
      spec: {
        // One writer: a second replica would only race it (a 409 it retries) without leader election.
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selectorLabels(name, name) },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            priorityClassName: 'system-cluster-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            // Every node but the control plane may be a GPU node that only GPU pods tolerate.
            tolerations: [CONTROL_PLANE_TOLERATION],
            securityContext: nonRootPod(SERVER_UID, SERVER_UID),
            containers: [
              {
                name: 'approver',
                image: this.image,
                command: [...CSR_APPROVER_COMMAND],
                env: [
                  { name: 'NODE_ENV', value: 'production' },
                  { name: CSR_APPROVER_ENV.resyncSeconds, value: String(resyncSeconds) },
                  { name: CSR_APPROVER_ENV.logLevel, value: logLevel },
                ],
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('96Mi') },
                  limits: { memory: k8s.Quantity.fromString('256Mi') },
                },
                securityContext: { ...RESTRICTED_CONTAINER, runAsUser: SERVER_UID, runAsGroup: SERVER_UID },
                // tsx keeps its compile cache in /tmp; the root filesystem is read-only.
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }],
          },
        },
      },
    });
  }
}
