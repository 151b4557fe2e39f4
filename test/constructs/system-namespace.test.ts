import { describe, expect, it } from 'vitest';
import { POD_SECURITY_VERSION, SystemNamespace } from '../../constructs/index.ts';
import { one, synthChart } from './helpers.ts';

describe('SystemNamespace', () => {
  it('labels enforce, audit and warn with the level and the pinned version, and holds nothing but the namespace', () => {
    const objects = synthChart((c) => new SystemNamespace(c, 'Ns', { name: 'team' }));
    expect(one(objects, 'Namespace').metadata.labels).toEqual({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': POD_SECURITY_VERSION,
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/audit-version': POD_SECURITY_VERSION,
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/warn-version': POD_SECURITY_VERSION,
    });
    expect(objects.map((o) => o.kind)).toEqual(['Namespace']);
  });

  it('takes another level and version', () => {
    const objects = synthChart(
      (c) =>
        new SystemNamespace(c, 'Ns', {
          name: 'gpu',
          podSecurity: 'privileged',
          podSecurityVersion: 'latest',
        }),
    );
    expect(one(objects, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe(
      'privileged',
    );
    expect(one(objects, 'Namespace').metadata.labels['pod-security.kubernetes.io/warn-version']).toBe(
      'latest',
    );
  });

  it.each([
    [{ name: 'Team' }, 'name must be a DNS-1123 label'],
    [
      { name: 't', podSecurity: 'strict' as never },
      'podSecurity must be one of "restricted", "baseline", "privileged", got "strict"',
    ],
    [
      { name: 't', podSecurityVersion: '1.37' },
      'podSecurityVersion must be "latest" or a Kubernetes minor version such as "v1.37", got "1.37"',
    ],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => new SystemNamespace(c, 'Ns', props))).toThrow(message);
  });
});
