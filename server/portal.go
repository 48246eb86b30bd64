package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"books/graph/filterkey"
	"books/internal/apperr"
	"books/internal/auth"
)

// Portal clients see their own customer's invoices and payments and nothing else. Three
// layers keep it so: the data layer (ent/schema's portal rules) narrows every query to the
// client's customer; guardRootField opens only portalFields; guardPortalField opens, below
// the root, only the fields of portalReadable, and lets filters and orderings name only those
// fields, so that a filter can never be used as an oracle for what a client may not read.

// portalFields are the root fields a portal client may use; the ledger is not among them.
var portalFields = map[string]bool{
	"me": true, "organization": true, "invoices": true, "payments": true, "node": true, "nodes": true,
	"markInvoiceViewed": true, "createInvoicePayment": true, "paymentAttempts": true,
}

// portalMutations are the mutations a portal client may run.
var portalMutations = map[string]bool{"markInvoiceViewed": true, "createInvoicePayment": true}

// portalReadable lists, per type, the fields a portal client may read; "*" opens them all.
// Types not listed (accounts, journal entries, …) are closed, and so are the listed types'
// internal fields: who approved, the ledger entry, sync state.
var portalReadable = map[string]map[string]bool{
	"Viewer":       set("kind", "subject", "name", "email", "roles", "organization", "customer"),
	"Organization": set("id", "name"),
	"LegalEntity":  set("id", "code", "name", "baseCurrency"),
	"Customer": set("id", "name", "displayName", "email", "phone", "addressLine1", "addressLine2", "city",
		"region", "postalCode", "country", "currency"),
	"Invoice": set("id", "number", "issueDate", "dueDate", "serviceFrom", "serviceTo", "currency", "status",
		"memo", "customFields", "subtotal", "total", "amountPaid", "writtenOff", "balance", "overdue", "sentAt",
		"viewedAt", "createdAt", "lines", "customer", "customerId", "entity", "entityId", "paymentApplications"),
	"InvoiceLine":        set("id", "lineNo", "itemId", "item", "description", "quantity", "unitPrice", "amount", "serviceDate"),
	"Item":               set("id", "name", "description"),
	"Payment":            set("id", "amount", "currency", "receivedDate", "method", "applied", "unapplied", "refunded", "reversed", "customer", "customerId", "applications", "createdAt"),
	"PaymentApplication": set("id", "amount", "invoice", "invoiceId", "paymentId", "createdAt", "unappliedAt"),
	"InvoicePayload":     set("invoice"),
	"InvoiceConnection":  set("*"), "InvoiceEdge": set("*"),
	"PaymentConnection": set("*"), "PaymentEdge": set("*"), "PageInfo": set("*"),
	"PaymentAttempt": set("id", "invoiceId", "invoice", "method", "amount", "currency", "status", "failureMessage", "paymentIntentId",
		"paymentId", "payment", "createdAt", "updatedAt"),
	"PaymentAttemptConnection": set("*"), "PaymentAttemptEdge": set("*"),
	"CreateInvoicePaymentPayload": set("*"),
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func portalCanRead(typ, field string) bool {
	return portalReadable[typ]["*"] || portalReadable[typ][field]
}

// guardPortalField keeps portal clients below the root to what portalReadable opens up, and
// checks the filters and orderings of every field they use, the root's included.
func (s *Server) guardPortalField(ctx context.Context, next graphql.Resolver) (any, error) {
	p := auth.FromContext(ctx)
	if p == nil || p.Kind != auth.KindPortal {
		return next(ctx)
	}
	fc := graphql.GetFieldContext(ctx)
	if strings.HasPrefix(fc.Object, "__") || strings.HasPrefix(fc.Field.Name, "__") {
		return next(ctx)
	}
	// guardRootField decides which root fields are open.
	if fc.Object != "Query" && fc.Object != "Mutation" && !portalCanRead(fc.Object, fc.Field.Name) {
		return nil, apperr.New(apperr.Forbidden, "portal clients cannot read %s.%s", fc.Object, fc.Field.Name)
	}
	if err := s.portalArguments(ctx, fc); err != nil {
		return nil, err
	}
	return next(ctx)
}

// portalArguments refuses a where or orderBy argument that names a field the portal client
// may not read, at any depth of the filter.
func (s *Server) portalArguments(ctx context.Context, fc *graphql.FieldContext) error {
	if fc.Field.Field == nil || fc.Field.Definition == nil || len(fc.Field.Arguments) == 0 {
		return nil
	}
	args := fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	for _, def := range fc.Field.Definition.Arguments {
		v, ok := args[def.Name]
		if !ok || v == nil {
			continue
		}
		typ := def.Type.Name()
		switch {
		case strings.HasSuffix(typ, "WhereInput"):
			if err := s.portalWhere(typ, v); err != nil {
				return err
			}
		case strings.HasSuffix(typ, "Order"):
			if err := portalOrder(strings.TrimSuffix(typ, "Order"), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// portalWhere walks a filter value of the input type typ (XxxWhereInput) and refuses it when
// a predicate reads a field of Xxx the portal client may not read.
func (s *Server) portalWhere(typ string, v any) error {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if err := s.portalWhere(typ, e); err != nil {
				return err
			}
		}
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	obj := strings.TrimSuffix(typ, "WhereInput")
	input := s.schema.Types[typ]
	for key, val := range m {
		if val == nil {
			continue
		}
		if key == "and" || key == "or" || key == "not" {
			if err := s.portalWhere(typ, val); err != nil {
				return err
			}
			continue
		}
		field := predicateField(s.schema.Types[obj], key)
		if field == "" || !portalCanRead(obj, field) {
			return apperr.New(apperr.Forbidden, "portal clients cannot filter %s on %s", obj, key).WithField("where")
		}
		if input == nil {
			continue
		}
		if fd := input.Fields.ForName(key); fd != nil && strings.HasSuffix(fd.Type.Name(), "WhereInput") {
			if err := s.portalWhere(fd.Type.Name(), val); err != nil {
				return err
			}
		}
	}
	return nil
}

// predicateField names the field of obj a where-input key filters on: totalGTE → total,
// hasCustomerWith → customer. It is "" when the key matches no field.
func predicateField(obj *ast.Definition, key string) string {
	if obj == nil {
		return ""
	}
	k, _ := filterkey.Parse(key, func(n string) bool { return obj.Fields.ForName(n) != nil })
	return k.Field
}

// portalOrder refuses an ordering by a field the portal client may not read: the order of
// results would tell what the field holds.
func portalOrder(obj string, v any) error {
	orders, ok := v.([]any)
	if !ok {
		orders = []any{v}
	}
	for _, o := range orders {
		m, _ := o.(map[string]any)
		f, _ := m["field"].(string)
		if f == "" {
			continue
		}
		if !portalCanRead(obj, orderFieldName(f)) {
			return apperr.New(apperr.Forbidden, "portal clients cannot order %s by %s", obj, f).WithField("orderBy")
		}
	}
	return nil
}

// orderFieldName turns an order field (ISSUE_DATE) into the field it orders by (issueDate).
func orderFieldName(v string) string {
	parts := strings.Split(strings.ToLower(v), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
