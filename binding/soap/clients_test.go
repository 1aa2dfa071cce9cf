package soap_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gowsdl "github.com/hooklift/gowsdl/soap"

	"dssd/binding/internal/xmlwire"
	"dssd/binding/soap"
	"dssd/binding/soap/internal/wsdlclient"
	"dssd/dss"
)

// zeepScript loads the WSDL from the server (argv[1]), signs a document over SOAP 1.2 and
// SOAP 1.1 and prints the results.
const zeepScript = `
import sys, requests
from zeep import Client
from zeep.transports import Transport

base, token = sys.argv[1], sys.argv[2]
session = requests.Session()
session.headers["Authorization"] = "Bearer " + token
client = Client(base + "/soap?wsdl", transport=Transport(session=session))
doc = b'<invoice xmlns="urn:example:invoice"><id>42</id><amount currency="EUR">10.00</amount></invoice>'
for port in ("DSSSoap12Port", "DSSSoap11Port"):
    svc = client.bind("DSSService", port)
    resp = svc.sign(
        RequestID="zeep-" + port,
        # InputDocumentsType is three unbounded xs:sequence groups: zeep names them _value_1.._value_3.
        InputDocuments={"_value_1": [{"Document": {"ID": "doc-1", "RefURI": "urn:example:invoice",
                                                   "Base64Data": {"MimeType": "application/xml", "Value": doc}}}],
                        "_value_2": [], "_value_3": []},
        OptionalInputs={"KeySelector": [{"KeyName": "alice-rsa"}]},
    )
    sig = resp.SignatureObject[0].Base64Signature.Value
    print(port, resp.RequestID, resp.Result.ResultMajor, sig == b"sig:" + doc)
`

func TestZeepClient(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatal("/usr/bin/python3 not found: install python3 and python3-zeep (apt-get install python3-zeep)")
	}
	if out, err := exec.Command(py, "-c", "import zeep").CombinedOutput(); err != nil {
		t.Fatalf("python3-zeep is not installed (apt-get install python3-zeep): %v\n%s", err, out)
	}
	s := newServer(t, soap.Options{})
	script := filepath.Join(t.TempDir(), "zeep_sign.py")
	if err := os.WriteFile(script, []byte(zeepScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, s.URL, token)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zeep client failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"DSSSoap12Port zeep-DSSSoap12Port " + dss.MajorSuccess + " True",
		"DSSSoap11Port zeep-DSSSoap11Port " + dss.MajorSuccess + " True",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("zeep output lacks %q:\n%s", want, out)
		}
	}
	if len(s.svc.Signs) != 2 {
		t.Fatalf("service got %d SignRequests, want 2", len(s.svc.Signs))
	}
	for _, r := range s.svc.Signs {
		if len(r.Documents) != 1 || string(r.Documents[0].Data) != invoice {
			t.Errorf("service did not get the document bytes: %+v", r.Documents)
		}
		if r.Options.CredentialID != "alice-rsa" || len(r.Options.Unsupported) != 0 {
			t.Errorf("options %+v", r.Options)
		}
	}
}

func TestGowsdlClient(t *testing.T) {
	s := newServer(t, soap.Options{})
	client := wsdlclient.NewDSSPortType(gowsdl.NewClient(s.URL+"/soap",
		gowsdl.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token})))

	ref := "urn:example:invoice"
	keyName := "alice-ec"
	resp, err := client.Sign(&xmlwire.SignRequest{
		RequestBase: xmlwire.RequestBase{RequestID: "gowsdl-1", Profile: []string{"urn:dssd:level:B-B"}},
		InputDocuments: &xmlwire.InputDocuments{Document: []xmlwire.Document{{
			DocumentBase: xmlwire.DocumentBase{ID: "doc-1", RefURI: &ref},
			Base64Data:   xmlwire.Base64Data{MimeType: "application/xml", Value: xmlwire.NewBase64([]byte(invoice))},
		}}},
		OptionalInputs: &xmlwire.OptionalInputsSign{KeySelector: []xmlwire.KeySelector{{KeyName: &keyName}}},
	})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if resp.RequestID != "gowsdl-1" || resp.Result.ResultMajor != dss.MajorSuccess || len(resp.SignatureObject) != 1 {
		t.Fatalf("response %+v", resp)
	}
	if got := string(resp.SignatureObject[0].Base64Signature.Value.Bytes); got != "sig:"+invoice {
		t.Errorf("signature value %q", got)
	}
	got := s.svc.LastSign()
	if got == nil || string(got.Documents[0].Data) != invoice || got.Options.CredentialID != keyName {
		t.Fatalf("service got %+v", got)
	}

	vr, err := client.Verify(&xmlwire.VerifyRequest{RequestBase: xmlwire.RequestBase{RequestID: "gowsdl-2"}})
	if err != nil || vr.Result.ResultMajor != dss.MajorSuccess || vr.RequestID != "gowsdl-2" {
		t.Fatalf("Verify: %+v %v", vr, err)
	}
	pr, err := client.RetrievePending(&xmlwire.PendingRequest{RequestBase: xmlwire.RequestBase{RequestID: "async-pending"}})
	if err != nil || pr.Result.ResultMajor != dss.MajorPending {
		t.Fatalf("RetrievePending: %+v %v", pr, err)
	}

	anon := wsdlclient.NewDSSPortType(gowsdl.NewClient(s.URL + "/soap"))
	_, err = anon.Sign(&xmlwire.SignRequest{RequestBase: xmlwire.RequestBase{RequestID: "gowsdl-3"}})
	var he *gowsdl.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("unauthenticated Sign: %v, want HTTP 401", err)
	}
}
