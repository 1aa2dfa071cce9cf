// Signing peer for `make bench` (cmd/dssbench): signs one XML document XAdES-BES enveloped
// N times in this one process with xadesjs and a software RSA-2048 key, after a warm-up, and
// prints one JSON line with the timing. It lives beside verify.mjs because an ES module only
// finds the node_modules folder that is in or above its own directory.
//
// Usage: node bench-sign.mjs key.pem cert.pem document.xml N warmup out.xml
//   key.pem   PKCS#8 "PRIVATE KEY" PEM (RSA-2048)
//   cert.pem  the signer certificate (PEM)
//   out.xml   the last signed document, for an independent check by the caller
//
// Each iteration parses the document, builds the XAdES-BES signature (enveloped Reference
// with URI="", SignedProperties with SigningTime and SigningCertificateV2, KeyInfo with the
// certificate), signs it and serialises the document: the same work dssd does per document.
import { readFileSync, writeFileSync } from 'node:fs';
import { Crypto } from '@peculiar/webcrypto';
import { DOMParser, XMLSerializer, DOMImplementation } from '@xmldom/xmldom';
import * as xadesjs from 'xadesjs';

const [keyFile, certFile, docFile, nArg, warmArg, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node bench-sign.mjs key.pem cert.pem document.xml N warmup out.xml');
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
const keyDer = Buffer.from(pemBody(readFileSync(keyFile, 'utf8'), 'PRIVATE KEY'), 'base64');
const alg = { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } };
const key = await crypto.subtle.importKey('pkcs8', keyDer, alg, false, ['sign']);
const xml = readFileSync(docFile, 'utf8');

async function signOnce(i) {
  const doc = xadesjs.Parse(xml);
  const signedXml = new xadesjs.SignedXml();
  const signature = await signedXml.Sign(alg, key, doc, {
    id: `sig-${i}`,
    references: [{ hash: 'SHA-256', transforms: ['enveloped', 'exc-c14n'], uri: '' }],
    signingCertificateV2: certB64,
    signingTime: { value: new Date() },
    x509: [certB64],
  });
  const root = doc.documentElement;
  root.insertBefore(signature.GetXml(), root.firstChild);
  return new XMLSerializer().serializeToString(doc);
}

const n = Number(nArg);
const warmup = Number(warmArg);
for (let i = 0; i < warmup; i++) await signOnce(i);
let out = '';
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) out = await signOnce(i);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
writeFileSync(outFile, out);
console.log(JSON.stringify({ peer: 'xadesjs', n, seconds, rate: n / seconds }));
