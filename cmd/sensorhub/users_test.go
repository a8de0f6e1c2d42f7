package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/auth"
	"golang.org/x/crypto/bcrypt"
)

// TestUserAndTokenCommands manages a users file as an operator would:
// the password never on the command line, hashes in the file, a token
// shown once and revoked by its ID, a removed user's tokens gone with it.
func TestUserAndTokenCommands(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.yaml")
	run := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(binary, append(args, "--file", file)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	if _, err := run("alice-password\n", "user", "add", "alice", "--role", "viewer", "--customers", "finemeca"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("short\n", "user", "add", "bob", "--role", "admin"); err == nil {
		t.Error("a password of 5 characters was accepted")
	}
	if _, err := run("x-password\n", "user", "add", "carol", "--role", "viewer"); err == nil {
		t.Error("a viewer without customers was accepted")
	}
	secret, err := run("", "token", "add", "--user", "alice", "--note", "script")
	if err != nil || !strings.HasPrefix(secret, "shk_") {
		t.Fatalf("token add: %q %v", secret, err)
	}
	f, err := auth.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Users) != 1 || len(f.Tokens) != 1 || strings.Contains(f.Users[0].PasswordHash, "alice-password") || strings.Contains(f.Tokens[0].Hash, secret) {
		t.Fatalf("users file: %+v", f)
	}
	dir, err := auth.NewDirectory(nil, file, []string{"finemeca"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := dir.Login("alice", "alice-password"); err != nil || p.Role != auth.RoleViewer || !p.Sees("finemeca") || p.Sees("acme") {
		t.Fatalf("login: %+v %v", p, err)
	}
	if p, ok := dir.Token(secret); !ok || p.Name != "alice" {
		t.Fatalf("token: %+v %v", p, ok)
	}
	if _, err := run("new-password\n", "user", "passwd", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", "token", "revoke", f.Tokens[0].ID); err != nil {
		t.Fatal(err)
	}
	if out, err := run("", "token", "list"); err != nil || strings.Contains(out, f.Tokens[0].ID) {
		t.Errorf("token list after revoke: %q %v", out, err)
	}
	f, _ = auth.LoadFile(file)
	if len(f.Tokens) != 0 {
		t.Errorf("tokens after revoke: %+v", f.Tokens)
	}
	run("", "token", "add", "--user", "alice")
	if _, err := run("", "user", "del", "alice"); err != nil {
		t.Fatal(err)
	}
	f, _ = auth.LoadFile(file)
	if len(f.Users) != 0 || len(f.Tokens) != 0 {
		t.Errorf("after user del: %+v", f)
	}
}

// TestHashPassword: the printed hash is a bcrypt hash of the password
// given on standard input; a short one is refused.
func TestHashPassword(t *testing.T) {
	cmd := exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader("gw-password\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(string(out))), []byte("gw-password")); err != nil {
		t.Errorf("hash %q: %v", out, err)
	}
	cmd = exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader("short\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "at least 8 characters") {
		t.Errorf("a short password: %v %s", err, out)
	}
}

// TestHelpOfTheUserCommands: asking for help prints the usage and
// succeeds, without a users file.
func TestHelpOfTheUserCommands(t *testing.T) {
	for _, args := range [][]string{{"user", "--help"}, {"token", "-h"}, {"user"}, {"hash-password", "--help"}} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil {
			t.Errorf("sensorhub %s: %v: %s", strings.Join(args, " "), err, out)
			continue
		}
		if !strings.Contains(strings.ToLower(string(out)), "usage") {
			t.Errorf("sensorhub %s printed no usage: %s", strings.Join(args, " "), out)
		}
	}
}
