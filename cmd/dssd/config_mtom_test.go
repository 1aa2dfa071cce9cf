package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMTOMConfig: the MTOM limits default as docs/config.md says, follow limits.max_body_bytes,
// reach the SOAP binding, and impossible values are refused with the key named.
func TestMTOMConfig(t *testing.T) {
	dir := fixture(t)
	load := func(name, extra string) (*Config, error) {
		path := filepath.Join(dir, name+".yaml")
		writeFile(t, path, []byte(baseConfig+extra))
		return LoadConfig(path)
	}
	c, err := load("mtom-defaults", "limits: {max_body_bytes: 1048576}\n")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.MaxAttachmentBytes != 4<<30 || l.MaxAttachments != 16 || l.MaxMTOMBytes != 1<<20+4<<30 || l.UploadTimeout.Duration() != time.Hour {
		t.Errorf("defaults %+v", l)
	}
	o := soapOptions(c)
	if o.MaxBody != 1<<20 || o.MaxMTOMBody != l.MaxMTOMBytes || o.MaxAttachmentBytes != 4<<30 || o.MaxAttachments != 16 || o.MaxDocumentBytes != l.MaxDocumentBytes {
		t.Errorf("soap options %+v", o)
	}
	for _, tc := range []struct{ extra, want string }{
		{"limits: {max_attachment_bytes: -1}\n", "limits.max_attachment_bytes: must be positive"},
		{"limits: {max_attachments: -3}\n", "limits.max_attachments: must be positive"},
		{"limits: {max_mtom_bytes: -1}\n", "limits.max_mtom_bytes: must be positive"},
		{"limits: {upload_timeout: 5s}\n", "limits.upload_timeout: must not be shorter than limits.request_timeout"},
	} {
		_, err := load("mtom-bad", tc.extra)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.extra, err, tc.want)
		}
	}
}
