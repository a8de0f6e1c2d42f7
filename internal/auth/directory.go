package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// File is a users file: the users and tokens that 'sensorhub user' and
// 'sensorhub token' manage, beside those of the configuration.
type File struct {
	Users  []User  `yaml:"users"`
	Tokens []Token `yaml:"tokens"`
}

// LoadFile reads a users file; a file that does not exist is empty.
func LoadFile(path string) (*File, error) {
	f := &File{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return f, nil
}

// Save writes the file atomically, readable by its owner only.
func (f *File) Save(path string) error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append([]byte("# sensorhub users and API tokens: edit with 'sensorhub user' and 'sensorhub token'.\n"), data...)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// User finds a user by name.
func (f *File) User(name string) (*User, bool) {
	for i := range f.Users {
		if f.Users[i].Username == name {
			return &f.Users[i], true
		}
	}
	return nil, false
}

// Directory answers who a login, a session's user or a token is, from the
// configuration's users and the users file, which it reads again when it
// changes: a user removed or a token revoked there stops working within a
// second, without a restart.
type Directory struct {
	inline    []User
	tokens    []Token
	path      string
	customers []string
	log       *slog.Logger

	mu      sync.Mutex
	file    *File
	modTime time.Time
	checked time.Time
}

// NewDirectory makes a directory of the configuration's users and the
// users file at path ("" for none).
func NewDirectory(inline []User, path string, customers []string, log *slog.Logger) (*Directory, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Directory{inline: inline, path: path, customers: customers, log: log, file: &File{}}
	if path != "" {
		if err := d.load(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// SetCustomers makes customers those a user may be given: the users file
// is read again with them at the next look.
func (d *Directory) SetCustomers(customers []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.customers, d.modTime = customers, time.Time{}
}

// SetInline makes users and tokens those of the configuration (and the
// catalog), beside the users file's: a user or token taken out is
// refused from the next request.
func (d *Directory) SetInline(users []User, tokens []Token) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inline, d.tokens = users, tokens
}

func (d *Directory) inlineNow() ([]User, []Token) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inline, d.tokens
}

func (d *Directory) load() error {
	st, err := os.Stat(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		d.file, d.modTime = &File{}, time.Time{}
		return nil
	}
	if err != nil {
		return err
	}
	if st.ModTime().Equal(d.modTime) {
		return nil
	}
	f, err := LoadFile(d.path)
	if err != nil {
		return err
	}
	for i := range f.Users {
		if err := CheckUser(&f.Users[i], d.customers); err != nil {
			return fmt.Errorf("users file %s: user %d: %w", d.path, i+1, err)
		}
	}
	d.file, d.modTime = f, st.ModTime()
	return nil
}

// current is the users file as it is now, read again at most every
// second; a file that became unreadable keeps the last good one.
func (d *Directory) current() *File {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.path != "" && time.Since(d.checked) >= time.Second {
		d.checked = time.Now()
		if err := d.load(); err != nil {
			d.log.Error("users file cannot be read; the users and tokens read before stay", "err", err)
		}
	}
	return d.file
}

// Empty reports whether there are no users at all: the server is then
// open to whoever reaches it, which is allowed on loopback only.
func (d *Directory) Empty() bool {
	users, _ := d.inlineNow()
	return len(users) == 0 && len(d.current().Users) == 0
}

func (d *Directory) user(name string) (*User, bool) {
	users, _ := d.inlineNow()
	for i := range users {
		if users[i].Username == name {
			return &users[i], true
		}
	}
	return d.current().User(name)
}

// dummyHash is compared against when the user does not exist, so that a
// wrong name takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("sensorhub-no-such-user"), bcrypt.DefaultCost)

// ErrLogin is a wrong username or password.
var ErrLogin = errors.New("wrong username or password")

// Login checks a username and password.
func (d *Directory) Login(name, password string) (*Principal, error) {
	u, ok := d.user(name)
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, ErrLogin
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, ErrLogin
	}
	return principal(u), nil
}

// User is the principal of a logged-in user, as the directory has it now;
// false once the user is gone.
func (d *Directory) User(name string) (*Principal, bool) {
	u, ok := d.user(name)
	if !ok {
		return nil, false
	}
	return principal(u), true
}

// Token is the principal of a token's secret; false for an unknown or
// revoked token, or one whose user is gone.
func (d *Directory) Token(secret string) (*Principal, bool) {
	id, ok := tokenID(secret)
	if !ok {
		return nil, false
	}
	_, inline := d.inlineNow()
	for _, t := range append(slices.Clone(inline), d.current().Tokens...) {
		if t.ID != id || !matches(&t, secret) {
			continue
		}
		if t.Customer != "" {
			return &Principal{Name: "token " + t.ID, Customers: []string{t.Customer}, IngestOnly: true, Token: t.ID}, true
		}
		p, ok := d.User(t.User)
		if !ok {
			return nil, false
		}
		p.Token = t.ID
		return p, true
	}
	return nil, false
}
