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
			Comment("The company's name, e.g. Acme Consulting Ltd.").
			Annotations(entgql.OrderField("NAME")),
		currencyField("base_currency", immutable, "ISO 4217 code of the currency the entity keeps its ledger "+
			"in, e.g. USD; fixed at creation. Its journal entries, invoices and payments are all in it."),
		field.String("time_zone").Default("UTC").
			Validate(func(s string) error {
				_, err := time.LoadLocation(s)
				return err
			}).
			Comment("IANA time zone of the entity, e.g. America/New_York; UTC by default. Dates that default " +
				"to today, e.g. of write-offs, credit memos and reversals, are today in this zone."),
		field.Int("fiscal_year_start_month").Default(1).Range(1, 12).
			Comment("The month the entity's fiscal year starts in, from 1 (January) to 12; 1 by default."),
	}
}

func (LegalEntity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("legal_entities").
			Field("organization_id").Unique().Required().Immutable().
			Comment("The organization that owns the entity.").
			Annotations(entgql.Skip()),
		edge.To("accounts", Account.Type).Annotations(entgql.RelayConnection(), readOnlyEdge).
			Comment("The entity's chart of accounts."),
		edge.To("classes", Class.Type).Annotations(entgql.RelayConnection(), readOnlyEdge).
			Comment("The entity's classes."),
		edge.To("coa_mappings", COAMapping.Type).Annotations(entgql.RelayConnection(), readOnlyEdge).
			Comment("The entity's mappings of source-system codes to its accounts."),
		edge.To("periods", AccountingPeriod.Type).Annotations(entgql.RelayConnection(), readOnlyEdge).
			Comment("The entity's accounting periods that have a record; a month without one is open."),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.RelayConnection(), readOnlyEdge).
			Comment("The journal entries on the entity's ledger."),
	}
}

func (LegalEntity) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "code").Unique()}
}

func (LegalEntity) Annotations() []schema.Annotation {
	return append(gqlRoot("legalEntities", "The organization's legal entities."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("A company with its own general ledger, base currency, time zone and fiscal calendar, "+
			"owned by one organization. A new entity starts with a default chart of accounts and COA mappings."))
}
