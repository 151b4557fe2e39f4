import type { IConstruct } from 'constructs';

/**
 * Construct warnings. cdk8s (2.70) has no warning channel of its own (no `Annotations`, and
 * constructs 10 dropped `node.addWarning`); its only synth-time hook is validation, which can only
 * fail. So a warning is recorded as construct metadata, which `warningsOf` reads, and printed to
 * stderr when the app validates at synth (`app.synth()`, hence `cdk8s synth`): a warning nobody
 * reads would be no warning.
 */

/** Metadata type of the warnings constructs record (`addWarning`); `warningsOf` collects them. */
export const WARNING_METADATA = 'cdk8s-gpu-inference:warning';

/** The warnings already printed per app: validation runs again for each chart synthesized. */
const printed = new WeakMap<IConstruct, Set<string>>();

/**
 * Record `message` as a warning of `scope` and have its app print it at synth, as
 * `warning: <construct path>: <message>` on stderr, once.
 */
export function addWarning(scope: IConstruct, message: string): void {
  scope.node.addMetadata(WARNING_METADATA, message);
  const root = scope.node.root;
  if (printed.has(root)) return;
  const done = new Set<string>();
  printed.set(root, done);
  root.node.addValidation({
    validate: () => {
      for (const warning of warningsOf(root)) {
        if (done.has(warning)) continue;
        done.add(warning);
        console.warn(`warning: ${warning}`);
      }
      return [];
    },
  });
}

/** Every warning recorded in `scope`'s tree, as `<construct path>: <message>`. */
export function warningsOf(scope: IConstruct): string[] {
  return scope.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === WARNING_METADATA)
        .map((m) => `${c.node.path}: ${String(m.data)}`),
    );
}
