// Package wsdlclient is a Go SOAP client of dssd generated from schemas/dssd.wsdl by gowsdl
// v0.5.0 and repaired by ./repair. Tests drive it against the real /soap handler.
//
// Why repaired, and why only the client part is kept: gowsdl's message types for the DSS-X
// schemas cannot produce schema-valid messages (22 compile errors: undefined xs:ID, IDREF,
// IDREFS and language types, three types redeclared because dss2, dsb, ds-rw and saml2-rw are
// flattened into one package; once those are patched, marshalling a SignRequestType fails at
// run time with an XMLName conflict, InputDocumentsType has no fields at all, children are
// unqualified (dss2:Profile instead of dsb:Profile, which xmllint rejects) and base64 is not
// encoded). So the repair step keeps gowsdl's operations (the DSSPortType interface and its
// implementation over gowsdl's soap.Client) and binds the message types to the hand-written
// wire types of binding/internal/xmlwire; it also puts the WSDL's soapAction values into the
// calls (gowsdl emits a literal pair of single quotes).
//
// Regenerate with `go generate ./binding/soap/internal/wsdlclient/`.
package wsdlclient

//go:generate go tool gowsdl -d .. -p wsdlclient -o gowsdl_raw.go.txt ../../../../schemas/dssd.wsdl
//go:generate go run ./repair -in gowsdl_raw.go.txt -wsdl ../../../../schemas/dssd.wsdl -out wsdlclient_gen.go
