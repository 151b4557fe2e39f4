import { describe, expect, it } from 'vitest';
import { synthSystem, validateObject, type K8sObject } from './helpers.ts';

const variants = [
  { backend: 'prometheus-adapter', monitoring: 'kube-prometheus-stack' },
  { backend: 'keda', monitoring: 'kube-prometheus-stack' },
  { backend: 'prometheus-adapter', monitoring: 'bundled' },
] as const;

describe('every synthesized object validates against its schema', () => {
  for (const options of variants) {
    it(`main.ts with ${options.backend} and ${options.monitoring}`, async () => {
      const { objects } = synthSystem(options);
      expect(objects.length).toBeGreaterThan(20);
      const failures: string[] = [];
      for (const obj of objects) {
        const error = await validateObject(obj);
        if (error) failures.push(`${obj.apiVersion} ${obj.kind} ${obj.metadata.name}: ${error}`);
      }
      expect(failures).toEqual([]);
    });
  }

  it('rejects an object that breaks its schema (the validators can fail)', async () => {
    const { objects } = synthSystem();
    const deployment = objects.find((o) => o.kind === 'Deployment') as K8sObject;
    const broken = structuredClone(deployment);
    broken.spec.replicas = 'three';
    expect(await validateObject(broken)).toMatch(/replicas/);
    const monitor = structuredClone(objects.find((o) => o.kind === 'ServiceMonitor') as K8sObject);
    monitor.spec.endpoints[0].port = 42;
    expect(await validateObject(monitor)).toMatch(/port/);
    const hpa = structuredClone(objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as K8sObject);
    delete hpa.spec.maxReplicas;
    expect(await validateObject(hpa)).toMatch(/maxReplicas/);
  });
});
