package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

// Item is a service the firm sells, with the revenue account its sales post to.
type Item struct{ ent.Schema }

func (Item) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Item}, timeMixin{}, orgMixin{portal: portalAll}}
}

func (Item) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("name").NotEmpty().MaxLen(100).Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().MaxLen(1000),
		moneyField("default_rate", 0),
		field.String("income_account_id").NotEmpty(),
		field.Bool("active").Default(true),
	}
}

func (Item) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable(),
		edge.To("income_account", Account.Type).Field("income_account_id").Unique().Required(),
	}
}

func (Item) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "name").Unique()}
}

func (Item) Annotations() []schema.Annotation {
	return append(gqlRoot("items"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}
