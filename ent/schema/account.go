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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity whose chart of accounts holds the account; fixed at creation."),
		field.String("code").NotEmpty().MaxLen(20).Match(codePattern).
			Comment("The account number, unique in the entity, e.g. 1200: letters, digits, '_', '.' and '-', " +
				"at most 20 characters. Journal entries may name the account by it; it may change, since " +
				"lines refer to the account by id.").
			Annotations(entgql.OrderField("CODE")),
		field.String("name").NotEmpty().MaxLen(200).
			Comment("The account's name, e.g. Accounts Receivable.").
			Annotations(entgql.OrderField("NAME")),
		field.Enum("type").Values("asset", "liability", "equity", "revenue", "expense").
			Comment("Where the account sits in the financial statements. It must be the type of the "+
				"subtype, and cannot change once the account has postings.").
			Annotations(entgql.Type("AccountType"), entgql.OrderField("TYPE")),
		field.Enum("subtype").Values(
			"bank", "accounts_receivable", "undeposited_funds", "unbilled_receivables",
			"other_current_asset", "fixed_asset", "other_asset",
			"accounts_payable", "credit_card", "deferred_revenue", "customer_credit",
			"other_current_liability", "long_term_liability",
			"equity", "retained_earnings",
			"income", "other_income",
			"cost_of_sales", "expense", "bad_debt", "other_expense",
		).Comment("The finer classification within the type, e.g. bank or accounts receivable. " +
			"Accounts receivable, customer credit and accounts payable accounts are control accounts: " +
			"only Books' own documents post to them, never manual or API entries. It cannot change once " +
			"the account has postings.").
			Annotations(entgql.Type("AccountSubtype")),
		field.Bool("active").Default(true).
			Comment("Whether new journal lines may post to the account. An inactive account keeps its " +
				"history and balance."),
		field.String("description").Optional().MaxLen(1000).
			Comment("What the account is for; empty when not given."),
	}
}

func (Account) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("accounts").
			Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity whose chart of accounts holds the account."),
	}
}

func (Account) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "code").Unique()}
}

func (Account) Annotations() []schema.Annotation {
	return append(gqlRoot("accounts", "The general-ledger accounts of every legal entity of the organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("A general-ledger account in one legal entity's chart of accounts. Journal lines "+
			"post to it; its type and subtype place it in the financial statements."))
}
