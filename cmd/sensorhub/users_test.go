package main

import (
	"os"
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

// TestUsersFileFromAFreshConfig: the configuration sensorhub config
// prints has no users file; user add with it says what to add, and once
// added, works. A token is printed on a line of its own.
func TestUsersFileFromAFreshConfig(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sensorhub.yaml")
	out, err := exec.Command(binary, "config").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	add := exec.Command(binary, "user", "add", "jean", "--role", "admin", "--config", cfgFile)
	add.Stdin = strings.NewReader("jean-password\n")
	msg, err := add.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), cfgFile+" has no auth.users_file") || !strings.Contains(string(msg), "    users_file: ") {
		t.Fatalf("user add with a configuration without users file: %v\n%s", err, msg)
	}
	users := filepath.Join(dir, "users.yaml")
	fixed := strings.Replace(string(out), "\nauth:\n", "\nauth:\n  users_file: "+users+"\n", 1)
	if fixed == string(out) {
		t.Fatalf("no auth: key in the printed configuration:\n%s", out)
	}
	if err := os.WriteFile(cfgFile, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	add = exec.Command(binary, "user", "add", "jean", "--role", "admin", "--config", cfgFile)
	add.Stdin = strings.NewReader("jean-password\n")
	if msg, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add once auth.users_file is set: %v\n%s", err, msg)
	}
	token, err := exec.Command(binary, "token", "add", "--user", "jean", "--config", cfgFile).Output()
	if err != nil || !strings.HasPrefix(string(token), "shk_") || !strings.HasSuffix(string(token), "\n") || strings.Count(string(token), "\n") != 1 {
		t.Fatalf("token add printed %q (%v), want the token and a newline", token, err)
	}
}
