import { stringify } from 'yaml';
import { commandTask } from '../ops/command.ts';
import { fileTask, planFile } from '../ops/file.ts';
import { fileFact } from '../facts.ts';
import { curl, q } from '../shell.ts';
import { artifactName } from '../ops/site.ts';
import { STAGE, type Task } from '../types.ts';
import { calicoManifests, CALICO_VERSION, KUBEADM_API } from '../versions.ts';
import { ADMIN_KUBECONFIG, BOOTSTRAP_TOKEN_TTL, CRI_SOCKET, KUBECTL, type RoleContext } from './context.ts';
import { gpuRegistration } from './gpu-node.ts';
import { servingCsrTask } from './kubelet-serving.ts';

const R = 'control-plane';
export const KUBEADM_CONFIG = '/etc/kubernetes/kubeadm-config.yaml';

/**
 * kubeadm init configuration (v1beta4), with kubelet on the systemd cgroup driver like containerd
 * and serving certificates bootstrapped from the cluster CA.
 */
export function kubeadmInitConfig(
  ctx: Pick<RoleContext, 'host' | 'cluster' | 'gpu'>,
  installedKubeadm?: string,
): string {
  const docs = [
    {
      apiVersion: KUBEADM_API,
      kind: 'InitConfiguration',
      // kubeadm init always creates a bootstrap token (24 h by default). Provisioning never uses it
      // (each worker gets its own, see join.ts), so it expires as fast as those.
      bootstrapTokens: [{ ttl: BOOTSTRAP_TOKEN_TTL }],
      localAPIEndpoint: { advertiseAddress: ctx.host.address, bindPort: 6443 },
      nodeRegistration: { name: ctx.host.name, criSocket: CRI_SOCKET, ...gpuRegistration(ctx.gpu, true) },
    },
    {
      apiVersion: KUBEADM_API,
      kind: 'ClusterConfiguration',
      // The exact patch: from the inventory, else the held kubeadm's own version. A "stable-1.x"
      // label would make kubeadm look it up on dl.k8s.io, which air-gapped sites cannot reach.
      kubernetesVersion:
        ctx.cluster.kubernetesVersion.split('.').length === 3
          ? `v${ctx.cluster.kubernetesVersion}`
          : (installedKubeadm ?? `stable-${ctx.cluster.kubernetesVersion}`),
      controlPlaneEndpoint: `${ctx.host.address}:6443`,
      networking: { podSubnet: ctx.cluster.podCidr, serviceSubnet: ctx.cluster.serviceCidr },
      // A local registry mirror of registry.k8s.io (air-gapped sites); kubeadm's default otherwise.
      ...(ctx.cluster.imageRepository ? { imageRepository: ctx.cluster.imageRepository } : {}),
    },
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'systemd',
      // Serving certificates signed by the cluster CA instead of self-signed ones, so metrics-server
      // verifies the kubelets (no --kubelet-insecure-tls); the CSRs are approved by
      // servingCsrTask (kubelet-serving.ts). kubeadm hands this document to joining nodes too.
      // https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/#kubelet-serving-certs
      serverTLSBootstrap: true,
    },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

/** Calico through the Tigera operator; the Installation carries the inventory's pod CIDR. */
export function calicoInstallation(podCidr: string): string {
  return [
    {
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      spec: {
        calicoNetwork: {
          ipPools: [
            {
              name: 'default-ipv4-ippool',
              blockSize: 26,
              cidr: podCidr,
              encapsulation: 'VXLANCrossSubnet',
              natOutgoing: 'Enabled',
              nodeSelector: 'all()',
            },
          ],
        },
      },
    },
    { apiVersion: 'operator.tigera.io/v1', kind: 'APIServer', metadata: { name: 'default' }, spec: {} },
  ]
    .map((d) => stringify(d))
    .join('---\n');
}

/**
 * Calico 3.30's operator creates its CRDs itself once its pod runs (image pull first), so right
 * after `kubectl create -f tigera-operator.yaml` the Installation CRD does not exist yet and
 * `kubectl wait` alone fails at once with NotFound: poll for the CRD (up to 5 min), then wait for
 * it to be established.
 */
export const calicoCrdWait = (kubectl: string): string =>
  `for i in $(seq 60); do ${kubectl} get crd installations.operator.tigera.io >/dev/null 2>&1 && break; sleep 5; done && ` +
  `${kubectl} wait --for=condition=established --timeout=120s crd/installations.operator.tigera.io`;

export function controlPlaneRole(ctx: RoleContext): Task[] {
  const user = ctx.host.ssh.user;
  const home = user === 'root' ? '/root' : `/home/${user}`;
  const tasks: Task[] = [
    {
      role: R,
      name: 'kubeadm config',
      tags: [],
      plan: async (c) => {
        const v = await c.facts.read('kubeadm version -o short');
        const content = kubeadmInitConfig(
          ctx,
          v.code === 0 && /^v\d+\.\d+\.\d+$/.test(v.stdout.trim()) ? v.stdout.trim() : undefined,
        );
        return planFile(
          { path: KUBEADM_CONFIG, content, mode: '0600' },
          await fileFact(c.facts, KUBEADM_CONFIG),
        );
      },
    },
    // https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/create-cluster-kubeadm/
    // No --upload-certs: it stores the control-plane certificates in a Secret, encrypted with a key
    // it prints, for joining more control planes, and there is exactly one. The token is not printed either.
    commandTask(R, 'kubeadm init', {
      run: `kubeadm init --config ${KUBEADM_CONFIG} --skip-token-print`,
      creates: ADMIN_KUBECONFIG,
    }),
    // The directory too: `install -D` created ~/.kube as root, so kubectl could not write its cache there.
    commandTask(R, `kubeconfig for ${user}`, {
      run:
        `install -d -m 0700 -o ${user} -g $(id -gn ${user}) ${home}/.kube && ` +
        `install -m 0600 -o ${user} -g $(id -gn ${user}) ${ADMIN_KUBECONFIG} ${home}/.kube/config`,
      unless:
        `cmp -s ${ADMIN_KUBECONFIG} ${home}/.kube/config && ` +
        `test "$(stat -c %U:%a ${home}/.kube ${home}/.kube/config | tr '\\n' ' ')" = '${user}:700 ${user}:600 '`,
    }),
    servingCsrTask(R, ctx),
  ];
  if (ctx.cluster.cni === 'calico') {
    const url = calicoManifests(CALICO_VERSION).operator;
    const local = `/etc/kubernetes/addons/${artifactName(url)}`;
    const fetch = ctx.site.artifactsDir
      ? `cp ${STAGE}/${artifactName(url)} ${local}`
      : curl(url, ctx.site.proxy, q(local));
    tasks.push(
      commandTask(R, `calico ${CALICO_VERSION} operator`, {
        run: `mkdir -p /etc/kubernetes/addons && ${fetch} && ${KUBECTL} create -f ${local}`,
        unless: `${KUBECTL} get namespace tigera-operator`,
        ...(ctx.site.artifactsDir
          ? {
              put: [
                {
                  local: `${ctx.site.artifactsDir}/${artifactName(url)}`,
                  name: artifactName(url),
                },
              ],
            }
          : {}),
      }),
      fileTask(R, 'calico installation', {
        path: '/etc/kubernetes/addons/calico-installation.yaml',
        content: calicoInstallation(ctx.cluster.podCidr),
      }),
      commandTask(R, 'calico installation applied', {
        run: `${calicoCrdWait(KUBECTL)} && ${KUBECTL} apply -f /etc/kubernetes/addons/calico-installation.yaml`,
        unless: `${KUBECTL} get installation default`,
      }),
    );
  }
  return tasks;
}
