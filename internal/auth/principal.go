// Package auth identifies callers: staff and portal users by bearer JWT, external systems by
// integration key. It attaches a Principal to the request context; tenancy and role checks
// read it from there.
package auth

import (
	"context"
	"slices"
	"time"

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
	// Expires is when the credential stops being valid: a bearer token's exp. Zero for
	// integration keys, whose revocation is looked up instead. Whatever outlives a single
	// request (a WebSocket) checks it again.
	Expires time.Time
}

// Expired reports whether p's credential has expired at now.
func (p *Principal) Expired(now time.Time) bool {
	return p != nil && !p.Expires.IsZero() && !now.Before(p.Expires)
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
