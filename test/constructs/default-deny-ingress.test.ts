/** DefaultDenyIngress: the namespace's default-deny NetworkPolicy. */
import { describe, expect, it } from 'vitest';
import { DefaultDenyIngress } from '../../constructs/index.ts';
import { one, synthChart } from './helpers.ts';

describe('DefaultDenyIngress', () => {
  it('selects every pod of its namespace and allows no ingress', () => {
    const objects = synthChart((c) => new DefaultDenyIngress(c, 'Deny', { namespace: 'team' }));
    const policy = one(objects, 'NetworkPolicy');
    expect(policy.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    expect(policy.metadata).toMatchObject({ name: 'default-deny-ingress', namespace: 'team' });
  });

  it('rejects a namespace that is not a DNS label', () => {
    expect(() => synthChart((c) => new DefaultDenyIngress(c, 'Deny', { namespace: 'Team' }))).toThrow(
      'namespace must be a DNS-1123 label',
    );
  });
});
