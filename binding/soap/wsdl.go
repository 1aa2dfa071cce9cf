package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"

	"dssd/schemas"
)

// The served WSDL carries every schema it needs inline, in wsdl:types: the DSS-X core schema
// (with the project's global dss2:PendingRequest element added), and the schemas it imports,
// whose xs:import elements lose their schemaLocation (they name namespaces defined beside
// them). A client then reads one document and fetches nothing: JAX-WS wsimport refuses, with
// its default settings, to read a schema over any protocol (accessExternalSchema), even from
// the host that served the WSDL. The same schemas stay available under GET /schemas/.

// inlineSchemas are the files of wsdl:types, imported before importing.
var inlineSchemas = []string{
	"oasis-dss-nslist-schema.xsd",
	"oasis-dss-rw-saml-schema-assertion-2.0.xsd",
	"oasis-dss-rw-xmldsig-core-schema.xsd",
	"oasis-dss-base-schema.xsd",
	schemas.CoreXSD,
}

const (
	nsXML             = "http://www.w3.org/XML/1998/namespace"
	xmlXSDPlaceholder = "https://dssd.invalid/schemas/xml.xsd"
)

var (
	typesOnce sync.Once
	typesXML  []byte
	typesErr  error

	// The xml namespace is not inline: its imports name xml.xsd on this server. python3-zeep
	// fetches an xml namespace import without schemaLocation from www.w3.org (it does not
	// look among inline schemas), and JAX-WS refuses xml.xsd both inline and fetched
	// ("'lang' is already defined"); an import placed directly in the WSDL is read by
	// wsimport's WSDL parser, which the accessExternalSchema restriction does not cover.
	importLocation = regexp.MustCompile(`(<(?:xs:)?import\b[^>]*?)\s+schemaLocation="[^"]*"`)
	typesElement   = regexp.MustCompile(`(?s)<wsdl:types>.*</wsdl:types>`)
)

// wsdlTypes returns the wsdl:types element with the schemas inline.
func wsdlTypes() ([]byte, error) {
	typesOnce.Do(func() {
		var b bytes.Buffer
		b.WriteString("<wsdl:types>\n")
		for _, name := range inlineSchemas {
			raw, err := schemas.FS.ReadFile(name)
			if err != nil {
				typesErr = err
				return
			}
			root, err := schemaRoot(raw)
			if err != nil {
				typesErr = fmt.Errorf("%s: %w", name, err)
				return
			}
			root = importLocation.ReplaceAllFunc(root, func(m []byte) []byte {
				imp := importLocation.FindSubmatch(m)[1]
				if bytes.Contains(imp, []byte(`namespace="`+nsXML+`"`)) {
					return append(imp[:len(imp):len(imp)], []byte(` schemaLocation="`+xmlXSDPlaceholder+`"`)...)
				}
				return imp
			})
			if name == schemas.CoreXSD {
				// schemas/dssd-pending.xsd: the global element a document/literal part needs.
				end := bytes.LastIndex(root, []byte("</xs:schema>"))
				if end < 0 {
					typesErr = errors.New("core schema: no </xs:schema>")
					return
				}
				root = append(root[:end:end], []byte(`<xs:element name="PendingRequest" type="dss2:PendingRequestType"/>`+"\n</xs:schema>")...)
			}
			b.Write(root)
			b.WriteString("\n")
		}
		b.WriteString("</wsdl:types>")
		typesXML = b.Bytes()
	})
	return typesXML, typesErr
}

// schemaRoot returns the bytes of the root element of a schema file (without the XML
// declaration and the comments before it).
func schemaRoot(raw []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		off := d.InputOffset()
		t, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no root element")
		}
		if err != nil {
			return nil, err
		}
		if _, ok := t.(xml.StartElement); ok {
			return bytes.TrimSpace(raw[off:]), nil
		}
	}
}
