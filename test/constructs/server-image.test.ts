/**
 * Which server image the manifests name: by default the local one `npm run image` commits, run
 * without a pull (IfNotPresent), or a registry of the user's, from a prop or from the environment
 * `npm run synth` reads; a malformed reference fails synth naming the variable and the value.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  GpuInferenceService,
  SERVER_IMAGE,
  SERVER_IMAGE_PATH,
  imageReference,
  serverImageIn,
} from '../../constructs/index.ts';
import { IMAGE_ENV, serverImageFromEnvironment } from '../../main.ts';
import { one, repoRoot, synthChart, synthSystem } from './helpers.ts';

const container = (objects: ReturnType<typeof synthChart>) =>
  one(objects, 'Deployment').spec.template.spec.containers[0];

describe('image references', () => {
  it('accepts what the kubelet accepts', () => {
    for (const ref of [
      SERVER_IMAGE,
      'server',
      'registry.example.com:5000/team/server:0.1.0',
      'localhost:5000/cdk8s-gpu-inference/server:0.1.0',
      `registry.example.com/server@sha256:${'a'.repeat(64)}`,
      `registry.example.com/server:0.1.0@sha256:${'a'.repeat(64)}`,
      '[fd00::1]:5000/server:1',
      'a/b__c/d-e.f:TAG_1',
    ])
      expect(imageReference('image', ref)).toBe(ref);
  });

  it('refuses malformed references, naming the field and the value', () => {
    for (const ref of [
      '',
      'Registry.example.com/Team/server',
      'server:',
      'server:-1',
      'server@sha256:abc',
      'registry.example.com/server:0.1.0 ',
      'https://registry.example.com/server',
      `x/${'a'.repeat(255)}`,
    ])
      expect(() => imageReference('image', ref)).toThrow(
        `image must be a container image reference [registry[:port]/]path[:tag][@sha256:digest], lower-case path components (e.g. registry.example.com:5000/team/server:0.1.0), got ${JSON.stringify(ref)}`,
      );
  });

  it('puts the server image under a registry, which must read as a registry', () => {
    expect(SERVER_IMAGE_PATH).toBe('cdk8s-gpu-inference/server:0.1.0');
    expect(serverImageIn('r', 'registry.example.com:5000')).toBe(
      'registry.example.com:5000/cdk8s-gpu-inference/server:0.1.0',
    );
    expect(serverImageIn('r', 'registry.example.com/team/')).toBe(
      'registry.example.com/team/cdk8s-gpu-inference/server:0.1.0',
    );
    expect(serverImageIn('r', 'localhost:5000')).toBe('localhost:5000/cdk8s-gpu-inference/server:0.1.0');
    // `team/x` would be Docker Hub's team/x: not a registry of the user's.
    for (const bad of ['team', 'team/x', 'https://registry.example.com', 'registry.example.com/Team'])
      expect(() => serverImageIn('CDK8S_GPU_INFERENCE_REGISTRY', bad)).toThrow(
        `CDK8S_GPU_INFERENCE_REGISTRY must be a registry host[:port][/path] (e.g. registry.example.com:5000 or registry.example.com/team), got ${JSON.stringify(bad)}`,
      );
  });
});

describe('GpuInferenceService image', () => {
  it('defaults to the local image, never pulled when the node has it', () => {
    const c = container(synthChart((chart) => new GpuInferenceService(chart, 's')));
    expect(c.image).toBe(SERVER_IMAGE);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
  });

  it('takes an image and pull policy of the user', () => {
    const c = container(
      synthChart(
        (chart) =>
          new GpuInferenceService(chart, 's', {
            image: 'registry.example.com/team/server:0.2.0',
            imagePullPolicy: 'Always',
          }),
      ),
    );
    expect(c.image).toBe('registry.example.com/team/server:0.2.0');
    expect(c.imagePullPolicy).toBe('Always');
  });

  it('refuses a malformed image or pull policy at synth', () => {
    expect(() =>
      synthChart((chart) => new GpuInferenceService(chart, 's', { image: 'Registry/Server' })),
    ).toThrow(/^test\/s: image must be a container image reference .*, got "Registry\/Server"$/);
    expect(() =>
      synthChart(
        (chart) =>
          new GpuInferenceService(chart, 's', {
            imagePullPolicy: 'Sometimes' as 'Always',
          }),
      ),
    ).toThrow('imagePullPolicy must be one of "IfNotPresent", "Always", "Never", got "Sometimes"');
  });

  it('main.ts passes the system image to the service', () => {
    const { objects } = synthSystem({ image: 'registry.example.com/server:0.1.0' });
    expect(one(objects, 'Deployment', 'inference').spec.template.spec.containers[0].image).toBe(
      'registry.example.com/server:0.1.0',
    );
  });
});

describe('npm run synth: the image from the environment', () => {
  it('reads one variable or the other, and refuses both', () => {
    expect(serverImageFromEnvironment({})).toBeUndefined();
    expect(serverImageFromEnvironment({ [IMAGE_ENV.image]: '' })).toBeUndefined();
    expect(serverImageFromEnvironment({ [IMAGE_ENV.image]: 'registry.example.com/s:1' })).toBe(
      'registry.example.com/s:1',
    );
    expect(serverImageFromEnvironment({ [IMAGE_ENV.registry]: 'registry.example.com:5000' })).toBe(
      'registry.example.com:5000/cdk8s-gpu-inference/server:0.1.0',
    );
    expect(() =>
      serverImageFromEnvironment({ [IMAGE_ENV.image]: 'a.b/s:1', [IMAGE_ENV.registry]: 'a.b' }),
    ).toThrow(
      `CDK8S_GPU_INFERENCE_IMAGE ("a.b/s:1") and CDK8S_GPU_INFERENCE_REGISTRY ("a.b") are both set; allowed: one of them, or neither for the local image ${SERVER_IMAGE}`,
    );
  });

  // main.ts as `npm run synth` runs it (tsx, CDK8S_OUTDIR): the manifest and the error a user sees.
  const synth = (env: Record<string, string>) => {
    const out = mkdtempSync(join(tmpdir(), 'synth-image-'));
    try {
      execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'main.ts')], {
        cwd: repoRoot,
        env: { ...process.env, CDK8S_OUTDIR: out, ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const docs = parseAllDocuments(readFileSync(join(out, '30-inference.k8s.yaml'), 'utf8')).map(
        (d) => d.toJS() as { kind: string; spec: { template: { spec: { containers: object[] } } } },
      );
      return docs.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0];
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };

  it('writes the registry image the environment names', () => {
    expect(synth({ [IMAGE_ENV.registry]: 'registry.example.com:5000' })).toMatchObject({
      image: 'registry.example.com:5000/cdk8s-gpu-inference/server:0.1.0',
      imagePullPolicy: 'IfNotPresent',
    });
  }, 60_000);

  it('stops with the variable, its value and what is allowed, and no stack trace', () => {
    let stderr = '';
    let status: number | null = 0;
    try {
      synth({ [IMAGE_ENV.image]: 'Registry/Server:1' });
    } catch (e) {
      ({ stderr, status } = e as { stderr: string; status: number | null });
    }
    expect(status).toBe(1);
    expect(stderr.trim()).toBe(
      'synth: CDK8S_GPU_INFERENCE_IMAGE must be a container image reference [registry[:port]/]path[:tag][@sha256:digest], lower-case path components (e.g. registry.example.com:5000/team/server:0.1.0), got "Registry/Server:1"',
    );
  }, 60_000);
});
