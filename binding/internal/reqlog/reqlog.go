// Package reqlog writes the one structured log event of each request handled by a binding
// (house-style.md §9). The event carries identifiers, the result and the latency; never
// tokens, documents or whole messages.
package reqlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"
)

// maxClientText bounds client-controlled strings (the DSS RequestID) in the log.
const maxClientText = 128

// Event is filled in by a handler while it serves one request and written once by Log.
type Event struct {
	ID        string // server-generated request id; also the DSS ProblemReference
	Binding   string // "soap12", "soap11", "httpxml"
	Operation string // "sign", "verify", "retrievePending" (empty if unknown)
	RequestID string // the client's DSS RequestID
	User      string // authenticated user, empty if none
	Via       string // "token" or "certificate"
	// Credential is the credential id the request names, when the binding read it: it goes
	// to the audit record of a refusal, not to the log line.
	Credential string
	Status     int    // HTTP status
	Major      string // ResultMajor, empty when no DSS response was sent
	Minor      string
	Fault      string // SOAP fault code, when a fault was sent
	Err        error  // internal cause, for the operator only
	// MTOM: the request was an MTOM message; Attachments and AttachmentBytes count what was
	// read of its attachments.
	MTOM            bool
	Attachments     int
	AttachmentBytes int64
	start           time.Time
}

// Start returns an Event for a request that began at now.
func Start(id, binding string, now time.Time) *Event {
	return &Event{ID: id, Binding: binding, start: now}
}

// maxAttrs is the number of attributes of an event with every field set.
const maxAttrs = 15

// Log writes the event at Info (Warn for 5xx) with its latency measured at now.
func (e *Event) Log(ctx context.Context, l *slog.Logger, now time.Time) {
	if l == nil {
		return
	}
	// Room for every attribute an event can have (maxAttrs), so that the slice stays on the
	// stack instead of growing on the heap.
	attrs := append(make([]slog.Attr, 0, maxAttrs),
		slog.String("id", e.ID),
		slog.String("binding", e.Binding),
		slog.String("operation", e.Operation),
		slog.Int("status", e.Status),
		slog.Float64("latency_ms", float64(now.Sub(e.start).Microseconds())/1000),
	)
	if e.RequestID != "" {
		rid := e.RequestID
		if len(rid) > maxClientText {
			rid = rid[:maxClientText]
		}
		attrs = append(attrs, slog.String("request_id", rid))
	}
	if e.User != "" {
		attrs = append(attrs, slog.String("user", e.User), slog.String("via", e.Via))
	}
	if e.Major != "" {
		attrs = append(attrs, slog.String("result_major", e.Major))
	}
	if e.Minor != "" {
		attrs = append(attrs, slog.String("result_minor", e.Minor))
	}
	if e.Fault != "" {
		attrs = append(attrs, slog.String("fault", e.Fault))
	}
	if e.MTOM {
		attrs = append(attrs, slog.Bool("mtom", true), slog.Int("attachments", e.Attachments),
			slog.Int64("attachment_bytes", e.AttachmentBytes))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	l.LogAttrs(ctx, level, "request", attrs...)
}

// NewID returns a random 16-hex-digit request id from crypto/rand.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
