package softhsm

import (
	"slices"
	"strings"
	"testing"
)

const showSlots = `Available slots:
Slot 1854675485
    Slot info:
        Description:      SoftHSM slot ID 0x6e8c1a1d
        Token present:    yes
    Token info:
        Serial number:    4ea0f80eee8c1a1d
        Initialized:      yes
        User PIN init.:   yes
        Label:            t one                           
Slot 1
    Slot info:
        Description:      SoftHSM slot ID 0x1
    Token info:
        Initialized:      no
        User PIN init.:   no
        Label:                                            
Slot 1 has a free/uninitialized token.
`

func TestParseLabels(t *testing.T) {
	t.Parallel()
	if got, want := parseLabels([]byte(showSlots)), []string{"t one"}; !slices.Equal(got, want) {
		t.Fatalf("parseLabels = %q, want %q", got, want)
	}
	if got := parseLabels(nil); len(got) != 0 {
		t.Fatalf("parseLabels(nil) = %q", got)
	}
}

func TestConf(t *testing.T) {
	t.Parallel()
	c := Conf("/x/tokens")
	for _, want := range []string{"directories.tokendir = /x/tokens\n", "objectstore.backend = file\n", "log.level = ERROR\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("Conf lacks %q:\n%s", want, c)
		}
	}
}

func TestInitRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, args := range map[string][4]string{
		"empty label":      {dir, "", "12345678", "1234"},
		"long label":       {dir, strings.Repeat("x", 33), "12345678", "1234"},
		"padded label":     {dir, "x ", "12345678", "1234"},
		"short user PIN":   {dir, "x", "12345678", "123"},
		"empty SO PIN":     {dir, "x", "", "1234"},
		"newline in label": {dir, "a\nb", "12345678", "1234"},
	} {
		if _, err := Init(args[0], args[1], args[2], args[3]); err == nil {
			t.Errorf("%s: Init succeeded", name)
		} else if strings.Contains(err.Error(), "12345678") {
			t.Errorf("%s: error repeats the SO PIN: %v", name, err)
		}
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	tok := &Token{Conf: "/x/softhsm2.conf"}
	if got := tok.Env(); !slices.Equal(got, []string{"SOFTHSM2_CONF=/x/softhsm2.conf"}) {
		t.Fatalf("Env = %q", got)
	}
}
