/**
 * A real PKCS#10 request made by openssl, as PEM: ECDSA P-256 as the kubelet makes them (RSA for
 * the other kubelet-serving usage set). `san` empty: no subjectAltName extension. The private key
 * is not kept: no test signs with it.
 */
import { execFileSync } from 'node:child_process';

export function opensslCsr(subject: string, san: string, key: 'ec' | 'rsa' = 'ec'): string {
  const keyArgs =
    key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  return execFileSync(
    'openssl',
    [
      'req',
      '-new',
      ...keyArgs,
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      subject,
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    ],
    { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' },
  );
}
