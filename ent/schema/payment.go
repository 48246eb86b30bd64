package schema

import (
	"fmt"

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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity that received the money."),
		field.String("customer_id").Immutable().NotEmpty().
			Comment("The customer who paid."),
		moneyField("amount", immutable, "The amount received, in the payment's currency.", entgql.OrderField("AMOUNT")),
		currencyField("currency", immutable, "ISO 4217 code of the payment's currency: the customer's currency, "+
			"which must be the entity's base currency."),
		dateField("received_date", immutable, "When the money was received (YYYY-MM-DD). The payment posts on "+
			"it, or in the next open period when its period is closed.", entgql.OrderField("RECEIVED_DATE")),
		field.Enum("method").Values("card", "ach", "check", "wire", "cash", "other").Immutable().
			Comment("How the customer paid.").
			Annotations(entgql.Type("PaymentMethod")),
		field.Enum("processor").Values("manual", "stripe", "qbo").Default("manual").Immutable().
			Comment("What the payment came through; manual unless given.").
			Annotations(entgql.Type("PaymentProcessor")),
		field.String("external_ref").Optional().Immutable().MaxLen(200).
			Comment("The processor's id of the payment, e.g. a Stripe charge id or a QuickBooks payment id; " +
				"one payment per id, processor and entity. Empty when none."),
		field.String("stripe_account_id").Optional().Nillable().Immutable().
			Comment("The Stripe account (sa_…) the money came through, so refunds go back through it; null " +
				"unless the processor is Stripe."),
		field.String("memo").Optional().MaxLen(1000).
			Comment("Free-text note on the payment; empty when none."),
		moneyField("applied", 0, "How much of the payment is applied to invoices, net of applications taken "+
			"back, in the payment's currency."),
		moneyField("refunded", 0, "How much of the payment has been refunded to the customer, in the payment's "+
			"currency."),
		moneyField("reversed", 0, "How much of the payment charge reversals (lost disputes) took back, in the "+
			"payment's currency."),
		moneyField("unapplied", 0, "Money of the payment applied to no invoice, held in Customer Credits: the "+
			"amount minus what is applied, refunded and reversed."),
		field.String("journal_entry_id").Optional().Nillable().Immutable().
			Comment("The journal entry that recorded the payment: DR Undeposited Funds, CR Accounts Receivable " +
				"for what it paid of invoices and CR Customer Credits for the rest."),
		field.String("recorded_by").Optional().Immutable().
			Comment("Who recorded the payment: a user's subject, or system."),
		field.Time("voided_at").Optional().Nillable().
			Comment("When the payment was voided (UTC): its applications were taken back and the money it left in " +
				"Customer Credits taken out again (DR Customer Credits, CR Undeposited Funds). Null unless voided; " +
				"only a payment voided in QuickBooks is voided."),
		field.String("void_entry_id").Optional().Nillable().
			Comment("The journal entry that took the payment's unapplied money out when it was voided; null unless " +
				"voided, or when nothing was left to take out."),
		field.Enum("sync_status").GoType(syncstate.Status("")).Default(string(syncstate.NotSynced)).
			Comment("Where the payment stands with QuickBooks Online; new payments are not synced.").
			Annotations(entgql.Type("SyncStatus")),
	}
}

func (Payment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity that received the money."),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Required().Immutable().
			Comment("The customer who paid."),
		edge.To("applications", PaymentApplication.Type).Annotations(skipInputs).
			Comment("The applications of the payment to invoices, including ones taken back since."),
		edge.To("refunds", Refund.Type).Annotations(skipInputs).
			Comment("Refunds of the payment."),
		edge.To("charge_reversals", ChargeReversal.Type).Annotations(skipInputs).
			Comment("Charge reversals (lost disputes) of the payment."),
		edge.To("journal_entry", JournalEntry.Type).Field("journal_entry_id").Unique().Immutable().
			Comment("The journal entry that recorded the payment."),
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
	return append(gqlRoot("payments", "The payments the organization received."),
		schema.Comment("Money received from a customer. Recording it posts DR Undeposited Funds for the "+
			"amount, CR Accounts Receivable for what it pays of invoices and CR Customer Credits for the rest."))
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
		field.String("payment_id").Immutable().NotEmpty().
			Comment("The payment applied."),
		field.String("invoice_id").Immutable().NotEmpty().
			Comment("The invoice the money settles."),
		moneyField("amount", immutable, "The money applied, in the payment's currency."),
		field.String("journal_entry_id").Immutable().
			Comment("The journal entry that applied the money: the payment's own entry for applications made " +
				"when it was recorded, else an entry DR Customer Credits, CR Accounts Receivable that " +
				"applications made together share."),
		field.Time("unapplied_at").Optional().Nillable().
			Comment("When the application was taken back (UTC); null while it stands."),
		field.String("unapply_entry_id").Optional().Nillable().
			Comment("The journal entry that took the application back (DR Accounts Receivable, CR Customer " +
				"Credits); null while it stands."),
	}
}

func (PaymentApplication) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("payment", Payment.Type).Ref("applications").Field("payment_id").Unique().Required().Immutable().
			Comment("The payment applied."),
		edge.From("invoice", Invoice.Type).Ref("payment_applications").Field("invoice_id").Unique().Required().Immutable().
			Comment("The invoice the money settles."),
	}
}

func (PaymentApplication) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("Applies part of a payment to an invoice. Taking it back posts the mirror of its " +
			"posting and keeps the record, marked unapplied."),
	}
}

// Refund returns money of a payment to the customer: DR Customer Credits (or AR, for money
// that had paid invoices, which re-open), CR Undeposited Funds.
type Refund struct{ ent.Schema }

func (Refund) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Refund}, timeMixin{}, orgMixin{}}
}

func (Refund) Fields() []ent.Field {
	return append(cashReturnFields("refund", true),
		field.Enum("status").Values("pending", "succeeded", "failed").Default("succeeded").
			Comment("Where the refund stands: pending while the processor (Stripe) has been asked and has not "+
				"confirmed it, so nothing is posted yet; succeeded when posted; failed when the processor refused "+
				"it, with nothing posted.").
			Annotations(entgql.Type("RefundStatus")),
		field.String("failure_message").Optional().MaxLen(1000).
			Comment("Why the processor refused the refund; empty unless failed."),
	)
}

func (Refund) Indexes() []ent.Index {
	return []ent.Index{
		// A processor's refund (Stripe's re_…) is recorded once, whichever of the API call and
		// its confirming event gets there first.
		index.Fields("entity_id", "external_ref").Unique(),
		index.Fields("payment_id"),
	}
}

func (Refund) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("payment", Payment.Type).Ref("refunds").Field("payment_id").Unique().Required().Immutable().
			Comment("The payment refunded."),
	}
}

func (Refund) Annotations() []schema.Annotation {
	return append(gqlRoot("refunds", "The organization's refunds of payments."),
		schema.Comment("Money of a payment returned to the customer: DR Customer Credits (or Accounts "+
			"Receivable, for money that had paid invoices, which re-open), CR Undeposited Funds."))
}

// ChargeReversal records a lost dispute (chargeback): the money goes back and the receivable
// it had paid re-opens.
type ChargeReversal struct{ ent.Schema }

func (ChargeReversal) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.ChargeReversal}, timeMixin{}, orgMixin{}}
}

func (ChargeReversal) Fields() []ent.Field {
	return cashReturnFields("charge reversal", false)
}

func (ChargeReversal) Indexes() []ent.Index {
	return []ent.Index{
		// A processor's lost dispute (Stripe's dp_…) reverses the charge once.
		index.Fields("entity_id", "external_ref").Unique(),
		index.Fields("payment_id"),
	}
}

func (ChargeReversal) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("payment", Payment.Type).Ref("charge_reversals").Field("payment_id").Unique().Required().Immutable().
			Comment("The payment whose charge was reversed."),
	}
}

func (ChargeReversal) Annotations() []schema.Annotation {
	return append(gqlRoot("chargeReversals", "The organization's charge reversals (lost disputes)."),
		schema.Comment("A lost dispute (chargeback) on a payment: the money goes back and the receivables it "+
			"had paid re-open."))
}

// cashReturnFields are the fields of refunds and charge reversals; kind names the one in
// their comments. A refund through a processor is asked first and posted when the processor
// confirms it, so its processor reference and journal entry are set later.
func cashReturnFields(kind string, asked bool) []ent.Field {
	ref := field.String("external_ref").Optional().MaxLen(200).
		Comment(fmt.Sprintf("The payment processor's id of the %s (e.g. Stripe's re_… or dp_…), one %s per id "+
			"and entity; empty when none.", kind, kind))
	entry := field.String("journal_entry_id").
		Comment("The journal entry that returned the money: DR Customer Credits, CR Undeposited Funds. " +
			"Money that had paid invoices is first taken back from them by entries of its own.")
	if asked {
		entry = entry.Optional().Nillable().
			Comment("The journal entry that returned the money: DR Customer Credits, CR Undeposited Funds " +
				"(money that had paid invoices is first taken back from them by entries of its own); null while " +
				"the refund is pending or after it failed.")
	} else {
		ref, entry = ref.Immutable(), entry.Immutable()
	}
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity of the payment."),
		field.String("payment_id").Immutable().NotEmpty().
			Comment(fmt.Sprintf("The payment whose money the %s returns.", kind)),
		moneyField("amount", immutable, "The money returned to the customer, in the payment's currency; at "+
			"most what the payment has left after earlier refunds and charge reversals."),
		dateField("date", immutable, fmt.Sprintf("The %s's date (YYYY-MM-DD), never before the payment was "+
			"received; defaults to today in the entity's time zone.", kind)),
		field.String("reason").Optional().Immutable().MaxLen(1000).
			Comment(fmt.Sprintf("Why the %s was made; empty when not given.", kind)),
		ref,
		entry,
		field.String("created_by").Optional().Immutable().
			Comment(fmt.Sprintf("Who recorded the %s: a user's subject, or system.", kind)),
	}
}
