package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims Books reads from a bearer token.
type Claims struct {
	jwt.RegisteredClaims
	Org      string `json:"org"`
	Roles    []Role `json:"roles,omitempty"`
	Customer string `json:"customer,omitempty"`
	// Name and Email are optional, for display (a `me` query); Mint leaves them out.
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Tokens signs and verifies HS256 bearer tokens with a shared secret.
type Tokens struct {
	secret []byte
	issuer string
}

// ErrBadToken is returned for any token that fails verification; the reason is not shown to
// the caller.
var ErrBadToken = errors.New("invalid or expired token")

// NewTokens returns a Tokens with secret, which must be at least 32 bytes.
func NewTokens(secret []byte, issuer string) (*Tokens, error) {
	if len(secret) < 32 {
		return nil, errors.New("JWT secret must be at least 32 bytes")
	}
	return &Tokens{secret: secret, issuer: issuer}, nil
}

// Mint signs a token for subject in org with roles (staff) or customer (portal client).
func (t *Tokens) Mint(subject, org string, roles []Role, customer string, ttl time.Duration) (string, error) {
	if org == "" {
		return "", errors.New("token needs an organization")
	}
	if len(roles) == 0 && customer == "" {
		return "", errors.New("token needs a role or a customer")
	}
	for _, r := range roles {
		if !ValidRole(r) {
			return "", fmt.Errorf("unknown role %q", r)
		}
	}
	now := time.Now()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			Issuer:    t.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Org:      org,
		Roles:    roles,
		Customer: customer,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
}

// Verify checks a token's signature, algorithm, expiry and issuer and returns its principal.
func (t *Tokens) Verify(token string) (*Principal, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(t.issuer),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return nil, ErrBadToken
	}
	roles := make([]string, len(c.Roles))
	for i, r := range c.Roles {
		roles[i] = string(r)
	}
	p, err := bearerPrincipal(c.Subject, c.Org, roles, c.Customer)
	if err != nil {
		return nil, err
	}
	p.Issuer, p.Name, p.Email, p.ExpiresAt = c.Issuer, c.Name, c.Email, c.ExpiresAt.Time
	return p, nil
}

// Issuer returns the iss these tokens carry.
func (t *Tokens) Issuer() string { return t.issuer }
