/** Small PromQL builders, so label escaping and selector syntax live in one place. */

/** A label matcher list `{a="x",b=~"y"}` from equality matchers plus raw extra matchers. */
export function selector(labels: Record<string, string>, extra: readonly string[] = []): string {
  const matchers = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `{${[...matchers, ...extra].join(',')}}`;
}

/** A regex matching the pods of a Deployment: `<name>-<replicaset hash>-<suffix>`. */
export function deploymentPodRegex(deployment: string): string {
  return `${deployment}-[a-z0-9]+-[a-z0-9]+`;
}
