// Package pemcerts decodes the certificates of a PEM file for the commands (dssd's
// configuration and credential registry, the development environment).
package pemcerts

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// ReadFile returns the certificates of the CERTIFICATE blocks of the file at path, in order,
// skipping other blocks; it may return none. A certificate that does not parse is an error
// that names path.
func ReadFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(data, nil, func(_ int, err error) error { return fmt.Errorf("%s: %w", path, err) })
}

// Decode returns the certificates of the CERTIFICATE blocks of data, in order; it may return
// none. A block of another type is skipped when other is nil, else decoding stops with
// other(type). A certificate that does not parse stops it with bad(n, err), n counting the
// certificates from 1.
func Decode(data []byte, other func(blockType string) error, bad func(n int, err error) error) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return certs, nil
		}
		if b.Type != "CERTIFICATE" {
			if other == nil {
				continue
			}
			return nil, other(b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, bad(len(certs)+1, err)
		}
		certs = append(certs, c)
	}
}
