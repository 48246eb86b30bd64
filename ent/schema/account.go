package schema

import (
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)

// Account is a general-ledger account in one legal entity's chart of accounts.
type Account struct{ ent.Schema }

func (Account) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Account}, timeMixin{}, orgMixin{}}
}

func (Account) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("code").NotEmpty().MaxLen(20).Match(codePattern).
			Annotations(entgql.OrderField("CODE")),
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.Enum("type").Values("asset", "liability", "equity", "revenue", "expense").
			Annotations(entgql.Type("AccountType"), entgql.OrderField("TYPE")),
		field.Enum("subtype").Values(
			"bank", "accounts_receivable", "undeposited_funds", "unbilled_receivables",
			"other_current_asset", "fixed_asset", "other_asset",
			"accounts_payable", "credit_card", "deferred_revenue", "customer_credit",
			"other_current_liability", "long_term_liability",
			"equity", "retained_earnings",
			"income", "other_income",
			"cost_of_sales", "expense", "bad_debt", "other_expense",
		).Annotations(entgql.Type("AccountSubtype")),
		field.Bool("active").Default(true),
		field.String("description").Optional().MaxLen(1000),
	}
}

func (Account) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("accounts").
			Field("entity_id").Unique().Required().Immutable(),
	}
}

func (Account) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "code").Unique()}
}

func (Account) Annotations() []schema.Annotation {
	return append(gqlRoot("accounts"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}
