"""An independent SOAP client: python3-zeep loads dssd's WSDL and signs a document.

usage: zeep_sign.py BASE_URL CA_PEM TOKEN CREDENTIAL DOCUMENT OUT_PREFIX
Writes OUT_PREFIX-soap12.xml and OUT_PREFIX-soap11.xml (the enveloping XAdES signatures) and
prints one line per SOAP version: port, RequestID echoed, ResultMajor.
"""
import sys

import requests
from zeep import Client
from zeep.transports import Transport

base, ca, token, credential, document, out = sys.argv[1:7]
session = requests.Session()
session.verify = ca
session.trust_env = False  # REQUESTS_CA_BUNDLE and proxy variables would override verify and reach out
session.headers["Authorization"] = "Bearer " + token
client = Client(base + "/soap?wsdl", transport=Transport(session=session))
with open(document, "rb") as f:
    doc = f.read()
for port, suffix in (("DSSSoap12Port", "soap12"), ("DSSSoap11Port", "soap11")):
    svc = client.bind("DSSService", port)
    resp = svc.sign(
        RequestID="zeep-" + suffix,
        InputDocuments={"_value_1": [{"Document": {"ID": "doc-1",
                                                   "Base64Data": {"MimeType": "application/xml", "Value": doc}}}],
                        "_value_2": [], "_value_3": []},
        OptionalInputs={"KeySelector": [{"KeyName": credential}],
                        "IncludeObject": [{"WhichData": "doc-1", "ObjId": "obj-1"}]},
    )
    print(port, resp.RequestID, resp.Result.ResultMajor)
    if resp.SignatureObject:
        with open(out + "-" + suffix + ".xml", "wb") as f:
            f.write(resp.SignatureObject[0].Base64Signature.Value)
