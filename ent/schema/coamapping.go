package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
	"books/internal/ledger/source"
)

// COAMapping maps a code another system uses (e.g. PSA's "unbilled_receivables") to a GL
// account of one legal entity.
type COAMapping struct{ ent.Schema }

func (COAMapping) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.COAMapping}, timeMixin{}, orgMixin{}}
}

func (COAMapping) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.Enum("source_system").GoType(source.System("")).
			Annotations(entgql.Type("SourceSystem")),
		field.String("source_code").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("SOURCE_CODE")),
		field.String("account_id").NotEmpty(),
	}
}

func (COAMapping) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("coa_mappings").
			Field("entity_id").Unique().Required().Immutable(),
		edge.To("account", Account.Type).Field("account_id").Unique().Required(),
	}
}

func (COAMapping) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "source_system", "source_code").Unique()}
}

func (COAMapping) Annotations() []schema.Annotation {
	return append(gqlRoot("coaMappings"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}
