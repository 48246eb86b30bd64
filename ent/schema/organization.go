package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"books/internal/ids"
)

// Organization is a tenant: a firm that owns one or more legal entities.
type Organization struct{ ent.Schema }

func (Organization) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Organization}, timeMixin{}}
}

func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("The firm's name."),
	}
}

func (Organization) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("legal_entities", LegalEntity.Type).
			Annotations(entgql.RelayConnection(), readOnlyEdge).
			Comment("The organization's legal entities."),
	}
}

func (Organization) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{scopeQuery("id")}
}

func (Organization) Hooks() []ent.Hook {
	return []ent.Hook{scopeMutation("id")}
}

func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A tenant: a firm that owns one or more legal entities. Every record belongs to one " +
			"organization, and a caller sees only its own organization's records."),
	}
}
