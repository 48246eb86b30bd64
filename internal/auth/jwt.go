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
	if err != nil || c.Org == "" || c.Subject == "" {
		return nil, ErrBadToken
	}
	p := &Principal{Kind: KindUser, Subject: c.Subject, Org: c.Org, Expires: c.ExpiresAt.Time}
	if c.Customer != "" {
		// A portal client never carries staff roles, whatever the token says.
		p.Kind, p.Customer = KindPortal, c.Customer
		return p, nil
	}
	for _, r := range c.Roles {
		if ValidRole(r) {
			p.Roles = append(p.Roles, r)
		}
	}
	return p, nil
}
