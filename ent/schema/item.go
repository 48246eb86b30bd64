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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity that sells the item; fixed at creation."),
		field.String("name").NotEmpty().MaxLen(100).
			Comment("The item's name, e.g. Consulting hours; unique in the entity ignoring case.").
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().MaxLen(1000).
			Comment("The description an invoice line billing the item takes when it gives none; empty when none."),
		moneyField("default_rate", 0, "The unit price an invoice line billing the item takes when it gives "+
			"none, in the entity's base currency; never negative. At zero, each line must give its own price."),
		field.String("income_account_id").NotEmpty().
			Comment("The revenue account an approved invoice credits for the item's lines (lines recognized " +
				"over time credit deferred revenue instead): an active revenue account of the entity."),
		field.Bool("active").Default(true).
			Comment("Whether new invoice lines may bill the item."),
	}
}

func (Item) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity that sells the item."),
		edge.To("income_account", Account.Type).Field("income_account_id").Unique().Required().
			Comment("The revenue account the item's sales post to."),
	}
}

func (Item) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "name").Unique()}
}

func (Item) Annotations() []schema.Annotation {
	return append(gqlRoot("items", "The service items of every legal entity of the organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("A service the firm sells, with the revenue account its sales post to. Invoice lines "+
			"bill items."))
}
