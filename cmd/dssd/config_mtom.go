package main

import (
	"cmp"
	"net/http"
	"time"

	"dssd/binding/guard"
	"dssd/binding/soap"
)

// MTOM defaults (docs/config.md, docs/decisions.md). A document signed detached is streamed
// into its digest, so these bound time on the connection, not memory.
const (
	defaultMaxAttachmentBytes = soap.DefaultMaxAttachmentBytes // 4 GiB
	defaultMaxAttachments     = soap.DefaultMaxAttachments     // 16
	defaultUploadTimeout      = Duration(time.Hour)
)

func (c *Config) mtomDefaults() {
	l := &c.Limits
	l.MaxAttachmentBytes = cmp.Or(l.MaxAttachmentBytes, defaultMaxAttachmentBytes)
	l.MaxAttachments = cmp.Or(l.MaxAttachments, defaultMaxAttachments)
	l.MaxMTOMBytes = cmp.Or(l.MaxMTOMBytes, l.MaxBodyBytes+l.MaxAttachmentBytes)
	l.UploadTimeout = cmp.Or(l.UploadTimeout, defaultUploadTimeout)
}

func (c *Config) validateMTOM(add func(field, format string, a ...any)) {
	l := c.Limits
	if l.MaxAttachmentBytes < 0 {
		add("limits.max_attachment_bytes", "must be positive")
	}
	if l.MaxAttachments < 0 {
		add("limits.max_attachments", "must be positive")
	}
	if l.MaxMTOMBytes < 0 {
		add("limits.max_mtom_bytes", "must be positive")
	}
	if l.UploadTimeout < 0 {
		add("limits.upload_timeout", "must be positive")
	}
	if l.UploadTimeout > 0 && l.UploadTimeout < l.RequestTimeout {
		add("limits.upload_timeout", "must not be shorter than limits.request_timeout")
	}
}

// soapOptions are the SOAP binding's limits from the configuration.
func soapOptions(cfg *Config) soap.Options {
	return soap.Options{
		MaxBody: cfg.Limits.MaxBodyBytes, MaxNodes: cfg.Limits.MaxEnvelopeNodes, MaxDocumentBytes: cfg.Limits.MaxDocumentBytes,
		MaxAttachmentBytes: cfg.Limits.MaxAttachmentBytes, MaxAttachments: cfg.Limits.MaxAttachments,
		MaxMTOMBody: cfg.Limits.MaxMTOMBytes,
	}
}

// uploads serves MTOM requests (soap.IsMTOM) through long with limits.upload_timeout, the
// others through short: the connection deadlines of an MTOM request are lengthened only when
// the binding asks for it (guard.Extend), after the caller is authenticated, so a stranger
// gets no more time than any other request.
func uploads(short, long http.Handler, upload time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !soap.IsMTOM(r) {
			short.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		ctx := guard.WithExtend(r.Context(), func() {
			d := time.Now().Add(upload)
			_ = rc.SetReadDeadline(d)
			_ = rc.SetWriteDeadline(d.Add(5 * time.Second))
		})
		long.ServeHTTP(w, r.WithContext(ctx))
	})
}
