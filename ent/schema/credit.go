package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"books/internal/ids"
)

// CreditMemo gives a customer credit: DR the revenue account, CR Customer Credits; applying
// it to invoices moves it from Customer Credits to AR.
type CreditMemo struct{ ent.Schema }

func (CreditMemo) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.CreditMemo}, timeMixin{}, orgMixin{}}
}

func (CreditMemo) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity that issued the credit."),
		field.String("customer_id").Immutable().NotEmpty().
			Comment("The customer credited."),
		dateField("date", immutable, "The credit memo's date (YYYY-MM-DD); defaults to today in the entity's "+
			"time zone. Its entry posts on it, or in the next open period when its period is closed."),
		moneyField("amount", immutable, "The credit given, in the memo's currency."),
		currencyField("currency", immutable, "ISO 4217 code of the memo's currency: the customer's currency."),
		field.String("account_id").Immutable().
			Comment("The revenue account debited: an active revenue account named at issue, or else the " +
				"account of the entity's revenue mapping (source system books)."),
		field.String("class_id").Optional().Nillable().Immutable().
			Comment("The class of the revenue debit; null for none."),
		field.String("reason").Optional().Immutable().MaxLen(1000).
			Comment("Why the credit was given; empty when not given."),
		moneyField("applied", 0, "How much of the credit is applied to invoices, net of applications taken "+
			"back, in the memo's currency."),
		moneyField("remaining", 0, "Credit not applied to any invoice, in the memo's currency: the amount "+
			"minus what is applied. It sits in Customer Credits until applied."),
		field.String("journal_entry_id").Immutable().
			Comment("The journal entry that issued the credit: DR revenue, CR Customer Credits."),
		field.String("created_by").Optional().Immutable().
			Comment("Who issued the credit memo: a user's subject, or system."),
	}
}

func (CreditMemo) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Required().Immutable().
			Comment("The customer credited."),
		edge.To("applications", CreditApplication.Type).Annotations(skipInputs).
			Comment("The applications of the credit to invoices, including ones taken back since."),
	}
}

func (CreditMemo) Annotations() []schema.Annotation {
	return append(gqlRoot("creditMemos", "The organization's credit memos."),
		schema.Comment("Credit given to a customer: issuing it posts DR a revenue account, CR Customer Credits; "+
			"applying it to invoices moves the credit from Customer Credits to Accounts Receivable."))
}

// CreditApplication applies part of a credit memo to an invoice.
type CreditApplication struct{ ent.Schema }

func (CreditApplication) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.CreditApplication}, timeMixin{}, orgMixin{}}
}

func (CreditApplication) Fields() []ent.Field {
	return []ent.Field{
		field.String("credit_memo_id").Immutable().NotEmpty().
			Comment("The credit memo applied."),
		field.String("invoice_id").Immutable().NotEmpty().
			Comment("The invoice the credit settles."),
		moneyField("amount", immutable, "The credit applied, in the credit memo's currency."),
		field.String("journal_entry_id").Immutable().
			Comment("The journal entry that applied the credit (DR Customer Credits, CR Accounts Receivable); " +
				"applications made together share it."),
		field.Time("unapplied_at").Optional().Nillable().
			Comment("When the application was taken back (UTC); null while it stands."),
		field.String("unapply_entry_id").Optional().Nillable().
			Comment("The journal entry that took the application back (DR Accounts Receivable, CR Customer " +
				"Credits); null while it stands."),
	}
}

func (CreditApplication) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("credit_memo", CreditMemo.Type).Ref("applications").Field("credit_memo_id").Unique().Required().Immutable().
			Comment("The credit memo applied."),
		edge.From("invoice", Invoice.Type).Ref("credit_applications").Field("invoice_id").Unique().Required().Immutable().
			Comment("The invoice the credit settles."),
	}
}

func (CreditApplication) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("Applies part of a credit memo to an invoice: DR Customer Credits, CR Accounts Receivable. " +
			"Taking it back posts the mirror entry and keeps the record, marked unapplied."),
	}
}

// WriteOff closes an invoice's open balance as bad debt: DR Bad Debt Expense, CR AR.
type WriteOff struct{ ent.Schema }

func (WriteOff) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.WriteOff}, timeMixin{}, orgMixin{}}
}

func (WriteOff) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity of the invoice."),
		field.String("invoice_id").Immutable().NotEmpty().
			Comment("The invoice written off."),
		moneyField("amount", immutable, "The open balance written off, in the invoice's currency."),
		dateField("date", immutable, "The write-off's date (YYYY-MM-DD), never before the invoice's issue date; "+
			"defaults to today in the entity's time zone. Its entry posts on it, or in the next open period "+
			"when its period is closed."),
		field.String("reason").Optional().Immutable().MaxLen(1000).
			Comment("Why the balance was written off; empty when not given."),
		field.String("journal_entry_id").Immutable().
			Comment("The journal entry of the write-off: DR Bad Debt Expense, CR Accounts Receivable."),
		field.String("created_by").Optional().Immutable().
			Comment("Who wrote the invoice off: a user's subject, or system."),
	}
}

func (WriteOff) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("invoice", Invoice.Type).Field("invoice_id").Unique().Required().Immutable().
			Comment("The invoice written off."),
	}
}

func (WriteOff) Annotations() []schema.Annotation {
	return append(gqlRoot("writeOffs", "The organization's write-offs of invoice balances."),
		schema.Comment("Closes an invoice's open balance as bad debt: DR Bad Debt Expense, CR Accounts "+
			"Receivable. The invoice becomes written off."))
}
