// Package auth says who may see and do what in sensorhub's web server and
// API: users with a role and, for viewers, the customers they may see; and
// API tokens, each a user's or bound to one customer for ingest only.
// Passwords are kept as bcrypt hashes and tokens as SHA-256 hashes.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sensorhub/sensorhub/internal/config"
)

// The roles.
const (
	// RoleAdmin sees and does everything, for every customer.
	RoleAdmin = "admin"
	// RoleOperator sees every customer and acknowledges alerts and replays
	// messages, but changes no configuration.
	RoleOperator = "operator"
	// RoleViewer sees its customers' data and changes nothing.
	RoleViewer = "viewer"
)

// Roles are the roles, most powerful first.
var Roles = []string{RoleAdmin, RoleOperator, RoleViewer}

// User is a login of the web server and API.
type User = config.User

// Token is an API token, kept as the hash of its secret.
type Token = config.Token

// Principal is who makes a request.
type Principal struct {
	Name string
	Role string
	// Customers are the customers it may see; nil means all.
	Customers []string
	// IngestOnly is an ingest token's: it may only POST messages of
	// Customers[0].
	IngestOnly bool
	// Token is the ID of the token used, if any.
	Token string
}

// Open is the principal of a server without users: everything is allowed
// (it listens on loopback only).
var Open = &Principal{Name: "local", Role: RoleAdmin}

// Sees reports whether p may see customer's data.
func (p *Principal) Sees(customer string) bool {
	return !p.IngestOnly && (p.Customers == nil || slices.Contains(p.Customers, customer))
}

// All reports whether p sees every customer.
func (p *Principal) All() bool { return !p.IngestOnly && p.Customers == nil }

// Acts reports whether p may change things: acknowledge alerts, replay
// messages, ingest for any customer.
func (p *Principal) Acts() bool {
	return !p.IngestOnly && (p.Role == RoleAdmin || p.Role == RoleOperator)
}

// principal is the principal of a user.
func principal(u *User) *Principal {
	p := &Principal{Name: u.Username, Role: u.Role}
	// An operator given customers is a plant's own staff: it sees and
	// acts on those customers only.
	if u.Role == RoleViewer || u.Role == RoleOperator && len(u.Customers) > 0 {
		p.Customers = append([]string{}, u.Customers...)
	}
	return p
}

// CheckUser reports what is wrong with a user, naming the setting; its
// customers are checked against customers unless that is nil.
func CheckUser(u *User, customers []string) error {
	var errs []error
	if u.Username == "" || strings.ContainsAny(u.Username, " \t:/") {
		errs = append(errs, fmt.Errorf("username %q: empty, or holds a space, ':' or '/'", u.Username))
	}
	if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
		errs = append(errs, fmt.Errorf("password_hash: not a bcrypt hash (sensorhub user add or hash-password makes one): %v", err))
	}
	if !slices.Contains(Roles, u.Role) {
		errs = append(errs, fmt.Errorf("role %q is not one of %s", u.Role, strings.Join(Roles, ", ")))
	}
	if u.Role == RoleViewer && len(u.Customers) == 0 {
		errs = append(errs, errors.New("customers: a viewer needs the customers it may see"))
	}
	for _, c := range u.Customers {
		if customers != nil && !slices.Contains(customers, c) {
			errs = append(errs, fmt.Errorf("customers: %q is not one of the configured customers %v", c, customers))
		}
	}
	return errors.Join(errs...)
}

// HashPassword makes the bcrypt hash of a password.
func HashPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", errors.New("a password has at least 8 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// NewToken makes a token: the secret to give once, and the Token to keep.
// The secret is "shk_<id>_<random>".
func NewToken(user, customer, note string, now time.Time) (secret string, t Token, err error) {
	id := make([]byte, 6)
	key := make([]byte, 24)
	if _, err := rand.Read(id); err != nil {
		return "", t, err
	}
	if _, err := rand.Read(key); err != nil {
		return "", t, err
	}
	t = Token{ID: hex.EncodeToString(id), User: user, Customer: customer, Created: now.UTC(), Note: note}
	secret = "shk_" + t.ID + "_" + base64.RawURLEncoding.EncodeToString(key)
	t.Hash = hashToken(secret)
	return secret, t, nil
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// tokenID reads the ID part of a token's secret.
func tokenID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, "shk_")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "_")
	return id, ok
}

// matches reports whether secret is t's, in constant time.
func matches(t *Token, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hashToken(secret))) == 1
}
