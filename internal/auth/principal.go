// Package auth identifies callers: staff and portal users by bearer JWT, external systems by
// integration key. It attaches a Principal to the request context; tenancy and role checks
// read it from there.
//
// Bearer tokens come from two issuers (Service.VerifyBearer): Books itself (HS256 with a
// shared secret, minted by `books token` for local use and tests; see Tokens) and, when
// configured, an OpenID Connect provider whose RS256/ES256 access tokens people get by
// signing in (see OIDC and docs/auth.md for the claim mapping).
package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"books/internal/apperr"
	"books/internal/tenant"
)

// Role is a staff role.
type Role string

// Staff roles, from most to least powerful.
const (
	RoleAdmin       Role = "admin"
	RoleFinanceLead Role = "finance_lead"
	RoleAccountant  Role = "accountant"
	RoleViewer      Role = "viewer"
)

// ValidRole reports whether r is a known staff role.
func ValidRole(r Role) bool {
	return slices.Contains([]Role{RoleAdmin, RoleFinanceLead, RoleAccountant, RoleViewer}, r)
}

// Kind says what sort of caller a principal is.
type Kind string

// Principal kinds.
const (
	KindUser           Kind = "user"
	KindPortal         Kind = "portal"
	KindIntegrationKey Kind = "integration_key"
	KindSystem         Kind = "system"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind    Kind
	Subject string // user id, integration key id, or "system"
	Org     string
	Roles   []Role
	// Customer is set for portal clients: the one customer they may see.
	Customer string
	// Entities and SourceSystems scope an integration key.
	Entities      []string
	SourceSystems []string

	// Issuer is the bearer token's iss: the namespace of Subject (Books' own issuer, or the
	// OIDC provider's URL). Empty for integration keys.
	Issuer string
	// Name and Email describe a person when the token carries them (OIDC name or
	// preferred_username, and email); they are for display, never for access decisions.
	Name  string
	Email string
	// ExpiresAt is when the bearer token stops being valid, so a long-lived connection can
	// end with it; zero for integration keys.
	ExpiresAt time.Time
}

// bearerPrincipal is the one rule turning a verified token's claims into a person's
// principal, whichever issuer signed it: a token must name a subject and an organization,
// and either a customer (a portal client, whose staff roles are dropped whatever the token
// says) or at least one known staff role (unknown roles are ignored). Anything else is
// refused rather than becoming a principal with no scope. The error message says what is
// missing: the token's signature was verified, so this tells its holder nothing new.
func bearerPrincipal(subject, org string, roles []string, customer string) (*Principal, error) {
	subject, org, customer = strings.TrimSpace(subject), strings.TrimSpace(org), strings.TrimSpace(customer)
	switch {
	case subject == "":
		return nil, scopeError("the token names no subject")
	case org == "":
		return nil, scopeError("the token names no organization")
	}
	p := &Principal{Kind: KindUser, Subject: subject, Org: org}
	if customer != "" {
		p.Kind, p.Customer = KindPortal, customer
		return p, nil
	}
	for _, r := range roles {
		// Roles compare case-insensitively, so a provider may send the GraphQL enum spelling.
		if role := Role(strings.ToLower(strings.TrimSpace(r))); ValidRole(role) && !slices.Contains(p.Roles, role) {
			p.Roles = append(p.Roles, role)
		}
	}
	if len(p.Roles) == 0 {
		return nil, scopeError("the token grants no known role and names no customer")
	}
	return p, nil
}

// scopeError refuses a genuine token that grants nothing; it is an ErrBadToken with a
// message saying why.
func scopeError(msg string) error {
	return apperr.Wrap(apperr.Unauthenticated, ErrBadToken, "token refused: "+msg)
}

// Expired reports whether p's credential has expired at now. Whatever outlives a single
// request (a WebSocket) checks it again.
func (p *Principal) Expired(now time.Time) bool {
	return p != nil && !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt)
}

// HasAnyRole reports whether p holds one of roles.
func (p *Principal) HasAnyRole(roles ...Role) bool {
	if p == nil || p.Kind != KindUser {
		return false
	}
	for _, r := range p.Roles {
		if slices.Contains(roles, r) {
			return true
		}
	}
	return false
}

// CanMutate reports whether p may change anything: staff above viewer.
func (p *Principal) CanMutate() bool {
	return p.HasAnyRole(RoleAdmin, RoleFinanceLead, RoleAccountant)
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p and scoped to p's organization.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	ctx = tenant.WithOrg(context.WithValue(ctx, ctxKey{}, p), p.Org)
	if p.Kind == KindPortal {
		ctx = tenant.WithPortalCustomer(ctx, p.Customer)
	}
	return ctx
}

// FromContext returns the principal of ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
