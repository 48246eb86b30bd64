// Package schema holds the hand-written ent schemas; everything else under ent/ is generated.
package schema

import (
	"context"
	"fmt"
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

// idMixin gives a type its prefixed, time-ordered string id.
type idMixin struct {
	mixin.Schema
	prefix string
}

func (m idMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			Immutable().
			NotEmpty().
			MaxLen(40).
			DefaultFunc(func() string { return ids.New(m.prefix) }),
	}
}

// timeMixin records creation and last update times.
type timeMixin struct{ mixin.Schema }

func (timeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Immutable().Default(time.Now).
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// orgMixin makes a type belong to one organization. Its interceptor adds the caller's
// organization to every query (including eager loads and Relay node lookups) and its hook to
// every write, so tenancy is enforced here and nowhere else.
type orgMixin struct{ mixin.Schema }

func (orgMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").Immutable().NotEmpty().
			Annotations(entgql.Skip()),
	}
}

func (orgMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id")}
}

func (orgMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{scopeQuery("organization_id")}
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
// helpers take the modifiers they support as flags.

type fieldOpt int

const (
	immutable fieldOpt = 1 << iota
	optional
)

func moneyField(name string, opts fieldOpt) ent.Field {
	f := field.Int64(name).GoType(money.Amount{}).Annotations(entgql.Type("Money"))
	if opts&immutable != 0 {
		f = f.Immutable()
	}
	return f
}

func dateField(name string, opts fieldOpt, ann ...schema.Annotation) ent.Field {
	f := field.String(name).GoType(caldate.Date{}).
		SchemaType(map[string]string{dialect.Postgres: "date", dialect.SQLite: "text"}).
		Annotations(append([]schema.Annotation{entgql.Type("Date")}, ann...)...)
	if opts&immutable != 0 {
		f = f.Immutable()
	}
	if opts&optional != 0 {
		f = f.Optional().Nillable()
	}
	return f
}

func currencyField(name string, opts fieldOpt) ent.Field {
	f := field.String(name).MinLen(3).MaxLen(3).
		Validate(func(s string) error {
			_, err := money.ParseCurrency(s)
			return err
		})
	if opts&immutable != 0 {
		f = f.Immutable()
	}
	return f
}

func gqlRoot(queryField string) []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(queryField),
		entgql.RelayConnection(),
	}
}
