package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

// LegalEntity is a company with its own general ledger, base currency, time zone and fiscal
// calendar.
type LegalEntity struct{ ent.Schema }

func (LegalEntity) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.LegalEntity}, timeMixin{}, orgMixin{portal: portalAll}}
}

func (LegalEntity) Fields() []ent.Field {
	return []ent.Field{
		field.String("code").NotEmpty().MaxLen(20).
			Match(codePattern).
			Comment("Short code unique in the organization, e.g. US or UK; the JE API accepts it in place of the id.").
			Annotations(entgql.OrderField("CODE")),
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		currencyField("base_currency", immutable),
		field.String("time_zone").Default("UTC").
			Validate(func(s string) error {
				_, err := time.LoadLocation(s)
				return err
			}),
		field.Int("fiscal_year_start_month").Default(1).Range(1, 12),
	}
}

func (LegalEntity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("legal_entities").
			Field("organization_id").Unique().Required().Immutable().
			Annotations(entgql.Skip()),
		edge.To("accounts", Account.Type).Annotations(entgql.RelayConnection()),
		edge.To("classes", Class.Type).Annotations(entgql.RelayConnection()),
		edge.To("coa_mappings", COAMapping.Type).Annotations(entgql.RelayConnection()),
		edge.To("periods", AccountingPeriod.Type).Annotations(entgql.RelayConnection()),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.RelayConnection()),
	}
}

func (LegalEntity) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "code").Unique()}
}

func (LegalEntity) Annotations() []schema.Annotation {
	return append(gqlRoot("legalEntities"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}
