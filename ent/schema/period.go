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

// AccountingPeriod is one month of an entity's calendar that can be closed to postings.
type AccountingPeriod struct{ ent.Schema }

func (AccountingPeriod) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Period}, timeMixin{}, orgMixin{}}
}

func (AccountingPeriod) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("name").NotEmpty().MaxLen(20),
		dateField("start_date", immutable, entgql.OrderField("START_DATE")),
		dateField("end_date", immutable),
		field.Enum("status").Values("open", "closed").Default("open").
			Annotations(entgql.Type("PeriodStatus")),
		field.Time("closed_at").Optional().Nillable(),
		field.String("closed_by").Optional(),
	}
}

func (AccountingPeriod) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("periods").
			Field("entity_id").Unique().Required().Immutable(),
	}
}

func (AccountingPeriod) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "start_date").Unique()}
}

func (AccountingPeriod) Annotations() []schema.Annotation {
	return gqlRoot("periods")
}
