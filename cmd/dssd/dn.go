package main

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// dnAttributes maps the attribute names accepted in --subject to their OIDs.
var dnAttributes = map[string]asn1.ObjectIdentifier{
	"CN":                     {2, 5, 4, 3},
	"SN":                     {2, 5, 4, 4},
	"SURNAME":                {2, 5, 4, 4},
	"SERIALNUMBER":           {2, 5, 4, 5},
	"C":                      {2, 5, 4, 6},
	"L":                      {2, 5, 4, 7},
	"ST":                     {2, 5, 4, 8},
	"STREET":                 {2, 5, 4, 9},
	"O":                      {2, 5, 4, 10},
	"OU":                     {2, 5, 4, 11},
	"T":                      {2, 5, 4, 12},
	"TITLE":                  {2, 5, 4, 12},
	"POSTALCODE":             {2, 5, 4, 17},
	"GN":                     {2, 5, 4, 42},
	"GIVENNAME":              {2, 5, 4, 42},
	"DNQUALIFIER":            {2, 5, 4, 46},
	"PSEUDONYM":              {2, 5, 4, 65},
	"ORGANIZATIONIDENTIFIER": {2, 5, 4, 97},
	"UID":                    {0, 9, 2342, 19200300, 100, 1, 1},
	"DC":                     {0, 9, 2342, 19200300, 100, 1, 25},
	"E":                      {1, 2, 840, 113549, 1, 9, 1},
	"EMAILADDRESS":           {1, 2, 840, 113549, 1, 9, 1},
}

var oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
var oidCountry = asn1.ObjectIdentifier{2, 5, 4, 6}
var oidDC = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}

// parseDN parses a distinguished name written as in RFC 4514 ("CN=Alice,O=Example,C=DE": the
// most specific name first, "+" joining the parts of a multi-valued RDN, "\" escaping a
// special character or two hex digits) and returns its DER encoding.
func parseDN(s string) ([]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty")
	}
	var seq pkix.RDNSequence
	var set []pkix.AttributeTypeAndValue
	var cur strings.Builder
	var typ string
	inValue := false
	flush := func(endRDN bool) error {
		if !inValue {
			return fmt.Errorf("%q is not TYPE=VALUE", strings.TrimSpace(cur.String()))
		}
		atv, err := attribute(typ, cur.String())
		if err != nil {
			return err
		}
		set = append(set, atv)
		if endRDN {
			seq = append(seq, set)
			set = nil
		}
		cur.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && inValue:
			if i+1 >= len(s) {
				return nil, errors.New("a trailing backslash")
			}
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b, _ := hex.DecodeString(s[i+1 : i+3])
				cur.Write(b)
				i += 2
			} else {
				cur.WriteByte(s[i+1])
				i++
			}
		case ch == '=' && !inValue:
			typ = strings.TrimSpace(cur.String())
			cur.Reset()
			inValue = true
		case ch == ',' || ch == '+':
			if err := flush(ch == ','); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(ch)
		}
	}
	if err := flush(true); err != nil {
		return nil, err
	}
	// RFC 4514 writes the last RDN of the sequence first.
	for i, j := 0, len(seq)-1; i < j; i, j = i+1, j-1 {
		seq[i], seq[j] = seq[j], seq[i]
	}
	return asn1.Marshal(seq)
}

func attribute(typ, value string) (pkix.AttributeTypeAndValue, error) {
	oid, ok := dnAttributes[strings.ToUpper(typ)]
	if !ok {
		var err error
		if oid, err = parseOID(typ); err != nil {
			return pkix.AttributeTypeAndValue{}, fmt.Errorf("unknown attribute type %q (use CN, O, OU, C, L, ST, SERIALNUMBER, GN, SN, organizationIdentifier, E, ... or a dotted OID)", typ)
		}
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return pkix.AttributeTypeAndValue{}, fmt.Errorf("%s has an empty value", typ)
	}
	atv := pkix.AttributeTypeAndValue{Type: oid, Value: value}
	switch {
	case oid.Equal(oidCountry):
		if len(value) != 2 || strings.ToUpper(value) != value {
			return atv, fmt.Errorf("C=%q: a country is two capital letters (ISO 3166)", value)
		}
	case oid.Equal(oidEmail) || oid.Equal(oidDC):
		atv.Value = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(value)}
	}
	return atv, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("not an OID")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, errors.New("not an OID")
		}
		oid[i] = n
	}
	return oid, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
