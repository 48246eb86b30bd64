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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity the class belongs to; fixed at creation."),
		field.String("name").NotEmpty().MaxLen(100).
			Comment("The class's name, e.g. Consulting; unique in the entity ignoring case. The JE API " +
				"accepts it in place of the id.").
			Annotations(entgql.OrderField("NAME")),
		field.String("parent_id").Optional().Nillable().
			Comment("The class this one is nested under, in the same entity; null for a top-level class. " +
				"A class is never nested under itself or one of its own descendants."),
		field.Bool("active").Default(true).
			Comment("Whether new journal and invoice lines may use the class. An inactive class keeps its history."),
	}
}

func (Class) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("classes").
			Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity the class belongs to."),
		edge.To("children", Class.Type).
			Annotations(entgql.RelayConnection()).
			Comment("The classes nested directly under this one.").
			From("parent").Field("parent_id").Unique().
			Comment("The class this one is nested under; null for a top-level class."),
	}
}

func (Class) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "name").Unique()}
}

func (Class) Annotations() []schema.Annotation {
	return append(gqlRoot("classes", "The classes of every legal entity of the organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("A practice or department that journal lines and invoice lines are tagged with, so "+
			"reports can show figures by class. Classes belong to one legal entity and nest."))
}
