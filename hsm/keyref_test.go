package hsm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseKeyRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		uri     string
		want    KeyRef
		wantErr string // substring; empty means success
	}{
		{name: "full", uri: "pkcs11:token=dssd-dev;object=alice-rsa;id=%01",
			want: KeyRef{Token: "dssd-dev", Label: "alice-rsa", ID: []byte{1}}},
		{name: "order free", uri: "pkcs11:id=%01%02;object=k;token=t",
			want: KeyRef{Token: "t", Label: "k", ID: []byte{1, 2}}},
		{name: "label only", uri: "pkcs11:object=k", want: KeyRef{Label: "k"}},
		{name: "id only", uri: "pkcs11:id=%DE%ad%be%EF", want: KeyRef{ID: []byte{0xde, 0xad, 0xbe, 0xef}}},
		{name: "id literal bytes", uri: "pkcs11:id=ab", want: KeyRef{ID: []byte("ab")}},
		{name: "scheme case", uri: "PKCS11:object=k", want: KeyRef{Label: "k"}},
		{name: "attribute name case", uri: "pkcs11:Object=k", want: KeyRef{Label: "k"}},
		{name: "percent-encoded label", uri: "pkcs11:object=my%20key%3Bx", want: KeyRef{Label: "my key;x"}},
		{name: "utf-8 label", uri: "pkcs11:object=cl%C3%A9", want: KeyRef{Label: "clé"}},
		{name: "reserved allowed chars", uri: "pkcs11:object=a:b@c=d,e+f(g)", want: KeyRef{Label: "a:b@c=d,e+f(g)"}},
		{name: "type private", uri: "pkcs11:object=k;type=private", want: KeyRef{Label: "k"}},

		{name: "pin-value query", uri: "pkcs11:object=k?pin-value=1234", wantErr: "pin-value"},
		{name: "pin-value query upper", uri: "pkcs11:object=k?module-name=x&PIN-VALUE=1234", wantErr: "pin-value"},
		{name: "pin-value in path", uri: "pkcs11:object=k;pin-value=1234", wantErr: "pin-value"},
		{name: "pin-source query", uri: "pkcs11:object=k?pin-source=file:/x", wantErr: "pin-source"},
		{name: "other query", uri: "pkcs11:object=k?module-path=/lib/x.so", wantErr: "query attributes are not supported"},
		{name: "empty query", uri: "pkcs11:object=k?", wantErr: "query"},
		{name: "wrong scheme", uri: "pkcs12:object=k", wantErr: "scheme"},
		{name: "no scheme", uri: "object=k", wantErr: "scheme"},
		{name: "empty", uri: "", wantErr: "scheme"},
		{name: "no path", uri: "pkcs11:", wantErr: "no path attributes"},
		{name: "token only", uri: "pkcs11:token=t", wantErr: "needs an object label or an id"},
		{name: "unsupported attribute", uri: "pkcs11:object=k;serial=42", wantErr: `unsupported path attribute "serial"`},
		{name: "unknown attribute", uri: "pkcs11:object=k;objekt=x", wantErr: "unsupported path attribute (not an RFC 7512 path attribute)"},
		{name: "type public", uri: "pkcs11:object=k;type=public", wantErr: "type=private"},
		{name: "duplicate", uri: "pkcs11:object=a;object=b", wantErr: "more than once"},
		{name: "duplicate mixed case", uri: "pkcs11:object=a;OBJECT=b", wantErr: "more than once"},
		{name: "no equals", uri: "pkcs11:object", wantErr: "name=value"},
		{name: "trailing semicolon", uri: "pkcs11:object=k;", wantErr: "name=value"},
		{name: "empty value", uri: "pkcs11:object=", wantErr: "empty"},
		{name: "empty id", uri: "pkcs11:object=k;id=", wantErr: "empty"},
		{name: "bad escape", uri: "pkcs11:id=%zz", wantErr: "bad percent escape"},
		{name: "truncated escape", uri: "pkcs11:id=%0", wantErr: "truncated"},
		{name: "space", uri: "pkcs11:object=a b", wantErr: "percent-encoded"},
		{name: "slash", uri: "pkcs11:object=a/b", wantErr: "percent-encoded"},
		{name: "fragment", uri: "pkcs11:object=k#x", wantErr: "fragment"},
		{name: "bad utf-8 label", uri: "pkcs11:object=%FF", wantErr: "UTF-8"},
		{name: "bad utf-8 token", uri: "pkcs11:token=%C3;object=k", wantErr: "UTF-8"},
		{name: "long token", uri: "pkcs11:token=" + strings.Repeat("t", 33) + ";object=k", wantErr: "32 bytes"},
		{name: "too long", uri: "pkcs11:object=" + strings.Repeat("k", maxKeyRefLen), wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKeyRef(tc.uri)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseKeyRef(%q) = %+v, want error containing %q", tc.uri, got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKeyRef(%q) error %q, want it to contain %q", tc.uri, err, tc.wantErr)
				}
				if !got.IsZero() {
					t.Errorf("ParseKeyRef(%q) returned %+v with its error, want the zero KeyRef", tc.uri, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyRef(%q): %v", tc.uri, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseKeyRef(%q) mismatch (-want +got):\n%s", tc.uri, diff)
			}
		})
	}
}

func TestParseKeyRefNeverEchoesSecrets(t *testing.T) {
	t.Parallel()
	const secret = "S3cr3tPIN"
	for _, uri := range []string{
		"pkcs11:object=k?pin-value=" + secret,
		"pkcs11:object=k;pin-value=" + secret,
		"pkcs11:" + secret,
		"pkcs11:object=k;" + secret + "=1",
		"pkcs11:object=k;" + strings.ToLower(secret) + "=1",
		"pkcs11:object=k;x=" + secret + "%zz",
		"pkcs11:object=k;type=" + secret,
	} {
		_, err := ParseKeyRef(uri)
		if err == nil {
			t.Fatalf("ParseKeyRef accepted a hostile uri")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error for a hostile uri repeats the secret: %q", err)
		}
	}
}

func TestKeyRefString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ref  KeyRef
		want string
	}{
		{KeyRef{Token: "dssd-dev", Label: "alice-rsa", ID: []byte{1}}, "pkcs11:token=dssd-dev;object=alice-rsa;id=%01"},
		{KeyRef{Label: "k"}, "pkcs11:object=k"},
		{KeyRef{ID: []byte("ab")}, "pkcs11:id=%61%62"},
		{KeyRef{Label: "my key;x/é"}, "pkcs11:object=my%20key%3Bx%2F%C3%A9"},
		{KeyRef{Token: "t", ID: []byte{0xde, 0xad}}, "pkcs11:token=t;id=%DE%AD"},
		{KeyRef{}, "pkcs11:"},
	}
	for _, tc := range tests {
		if got := tc.ref.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.ref, got, tc.want)
		}
		if tc.ref.IsZero() {
			continue
		}
		back, err := ParseKeyRef(tc.ref.String())
		if err != nil {
			t.Fatalf("ParseKeyRef(%q): %v", tc.ref.String(), err)
		}
		if !back.Equal(tc.ref) {
			t.Errorf("round trip of %+v gave %+v", tc.ref, back)
		}
	}
}

func TestKeyRefValidateAndEqual(t *testing.T) {
	t.Parallel()
	if err := (KeyRef{Token: "t"}).Validate(); err == nil {
		t.Error("Validate accepted a ref without label and id")
	}
	if err := (KeyRef{Label: "\xff"}).Validate(); err == nil {
		t.Error("Validate accepted a non-UTF-8 label")
	}
	if err := (KeyRef{ID: []byte{1}}).Validate(); err != nil {
		t.Errorf("Validate(id only): %v", err)
	}
	a := KeyRef{Token: "t", Label: "l", ID: []byte{1}}
	if !a.Equal(KeyRef{Token: "t", Label: "l", ID: []byte{1}}) {
		t.Error("Equal: identical refs differ")
	}
	if a.Equal(KeyRef{Token: "t", Label: "l", ID: []byte{2}}) {
		t.Error("Equal: different ids are equal")
	}
}

// FuzzParseKeyRef checks that anything accepted has a canonical form that parses back to the
// same KeyRef and is a fixed point of String. Errors are expected; we look for panics and
// round-trip failures.
func FuzzParseKeyRef(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=dssd-dev;object=alice-rsa;id=%01",
		"pkcs11:object=my%20key",
		"pkcs11:id=%DE%AD",
		"pkcs11:object=k?pin-value=1",
		"pkcs11:object=a:b@c=d",
		"pkcs11:object=k;type=private",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		ref, err := ParseKeyRef(uri)
		if err != nil {
			return
		}
		canon := ref.String()
		back, err := ParseKeyRef(canon)
		if err != nil {
			t.Fatalf("canonical form %q of accepted %q does not parse: %v", canon, uri, err)
		}
		if !back.Equal(ref) {
			t.Fatalf("round trip of %q: %+v != %+v", uri, back, ref)
		}
		if back.String() != canon {
			t.Fatalf("String is not stable: %q then %q", canon, back.String())
		}
	})
}
