#!/usr/bin/python3
"""Independent recomputation of XAdES timestamp inputs (EN 319 132-1 §5.3 and §5.5.2) with lxml
(libxml2's exclusive c14n), for dss/xades tests.

Usage: /usr/bin/python3 ats_oracle.py manifest.tsv

Each manifest line: name, signed file, ds:Signature Id, detached content file (or empty),
expected SHA-256 (hex) of the SignatureTimeStamp input, expected SHA-256 of the input of the
first xades141:ArchiveTimeStamp. Prints "OK <name>" or "FAIL <name>: <why>" per line.
"""
import base64
import copy
import hashlib
import sys

from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENV = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
B64 = "http://www.w3.org/2000/09/xmldsig#base64"
DIGESTS = {"http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
           "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
           "http://www.w3.org/2001/04/xmlenc#sha512": "sha512"}


def c14n(node):
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def by_id(tree, ident):
    found = tree.xpath("//*[@Id=$i or @ID=$i or @id=$i]", i=ident)
    if len(found) != 1:
        raise ValueError("id %s found %d times" % (ident, len(found)))
    return found[0]


def reference_octets(tree, sig, ref, content):
    transforms = [t.get("Algorithm") for t in ref.findall("{%s}Transforms/{%s}Transform" % (DS, DS))]
    uri = ref.get("URI")
    if uri is None or (uri != "" and not uri.startswith("#")):
        if transforms:
            raise ValueError("detached reference with transforms")
        return open(content, "rb").read()
    if uri == "":
        if transforms != [ENV, EXC]:
            raise ValueError("unexpected transforms %r" % transforms)
        doc = copy.deepcopy(tree)
        s = doc.xpath("//ds:Signature[@Id=$i]", namespaces={"ds": DS}, i=sig.get("Id"))[0]
        tail = s.tail
        parent = s.getparent()
        prev = s.getprevious()
        parent.remove(s)
        # removing an element in lxml drops its tail text: put it back where it was
        if tail:
            if prev is not None:
                prev.tail = (prev.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
        return c14n(doc)
    target = by_id(tree, uri[1:])
    if transforms == [B64]:
        return base64.b64decode("".join(target.text.split()))
    if transforms != [EXC]:
        raise ValueError("unexpected transforms %r" % transforms)
    return c14n(target)


def check(line):
    name, path, sig_id, content, want_sig, want_ats = line.rstrip("\n").split("\t")
    tree = etree.parse(path)
    sig = by_id(tree, sig_id)
    ns = {"ds": DS, "xades": XADES, "xades141": XADES141}
    sv = sig.find("{%s}SignatureValue" % DS)
    got = hashlib.sha256(c14n(sv)).hexdigest()
    if got != want_sig:
        return "FAIL %s: signature timestamp input digest %s, want %s" % (name, got, want_sig)
    out = b""
    for ref in sig.findall("{%s}SignedInfo/{%s}Reference" % (DS, DS)):
        octets = reference_octets(tree, sig, ref, content)
        alg = DIGESTS[ref.find("{%s}DigestMethod" % DS).get("Algorithm")]
        dv = base64.b64decode(ref.find("{%s}DigestValue" % DS).text)
        if hashlib.new(alg, octets).digest() != dv:
            return "FAIL %s: reference %r: digest mismatch" % (name, ref.get("URI"))
        out += octets
    for local in ("SignedInfo", "SignatureValue", "KeyInfo"):
        el = sig.find("{%s}%s" % (DS, local))
        if el is not None:
            out += c14n(el)
    usp = sig.xpath("ds:Object/xades:QualifyingProperties/xades:UnsignedProperties/xades:UnsignedSignatureProperties", namespaces=ns)[0]
    for prop in usp:
        if not isinstance(prop.tag, str):
            continue
        if prop.tag == "{%s}ArchiveTimeStamp" % XADES141:
            break
        out += c14n(prop)
    for obj in sig.findall("{%s}Object" % DS):
        if obj.find("{%s}QualifyingProperties" % XADES) is None:
            out += c14n(obj)
    got = hashlib.sha256(out).hexdigest()
    if got != want_ats:
        return "FAIL %s: archive timestamp input digest %s, want %s" % (name, got, want_ats)
    return "OK " + name


def main():
    for line in open(sys.argv[1]):
        if line.strip():
            try:
                print(check(line))
            except Exception as e:  # any failure is a verdict, not a crash
                print("FAIL %s: %s" % (line.split("\t")[0], e))


main()
