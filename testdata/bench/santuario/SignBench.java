// Signing peer for `make bench` (cmd/dssbench): Apache Santuario (Debian's libxml-security-java)
// signs one XML document N times in this one JVM, after a JIT warm-up, and prints one JSON line
// per mode on stdout.
//
//   java -cp /usr/share/java/xmlsec.jar:/usr/share/java/commons-codec.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar \
//        SignBench.java key.pem cert.pem document.xml N warmup outdir
//
// key.pem is a PKCS#8 "PRIVATE KEY" PEM (RSA-2048), cert.pem the signer certificate. Modes:
//   xmldsig  enveloped XMLDSig: one Reference URI="" (enveloped + exclusive c14n), RSA-SHA256,
//            exclusive c14n of SignedInfo, KeyInfo with the certificate;
//   xades    the same plus a XAdES-BES-like ds:Object: QualifyingProperties/SignedProperties with
//            SigningTime and SigningCertificateV2 (certificate digest), covered by a second
//            Reference of Type SignedProperties. Santuario has no XAdES support, so the
//            properties are built by hand here, as a Santuario user would have to.
// Every iteration parses the document, signs it and serialises it to bytes. The last signed
// document of each mode is written to outdir/santuario-<mode>.xml for an independent check.
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.apache.xml.security.Init;
import org.apache.xml.security.algorithms.MessageDigestAlgorithm;
import org.apache.xml.security.c14n.Canonicalizer;
import org.apache.xml.security.signature.ObjectContainer;
import org.apache.xml.security.signature.XMLSignature;
import org.apache.xml.security.transforms.Transforms;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

public class SignBench {
    static final String DS = "http://www.w3.org/2000/09/xmldsig#";
    static final String XADES = "http://uri.etsi.org/01903/v1.3.2#";

    final PrivateKey key;
    final X509Certificate cert;
    final byte[] xml;
    final String certDigest;
    final DocumentBuilderFactory dbf;
    final TransformerFactory tf = TransformerFactory.newInstance();

    SignBench(PrivateKey key, X509Certificate cert, byte[] xml) throws Exception {
        this.key = key;
        this.cert = cert;
        this.xml = xml;
        this.certDigest = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        dbf.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    }

    byte[] signOnce(boolean xades, int i) throws Exception {
        DocumentBuilder db = dbf.newDocumentBuilder();
        Document doc = db.parse(new ByteArrayInputStream(xml));
        Element root = doc.getDocumentElement();
        String sigId = "sig-" + i;
        XMLSignature sig = new XMLSignature(doc, "", XMLSignature.ALGO_ID_SIGNATURE_RSA_SHA256,
                Canonicalizer.ALGO_ID_C14N_EXCL_OMIT_COMMENTS);
        sig.setId(sigId);
        root.insertBefore(sig.getElement(), root.getFirstChild());

        Transforms t = new Transforms(doc);
        t.addTransform(Transforms.TRANSFORM_ENVELOPED_SIGNATURE);
        t.addTransform(Transforms.TRANSFORM_C14N_EXCL_OMIT_COMMENTS);
        sig.addDocument("", t, MessageDigestAlgorithm.ALGO_ID_DIGEST_SHA256);

        if (xades) {
            String spId = sigId + "-signedprops";
            Element qp = doc.createElementNS(XADES, "xades:QualifyingProperties");
            qp.setAttributeNS("http://www.w3.org/2000/xmlns/", "xmlns:xades", XADES);
            qp.setAttributeNS(null, "Target", "#" + sigId);
            Element sp = child(doc, qp, XADES, "xades:SignedProperties");
            sp.setAttributeNS(null, "Id", spId);
            sp.setIdAttributeNS(null, "Id", true);
            Element ssp = child(doc, sp, XADES, "xades:SignedSignatureProperties");
            child(doc, ssp, XADES, "xades:SigningTime").setTextContent(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
            Element c = child(doc, child(doc, ssp, XADES, "xades:SigningCertificateV2"), XADES, "xades:Cert");
            Element cd = child(doc, c, XADES, "xades:CertDigest");
            child(doc, cd, DS, "ds:DigestMethod").setAttributeNS(null, "Algorithm", MessageDigestAlgorithm.ALGO_ID_DIGEST_SHA256);
            child(doc, cd, DS, "ds:DigestValue").setTextContent(certDigest);
            ObjectContainer obj = new ObjectContainer(doc);
            obj.appendChild(qp);
            sig.appendObject(obj);
            Transforms st = new Transforms(doc);
            st.addTransform(Transforms.TRANSFORM_C14N_EXCL_OMIT_COMMENTS);
            sig.addDocument("#" + spId, st, MessageDigestAlgorithm.ALGO_ID_DIGEST_SHA256, null,
                    "http://uri.etsi.org/01903#SignedProperties");
        }
        sig.addKeyInfo(cert);
        sig.sign(key);

        ByteArrayOutputStream out = new ByteArrayOutputStream(8192);
        Transformer tr = tf.newTransformer();
        tr.transform(new DOMSource(doc), new StreamResult(out));
        return out.toByteArray();
    }

    static Element child(Document doc, Element parent, String ns, String qname) {
        Element e = doc.createElementNS(ns, qname);
        parent.appendChild(e);
        return e;
    }

    static byte[] pem(String text, String label) {
        String begin = "-----BEGIN " + label + "-----", end = "-----END " + label + "-----";
        int b = text.indexOf(begin), e = text.indexOf(end);
        if (b < 0 || e < 0) throw new IllegalArgumentException("no " + label + " PEM block");
        return Base64.getMimeDecoder().decode(text.substring(b + begin.length(), e));
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: SignBench key.pem cert.pem document.xml N warmup outdir");
            System.exit(2);
        }
        Init.init();
        PrivateKey key = KeyFactory.getInstance("RSA").generatePrivate(
                new PKCS8EncodedKeySpec(pem(Files.readString(Path.of(args[0])), "PRIVATE KEY")));
        X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(Path.of(args[1]))));
        SignBench b = new SignBench(key, cert, Files.readAllBytes(Path.of(args[2])));
        int n = Integer.parseInt(args[3]), warmup = Integer.parseInt(args[4]);
        for (String mode : new String[] {"xmldsig", "xades"}) {
            boolean xades = mode.equals("xades");
            for (int i = 0; i < warmup; i++) b.signOnce(xades, i);
            byte[] last = null;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) last = b.signOnce(xades, i);
            double seconds = (System.nanoTime() - t0) / 1e9;
            Files.write(Path.of(args[5], "santuario-" + mode + ".xml"), last);
            System.out.println(String.format(java.util.Locale.ROOT,
                    "{\"peer\":\"santuario-%s\",\"n\":%d,\"seconds\":%.6f,\"rate\":%.3f}", mode, n, seconds, n / seconds));
        }
    }
}
