// Package schema holds the hand-written ent schemas; everything else under ent/ is generated.
package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"

	"books/ent/intercept"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/money"
	"books/internal/tenant"
)

// idMixin gives a type its prefixed, time-ordered string id. note, when set, ends the id's
// description.
type idMixin struct {
	mixin.Schema
	prefix string
	note   string
}

func (m idMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			Immutable().
			NotEmpty().
			MaxLen(40).
			DefaultFunc(func() string { return ids.New(m.prefix) }).
			Comment(strings.TrimSpace(fmt.Sprintf("Unique id of the record, assigned by Books at creation and "+
				"never changed: the type prefix %s_ followed by a time-ordered ULID (%s_01jd8x…). %s",
				m.prefix, m.prefix, m.note))),
	}
}

// timeMixin records creation and last update times.
type timeMixin struct{ mixin.Schema }

func (timeMixin) Fields() []ent.Field {
	return []ent.Field{
		// Stamped by the server: a client cannot set or back-date them.
		field.Time("created_at").Immutable().Default(nowUTC).
			Comment("When the record was created (UTC). Set by Books; never changes.").
			Annotations(entgql.OrderField("CREATED_AT"),
				entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("updated_at").Default(nowUTC).UpdateDefault(nowUTC).
			Comment("When Books last updated the record (UTC); the creation time until then.").
			Annotations(entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// nowUTC stamps records in UTC, so stored times share one offset and sort as text on SQLite.
func nowUTC() time.Time { return time.Now().UTC() }

// orgMixin makes a type belong to one organization. Its interceptor adds the caller's
// organization to every query (including eager loads and Relay node lookups) and its hook to
// every write, so tenancy is enforced here and nowhere else.
//
// A portal client (bound to one customer) sees a type only through its portal rule; a type
// without one shows a portal client nothing at all.
type orgMixin struct {
	mixin.Schema
	portal portalRule
}

// portalRule narrows a query to what the portal client of customer may see.
type portalRule func(customer string) func(*sql.Selector)

// portalAll shows a portal client every row of its organization: only for reference data
// with nothing confidential (entity names, service items).
func portalAll(string) func(*sql.Selector) { return func(*sql.Selector) {} }

// portalByColumn shows the rows whose column holds the portal client's customer id.
func portalByColumn(column string) portalRule {
	return func(customer string) func(*sql.Selector) { return sql.FieldEQ(column, customer) }
}

var (
	errInvalidEmail = errors.New("invalid email address")
	errInvalidPhone = errors.New("invalid phone number")
)

func (orgMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").Immutable().NotEmpty().
			Comment("The organization (tenant) that owns the record: set from the caller's organization " +
				"on create and added to every query, so no caller sees another organization's records.").
			Annotations(entgql.Skip()),
	}
}

func (orgMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id")}
}

func (m orgMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{scopeQuery("organization_id"), scopePortal(m.portal)}
}

func scopePortal(rule portalRule) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		customer := tenant.PortalCustomer(ctx)
		if customer == "" || tenant.IsSystem(ctx) {
			return nil
		}
		if rule == nil {
			q.WhereP(func(s *sql.Selector) { s.Where(sql.False()) })
			return nil
		}
		q.WhereP(rule(customer))
		return nil
	})
}

func (orgMixin) Hooks() []ent.Hook {
	return []ent.Hook{scopeMutation("organization_id")}
}

type wherer interface {
	WhereP(...func(*sql.Selector))
}

func scopeQuery(column string) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if tenant.IsSystem(ctx) {
			return nil
		}
		org, ok := tenant.Org(ctx)
		if !ok {
			return tenant.ErrMissing
		}
		q.WhereP(sql.FieldEQ(column, org))
		return nil
	})
}

func scopeMutation(column string) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if tenant.IsSystem(ctx) {
				return next.Mutate(ctx, m)
			}
			org, ok := tenant.Org(ctx)
			if !ok {
				return nil, tenant.ErrMissing
			}
			if m.Op().Is(ent.OpCreate) {
				if v, set := m.Field(column); set && v != org {
					return nil, fmt.Errorf("tenant: cannot create a record of another organization")
				}
				if column != "id" {
					if err := m.SetField(column, org); err != nil {
						return nil, err
					}
				}
				return next.Mutate(ctx, m)
			}
			w, ok := m.(wherer)
			if !ok {
				return nil, fmt.Errorf("tenant: mutation %T cannot be scoped", m)
			}
			w.WhereP(sql.FieldEQ(column, org))
			return next.Mutate(ctx, m)
		})
	}
}

// Column types shared by several schemas. ent's builders are unexported types, so the
// helpers take the modifiers they support as flags, and the field's comment (its API
// description) as an argument.

type fieldOpt int

const (
	immutable fieldOpt = 1 << iota
	optional
)

func moneyField(name string, opts fieldOpt, comment string, ann ...schema.Annotation) ent.Field {
	f := field.Int64(name).GoType(money.Amount{}).Comment(comment).
		Annotations(append([]schema.Annotation{entgql.Type("Money")}, ann...)...)
	if opts&immutable != 0 {
		f = f.Immutable()
	}
	if opts&optional != 0 {
		f = f.Optional().Nillable()
	}
	return f
}

func dateField(name string, opts fieldOpt, comment string, ann ...schema.Annotation) ent.Field {
	f := field.String(name).GoType(caldate.Date{}).
		SchemaType(map[string]string{dialect.Postgres: "date", dialect.SQLite: "text"}).
		Comment(comment).
		Annotations(append([]schema.Annotation{entgql.Type("Date")}, ann...)...)
	if opts&immutable != 0 {
		f = f.Immutable()
	}
	if opts&optional != 0 {
		f = f.Optional().Nillable()
	}
	return f
}

func currencyField(name string, opts fieldOpt, comment string) ent.Field {
	f := field.String(name).MinLen(3).MaxLen(3).Comment(comment).
		Validate(func(s string) error {
			_, err := money.ParseCurrency(s)
			return err
		})
	if opts&immutable != 0 {
		f = f.Immutable()
	}
	return f
}

// gqlRoot makes a type a Relay connection with a root query field, described by description.
// readOnlyEdge keeps a to-many edge out of the generated create and update inputs: its
// records are linked by their own mutations (an account names its entity), never by listing
// them on the other side, where a patch could move a posted entry to another entity.
var readOnlyEdge = entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)

func gqlRoot(queryField, description string) []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(queryField).Description(description),
		entgql.RelayConnection(),
	}
}
