// An independent SOAP client: node-soap (npm "soap") loads dssd's WSDL and signs a binary
// file detached, sending it as an MTOM attachment (forceMTOM; SOAP 1.2 envelope, whose root
// part node-soap labels text/xml). The signature comes back either inline or, when dssd
// answers with MTOM, as an attachment that node-soap parses (parseReponseAttachments).
//
// usage: node sign_mtom.js BASE_URL TOKEN CREDENTIAL FILE REF_URI OUT
// The CA of an HTTPS server comes from NODE_EXTRA_CA_CERTS. Prints "RequestID ResultMajor".
'use strict';
const fs = require('fs');
const soap = require('soap');

const [base, token, credential, file, refURI, out] = process.argv.slice(2);
const cid = 'document-1@nodesoap.example';
const requestID = 'nodesoap-mtom';
const signRequest =
  '<dss2:SignRequest xmlns:dss2="http://docs.oasis-open.org/dss-x/ns/core" xmlns:dsb="http://docs.oasis-open.org/dss-x/ns/base" RequestID="' + requestID + '">' +
  '<dss2:InputDocuments><dss2:Document ID="doc-1" RefURI="' + refURI + '">' +
  '<dss2:Base64Data MimeType="application/octet-stream"><dsb:Value>' +
  '<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:' + encodeURIComponent(cid).replace(/%40/g, '@') + '"/>' +
  '</dsb:Value></dss2:Base64Data></dss2:Document></dss2:InputDocuments>' +
  '<dss2:OptionalInputs><dss2:SignatureType>http://uri.etsi.org/01903/v1.3.2#</dss2:SignatureType>' +
  '<dss2:KeySelector><dss2:KeyName>' + credential + '</dss2:KeyName></dss2:KeySelector></dss2:OptionalInputs>' +
  '</dss2:SignRequest>';

async function main() {
  const client = await soap.createClientAsync(base + '/soap?wsdl', {
    forceSoap12Headers: true,
    parseReponseAttachments: true,
  });
  client.addHttpHeader('Authorization', 'Bearer ' + token);
  const sign = client.DSSService.DSSSoap12Port.sign;
  const [result, , , , attachments] = await new Promise((resolve, reject) => {
    sign({ _xml: signRequest }, (err, result, raw, header, rawRequest, mtom) => {
      if (err) {
        reject(new Error(err.message + (raw ? '\n' + String(raw).slice(0, 2000) : '')));
        return;
      }
      resolve([result, raw, header, rawRequest, mtom]);
    }, {
      forceMTOM: true,
      attachments: [{ mimetype: 'application/octet-stream', contentId: cid, name: 'document.bin', body: fs.readFileSync(file) }],
    });
  });
  console.log(result.attributes ? result.attributes.RequestID : '?', result.Result.ResultMajor);
  const value = result.SignatureObject[0].Base64Signature.Value;
  let sig;
  if (typeof value === 'string') {
    sig = Buffer.from(value, 'base64');
  } else {
    // <xop:Include href="cid:..."/>: the signature is the attachment it names.
    const href = value.Include.attributes.href;
    const want = decodeURIComponent(href.replace(/^cid:/, ''));
    const part = (attachments ? attachments.parts : []).find((p) => (p.headers['content-id'] || p.headers['Content-ID'] || '').replace(/[<>]/g, '') === want);
    if (!part) {
      throw new Error('the answer names attachment ' + href + ', which node-soap did not receive');
    }
    sig = part.body;
    console.log('signature received as MTOM attachment', href);
  }
  fs.writeFileSync(out, sig);
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
