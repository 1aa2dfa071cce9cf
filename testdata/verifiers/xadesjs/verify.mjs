// Independent XMLDSig/XAdES verifier for dssd tests, built on xadesjs (PeculiarVentures).
//
// Usage: node verify.mjs manifest.json
//
// The manifest is a JSON array of cases:
//   {"name": "...", "file": "signed.xml", "cert": "signer.pem", "alg": "<SignatureMethod URI>",
//    "signatureId": "optional Id of the ds:Signature to check", "detached": {"<Reference URI>": "content file"}}
// For every case one JSON line is printed on stdout: {"name": "...", "ok": true|false, "output": "..."}.
// Any exception counts as invalid (xadesjs throws on a digest mismatch instead of returning false).
//
// Gotchas handled here (see the toolchain notes): Verify() would trust whatever key KeyInfo holds and
// cannot import EC keys from a certificate ("Cannot get Curved name"), so the signer certificate is
// compared with the first KeyInfo certificate and its key is imported here with the curve named;
// detached references get their content through SignedXml.contentHandler.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Crypto } from '@peculiar/webcrypto';
import { DOMParser, XMLSerializer, DOMImplementation } from '@xmldom/xmldom';
import * as xadesjs from 'xadesjs';

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const crypto = new Crypto();
xadesjs.Application.setEngine('NodeJS', crypto);
xadesjs.setNodeDependencies({ XMLSerializer, DOMParser, DOMImplementation });

// SignatureMethod URI -> WebCrypto verify algorithm.
const ALGS = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-384' } },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-512' } },
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1': { name: 'RSA-PSS', hash: { name: 'SHA-256' }, saltLength: 32 },
  'http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1': { name: 'RSA-PSS', hash: { name: 'SHA-384' }, saltLength: 48 },
  'http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1': { name: 'RSA-PSS', hash: { name: 'SHA-512' }, saltLength: 64 },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': { name: 'ECDSA', hash: { name: 'SHA-256' } },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': { name: 'ECDSA', hash: { name: 'SHA-384' } },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512': { name: 'ECDSA', hash: { name: 'SHA-512' } },
};
const CURVES = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function findSignature(doc, id) {
  const sigs = doc.getElementsByTagNameNS(DSIG, 'Signature');
  const found = [];
  for (let i = 0; i < sigs.length; i++) {
    if (!id || sigs.item(i).getAttribute('Id') === id) found.push(sigs.item(i));
  }
  if (found.length !== 1) throw new Error(`found ${found.length} ds:Signature elements${id ? ` with Id ${id}` : ''}`);
  return found[0];
}

async function verifyCase(c) {
  const xml = readFileSync(c.file, 'utf8');
  const doc = new DOMParser({
    onError: (level, msg) => {
      if (level !== 'warning') throw new Error(`xml parse ${level}: ${msg}`);
    },
  }).parseFromString(xml, 'application/xml');
  const sigEl = findSignature(doc, c.signatureId);

  // The signer certificate must be the first one in KeyInfo.
  const cert = new X509Certificate(readFileSync(c.cert));
  const kiCerts = sigEl.getElementsByTagNameNS(DSIG, 'X509Certificate');
  if (kiCerts.length === 0) throw new Error('no X509Certificate in KeyInfo');
  const first = Buffer.from(kiCerts.item(0).textContent.replace(/\s+/g, ''), 'base64');
  if (!first.equals(cert.raw)) throw new Error('first KeyInfo certificate is not the signer certificate');

  // xadesjs 2.6.8 picks the class of an unsigned property by its local name alone: it takes the
  // EN 319 132-1 v1.4.1 ArchiveTimeStamp (and TimeStampValidationData) for the v1.3.2 ones and throws
  // XMLJS0009 on every B-LTA signature. No Reference covers unsigned properties, so removing these
  // elements before loading leaves every digest and the SignatureValue it checks unchanged; the
  // archive timestamp itself is checked with `openssl ts -verify` in the Go tests.
  const v141 = sigEl.getElementsByTagNameNS('http://uri.etsi.org/01903/v1.4.1#', '*');
  for (const el of Array.from({ length: v141.length }, (_, i) => v141.item(i))) {
    if (el.parentNode && el.parentNode.namespaceURI === 'http://uri.etsi.org/01903/v1.3.2#') el.parentNode.removeChild(el);
  }

  const sx = new xadesjs.SignedXml(doc);
  sx.LoadXml(sigEl);
  const method = sx.XmlSignature.SignedInfo.SignatureMethod.Algorithm;
  if (c.alg && method !== c.alg) throw new Error(`SignatureMethod ${method}, want ${c.alg}`);
  const alg = ALGS[method];
  if (!alg) throw new Error(`unsupported SignatureMethod ${method}`);
  const importAlg = { ...alg };
  if (alg.name === 'ECDSA') {
    const curve = CURVES[cert.publicKey.asymmetricKeyDetails.namedCurve];
    if (!curve) throw new Error(`unsupported curve ${cert.publicKey.asymmetricKeyDetails.namedCurve}`);
    importAlg.namedCurve = curve;
  }
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const key = await crypto.subtle.importKey('spki', spki, importAlg, true, ['verify']);

  const detached = c.detached || {};
  sx.contentHandler = async (ref) => {
    if (ref.Uri && Object.hasOwn(detached, ref.Uri)) return new Uint8Array(readFileSync(detached[ref.Uri]));
    return null;
  };

  // What SignedXml.Verify does, minus its key handling.
  const refsOK = await sx.ValidateReferences(doc.documentElement.cloneNode(true));
  if (!refsOK) return { ok: false, output: 'reference validation failed' };
  const n = sx.XmlSignature.SignedInfo.References.Count;
  const sigOK = await sx.ValidateSignatureValue([key]);
  return { ok: sigOK, output: sigOK ? `signature value and ${n} references valid` : 'signature value invalid' };
}

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const c of cases) {
  let r;
  try {
    r = await verifyCase(c);
  } catch (e) {
    r = { ok: false, output: `exception: ${e && e.message ? e.message : e}` };
  }
  process.stdout.write(JSON.stringify({ name: c.name, ok: r.ok, output: r.output }) + '\n');
}
