// Independent XAdES signer for dssd tests (dss/verify interop tests), built on xadesjs: the
// signatures it makes must verify in dssd's verifier.
//
// Usage: node sign.mjs key.pem cert.pem ca.pem document.xml out.xml
//   key.pem   PKCS#8 "PRIVATE KEY" PEM, RSA (signs rsa-sha256) or EC P-256 (ecdsa-sha256)
//   cert.pem  the signer certificate, ca.pem the issuing CA (both go into KeyInfo, signer first)
// The signature is XAdES-BES, enveloped (Reference URI="" with the enveloped-signature and
// exclusive c14n transforms, as toolchain.md §3 advises), with SigningTime and
// SigningCertificateV2, placed as the last child of the document element.
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Crypto } from '@peculiar/webcrypto';
import { DOMParser, XMLSerializer, DOMImplementation } from '@xmldom/xmldom';
import * as xadesjs from 'xadesjs';

const [keyFile, certFile, caFile, docFile, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node sign.mjs key.pem cert.pem ca.pem document.xml out.xml');
  process.exit(2);
}
const crypto = new Crypto();
xadesjs.Application.setEngine('NodeJS', crypto);
xadesjs.setNodeDependencies({ XMLSerializer, DOMParser, DOMImplementation });

function pemBody(text, label) {
  const m = text.match(new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`));
  if (!m) throw new Error(`no ${label} PEM block`);
  return m[1].replace(/\s+/g, '');
}

const certB64 = pemBody(readFileSync(certFile, 'utf8'), 'CERTIFICATE');
const caB64 = pemBody(readFileSync(caFile, 'utf8'), 'CERTIFICATE');
const keyDer = Buffer.from(pemBody(readFileSync(keyFile, 'utf8'), 'PRIVATE KEY'), 'base64');
const isEC = new X509Certificate(readFileSync(certFile)).publicKey.asymmetricKeyType === 'ec';
const alg = isEC ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } };
const importAlg = isEC ? { name: 'ECDSA', namedCurve: 'P-256' } : alg;
const key = await crypto.subtle.importKey('pkcs8', keyDer, importAlg, false, ['sign']);

const doc = xadesjs.Parse(readFileSync(docFile, 'utf8'));
const signedXml = new xadesjs.SignedXml();
const signature = await signedXml.Sign(alg, key, doc, {
  references: [{ hash: 'SHA-256', transforms: ['enveloped', 'exc-c14n'], uri: '' }],
  signingCertificateV2: certB64,
  signingTime: { value: new Date() },
  x509: [certB64, caB64],
});
doc.documentElement.appendChild(signature.GetXml());
writeFileSync(outFile, new XMLSerializer().serializeToString(doc));
