package schemas

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
)

// Every schemaLocation in the embedded files names a file that is embedded too (the
// metadata schema's absolute imports are rewritten when served).
func TestLocationsResolve(t *testing.T) {
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				t.Errorf("%s is not well-formed: %v", p, err)
				return nil
			}
			se, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			for _, a := range se.Attr {
				if a.Name.Local != "schemaLocation" {
					continue
				}
				loc := strings.TrimPrefix(a.Value, "https://docs.oasis-open.org/dss-x/dss-core/v2.0/cs02/schema/")
				if _, err := FS.ReadFile(loc); err != nil {
					t.Errorf("%s: schemaLocation %q is not embedded", p, a.Value)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{CoreXSD, PendingXSD, MetadataXSD, WSDL} {
		if _, err := FS.ReadFile(n); err != nil {
			t.Errorf("%s not embedded", n)
		}
	}
}
