package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
	"books/internal/qbo/syncstate"
)

// skipInputs keeps an edge or field out of generated mutation inputs: documents are made
// through domain mutations, not by setting fields.
var skipInputs = entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)

// Payment is money received from a customer. Recording it posts DR Undeposited Funds for the
// amount, CR AR for what it pays of invoices and CR Customer Credits for the rest.
type Payment struct{ ent.Schema }

func (Payment) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Payment}, timeMixin{}, orgMixin{portal: portalByColumn("customer_id")}}
}

func (Payment) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("customer_id").Immutable().NotEmpty(),
		moneyField("amount", immutable, entgql.OrderField("AMOUNT")),
		currencyField("currency", immutable),
		dateField("received_date", immutable, entgql.OrderField("RECEIVED_DATE")),
		field.Enum("method").Values("card", "ach", "check", "wire", "cash", "other").Immutable().
			Annotations(entgql.Type("PaymentMethod")),
		field.Enum("processor").Values("manual", "stripe", "qbo").Default("manual").Immutable().
			Annotations(entgql.Type("PaymentProcessor")),
		field.String("external_ref").Optional().Immutable().MaxLen(200),
		field.String("memo").Optional().MaxLen(1000),
		moneyField("applied", 0),
		moneyField("refunded", 0),
		moneyField("reversed", 0),
		moneyField("unapplied", 0),
		field.String("journal_entry_id").Optional().Nillable().Immutable(),
		field.String("recorded_by").Optional().Immutable(),
		field.Enum("sync_status").GoType(syncstate.Status("")).Default(string(syncstate.NotSynced)).
			Annotations(entgql.Type("SyncStatus")),
	}
}

func (Payment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable(),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Required().Immutable(),
		edge.To("applications", PaymentApplication.Type).Annotations(skipInputs),
		edge.To("refunds", Refund.Type).Annotations(skipInputs),
		edge.To("charge_reversals", ChargeReversal.Type).Annotations(skipInputs),
		edge.To("journal_entry", JournalEntry.Type).Field("journal_entry_id").Unique().Immutable(),
	}
}

func (Payment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("customer_id"),
		// A processor's payment is recorded once (a Stripe charge id, a QBO payment id).
		index.Fields("entity_id", "processor", "external_ref").Unique(),
	}
}

func (Payment) Annotations() []schema.Annotation {
	return gqlRoot("payments")
}

func portalPaymentApplications(customer string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		p := sql.Table("payments")
		s.Where(sql.In(s.C("payment_id"), sql.Select(p.C("id")).From(p).Where(sql.EQ(p.C("customer_id"), customer))))
	}
}

// PaymentApplication applies part of a payment to an invoice. Unapplying it posts the mirror
// of its posting and keeps the record, marked unapplied.
type PaymentApplication struct{ ent.Schema }

func (PaymentApplication) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.PaymentApplication}, timeMixin{}, orgMixin{portal: portalPaymentApplications}}
}

func (PaymentApplication) Fields() []ent.Field {
	return []ent.Field{
		field.String("payment_id").Immutable().NotEmpty(),
		field.String("invoice_id").Immutable().NotEmpty(),
		moneyField("amount", immutable),
		field.String("journal_entry_id").Immutable(),
		field.Time("unapplied_at").Optional().Nillable(),
		field.String("unapply_entry_id").Optional().Nillable(),
	}
}

func (PaymentApplication) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("payment", Payment.Type).Ref("applications").Field("payment_id").Unique().Required().Immutable(),
		edge.From("invoice", Invoice.Type).Ref("payment_applications").Field("invoice_id").Unique().Required().Immutable(),
	}
}

// Refund returns money of a payment to the customer: DR Customer Credits (or AR, for money
// that had paid invoices, which re-open), CR Undeposited Funds.
type Refund struct{ ent.Schema }

func (Refund) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Refund}, timeMixin{}, orgMixin{}}
}

func (Refund) Fields() []ent.Field {
	return cashReturnFields()
}

func (Refund) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("payment", Payment.Type).Ref("refunds").Field("payment_id").Unique().Required().Immutable(),
	}
}

func (Refund) Annotations() []schema.Annotation { return gqlRoot("refunds") }

// ChargeReversal records a lost dispute (chargeback): the money goes back and the receivable
// it had paid re-opens.
type ChargeReversal struct{ ent.Schema }

func (ChargeReversal) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.ChargeReversal}, timeMixin{}, orgMixin{}}
}

func (ChargeReversal) Fields() []ent.Field {
	return cashReturnFields()
}

func (ChargeReversal) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("payment", Payment.Type).Ref("charge_reversals").Field("payment_id").Unique().Required().Immutable(),
	}
}

func (ChargeReversal) Annotations() []schema.Annotation { return gqlRoot("chargeReversals") }

func cashReturnFields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("payment_id").Immutable().NotEmpty(),
		moneyField("amount", immutable),
		dateField("date", immutable),
		field.String("reason").Optional().Immutable().MaxLen(1000),
		field.String("external_ref").Optional().Immutable().MaxLen(200),
		field.String("journal_entry_id").Immutable(),
		field.String("created_by").Optional().Immutable(),
	}
}
