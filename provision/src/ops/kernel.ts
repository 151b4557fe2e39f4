import { moduleLoadedFact, sysctlFact } from '../facts.ts';
import { changed, ok, skipped, type HostFacts, type Plan, type Task } from '../types.ts';

/**
 * The live half of a sysctl (the persisted half is a file in /etc/sysctl.d, see the common role).
 * In a container that shares the host's kernel /proc/sys is read-only: that is reported as
 * skipped with the reason, never hidden.
 */
export function planSysctlLive(key: string, value: string, live: string | null, host: HostFacts): Plan {
  if (live === value) return ok(`${key} = ${live}`);
  if (live === null)
    return skipped(
      `${key} does not exist on kernel ${host.kernel} (its module is not loaded); persisted for the next boot`,
    );
  if (!host.procSysWritable)
    return skipped(
      `${key} is ${live}, want ${value}: /proc/sys is read-only in this ${host.container} container (it shares the host kernel); persisted for the next boot`,
    );
  return changed(`${key} is ${live}, want ${value}`, [{ run: `sysctl -w ${key}=${value}` }]);
}

export function sysctlLiveTask(role: string, key: string, value: string, tags: string[] = []): Task {
  return {
    role,
    name: `sysctl ${key} live`,
    tags,
    plan: async (ctx) => planSysctlLive(key, value, await sysctlFact(ctx.facts, key), ctx.host),
  };
}

/** modprobe now (modules-load.d covers boots). Impossible in a container or on a kernel without modules. */
export function planModuleLive(name: string, loaded: boolean, host: HostFacts): Plan {
  if (!host.modulesSupported)
    return skipped(
      `kernel ${host.kernel} has no loadable module support (no /proc/modules${host.container !== 'none' ? `; ${host.container} container shares the host kernel` : ''}); listed in modules-load.d for a real boot`,
    );
  if (loaded) return ok(`${name} loaded`);
  if (host.container !== 'none')
    return skipped(
      `${name} not loaded and a ${host.container} container cannot load modules into the shared host kernel`,
    );
  return changed(`${name} not loaded`, [{ run: `modprobe ${name}` }]);
}

export function moduleLiveTask(role: string, name: string, tags: string[] = []): Task {
  return {
    role,
    name: `module ${name} loaded`,
    tags,
    plan: async (ctx) =>
      planModuleLive(
        name,
        ctx.host.modulesSupported ? await moduleLoadedFact(ctx.facts, name) : false,
        ctx.host,
      ),
  };
}
