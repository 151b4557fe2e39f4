import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MODEL_CONFIG_FILE_NAME, MODEL_FILE_NAME } from '../constructs/contract.ts';
import { readModelConfig } from './config.ts';
import {
  InvalidRequestError,
  ModelConfigError,
  NotFoundError,
  ProviderFallbackError,
  UnavailableError,
} from './errors.ts';
import type { ServerMetricSet } from './metrics.ts';
import { ModelVersion, type ProviderFallback } from './model.ts';
import type { SchedulerFactory } from './scheduling.ts';

/** Triton's model states (model repository extension). */
export type ModelState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE';

/** One row of `POST /v2/repository/index`. */
export interface IndexEntry {
  name: string;
  version?: string;
  state: ModelState;
  reason: string;
}

interface ModelEntry {
  state: ModelState;
  reason: string;
  /** Loaded versions, newest first. */
  versions: ModelVersion[];
  /** Serializes load/unload of this model. */
  busy: Promise<void>;
}

export interface RepositoryOptions {
  /** Directory in Triton's layout: `<root>/<model>/<version>/model.onnx`. */
  readonly root: string;
  readonly metrics: ServerMetricSet;
  readonly logger: Logger;
  readonly schedulerFactory: SchedulerFactory;
  /** @default 'allow' (LoadOptions.providerFallback) */
  readonly providerFallback?: ProviderFallback;
}

const VERSION_DIR = /^[1-9][0-9]*$/;
/** Triton's model names as directory entries: no separators, no control characters. */
const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;
/** Reason of a model unloaded through the repository API. */
const UNLOADED = 'unloaded';

/** What the API says about a failed load: the kind of failure, never a path or a value. */
function loadFailure(err: unknown): string {
  if (err instanceof ModelConfigError)
    return 'its configuration or directory is invalid; the server log has the details';
  if (err instanceof ProviderFallbackError)
    return `execution provider ${err.provider} is not available and --provider-fallback fail forbids falling back to ${err.next}; the server log has the details`;
  return 'its model file cannot be loaded; the server log has the details';
}

/**
 * The models of one repository directory and their lifecycle. Every numeric version directory of a
 * model is loaded; requests without a version get the highest. A model that fails to load is
 * UNAVAILABLE with the reason, and the others are unaffected.
 */
export class ModelRepository {
  private readonly models = new Map<string, ModelEntry>();

  constructor(private readonly opts: RepositoryOptions) {}

  /** Model directories on disk, sorted. */
  async modelNames(): Promise<string[]> {
    const entries = await readdir(this.opts.root, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  /** Loads the given entries of the repository; failures are logged and leave that model UNAVAILABLE. */
  async loadAll(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((name) => this.loadEntry(name).catch(() => undefined)));
  }

  /**
   * A model name as the repository API receives it, accepted only as the name of one of the
   * repository's own directories: never a path (`..%2F..`), never an alias of an entry
   * (`mlp%2F.`), never resolved outside the repository.
   */
  async entry(name: string): Promise<string> {
    const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name);
    if (!MODEL_NAME.test(name) || name === '.' || name === '..') {
      throw new InvalidRequestError(
        `model name ${shown} is not allowed: a model name is a directory of the model repository (letters, digits, '_', '.', '-'; not '.' or '..')`,
      );
    }
    if (!(await this.modelNames()).includes(name))
      throw new NotFoundError(`model ${shown} is not in the model repository`);
    return name;
  }

  /** (Re)loads a model from disk. A reload swaps in the new versions before the old ones drain. */
  async load(requested: string): Promise<void> {
    return this.loadEntry(await this.entry(requested));
  }

  /** Loads one of the repository's entries; registers it at once, so models list in disk order. */
  private loadEntry(name: string): Promise<void> {
    return this.exclusive(name, async (entry) => {
      const dir = join(this.opts.root, name);
      const log = this.opts.logger.child({ model: name });
      const previous = entry.versions;
      entry.state = previous.length > 0 ? entry.state : 'LOADING';
      let loaded: ModelVersion[] = [];
      try {
        const config = await readModelConfig(join(dir, MODEL_CONFIG_FILE_NAME), name);
        const versions = await this.versionDirs(dir);
        const results = await Promise.allSettled(
          versions.map((version) =>
            ModelVersion.load({ ...this.opts, repository: this.opts.root, model: name, version, config }),
          ),
        );
        loaded = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
      } catch (err) {
        await Promise.allSettled(loaded.map((v) => v.unload()));
        // The full reason (file paths, config values) goes to the log only: the API answers
        // whoever may call it, and the repository's files are not theirs to read.
        const reason = loadFailure(err);
        if (previous.length === 0) Object.assign(entry, { state: 'UNAVAILABLE', reason });
        log.error({ err: (err as Error).message }, 'model failed to load');
        throw new InvalidRequestError(`failed to load model '${name}': ${reason}`);
      }
      Object.assign(entry, { state: 'READY', reason: '', versions: loaded });
      await Promise.allSettled(previous.map((v) => v.unload()));
      // A reloaded version shares its series with the one it replaced, which unload() just zeroed.
      for (const v of loaded) v.markLoaded();
    });
  }

  /** Stops serving a model: new requests get 503 at once, accepted ones are answered first. */
  async unload(requested: string): Promise<void> {
    const name = await this.entry(requested);
    if (!this.models.has(name)) return; // on disk, never loaded: nothing to do
    return this.exclusive(name, async (entry) => {
      const versions = entry.versions;
      if (versions.length === 0) return;
      Object.assign(entry, { state: 'UNLOADING', reason: 'unloading', versions: [] });
      await Promise.allSettled(versions.map((v) => v.unload()));
      Object.assign(entry, { state: 'UNAVAILABLE', reason: UNLOADED });
      this.opts.logger.info({ model: name }, 'model unloaded');
    });
  }

  /** Unloads everything (shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.models.keys()].map((name) => this.unload(name)));
  }

  /** The version that serves a request: the given one, or the newest. */
  resolve(name: string, version?: string): ModelVersion {
    const entry = this.models.get(name);
    if (!entry) throw new NotFoundError(`unknown model '${name}'`);
    if (entry.state !== 'READY') {
      throw new UnavailableError(
        `model '${name}' is not ready: ${entry.state}${entry.reason ? ` (${entry.reason})` : ''}`,
      );
    }
    if (version === undefined) return entry.versions[0]!;
    const found = entry.versions.find((v) => v.version === version);
    if (!found) {
      const have = entry.versions.map((v) => v.version).join(', ');
      throw new NotFoundError(`unknown version '${version}' of model '${name}'; versions: ${have}`);
    }
    return found;
  }

  /** All versions of a ready model, newest first. */
  versions(name: string): readonly ModelVersion[] {
    return this.models.get(name)?.versions ?? [];
  }

  /** Every version of every ready model, by model name, newest version first. */
  loaded(): ModelVersion[] {
    return [...this.models.entries()]
      .filter(([, entry]) => entry.state === 'READY')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([, entry]) => entry.versions);
  }

  /** Triton's repository index: every model on disk or known, one row per loaded version. */
  async index(): Promise<IndexEntry[]> {
    const names = new Set([...(await this.modelNames()), ...this.models.keys()]);
    return [...names].sort().flatMap((name): IndexEntry[] => {
      const entry = this.models.get(name);
      if (!entry) return [{ name, state: 'UNAVAILABLE', reason: 'not loaded' }];
      if (entry.versions.length === 0) return [{ name, state: entry.state, reason: entry.reason }];
      return entry.versions.map((v) => ({
        name,
        version: v.version,
        state: entry.state,
        reason: entry.reason,
      }));
    });
  }

  /** Models known to the server and their state (loaded, loading, failed or unloaded). */
  states(): Map<string, ModelState> {
    return new Map([...this.models].map(([name, e]) => [name, e.state]));
  }

  /** Models READY now. */
  readyCount(): number {
    return [...this.models.values()].filter((e) => e.state === 'READY').length;
  }

  /** Models that should serve and do not: failed or loading, not those unloaded on request. */
  notReady(): string[] {
    return [...this.models]
      .filter(([, e]) => e.state !== 'READY' && e.reason !== UNLOADED)
      .map(([name, e]) => `${name} ${e.state}`);
  }

  private async versionDirs(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true });
    const versions = entries
      .filter((e) => e.isDirectory() && VERSION_DIR.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length === 0) {
      throw new ModelConfigError(
        `${dir}: no version directory; expected ${dir}/<version>/${MODEL_FILE_NAME} (version: 1, 2, ...)`,
      );
    }
    return versions;
  }

  private exclusive(name: string, action: (entry: ModelEntry) => Promise<void>): Promise<void> {
    let entry = this.models.get(name);
    const created = !entry;
    if (!entry) {
      entry = { state: 'LOADING', reason: '', versions: [], busy: Promise.resolve() };
      this.models.set(name, entry);
    }
    const target = entry;
    const run = target.busy.then(async () => {
      try {
        await action(target);
      } catch (err) {
        // A model directory that does not exist leaves no trace behind.
        if (created && err instanceof NotFoundError && this.models.get(name) === target)
          this.models.delete(name);
        throw err;
      }
    });
    target.busy = run.catch(() => undefined);
    return run;
  }
}
