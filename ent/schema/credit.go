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
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("customer_id").Immutable().NotEmpty(),
		dateField("date", immutable),
		moneyField("amount", immutable),
		currencyField("currency", immutable),
		field.String("account_id").Immutable().Comment("The revenue account debited."),
		field.String("class_id").Optional().Nillable().Immutable(),
		field.String("reason").Optional().Immutable().MaxLen(1000),
		moneyField("applied", 0),
		moneyField("remaining", 0),
		field.String("journal_entry_id").Immutable(),
		field.String("created_by").Optional().Immutable(),
	}
}

func (CreditMemo) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Required().Immutable(),
		edge.To("applications", CreditApplication.Type).Annotations(skipInputs),
	}
}

func (CreditMemo) Annotations() []schema.Annotation { return gqlRoot("creditMemos") }

// CreditApplication applies part of a credit memo to an invoice.
type CreditApplication struct{ ent.Schema }

func (CreditApplication) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.CreditApplication}, timeMixin{}, orgMixin{}}
}

func (CreditApplication) Fields() []ent.Field {
	return []ent.Field{
		field.String("credit_memo_id").Immutable().NotEmpty(),
		field.String("invoice_id").Immutable().NotEmpty(),
		moneyField("amount", immutable),
		field.String("journal_entry_id").Immutable(),
		field.Time("unapplied_at").Optional().Nillable(),
		field.String("unapply_entry_id").Optional().Nillable(),
	}
}

func (CreditApplication) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("credit_memo", CreditMemo.Type).Ref("applications").Field("credit_memo_id").Unique().Required().Immutable(),
		edge.From("invoice", Invoice.Type).Ref("credit_applications").Field("invoice_id").Unique().Required().Immutable(),
	}
}

// WriteOff closes an invoice's open balance as bad debt: DR Bad Debt Expense, CR AR.
type WriteOff struct{ ent.Schema }

func (WriteOff) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.WriteOff}, timeMixin{}, orgMixin{}}
}

func (WriteOff) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("invoice_id").Immutable().NotEmpty(),
		moneyField("amount", immutable),
		dateField("date", immutable),
		field.String("reason").Optional().Immutable().MaxLen(1000),
		field.String("journal_entry_id").Immutable(),
		field.String("created_by").Optional().Immutable(),
	}
}

func (WriteOff) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("invoice", Invoice.Type).Field("invoice_id").Unique().Required().Immutable(),
	}
}

func (WriteOff) Annotations() []schema.Annotation { return gqlRoot("writeOffs") }
