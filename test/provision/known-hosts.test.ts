/** known_hosts parsing against files written and fingerprints printed by OpenSSH's own ssh-keygen. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  appendKnownHost,
  fingerprint,
  hostMatches,
  keyType,
  knownHostsName,
  verifyHostKey,
} from '../../provision/src/known-hosts.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdk8s-prov-kh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh host key: [the .pub line's "type base64", the key blob, ssh-keygen's SHA256 fingerprint]. */
function hostKey(name: string, type = 'ed25519'): { pub: string; blob: Buffer; fp: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', f]);
  const pub = readFileSync(`${f}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const fp = execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { pub, blob: Buffer.from(pub.split(' ')[1]!, 'base64'), fp };
}

describe('known_hosts', () => {
  const k1 = hostKey('k1');
  const k2 = hostKey('k2');
  const rsa = hostKey('k3', 'rsa');

  it('fingerprints and key types as OpenSSH prints them', () => {
    expect(fingerprint(k1.blob)).toBe(k1.fp);
    expect(fingerprint(rsa.blob)).toBe(rsa.fp);
    expect(keyType(k1.blob)).toBe('ssh-ed25519');
    expect(keyType(rsa.blob)).toBe('ssh-rsa');
    expect(knownHostsName('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
  });

  it('host patterns: lists, wildcards, negation, [host]:port', () => {
    expect(hostMatches('gpu-1,10.0.0.21', '10.0.0.21')).toBe(true);
    expect(hostMatches('10.0.0.*,!10.0.0.9', '10.0.0.21')).toBe(true);
    expect(hostMatches('10.0.0.*,!10.0.0.9', '10.0.0.9')).toBe(false);
    expect(hostMatches('10.0.0.2?', '10.0.0.21')).toBe(true);
    expect(hostMatches('10.0.0.21', '[10.0.0.21]:2222')).toBe(false);
    expect(hostMatches('[10.0.0.21]:2222', '[10.0.0.21]:2222')).toBe(true);
  });

  it('known, unknown, changed (with the recorded fingerprints) and @revoked keys', () => {
    const text = `# comment\nother ${k2.pub}\n10.0.0.21,gpu-1 ${k1.pub}\n[10.0.0.22]:2222 ${k1.pub}\n@revoked * ${rsa.pub}\n`;
    expect(verifyHostKey(text, '10.0.0.21', k1.blob)).toEqual({ status: 'known' });
    expect(verifyHostKey(text, '[10.0.0.22]:2222', k1.blob)).toEqual({ status: 'known' });
    expect(verifyHostKey(text, '10.0.0.22', k1.blob)).toEqual({ status: 'unknown' });
    expect(verifyHostKey(text, 'gpu-1', k2.blob)).toEqual({
      status: 'changed',
      known: [`ssh-ed25519 ${k1.fp}`],
    });
    expect(verifyHostKey(text, 'anything', rsa.blob)).toEqual({ status: 'revoked' });
  });

  it('hashed entries as `ssh-keygen -H` (HashKnownHosts) writes them', () => {
    const f = join(dir, 'hashed');
    writeFileSync(f, `10.0.0.21 ${k1.pub}\n[10.0.0.22]:2222 ${k2.pub}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', f], { stdio: 'ignore' });
    const text = readFileSync(f, 'utf8');
    expect(text).not.toContain('10.0.0.21');
    expect(text).toMatch(/^\|1\|/);
    expect(verifyHostKey(text, '10.0.0.21', k1.blob)).toEqual({ status: 'known' });
    expect(verifyHostKey(text, '[10.0.0.22]:2222', k2.blob)).toEqual({ status: 'known' });
    expect(verifyHostKey(text, '10.0.0.21', k2.blob)).toEqual({
      status: 'changed',
      known: [`ssh-ed25519 ${k1.fp}`],
    });
    expect(verifyHostKey(text, '10.0.0.23', k1.blob)).toEqual({ status: 'unknown' });
  });

  it('accept-new appends a line ssh-keygen -F finds, in a 0600 file of a 0700 directory', () => {
    const f = join(dir, 'new', '.ssh', 'known_hosts');
    appendKnownHost(f, '[10.0.0.30]:2222', k1.blob);
    expect(readFileSync(f, 'utf8')).toBe(`[10.0.0.30]:2222 ${k1.pub}\n`);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'new', '.ssh')).mode & 0o777).toBe(0o700);
    expect(execFileSync('ssh-keygen', ['-F', '[10.0.0.30]:2222', '-f', f], { encoding: 'utf8' })).toContain(
      k1.pub,
    );
  });
});
