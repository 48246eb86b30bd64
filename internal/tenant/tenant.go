// Package tenant carries the organization a request acts for. The ent schema's interceptors
// and hooks read it to scope every query and write to one organization, so no resolver or
// handler has to remember to filter.
package tenant

import (
	"context"
	"errors"
)

type ctxKey int

const (
	orgKey ctxKey = iota
	systemKey
	portalKey
)

// ErrMissing is returned when data is touched without an organization in the context.
var ErrMissing = errors.New("tenant: no organization in context")

// WithOrg returns a context scoped to organization org.
func WithOrg(ctx context.Context, org string) context.Context {
	return context.WithValue(ctx, orgKey, org)
}

// Org returns the organization of ctx.
func Org(ctx context.Context) (string, bool) {
	org, ok := ctx.Value(orgKey).(string)
	return org, ok && org != ""
}

// System returns a context that may read and write every organization. Only process-level
// work uses it: migrations, seeding, authentication lookups before the tenant is known.
func System(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey, true)
}

// IsSystem reports whether ctx was made by System.
func IsSystem(ctx context.Context) bool {
	v, _ := ctx.Value(systemKey).(bool)
	return v
}

// WithPortalCustomer returns ctx narrowed to what the portal client of customer may see:
// that customer's own records and nothing else of the organization.
func WithPortalCustomer(ctx context.Context, customer string) context.Context {
	return context.WithValue(ctx, portalKey, customer)
}

// PortalCustomer returns the customer a portal request is bound to, or "".
func PortalCustomer(ctx context.Context) string {
	c, _ := ctx.Value(portalKey).(string)
	return c
}
