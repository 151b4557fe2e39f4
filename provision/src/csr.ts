import { isIP } from 'node:net';

/** What a PKCS#10 certificate signing request asks for: its subject and subjectAltNames. */
export interface CsrContent {
  commonName?: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Any other subjectAltName kind (email, URI, ...), as "tag N": never wanted in a serving cert. */
  otherNames: string[];
}

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(b: Buffer, pos: number): Tlv {
  if (pos + 2 > b.length) throw new Error('truncated DER');
  let len = b[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error(`unsupported DER length of ${n} bytes`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start++]!;
  }
  if (start + len > b.length) throw new Error('truncated DER');
  return { tag: b[pos]!, start, end: start + len };
}

function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; p = out[out.length - 1]!.end) out.push(tlv(b, p));
  return out;
}

const hex = (b: Buffer, t: Tlv) => b.subarray(t.start, t.end).toString('hex');
const text = (b: Buffer, t: Tlv) => b.subarray(t.start, t.end).toString('utf8');

// OIDs (DER content bytes): id-at-commonName 2.5.4.3, id-at-organizationName 2.5.4.10,
// pkcs-9 extensionRequest 1.2.840.113549.1.9.14 (RFC 2985), id-ce-subjectAltName 2.5.29.17 (RFC 5280).
const OID = {
  cn: '550403',
  o: '55040a',
  extensionRequest: '2a864886f70d01090e',
  subjectAltName: '551d11',
};

/** An IP address in one canonical text form (IPv6 lower-case and compressed), for comparison. */
export function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

function ipFromBytes(raw: Buffer): string {
  if (raw.length === 4) return [...raw].join('.');
  if (raw.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
    return canonicalIp(groups.join(':'));
  }
  throw new Error(`iPAddress SAN of ${raw.length} bytes`);
}

/**
 * Read a PEM PKCS#10 request (RFC 2986): CertificationRequestInfo's subject and the
 * subjectAltName extension of its extensionRequest attribute. The signature is not checked here:
 * the API server only accepts a CSR whose signature verifies.
 */
export function parseCsr(pem: string): CsrContent {
  const m = /-----BEGIN CERTIFICATE REQUEST-----([\s\S]+?)-----END CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new Error('not a PEM certificate request');
  const b = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  const info = children(b, tlv(b, 0))[0];
  if (!info) throw new Error('empty certificate request');
  const [, subject, , attributes] = children(b, info);
  const out: CsrContent = { organizations: [], dnsNames: [], ipAddresses: [], otherNames: [] };
  for (const rdn of subject ? children(b, subject) : [])
    for (const atv of children(b, rdn)) {
      const [oid, value] = children(b, atv);
      if (!oid || !value) continue;
      if (hex(b, oid) === OID.cn) out.commonName = text(b, value);
      if (hex(b, oid) === OID.o) out.organizations.push(text(b, value));
    }
  if (!attributes || attributes.tag !== 0xa0) return out;
  for (const attr of children(b, attributes)) {
    const [oid, values] = children(b, attr);
    if (!oid || !values || hex(b, oid) !== OID.extensionRequest) continue;
    for (const extensions of children(b, values))
      for (const ext of children(b, extensions)) {
        const parts = children(b, ext);
        if (hex(b, parts[0]!) !== OID.subjectAltName) continue;
        const octets = parts[parts.length - 1]!;
        const names = tlv(b, octets.start);
        for (const n of children(b, names)) {
          if (n.tag === 0x82) out.dnsNames.push(text(b, n));
          else if (n.tag === 0x87) out.ipAddresses.push(ipFromBytes(b.subarray(n.start, n.end)));
          else out.otherNames.push(`tag ${n.tag & 0x1f}`);
        }
      }
  }
  return out;
}
