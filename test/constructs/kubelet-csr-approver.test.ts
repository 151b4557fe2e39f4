import { describe, expect, it } from 'vitest';
import {
  CSR_APPROVER_COMMAND,
  KubeletCsrApprover,
  SERVER_IMAGE,
  SERVER_UID,
} from '../../constructs/index.ts';
import { one, synthChart, synthSystem } from './helpers.ts';

describe('KubeletCsrApprover', () => {
  const objects = synthChart((c) => new KubeletCsrApprover(c, 'Approver'));

  it('grants only reading CSRs and Nodes, updating /approval and approving the kubelet-serving signer', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/kubelet-csr-approver',
      'ClusterRole/kubelet-csr-approver',
      'ClusterRoleBinding/kubelet-csr-approver',
      'Deployment/kubelet-csr-approver',
    ]);
    expect(one(objects, 'ClusterRole').rules).toEqual([
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
    ]);
    expect(one(objects, 'ClusterRoleBinding').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'kubelet-csr-approver', namespace: 'kube-system' },
    ]);
    expect(one(objects, 'ServiceAccount').metadata.namespace).toBe('kube-system');
  });

  it('runs the controller from the server image as a restricted pod that tolerates the control plane', () => {
    const d = one(objects, 'Deployment');
    expect(d.metadata.namespace).toBe('kube-system');
    expect(d.spec.replicas).toBe(1);
    const pod = d.spec.template.spec;
    expect(pod.serviceAccountName).toBe('kubelet-csr-approver');
    expect(pod.tolerations).toEqual([
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: SERVER_UID });
    const [c] = pod.containers;
    expect(c.image).toBe(SERVER_IMAGE);
    expect(c.command).toEqual([...CSR_APPROVER_COMMAND]);
    expect(c.env).toEqual([
      { name: 'NODE_ENV', value: 'production' },
      { name: 'RESYNC_SECONDS', value: '300' },
      { name: 'LOG_LEVEL', value: 'info' },
    ]);
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: SERVER_UID,
      runAsGroup: SERVER_UID,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.resources).toEqual({ requests: { cpu: '10m', memory: '96Mi' }, limits: { memory: '256Mi' } });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
  });

  it('takes its props', () => {
    const d = one(
      synthChart(
        (c) =>
          new KubeletCsrApprover(c, 'A', {
            name: 'approver',
            namespace: 'ops',
            image: 'registry.example.com/team/server:1.0',
            resyncSeconds: 60,
            logLevel: 'debug',
          }),
      ),
      'Deployment',
    );
    expect(d.metadata).toMatchObject({ name: 'approver', namespace: 'ops' });
    expect(d.spec.template.spec.containers[0].image).toBe('registry.example.com/team/server:1.0');
    expect(d.spec.template.spec.containers[0].env.slice(1)).toEqual([
      { name: 'RESYNC_SECONDS', value: '60' },
      { name: 'LOG_LEVEL', value: 'debug' },
    ]);
  });

  it.each([
    [{ resyncSeconds: 5 }, 'test/A: resyncSeconds must be an integer from 10 to 86400, got 5'],
    [{ resyncSeconds: 1.5 }, 'test/A: resyncSeconds must be an integer from 10 to 86400, got 1.5'],
    [{ logLevel: 'trace' as never }, 'test/A: logLevel must be one of "info", "debug", got "trace"'],
    [{ namespace: 'Kube' }, 'test/A: namespace must be a DNS-1123 label'],
    [{ image: 'Server:1' }, 'test/A: image must be a container image reference'],
  ])('rejects %j naming the construct, prop, value and range', (props, message) => {
    expect(() => synthChart((c) => new KubeletCsrApprover(c, 'A', props))).toThrow(message);
  });

  it('main.ts deploys it with the system image', () => {
    const { objects: all } = synthSystem({ image: 'registry.example.com/team/server:2.0' });
    const d = one(all, 'Deployment', 'kubelet-csr-approver');
    expect(d.spec.template.spec.containers[0].image).toBe('registry.example.com/team/server:2.0');
  });
});
