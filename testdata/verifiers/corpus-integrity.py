#!/usr/bin/python3
"""Re-establish the integrity column of testdata/corpus-signed.tsv with the independent verifiers.

Usage (from the repository root): /usr/bin/python3 testdata/verifiers/corpus-integrity.py ../shared/corpus
Prints, per file and signature, what Apache Santuario (santuario/Integrity.java) and xmlsec1 say; compare with
the table by hand (the classification rules are in the table's header). xmlsec1 gets --insecure (no trust, integrity
only), every key data type it can read from KeyInfo, and an --id-attr for each element carrying Id/ID/id; the
detached files are checked in a scratch directory with their data beside them.
"""
import os, re, shutil, subprocess, sys, tempfile

JARS = ":".join("/usr/share/java/" + j for j in ("xmlsec.jar", "commons-codec.jar", "slf4j-api.jar", "bcprov.jar"))
here = os.path.dirname(os.path.abspath(__file__))
corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus"
signed = os.path.join(corpus, "signed")
files = sorted(f for f in os.listdir(signed) if f.endswith(".xml"))

sant = subprocess.run(["java", "-cp", JARS, os.path.join(here, "santuario", "Integrity.java")] +
                      [os.path.join(signed, f) for f in files], capture_output=True, text=True, errors="replace")
for line in sant.stdout.splitlines():
    if line.startswith("RESULT"):
        print("santuario\t" + line.split("\t", 1)[1].replace(signed + "/", ""))

def id_args(b):
    args = []
    for local, attr in sorted(set((m.group(2).decode(), m.group(3).decode()) for m in
                                  re.finditer(rb'<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)\b[^>]*?\s(Id|ID|id)="', b))):
        ns = None
        m = re.search(rb'<([A-Za-z_][\w.-]*):' + local.encode() + rb'\b', b)
        if m:
            pm = re.search(rb'xmlns:' + m.group(1) + rb'="([^"]*)"', b)
            ns = pm.group(1).decode() if pm else None
        else:
            dm = re.search(rb'<' + local.encode() + rb'\b[^>]*xmlns="([^"]*)"', b) or re.search(rb'xmlns="([^"]*)"', b)
            ns = dm.group(1).decode() if dm else None
        args += ["--id-attr:" + attr, (ns + ":" + local) if ns else local]
    return args

scratch = tempfile.mkdtemp()
try:
    for d in os.listdir(os.path.join(signed, "data")):
        shutil.copy(os.path.join(signed, "data", d), scratch)
    for f in files:
        shutil.copy(os.path.join(signed, f), scratch)
        b = open(os.path.join(scratch, f), "rb").read()
        r = subprocess.run(["xmlsec1", "--verify", "--insecure", "--enabled-key-data", "x509,key-value,der,raw-x509-cert"] + id_args(b) + [f],
                           cwd=scratch, capture_output=True, text=True, errors="replace")
        why = "digest mismatch" if "data and digest do not match" in r.stderr else \
              "signature value mismatch" if "data do not match" in r.stderr else ""
        print("xmlsec1\t%s\trc=%d\t%s" % (f, r.returncode, why))
finally:
    shutil.rmtree(scratch)
