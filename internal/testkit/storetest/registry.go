package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"dssd/dss/store"
)

// Registry is the credential and user registry's part of the suite: create, read, update
// with version checks, the registry version moving with every change (and only then), a
// second handle seeing the first one's changes, and concurrent updates of one record from
// several handles (exactly one wins per version).
func Registry(t *testing.T, nb NewBackend) {
	t.Run("Credentials", func(t *testing.T) { testRegistryCredentials(t, nb(t)) })
	t.Run("Users", func(t *testing.T) { testRegistryUsers(t, nb(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testRegistryConcurrent(t, nb(t)) })
}

func registry(t *testing.T, b Backend) store.Registry { return openAs[store.Registry](t, b) }

// openAs opens a store without an audit key as the interface T (a part of the suite).
func openAs[T any](t *testing.T, b Backend) T {
	t.Helper()
	s := open(t, b, nil)
	v, ok := s.(T)
	if !ok {
		t.Fatalf("%T does not implement %v", s, reflect.TypeFor[T]())
	}
	return v
}

func testRegistryCredentials(t *testing.T, b Backend) {
	ctx := context.Background()
	s, other := registry(t, b), registry(t, b)
	v0, err := s.RegistryVersion(ctx)
	if err != nil || v0 != 0 {
		t.Fatalf("fresh registry version %d, %v", v0, err)
	}
	rec := store.CredentialRecord{ID: "c1", Owner: "alice", KeyType: "EC-P256", SCAL: 1,
		KeyRef: "pkcs11:object=c1;id=%01", State: store.CredentialPending}
	v1, err := s.CreateCredential(ctx, rec)
	if err != nil || v1 != 1 {
		t.Fatalf("create: version %d, %v", v1, err)
	}
	if _, err := other.CreateCredential(ctx, rec); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create of c1: %v, want ErrExists", err)
	}
	if v, _ := other.RegistryVersion(ctx); v != 1 {
		t.Fatalf("registry version after a refused create %d, want 1", v)
	}
	got, err := other.Credentials(ctx)
	if err != nil || len(got) != 1 || got[0].ID != "c1" || got[0].State != store.CredentialPending || got[0].Version != 1 ||
		got[0].KeyRef != rec.KeyRef || got[0].Created.IsZero() || len(got[0].Chain) != 0 {
		t.Fatalf("read back %+v, %v", got, err)
	}
	upd := got[0]
	upd.Chain, upd.State, upd.PendingKeyRef = []byte("-----BEGIN CERTIFICATE-----"), store.CredentialEnabled, "pkcs11:id=%02"
	v2, err := other.UpdateCredential(ctx, upd)
	if err != nil || v2 != 2 {
		t.Fatalf("update: %d, %v", v2, err)
	}
	// The stale version is refused.
	upd.State = store.CredentialDisabled
	if _, err := s.UpdateCredential(ctx, upd); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	upd.ID = "nope"
	if _, err := s.UpdateCredential(ctx, upd); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of an unknown id: %v, want ErrNotFound", err)
	}
	got, _ = s.Credentials(ctx)
	if len(got) != 1 || got[0].State != store.CredentialEnabled || string(got[0].Chain) != "-----BEGIN CERTIFICATE-----" ||
		got[0].PendingKeyRef != "pkcs11:id=%02" || got[0].Version != 2 {
		t.Fatalf("after update %+v", got)
	}
	if v, _ := s.RegistryVersion(ctx); v != 2 {
		t.Fatalf("registry version %d, want 2", v)
	}
}

func testRegistryUsers(t *testing.T, b Backend) {
	ctx := context.Background()
	s := registry(t, b)
	tok := sha256.Sum256([]byte("token"))
	if _, err := s.CreateUser(ctx, store.UserRecord{Name: "carol", TokenSHA256: [][32]byte{tok}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, store.UserRecord{Name: "carol"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second carol: %v", err)
	}
	us, err := s.Users(ctx)
	if err != nil || len(us) != 1 || len(us[0].TokenSHA256) != 1 || us[0].TokenSHA256[0] != tok || us[0].Disabled {
		t.Fatalf("users %+v, %v", us, err)
	}
	u := us[0]
	tok2 := sha256.Sum256([]byte("token 2"))
	u.TokenSHA256, u.Disabled, u.PasswordHash = append(u.TokenSHA256, tok2), true, "$argon2id$x"
	if _, err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	us, _ = s.Users(ctx)
	if len(us[0].TokenSHA256) != 2 || us[0].TokenSHA256[1] != tok2 || !us[0].Disabled || us[0].PasswordHash != "$argon2id$x" {
		t.Fatalf("after update %+v", us[0])
	}
	if _, err := s.UpdateUser(ctx, u); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale user update: %v", err)
	}
}

func testRegistryConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	const handles, rounds = 4, 5
	var rs []store.Registry
	for range handles {
		rs = append(rs, registry(t, b))
	}
	if _, err := rs[0].CreateUser(ctx, store.UserRecord{Name: "dave"}); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		us, err := rs[0].Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wins := make([]error, handles)
		for i, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := us[0]
				u.PasswordHash = fmt.Sprintf("round %d handle %d", round, i)
				_, wins[i] = r.UpdateUser(ctx, u)
			}()
		}
		wg.Wait()
		var ok int
		for _, err := range wins {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d updates of one version succeeded, want 1", round, ok)
		}
	}
	if v, _ := rs[1].RegistryVersion(ctx); v != 1+rounds {
		t.Fatalf("registry version %d, want %d", v, 1+rounds)
	}
}
