// Integrity check of real-world signed files with Apache Santuario (the Debian libxml-security-java jar), for
// testdata/corpus-signed.tsv: for every ds:Signature of each file, are the digests of its SignedInfo References
// intact, and does the signature value verify with the key its KeyInfo carries (certificate or key value)?
// No trust decision is made: this is integrity only.
//
//   java -cp /usr/share/java/xmlsec.jar:/usr/share/java/commons-codec.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/bcprov.jar \
//        Integrity.java file.xml...
//
// Prints one line per signature: RESULT <tab> file <tab> index <tab> refs=OK|FAIL|ERROR <tab> value=OK|FAIL|NOKEY|ERROR <tab> note
// Every unqualified Id, ID and id attribute is registered as an XML ID. Secure validation is off (MD5, SHA-1 and
// more than the default Reference count are read) so that integrity can be judged whatever the algorithm.

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.PublicKey;
import java.security.Provider;
import java.security.Security;
import java.security.cert.X509Certificate;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;

import org.apache.xml.security.signature.SignedInfo;
import org.apache.xml.security.signature.XMLSignature;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

public class Integrity {
    public static void main(String[] args) throws Exception {
        try {
            Provider bc = (Provider) Class.forName("org.bouncycastle.jce.provider.BouncyCastleProvider")
                    .getDeclaredConstructor().newInstance();
            Security.addProvider(bc);
        } catch (ClassNotFoundException e) {
            System.err.println("note: BouncyCastle is not on the class path");
        }
        org.apache.xml.security.Init.init();
        for (String file : args) {
            Document doc;
            try {
                DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
                dbf.setNamespaceAware(true);
                dbf.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
                dbf.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
                doc = dbf.newDocumentBuilder().parse(new ByteArrayInputStream(Files.readAllBytes(Paths.get(file))));
            } catch (Throwable t) {
                System.out.println("RESULT\t" + file + "\t0\trefs=ERROR\tvalue=ERROR\tparse: " + clean(t.toString()));
                continue;
            }
            registerIds(doc.getDocumentElement());
            NodeList nl = doc.getElementsByTagNameNS("http://www.w3.org/2000/09/xmldsig#", "Signature");
            for (int i = 0; i < nl.getLength(); i++) {
                Element el = (Element) nl.item(i);
                String refs, value, note = "";
                XMLSignature sig;
                try {
                    sig = new XMLSignature(el, "", false);
                } catch (Throwable t) {
                    System.out.println("RESULT\t" + file + "\t" + (i + 1) + "\trefs=ERROR\tvalue=ERROR\t" + clean(t.toString()));
                    continue;
                }
                try {
                    SignedInfo si = sig.getSignedInfo();
                    refs = si.verify(false) ? "OK" : "FAIL";
                } catch (Throwable t) {
                    refs = "ERROR";
                    note += "refs: " + clean(t.toString()) + " ";
                }
                try {
                    PublicKey key = null;
                    if (sig.getKeyInfo() != null) {
                        X509Certificate c = sig.getKeyInfo().getX509Certificate();
                        key = c != null ? c.getPublicKey() : sig.getKeyInfo().getPublicKey();
                    }
                    if (key == null) {
                        value = "NOKEY";
                    } else {
                        value = checkValueOnly(sig, key);
                    }
                } catch (Throwable t) {
                    value = "ERROR";
                    note += "value: " + clean(t.toString());
                }
                System.out.println("RESULT\t" + file + "\t" + (i + 1) + "\trefs=" + refs + "\tvalue=" + value + "\t" + note.trim());
            }
        }
    }

    // checkValueOnly verifies SignatureValue over the canonical SignedInfo, without the References.
    static String checkValueOnly(XMLSignature sig, PublicKey key) throws Exception {
        org.apache.xml.security.algorithms.SignatureAlgorithm sa = new org.apache.xml.security.algorithms.SignatureAlgorithm(
                sig.getSignedInfo().getSignatureMethodElement(), "", false);
        sa.initVerify(key);
        sa.update(sig.getSignedInfo().getCanonicalizedOctetStream());
        return sa.verify(sig.getSignatureValue()) ? "OK" : "FAIL";
    }

    static void registerIds(Element el) {
        for (String a : new String[] {"Id", "ID", "id"}) {
            if (el.hasAttributeNS(null, a)) {
                el.setIdAttributeNS(null, a, true);
            }
        }
        for (Node c = el.getFirstChild(); c != null; c = c.getNextSibling()) {
            if (c.getNodeType() == Node.ELEMENT_NODE) {
                registerIds((Element) c);
            }
        }
    }

    static String clean(String s) {
        s = s.replaceAll("[\t\r\n]+", " ");
        return s.length() > 200 ? s.substring(0, 200) : s;
    }
}
