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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity the mapping belongs to; fixed at creation."),
		field.Enum("source_system").GoType(source.System("")).
			Comment("The system whose code this is.").
			Annotations(entgql.Type("SourceSystem")),
		field.String("source_code").NotEmpty().MaxLen(100).
			Comment("The code as the source system sends it, e.g. revenue or undeposited_funds; unique per " +
				"entity and source system.").
			Annotations(entgql.OrderField("SOURCE_CODE")),
		field.String("account_id").NotEmpty().
			Comment("The account that journal lines naming the code post to; an account of the same entity. " +
				"Repointing a mapping leaves entries already posted on their accounts."),
	}
}

func (COAMapping) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("coa_mappings").
			Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity the mapping belongs to."),
		edge.To("account", Account.Type).Field("account_id").Unique().Required().
			Comment("The account that journal lines naming the code post to."),
	}
}

func (COAMapping) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "source_system", "source_code").Unique()}
}

func (COAMapping) Annotations() []schema.Annotation {
	return append(gqlRoot("coaMappings", "The COA mappings of every legal entity of the organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("Maps a code another system uses (e.g. PSA's unbilled_receivables) to a general-ledger "+
			"account of one legal entity, so journal entries of that source system can name the account by the "+
			"code. Books' own postings go through the mappings of source system books, so an entity can repoint them."))
}
