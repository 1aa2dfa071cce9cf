// Independent XMLDSig/XAdES verifiers for dssd tests: Apache Santuario (org.apache.xml.security, the Debian
// libxml-security-java jar) and the JDK's javax.xml.crypto.dsig, both with secure validation on.
//
// Run as a single-file source program, no build step:
//   java -cp /usr/share/java/xmlsec.jar:/usr/share/java/commons-codec.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/bcprov.jar \
//        Verify.java manifest.tsv
//
// The manifest has one case per line, fields separated by tabs:
//   name  signed-file  signer-cert.pem  signature-id-or-dash  verifiers(santuario,jdk)  [uri  content-file]...
// The trailing pairs map detached Reference URIs to files. For every case and verifier one line is printed:
//   RESULT <tab> verifier <tab> name <tab> OK|FAIL <tab> message
// A case passes only if the signature value verifies with the given certificate, every ds:Reference of
// SignedInfo was validated, and the first KeyInfo certificate is the given one. Any exception is a FAIL.
//
// BouncyCastle (Debian libbcprov-java) is added as a provider when it is on the class path: Santuario 2.1.7
// maps sha*-rsa-MGF1 to JCA names ("SHA256withRSAandMGF1") that only BouncyCastle provides.

import java.io.ByteArrayInputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Provider;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import javax.xml.XMLConstants;
import javax.xml.crypto.Data;
import javax.xml.crypto.KeySelector;
import javax.xml.crypto.OctetStreamData;
import javax.xml.crypto.URIDereferencer;
import javax.xml.crypto.dsig.Reference;
import javax.xml.crypto.dsig.XMLSignatureFactory;
import javax.xml.crypto.dsig.dom.DOMValidateContext;
import javax.xml.crypto.dsig.keyinfo.X509Data;
import javax.xml.parsers.DocumentBuilderFactory;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

public class Verify {
    static final String DSIG = "http://www.w3.org/2000/09/xmldsig#";

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java Verify.java manifest.tsv");
            System.exit(2);
        }
        try {
            Provider bc = (Provider) Class.forName("org.bouncycastle.jce.provider.BouncyCastleProvider")
                    .getDeclaredConstructor().newInstance();
            Security.addProvider(bc);
        } catch (ClassNotFoundException e) {
            System.err.println("note: BouncyCastle is not on the class path; Santuario cannot verify RSA-PSS");
        }
        org.apache.xml.security.Init.init();

        for (String line : Files.readAllLines(Paths.get(args[0]))) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            String name = f[0];
            String file = f[1];
            String certFile = f[2];
            String sigId = f[3].equals("-") ? null : f[3];
            Map<String, String> detached = new HashMap<>();
            for (int i = 5; i + 1 < f.length; i += 2) {
                detached.put(f[i], f[i + 1]);
            }
            for (String v : f[4].split(",")) {
                String msg;
                boolean ok;
                try {
                    X509Certificate cert = readCert(certFile);
                    Document doc = parse(file);
                    registerIds(doc.getDocumentElement());
                    Element sig = findSignature(doc, sigId);
                    switch (v) {
                        case "santuario":
                            msg = santuario(sig, cert, detached);
                            break;
                        case "jdk":
                            msg = jdk(sig, cert, detached);
                            break;
                        default:
                            throw new IllegalArgumentException("unknown verifier " + v);
                    }
                    ok = msg.startsWith("valid");
                } catch (Throwable t) {
                    ok = false;
                    msg = "exception: " + t;
                }
                System.out.println("RESULT\t" + v + "\t" + name + "\t" + (ok ? "OK" : "FAIL") + "\t"
                        + msg.replaceAll("[\t\r\n]+", " "));
            }
        }
    }

    static X509Certificate readCert(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    static Document parse(String path) throws Exception {
        DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        dbf.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        dbf.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        return dbf.newDocumentBuilder().parse(new ByteArrayInputStream(Files.readAllBytes(Paths.get(path))));
    }

    // registerIds declares every unqualified Id attribute an XML ID (SignedProperties, ds:Object, ...).
    static void registerIds(Element el) {
        if (el.hasAttributeNS(null, "Id")) {
            el.setIdAttributeNS(null, "Id", true);
        }
        for (Node c = el.getFirstChild(); c != null; c = c.getNextSibling()) {
            if (c.getNodeType() == Node.ELEMENT_NODE) {
                registerIds((Element) c);
            }
        }
    }

    static Element findSignature(Document doc, String id) {
        NodeList nl = doc.getElementsByTagNameNS(DSIG, "Signature");
        List<Element> found = new ArrayList<>();
        for (int i = 0; i < nl.getLength(); i++) {
            Element e = (Element) nl.item(i);
            if (id == null || id.equals(e.getAttribute("Id"))) {
                found.add(e);
            }
        }
        if (found.size() != 1) {
            throw new IllegalStateException("found " + found.size() + " ds:Signature elements");
        }
        return found.get(0);
    }

    static int countReferences(Element sig) {
        int n = 0;
        for (Node c = sig.getFirstChild(); c != null; c = c.getNextSibling()) {
            if (c.getNodeType() == Node.ELEMENT_NODE && DSIG.equals(c.getNamespaceURI()) && "SignedInfo".equals(c.getLocalName())) {
                for (Node r = c.getFirstChild(); r != null; r = r.getNextSibling()) {
                    if (r.getNodeType() == Node.ELEMENT_NODE && DSIG.equals(r.getNamespaceURI()) && "Reference".equals(r.getLocalName())) {
                        n++;
                    }
                }
            }
        }
        return n;
    }

    // MapResolver hands detached Reference URIs their content from local files.
    static class MapResolver extends org.apache.xml.security.utils.resolver.ResourceResolverSpi {
        final Map<String, String> files;

        MapResolver(Map<String, String> files) {
            this.files = files;
        }

        @Override
        public boolean engineCanResolveURI(org.apache.xml.security.utils.resolver.ResourceResolverContext ctx) {
            return ctx.uriToResolve != null && files.containsKey(ctx.uriToResolve);
        }

        @Override
        public org.apache.xml.security.signature.XMLSignatureInput engineResolveURI(
                org.apache.xml.security.utils.resolver.ResourceResolverContext ctx) {
            try {
                org.apache.xml.security.signature.XMLSignatureInput in =
                        new org.apache.xml.security.signature.XMLSignatureInput(Files.readAllBytes(Paths.get(files.get(ctx.uriToResolve))));
                in.setSourceURI(ctx.uriToResolve);
                return in;
            } catch (java.io.IOException e) {
                throw new RuntimeException(e);
            }
        }
    }

    static String santuario(Element sigEl, X509Certificate cert, Map<String, String> detached) throws Exception {
        org.apache.xml.security.signature.XMLSignature sig = new org.apache.xml.security.signature.XMLSignature(sigEl, "", true);
        sig.addResourceResolver(new MapResolver(detached));
        X509Certificate first = sig.getKeyInfo() == null ? null : sig.getKeyInfo().getX509Certificate();
        if (first == null || !first.equals(cert)) {
            return "first KeyInfo certificate is not the signer certificate";
        }
        if (!sig.checkSignatureValue(cert)) {
            return "checkSignatureValue returned false";
        }
        org.apache.xml.security.signature.SignedInfo si = sig.getSignedInfo();
        int want = countReferences(sigEl);
        List<org.apache.xml.security.signature.VerifiedReference> res = si.getVerificationResults();
        if (si.getLength() != want || res == null || res.size() != want) {
            return "validated " + (res == null ? 0 : res.size()) + " of " + want + " references";
        }
        for (org.apache.xml.security.signature.VerifiedReference r : res) {
            if (!r.isValid()) {
                return "reference " + r.getUri() + " invalid";
            }
        }
        return "valid: signature value and " + want + " references";
    }

    static String jdk(Element sigEl, X509Certificate cert, Map<String, String> detached) throws Exception {
        XMLSignatureFactory fac = XMLSignatureFactory.getInstance("DOM");
        DOMValidateContext vc = new DOMValidateContext(KeySelector.singletonKeySelector(cert.getPublicKey()), sigEl);
        vc.setProperty("org.jcp.xml.dsig.secureValidation", Boolean.TRUE);
        URIDereferencer def = fac.getURIDereferencer();
        vc.setURIDereferencer((uriRef, ctx) -> {
            String u = uriRef.getURI();
            if (u != null && detached.containsKey(u)) {
                try {
                    return (Data) new OctetStreamData(new ByteArrayInputStream(Files.readAllBytes(Paths.get(detached.get(u)))), u, null);
                } catch (java.io.IOException e) {
                    throw new javax.xml.crypto.URIReferenceException(e);
                }
            }
            return def.dereference(uriRef, ctx);
        });
        javax.xml.crypto.dsig.XMLSignature sig = fac.unmarshalXMLSignature(vc);

        X509Certificate first = null;
        if (sig.getKeyInfo() != null) {
            for (Object o : sig.getKeyInfo().getContent()) {
                if (o instanceof X509Data && first == null) {
                    for (Object c : ((X509Data) o).getContent()) {
                        if (c instanceof X509Certificate) {
                            first = (X509Certificate) c;
                            break;
                        }
                    }
                }
            }
        }
        if (first == null || !first.equals(cert)) {
            return "first KeyInfo certificate is not the signer certificate";
        }
        boolean ok = sig.validate(vc);
        List<?> refs = sig.getSignedInfo().getReferences();
        int want = countReferences(sigEl);
        if (refs.size() != want) {
            return "saw " + refs.size() + " of " + want + " references";
        }
        for (Object o : refs) {
            Reference r = (Reference) o;
            if (!r.validate(vc)) {
                return "reference " + r.getURI() + " invalid";
            }
        }
        if (!ok || !sig.getSignatureValue().validate(vc)) {
            return "signature value invalid";
        }
        return "valid: signature value and " + want + " references";
    }
}
