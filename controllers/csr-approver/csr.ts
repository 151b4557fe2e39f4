/**
 * PKCS#10 certificate signing requests (RFC 2986), read with PeculiarVentures' ASN.1 schemas
 * (@peculiar/asn1-csr, -x509, -schema: MIT, pinned in server/ and provision/package.json), the one
 * parser of provisioning's bootstrap approval and of the CSR approver controller. Not
 * @peculiar/x509: it needs a global `reflect-metadata` polyfill (tsyringe) for what these
 * schemas give without one. The signature is verified with node:crypto, synchronously.
 */
import { createPublicKey, verify } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { Extensions, SubjectAlternativeName, id_ce_subjectAltName } from '@peculiar/asn1-x509';

/** What a certificate signing request asks for, and whether its signature verifies. */
export interface CsrContent {
  commonName?: string;
  organizations: string[];
  /** Subject attributes other than CN and O, as "OID=value". */
  otherSubject: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Any other subjectAltName kind (email, URI, ...), as "kind:value": never wanted in a serving cert. */
  otherNames: string[];
  /** The request's signature verifies with the public key it carries (proof of possession). */
  signatureValid: boolean;
}

// id-at-commonName, id-at-organizationName; pkcs-9 extensionRequest (RFC 2985).
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

/**
 * Signature algorithms by OID and the digest node:crypto verifies them with (null: the key type
 * fixes it). SHA-1 and RSASSA-PSS are absent on purpose: Go's x509 (the API server, kubelet) does
 * not sign serving CSRs with them, and a request that uses them is refused as unverifiable.
 */
const SIGNATURE_DIGESTS: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256 (the kubelet's P-256 keys)
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, // Ed25519
};

/** An IP address in one canonical text form (IPv6 lower-case and compressed), for comparison. */
export function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

function signatureValid(req: CertificationRequest): boolean {
  const digest = SIGNATURE_DIGESTS[req.signatureAlgorithm.algorithm];
  if (digest === undefined || !req.certificationRequestInfoRaw) return false;
  try {
    const key = createPublicKey({
      key: Buffer.from(AsnConvert.serialize(req.certificationRequestInfo.subjectPKInfo)),
      format: 'der',
      type: 'spki',
    });
    return verify(digest, Buffer.from(req.certificationRequestInfoRaw), key, Buffer.from(req.signature));
  } catch {
    return false;
  }
}

/** A PEM PKCS#10 request's subject, subjectAltNames and signature check; throws if it is not one. */
export function parseCsr(pem: string): CsrContent {
  const m = /-----BEGIN CERTIFICATE REQUEST-----([\s\S]+?)-----END CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new Error('not a PEM certificate request');
  let req: CertificationRequest;
  try {
    req = AsnConvert.parse(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'), CertificationRequest);
  } catch (e) {
    throw new Error(`malformed certificate request: ${(e as Error).message}`, { cause: e });
  }
  const info = req.certificationRequestInfo;
  const out: CsrContent = {
    organizations: [],
    otherSubject: [],
    dnsNames: [],
    ipAddresses: [],
    otherNames: [],
    signatureValid: signatureValid(req),
  };
  for (const rdn of info.subject)
    for (const atv of rdn) {
      const value = atv.value.toString();
      if (atv.type === OID_CN) out.commonName = value;
      else if (atv.type === OID_O) out.organizations.push(value);
      else out.otherSubject.push(`${atv.type}=${value}`);
    }
  for (const attr of info.attributes) {
    if (attr.type !== OID_EXTENSION_REQUEST) continue;
    for (const value of attr.values)
      for (const ext of AsnConvert.parse(value, Extensions)) {
        if (ext.extnID !== id_ce_subjectAltName) continue;
        for (const name of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
          if (name.dNSName !== undefined) out.dnsNames.push(name.dNSName);
          else if (name.iPAddress !== undefined) out.ipAddresses.push(canonicalIp(name.iPAddress));
          else if (name.rfc822Name !== undefined) out.otherNames.push(`email:${name.rfc822Name}`);
          else if (name.uniformResourceIdentifier !== undefined)
            out.otherNames.push(`URI:${name.uniformResourceIdentifier}`);
          else out.otherNames.push(`otherName:${Object.keys(name).join(',')}`);
        }
      }
  }
  return out;
}
