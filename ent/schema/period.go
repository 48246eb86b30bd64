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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity whose ledger the period belongs to."),
		field.String("name").NotEmpty().MaxLen(20).
			Comment("The month, as YYYY-MM, e.g. 2026-11."),
		dateField("start_date", immutable, "The first day of the month (YYYY-MM-DD).", entgql.OrderField("START_DATE")),
		dateField("end_date", immutable, "The last day of the month (YYYY-MM-DD)."),
		field.Enum("status").Values("open", "closed").Default("open").
			Comment("Whether entries dated in the period may be posted.").
			Annotations(entgql.Type("PeriodStatus")),
		field.Time("closed_at").Optional().Nillable().
			Comment("When the period was closed (UTC); null while open."),
		field.String("closed_by").Optional().
			Comment("Who closed the period (a user's subject); empty while open."),
	}
}

func (AccountingPeriod) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("periods").
			Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity whose ledger the period belongs to."),
	}
}

func (AccountingPeriod) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "start_date").Unique()}
}

func (AccountingPeriod) Annotations() []schema.Annotation {
	return append(gqlRoot("periods", "The accounting periods of every legal entity of the organization that have a record; a month without one is open."),
		schema.Comment("One calendar month of a legal entity's ledger, which can be closed to postings. A "+
			"month without a period record is open; closing it creates the record."))
}
