package authn

import (
	"crypto/sha256"
	"net/http/httptest"
	"sync"
	"testing"

	"dssd/dss"
)

// TestSetUsers: a new user list replaces the old one at once; requests running meanwhile see
// one list or the other.
func TestSetUsers(t *testing.T) {
	old, fresh := sha256.Sum256([]byte("old-token")), sha256.Sum256([]byte("new-token"))
	a := New([]User{{Name: "alice", TokenSHA256: [][32]byte{old}}})
	who := func(tok string) (string, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		c, err := a.Authenticate(r)
		return c.User, err
	}
	if u, err := who("old-token"); err != nil || u != "alice" {
		t.Fatalf("old token: %q, %v", u, err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // concurrent readers while the list changes (run with -race)
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = who("new-token")
			}
		}
	}()
	a.SetUsers([]User{{Name: "carol", TokenSHA256: [][32]byte{fresh}}, {Name: ""}})
	close(stop)
	wg.Wait()
	if _, err := who("old-token"); dss.KindOf(err) != dss.KindNotAuthenticated {
		t.Errorf("removed user's token: %v", err)
	}
	if u, err := who("new-token"); err != nil || u != "carol" {
		t.Errorf("new token: %q, %v", u, err)
	}
	a.SetUsers(nil)
	if _, err := who("new-token"); dss.KindOf(err) != dss.KindNotAuthenticated {
		t.Errorf("empty list: %v", err)
	}
}
