// Independent XMLDSig signer for dssd tests (dss/verify interop tests), built on Apache
// Santuario: the signatures it makes must verify in dssd's verifier.
//
// Usage (single-file source launch, Debian jars):
//   java -cp /usr/share/java/xmlsec.jar:/usr/share/java/commons-codec.jar:/usr/share/java/slf4j-api.jar \
//        Sign.java key.pem cert.pem ca.pem document.xml out.xml
// key.pem is a PKCS#8 "PRIVATE KEY" PEM, RSA (rsa-sha256) or EC P-256 (ecdsa-sha256). The
// signature is enveloped (Reference URI="" with the enveloped-signature and exclusive c14n
// transforms), appended to the document element, with the signer certificate and the CA in
// KeyInfo (signer first).

import java.io.ByteArrayInputStream;
import java.io.FileOutputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;

import javax.xml.parsers.DocumentBuilderFactory;

import org.apache.xml.security.Init;
import org.apache.xml.security.c14n.Canonicalizer;
import org.apache.xml.security.keys.content.X509Data;
import org.apache.xml.security.signature.XMLSignature;
import org.apache.xml.security.transforms.Transforms;
import org.apache.xml.security.utils.XMLUtils;
import org.w3c.dom.Document;

public class Sign {
    static byte[] pem(String file, String label) throws Exception {
        String s = new String(Files.readAllBytes(Paths.get(file)), "US-ASCII");
        int a = s.indexOf("-----BEGIN " + label + "-----"), b = s.indexOf("-----END " + label + "-----");
        if (a < 0 || b < 0) throw new IllegalArgumentException("no " + label + " in " + file);
        return Base64.getMimeDecoder().decode(s.substring(a + label.length() + 16, b));
    }

    static X509Certificate cert(String file) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(pem(file, "CERTIFICATE")));
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: Sign key.pem cert.pem ca.pem document.xml out.xml");
            System.exit(2);
        }
        Init.init();
        X509Certificate signer = cert(args[1]), ca = cert(args[2]);
        boolean ec = signer.getPublicKey().getAlgorithm().equals("EC");
        PrivateKey key = KeyFactory.getInstance(ec ? "EC" : "RSA").generatePrivate(new PKCS8EncodedKeySpec(pem(args[0], "PRIVATE KEY")));

        DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        dbf.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document doc = dbf.newDocumentBuilder().parse(args[3]);

        XMLSignature sig = new XMLSignature(doc, "",
            ec ? XMLSignature.ALGO_ID_SIGNATURE_ECDSA_SHA256 : XMLSignature.ALGO_ID_SIGNATURE_RSA_SHA256,
            Canonicalizer.ALGO_ID_C14N_EXCL_OMIT_COMMENTS);
        sig.setId("santuario-sig");
        doc.getDocumentElement().appendChild(sig.getElement());
        Transforms t = new Transforms(doc);
        t.addTransform(Transforms.TRANSFORM_ENVELOPED_SIGNATURE);
        t.addTransform(Transforms.TRANSFORM_C14N_EXCL_OMIT_COMMENTS);
        sig.addDocument("", t, "http://www.w3.org/2001/04/xmlenc#sha256");
        X509Data xd = new X509Data(doc);
        xd.addCertificate(signer);
        xd.addCertificate(ca);
        sig.getKeyInfo().add(xd);
        sig.sign(key);
        try (FileOutputStream out = new FileOutputStream(args[4])) {
            XMLUtils.outputDOM(doc, out);
        }
    }
}
