package billing

import (
	"context"
	"strings"
	"sync"
	"time"

	"books/ent"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/legalentity"
	"books/ent/predicate"
	"books/internal/caldate"
)

// Search holds the invoice filters the SPA needs beyond the generated where-input.
type Search struct {
	// Customer matches the customer's id exactly, or its name or display name, partially
	// and case-insensitively.
	Customer string
	// Email matches the customer's email, partially and case-insensitively.
	Email string
	// Overdue, when set, keeps only overdue (true) or only not-overdue (false) invoices.
	Overdue *bool
}

// openStatuses are the statuses with a balance that can still be collected.
var openStatuses = []invoice.Status{invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid}

// Predicates turns a Search into invoice predicates. Overdue means a due date before today in
// the invoice's entity's time zone, with an open balance.
func (s Search) Predicates(ctx context.Context, c *ent.Client) ([]predicate.Invoice, error) {
	var out []predicate.Invoice
	if v := strings.TrimSpace(s.Customer); v != "" {
		out = append(out, invoice.Or(
			invoice.CustomerID(v),
			invoice.HasCustomerWith(customer.Or(customer.NameContainsFold(v), customer.DisplayNameContainsFold(v))),
		))
	}
	if v := strings.TrimSpace(s.Email); v != "" {
		out = append(out, invoice.HasCustomerWith(customer.EmailContainsFold(v)))
	}
	if s.Overdue != nil {
		entities, err := c.LegalEntity.Query().Select(legalentity.FieldID, legalentity.FieldTimeZone).All(ctx)
		if err != nil {
			return nil, err
		}
		var perEntity []predicate.Invoice
		for _, le := range entities {
			perEntity = append(perEntity, invoice.And(invoice.EntityID(le.ID), invoice.DueDateLT(today(le))))
		}
		overdue := invoice.And(invoice.StatusIn(openStatuses...), invoice.BalanceGT(zero), invoice.Or(perEntity...))
		if len(perEntity) == 0 {
			overdue = invoice.IDIn() // no entities, nothing overdue
		}
		if *s.Overdue {
			out = append(out, overdue)
		} else {
			out = append(out, invoice.Not(overdue))
		}
	}
	return out, nil
}

// Overdue reports whether inv is overdue: due before today in its entity's time zone, with an
// open balance.
func Overdue(inv *ent.Invoice, loc *time.Location) bool {
	return openStatus(inv.Status) && inv.Balance.IsPositive() && inv.DueDate.Before(caldate.Today(loc))
}

// Zones caches entities' time zones for deriving overdue on lists without a query per row.
// A changed time zone is picked up within zoneTTL.
type Zones struct {
	mu sync.Mutex
	m  map[string]zone
}

type zone struct {
	loc     *time.Location
	expires time.Time
}

const zoneTTL = 5 * time.Minute

// Of returns the time zone of the entity.
func (z *Zones) Of(ctx context.Context, c *ent.Client, entityID string) (*time.Location, error) {
	z.mu.Lock()
	v, ok := z.m[entityID]
	z.mu.Unlock()
	if ok && time.Now().Before(v.expires) {
		return v.loc, nil
	}
	le, err := entityOf(ctx, c, entityID)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(le.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	z.mu.Lock()
	if z.m == nil {
		z.m = map[string]zone{}
	}
	z.m[entityID] = zone{loc: loc, expires: time.Now().Add(zoneTTL)}
	z.mu.Unlock()
	return loc, nil
}
