/**
 * Secrets kubeadm prints, masked in everything provisioning reports (`-v` output, `--json`, error
 * messages): bootstrap tokens (`[a-z0-9]{6}.[a-z0-9]{16}`, the format kubeadm generates and the
 * bootstrap token authenticator accepts, https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/)
 * and the certificate key of `--upload-certs` (64 hex digits after --certificate-key). The
 * discovery CA hash is public and stays.
 */
const TOKEN = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g;
const CERT_KEY = /(certificate[-_ ]key\S*\s*[:=]?\s*)[0-9a-f]{64}\b/gi;

export const REDACTED = '<redacted>';

export function redact(text: string): string {
  return text.replace(TOKEN, REDACTED).replace(CERT_KEY, `$1${REDACTED}`);
}

/** Stream output redacted line by line, so a secret split across two chunks is still caught. */
export function lineRedactor(emit: (line: string) => void): { write(chunk: string): void; end(): void } {
  let pending = '';
  return {
    write(chunk) {
      pending += chunk;
      const cut = pending.lastIndexOf('\n');
      if (cut < 0) return;
      emit(redact(pending.slice(0, cut + 1)));
      pending = pending.slice(cut + 1);
    },
    end() {
      if (pending) emit(redact(pending));
      pending = '';
    },
  };
}
