package store

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// JoinDigests is how token digests are kept in one column: lower-case hex, comma-separated.
func JoinDigests(ds [][32]byte) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = hex.EncodeToString(d[:])
	}
	return strings.Join(s, ",")
}

// SplitDigests reverses JoinDigests.
func SplitDigests(s string) ([][32]byte, error) {
	if s == "" {
		return nil, nil
	}
	var out [][32]byte
	for _, h := range strings.Split(s, ",") {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("token digest %q is not a hex SHA-256", h)
		}
		out = append(out, [32]byte(b))
	}
	return out, nil
}
