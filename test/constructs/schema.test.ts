import { describe, expect, it } from 'vitest';
import { synthSystem, VARIANTS, validateObject, type K8sObject } from './helpers.ts';

describe('every synthesized object validates against its schema', () => {
  for (const options of VARIANTS) {
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

  it('rejects a misspelled field of a built-in kind, naming its path (kubernetes-models alone lets it pass)', async () => {
    const { objects } = synthSystem();
    const deployment = structuredClone(objects.find((o) => o.kind === 'Deployment') as K8sObject);
    const container = deployment.spec.template.spec.containers[0];
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    container.lifecycle = { preStop: { slep: { seconds: 5 } } };
    expect(await validateObject(deployment)).toBe(
      'spec.template.spec.containers[0].readinesProbe is not a field of IContainer; ' +
        'spec.template.spec.containers[0].lifecycle.preStop.slep is not a field of ILifecycleHandler',
    );
    const hpa = structuredClone(objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as K8sObject);
    hpa.spec.behavior.scaleUp.stabilisationWindowSeconds = 0;
    expect(await validateObject(hpa)).toMatch(
      /^spec\.behavior\.scaleUp\.stabilisationWindowSeconds is not a field of/,
    );
    // Free-form maps (labels) still take any key.
    const service = structuredClone(objects.find((o) => o.kind === 'Service') as K8sObject);
    service.metadata.labels['example.com/any-key'] = 'x';
    expect(await validateObject(service)).toBeUndefined();
  });

  it('rejects a misspelled field of a custom resource (CRD schemas closed where they list properties)', async () => {
    const { objects } = synthSystem({ backend: 'keda' });
    const scaled = structuredClone(objects.find((o) => o.kind === 'ScaledObject') as K8sObject);
    scaled.spec.triggers[0].metdata = scaled.spec.triggers[0].metadata;
    expect(await validateObject(scaled)).toMatch(
      /"instancePath":"\/spec\/triggers\/0".*"additionalProperty":"metdata"/,
    );
    const rule = structuredClone(objects.find((o) => o.kind === 'PrometheusRule') as K8sObject);
    rule.spec.groups[0].rules[0].for_ = '5m';
    expect(await validateObject(rule)).toMatch(/"additionalProperty":"for_"/);
    // Labels and annotations of a rule are maps: any key is allowed.
    const labelled = structuredClone(objects.find((o) => o.kind === 'PrometheusRule') as K8sObject);
    labelled.spec.groups[0].rules[0].labels.team = 'inference';
    expect(await validateObject(labelled)).toBeUndefined();
  });
});
