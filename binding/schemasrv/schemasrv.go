// Package schemasrv serves the embedded XML schemas under GET /schemas/<file>, so that the
// WSDL of GET /soap?wsdl and its imports load over HTTP from the service itself.
package schemasrv

import (
	"bytes"
	"net/http"
	"path"
	"strings"

	"dssd/schemas"
)

// oasisCore is the absolute location under which the DSS-X metadata schema imports the core
// schemas; it is rewritten to the sibling files served here.
const oasisCore = "https://docs.oasis-open.org/dss-x/dss-core/v2.0/cs02/schema/"

// New returns a handler serving every .xsd file of package schemas by its base name, at
// any prefix (mount it at /schemas/).
func New() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := path.Base(r.URL.Path)
		if !strings.HasSuffix(name, ".xsd") || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		b, err := schemas.FS.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if name == schemas.MetadataXSD {
			b = bytes.ReplaceAll(b, []byte(oasisCore), nil)
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b)
	})
}
