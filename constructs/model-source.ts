import { k8s } from 'cdk8s-plus-27';
import { MODEL_REPOSITORY_PATH } from './contract.ts';

/** What a ModelSource contributes to the pod spec. */
export interface ModelSourceParts {
  readonly volumes: k8s.Volume[];
  /** Mount of the model repository at contract.MODEL_REPOSITORY_PATH in the server container. */
  readonly mounts: k8s.VolumeMount[];
  readonly initContainers: k8s.Container[];
}

/** The volume `models`, mounted read-only at MODEL_REPOSITORY_PATH in the server container. */
function modelsVolume(
  source: Omit<k8s.Volume, 'name'>,
  initContainers: k8s.Container[] = [],
): ModelSourceParts {
  return {
    volumes: [{ name: 'models', ...source }],
    mounts: [{ name: 'models', mountPath: MODEL_REPOSITORY_PATH, readOnly: true }],
    initContainers,
  };
}

/**
 * Where the server finds its model repository (Triton layout, see contract.ts). The server reads it
 * at MODEL_REPOSITORY_PATH in every case.
 */
export abstract class ModelSource {
  /** The models baked into the server image at /models (the bundled models). */
  static image(): ModelSource {
    return new (class extends ModelSource {
      readonly kind = 'image';
      parts(): ModelSourceParts {
        return { volumes: [], mounts: [], initContainers: [] };
      }
    })();
  }

  /** A PersistentVolumeClaim holding the repository, mounted read-only. */
  static persistentVolumeClaim(claimName: string): ModelSource {
    return new (class extends ModelSource {
      readonly kind = 'pvc';
      parts(): ModelSourceParts {
        return modelsVolume({ persistentVolumeClaim: { claimName, readOnly: true } });
      }
    })();
  }

  /** A directory on the node (for single-node clusters such as the recipe's), mounted read-only. */
  static hostPath(path: string): ModelSource {
    return new (class extends ModelSource {
      readonly kind = 'hostPath';
      parts(): ModelSourceParts {
        return modelsVolume({ hostPath: { path, type: 'Directory' } });
      }
    })();
  }

  /**
   * An init container that writes the repository into an emptyDir mounted at MODEL_REPOSITORY_PATH
   * (e.g. `aws s3 sync` or `gsutil cp`); the server container mounts it read-only.
   */
  static initContainer(image: string, command: string[]): ModelSource {
    return new (class extends ModelSource {
      readonly kind = 'initContainer';
      parts(): ModelSourceParts {
        return modelsVolume({ emptyDir: {} }, [
          {
            name: 'fetch-models',
            image,
            command,
            env: [{ name: 'MODEL_REPOSITORY', value: MODEL_REPOSITORY_PATH }],
            volumeMounts: [{ name: 'models', mountPath: MODEL_REPOSITORY_PATH }],
          },
        ]);
      }
    })();
  }

  /** 'image' | 'pvc' | 'hostPath' | 'initContainer' */
  abstract readonly kind: string;
  /** The volumes, mounts and init containers this source adds to the pod. */
  abstract parts(): ModelSourceParts;
}
