package main

import (
	"cmp"
	"fmt"
	"net/url"
	"time"
)

// Defaults of the timestamp and revocation sections (docs/config.md).
const (
	defaultOCSPTimeout  = Duration(5 * time.Second)
	defaultCRLTimeout   = Duration(10 * time.Second)
	defaultRevMaxAge    = Duration(time.Hour)
	defaultCacheEntries = 1024
	defaultMaxCRLBytes  = 16 << 20
)

// TSAConfig is one timestamp authority of timestamp.authorities.
type TSAConfig struct {
	URL     string   `yaml:"url"`
	CA      string   `yaml:"ca"`      // default timestamp.ca
	Timeout Duration `yaml:"timeout"` // default timestamp.timeout
}

// RevocationConfig configures the OCSP and CRL fetching of XAdES B-LT and above. The
// responders and distribution points come from the certificates themselves.
type RevocationConfig struct {
	Enabled      bool     `yaml:"enabled"`
	CA           string   `yaml:"ca"`            // PEM: CAs trusted for https:// OCSP and CRL URLs (default system roots)
	TrustAnchors []string `yaml:"trust_anchors"` // PEM files: anchors whose own status is never fetched
	OCSPTimeout  Duration `yaml:"ocsp_timeout"`
	CRLTimeout   Duration `yaml:"crl_timeout"`
	MaxAge       Duration `yaml:"max_age"`
	CacheEntries int      `yaml:"cache_entries"`
	MaxCRLBytes  int64    `yaml:"max_crl_bytes"`
}

// authorities returns the configured timestamp authorities in order, with ca and timeout
// defaults applied: the single url, or the authorities list.
func (t *TimestampConfig) authorities() []TSAConfig {
	if t.URL != "" {
		return []TSAConfig{{URL: t.URL, CA: t.CA, Timeout: t.Timeout}}
	}
	out := make([]TSAConfig, len(t.Authorities))
	for i, a := range t.Authorities {
		if a.CA == "" {
			a.CA = t.CA
		}
		if a.Timeout == 0 {
			a.Timeout = t.Timeout
		}
		out[i] = a
	}
	return out
}

func (c *Config) resolveLevelPaths(res func(*string)) {
	res(&c.Timestamp.CA)
	for i := range c.Timestamp.Authorities {
		res(&c.Timestamp.Authorities[i].CA)
	}
	for i := range c.Timestamp.TrustAnchors {
		res(&c.Timestamp.TrustAnchors[i])
	}
	res(&c.Revocation.CA)
	for i := range c.Revocation.TrustAnchors {
		res(&c.Revocation.TrustAnchors[i])
	}
}

func (c *Config) applyLevelDefaults() {
	c.Timestamp.Timeout = cmp.Or(c.Timestamp.Timeout, defaultTSATimeout)
	r := &c.Revocation
	r.OCSPTimeout = cmp.Or(r.OCSPTimeout, defaultOCSPTimeout)
	r.CRLTimeout = cmp.Or(r.CRLTimeout, defaultCRLTimeout)
	r.MaxAge = cmp.Or(r.MaxAge, defaultRevMaxAge)
	r.CacheEntries = cmp.Or(r.CacheEntries, defaultCacheEntries)
	r.MaxCRLBytes = cmp.Or(r.MaxCRLBytes, defaultMaxCRLBytes)
}

// validateLevels checks the timestamp and revocation sections.
func (c *Config) validateLevels(add func(field, format string, a ...any)) {
	t := &c.Timestamp
	checkURL := func(field, u string) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			add(field, "must be an http(s) URL")
		}
	}
	checkCerts := func(field, path string) {
		if path != "" && checkFile(add, field, path) {
			if _, err := readCertificates(path); err != nil {
				add(field, "%v", err)
			}
		}
	}
	if t.URL != "" {
		checkURL("timestamp.url", t.URL)
		if len(t.Authorities) > 0 {
			add("timestamp", "give either url or authorities, not both")
		}
	}
	for i, a := range t.Authorities {
		f := fmt.Sprintf("timestamp.authorities[%d]", i)
		if a.URL == "" {
			add(f+".url", "required")
		} else {
			checkURL(f+".url", a.URL)
		}
		checkCerts(f+".ca", a.CA)
		if a.Timeout < 0 {
			add(f+".timeout", "must be positive")
		}
	}
	checkCerts("timestamp.ca", t.CA)
	if t.Timeout <= 0 {
		add("timestamp.timeout", "must be positive")
	}
	configured := t.URL != "" || len(t.Authorities) > 0
	if configured && len(t.TrustAnchors) == 0 {
		add("timestamp.trust_anchors", "required with a timestamp authority: the CA certificates its TSA certificate must chain to")
	}
	if !configured && len(t.TrustAnchors) > 0 {
		add("timestamp.trust_anchors", "set but no timestamp authority is configured")
	}
	for i, f := range t.TrustAnchors {
		checkCerts(fmt.Sprintf("timestamp.trust_anchors[%d]", i), f)
	}

	r := &c.Revocation
	if !r.Enabled && (r.CA != "" || len(r.TrustAnchors) > 0) {
		add("revocation", "ca or trust_anchors set but revocation.enabled is false")
	}
	checkCerts("revocation.ca", r.CA)
	for i, f := range r.TrustAnchors {
		checkCerts(fmt.Sprintf("revocation.trust_anchors[%d]", i), f)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{{"revocation.ocsp_timeout", r.OCSPTimeout}, {"revocation.crl_timeout", r.CRLTimeout}, {"revocation.max_age", r.MaxAge}} {
		if d.v <= 0 {
			add(d.field, "must be positive")
		}
	}
	if r.CacheEntries < 0 {
		add("revocation.cache_entries", "must be positive")
	}
	if r.MaxCRLBytes < 0 {
		add("revocation.max_crl_bytes", "must be positive")
	}
}
