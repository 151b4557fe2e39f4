/** Where downloads come from: the internet (through an optional proxy) or a local artifacts directory. */
export interface Site {
  /** HTTP proxy URL used by apt and every download. */
  proxy?: string;
  /** Air-gapped: every download is read from this local directory and pushed over SSH. */
  artifactsDir?: string;
}

/** Artifact file name for a URL in an air-gapped artifacts directory: its last path segment. */
export function artifactName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'artifact');
}
