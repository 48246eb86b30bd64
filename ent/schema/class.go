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

// Class tags journal lines with a practice or department; classes nest.
type Class struct{ ent.Schema }

func (Class) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Class}, timeMixin{}, orgMixin{}}
}

func (Class) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("name").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("NAME")),
		field.String("parent_id").Optional().Nillable(),
		field.Bool("active").Default(true),
	}
}

func (Class) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("classes").
			Field("entity_id").Unique().Required().Immutable(),
		edge.To("children", Class.Type).
			Annotations(entgql.RelayConnection()).
			From("parent").Field("parent_id").Unique(),
	}
}

func (Class) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "name").Unique()}
}

func (Class) Annotations() []schema.Annotation {
	return append(gqlRoot("classes"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}
