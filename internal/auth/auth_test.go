package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sensorhub/sensorhub/internal/auth"
)

func hash(t *testing.T, pw string) string {
	t.Helper()
	// The lowest cost: these tests are about who, not about bcrypt.
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestUserCheckNamesEachProblem: every problem of a user is reported, each
// naming its setting.
func TestUserCheckNamesEachProblem(t *testing.T) {
	u := auth.User{Username: "a b", PasswordHash: "plain", Role: "boss", Customers: []string{"nobody"}}
	err := auth.CheckUser(&u, []string{"finemeca"})
	if err == nil {
		t.Fatal("a user with every setting wrong passed the check")
	}
	for _, want := range []string{`username "a b"`, "password_hash: not a bcrypt hash", `role "boss"`, `"nobody" is not one of the configured customers`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
	viewer := auth.User{Username: "v", PasswordHash: hash(t, "secret-pw"), Role: auth.RoleViewer}
	if err := auth.CheckUser(&viewer, []string{"finemeca"}); err == nil || !strings.Contains(err.Error(), "a viewer needs the customers") {
		t.Errorf("a viewer without customers: %v", err)
	}
	viewer.Customers = []string{"finemeca"}
	if err := auth.CheckUser(&viewer, []string{"finemeca"}); err != nil {
		t.Errorf("a good viewer: %v", err)
	}
	if _, err := auth.HashPassword("short"); err == nil {
		t.Error("a 5-character password was hashed")
	}
}

// TestPrincipals: what each role may see and do; an operator given
// customers sees those only.
func TestPrincipals(t *testing.T) {
	dir, err := auth.NewDirectory([]auth.User{
		{Username: "root", PasswordHash: hash(t, "root-password"), Role: auth.RoleAdmin},
		{Username: "op", PasswordHash: hash(t, "op-password"), Role: auth.RoleOperator},
		{Username: "plant", PasswordHash: hash(t, "plant-password"), Role: auth.RoleOperator, Customers: []string{"finemeca"}},
		{Username: "alice", PasswordHash: hash(t, "alice-password"), Role: auth.RoleViewer, Customers: []string{"finemeca"}},
	}, "", []string{"finemeca", "acme"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, pw       string
		seesAcme, acts bool
		all            bool
	}{
		{"root", "root-password", true, true, true},
		{"op", "op-password", true, true, true},
		{"plant", "plant-password", false, true, false}, // a plant's own staff
		{"alice", "alice-password", false, false, false},
	} {
		p, err := dir.Login(c.user, c.pw)
		if err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		if p.Sees("acme") != c.seesAcme || p.Acts() != c.acts || p.All() != c.all || !p.Sees("finemeca") {
			t.Errorf("%s: sees acme %v, acts %v, all %v", c.user, p.Sees("acme"), p.Acts(), p.All())
		}
	}
	if _, err := dir.Login("alice", "root-password"); !errors.Is(err, auth.ErrLogin) {
		t.Errorf("a wrong password: %v", err)
	}
	if _, err := dir.Login("mallory", "whatever"); !errors.Is(err, auth.ErrLogin) {
		t.Errorf("an unknown user: %v", err)
	}
	if dir.Empty() {
		t.Error("a directory with three users says it is empty")
	}
}

// TestUsersFileAndTokens: users and tokens of the users file; a token of a
// user acts as the user, an ingest token only ingests its customer's
// messages; a revoked token, a removed user's token and a forged secret
// are refused, without a restart.
func TestUsersFileAndTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	userSecret, userTok, err := auth.NewToken("alice", "", "script", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ingestSecret, ingestTok, _ := auth.NewToken("", "finemeca", "gateway", time.Now())
	if !strings.HasPrefix(userSecret, "shk_"+userTok.ID+"_") || strings.Contains(userTok.Hash, userSecret) {
		t.Fatalf("secret %q, token %+v: the secret starts with shk_<id>_ and is kept only as a hash", userSecret, userTok)
	}
	f := &auth.File{Users: []auth.User{{Username: "alice", PasswordHash: hash(t, "alice-password"), Role: auth.RoleViewer, Customers: []string{"finemeca"}}},
		Tokens: []auth.Token{userTok, ingestTok}}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("the users file is %v, want readable by its owner only", st.Mode().Perm())
	}
	dir, err := auth.NewDirectory(nil, path, []string{"finemeca"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := dir.Token(userSecret)
	if !ok || p.Name != "alice" || p.Token != userTok.ID || p.Sees("acme") || p.IngestOnly {
		t.Fatalf("alice's token: %+v %v", p, ok)
	}
	p, ok = dir.Token(ingestSecret)
	if !ok || !p.IngestOnly || p.Sees("finemeca") || p.Acts() || p.Customers[0] != "finemeca" {
		t.Fatalf("the ingest token: %+v %v, want ingest only, for finemeca, seeing nothing", p, ok)
	}
	forged := "shk_" + userTok.ID + "_" + strings.Repeat("A", 32)
	for _, s := range []string{forged, "", "shk_", "Bearer " + userSecret, ingestSecret + "x"} {
		if _, ok := dir.Token(s); ok {
			t.Errorf("the secret %q was taken", s)
		}
	}

	// Revoke the ingest token and remove alice: both stop within a second
	// or so, read from the file again.
	f.Tokens = f.Tokens[:1]
	f.Users = nil
	time.Sleep(10 * time.Millisecond) // a new modification time
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, a := dir.Token(userSecret)
		_, b := dir.Token(ingestSecret)
		_, c := dir.User("alice")
		if !a && !b && !c {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := dir.Token(ingestSecret); ok {
		t.Error("a revoked token still works")
	}
	if _, ok := dir.Token(userSecret); ok {
		t.Error("the token of a removed user still works")
	}
	if _, ok := dir.User("alice"); ok {
		t.Error("a removed user still has a session principal")
	}

	// A broken users file stops start-up with an error naming it.
	if err := os.WriteFile(path, []byte("users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewDirectory(nil, path, nil, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("opening a broken users file: %v, want an error naming it", err)
	}
}

// TestLoginLimitPerAddress: an address has PerMinute attempts; another
// address is not held up by it.
func TestLoginLimitPerAddress(t *testing.T) {
	l := &auth.AddressLimits{PerMinute: 3}
	for i := range 3 {
		if !l.Allow("192.0.2.1") {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if !l.Exhausted("192.0.2.1") || l.Allow("192.0.2.1") {
		t.Error("a fourth attempt within the minute was allowed")
	}
	if l.Exhausted("192.0.2.2") || !l.Allow("192.0.2.2") {
		t.Error("another address was held up")
	}
}
