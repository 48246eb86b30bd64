package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

// ReconciliationItem is money or a change in QuickBooks that Books could not apply safely on
// its own: a payment that matches no linked invoice (or whose customer, currency or amount
// does not fit it), an invoice deleted or voided in QuickBooks, a change in QuickBooks to a
// payment Books pushed. A person matches, defers or dismisses it; nothing is guessed. One
// item per QuickBooks record of a connection: a later change of the record updates it.
type ReconciliationItem struct{ ent.Schema }

func (ReconciliationItem) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.ReconciliationItem}, timeMixin{}, orgMixin{}}
}

func (ReconciliationItem) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity whose QuickBooks company the record is in."),
		field.Enum("source").Values("quickbooks", "stripe").Default("quickbooks").Immutable().
			Comment("Where the record comes from: QuickBooks Online, or a Stripe account.").
			Annotations(entgql.Type("ReconciliationSource")),
		field.String("connection_id").Immutable().NotEmpty().
			Comment("The QuickBooks connection (company) the record was read from, or for Stripe the Stripe " +
				"account (sa_…) that sent it.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Enum("kind").Values("unmatched_payment", "customer_mismatch", "amount_mismatch",
			"currency_mismatch", "remote_delete", "remote_change").
			Comment("Why a person must look: a payment that applies to no invoice Books knows, one whose "+
				"customer, amount or currency does not fit the invoices it names, an invoice deleted or voided "+
				"in QuickBooks, or a change in QuickBooks to a payment Books recorded.").
			Annotations(entgql.Type("ReconciliationKind"), entgql.OrderField("KIND")),
		field.String("qbo_type").Immutable().NotEmpty().MaxLen(40).
			Comment("The kind of the record at its source: a QuickBooks entity (Payment, Invoice) or, for " +
				"Stripe, PaymentIntent or Charge."),
		field.String("qbo_id").Immutable().NotEmpty().MaxLen(255).
			Comment("The source's id of the record: QuickBooks' id, or Stripe's pi_… or ch_…."),
		field.String("record_type").Optional().MaxLen(40).
			Comment("The kind of Books record concerned (invoice, payment, credit_memo); empty when none."),
		field.String("record_id").Optional().MaxLen(40).
			Comment("The id of the Books record concerned, e.g. the invoice deleted in QuickBooks or the " +
				"payment recorded on a match; empty when none."),
		field.String("customer_id").Optional().Nillable().
			Comment("The Books customer of the record, when QuickBooks' customer is linked to one; null otherwise."),
		moneyField("amount", optional, "The record's total (TotalAmt) in QuickBooks; null when it has none (a "+
			"deleted record)."),
		field.String("currency").Optional().MaxLen(3).
			Comment("ISO 4217 code of the amount; empty when unknown."),
		dateField("txn_date", optional, "The record's transaction date in QuickBooks (YYYY-MM-DD); null when unknown.",
			entgql.OrderField("TXN_DATE")),
		field.String("reference").Optional().MaxLen(100).
			Comment("The record's reference in QuickBooks: a payment's reference number (PaymentRefNum) or a " +
				"document number; empty when none."),
		field.String("reason").MaxLen(2000).
			Comment("What Books found, in words, e.g. which invoice is unknown or by how much the amount exceeds " +
				"the balance."),
		field.Text("snapshot").Optional().
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Comment("The QuickBooks record as last read, as JSON; empty for a deleted record."),
		field.String("sync_token").Optional().MaxLen(20).
			Comment("QuickBooks' SyncToken of the snapshot; a re-read with an older one is ignored.").
			Annotations(entgql.Skip()),
		field.Enum("status").Values("open", "matched", "deferred", "dismissed").Default("open").
			Comment("Where the item stands: open until a person (or a later pass) settles it; matched when the "+
				"money was recorded against invoices; deferred when left for the next pass; dismissed when a "+
				"person (or QuickBooks, by voiding or deleting the record) closed it without a match.").
			Annotations(entgql.Type("ReconciliationStatus"), entgql.OrderField("STATUS")),
		field.String("note").Optional().MaxLen(4000).
			Comment("The note of whoever last matched, deferred or dismissed the item; empty when none."),
		field.String("resolved_by").Optional().
			Comment("Who last settled the item: a user's subject, or system for a later pass; empty while open."),
		field.Time("resolved_at").Optional().Nillable().
			Comment("When the item was last matched, deferred or dismissed (UTC); null while open."),
		field.String("payment_id").Optional().Nillable().
			Comment("The Books payment recorded when the item was matched; null otherwise."),
		field.Time("last_seen_at").
			Comment("When Books last read the record from QuickBooks (UTC).").
			Annotations(entgql.OrderField("LAST_SEEN_AT")),
	}
}

func (ReconciliationItem) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable().
			Annotations(skipInputs).
			Comment("The legal entity of the item."),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().
			Annotations(skipInputs).
			Comment("The Books customer of the record, when known."),
		edge.To("payment", Payment.Type).Field("payment_id").Unique().
			Annotations(skipInputs).
			Comment("The Books payment recorded when the item was matched."),
	}
}

func (ReconciliationItem) Indexes() []ent.Index {
	return []ent.Index{
		// One item per QuickBooks record: a webhook and the poller seeing one payment raise
		// one item, and a later change of the record updates it.
		index.Fields("connection_id", "qbo_type", "qbo_id").Unique(),
		index.Fields("entity_id", "status"),
	}
}

func (ReconciliationItem) Annotations() []schema.Annotation {
	return append(gqlRoot("reconciliationItems", "The reconciliation queue: money and changes in QuickBooks a person "+
		"must match or settle."),
		schema.Comment("Money or a change in QuickBooks that Books could not apply safely on its own; a person "+
			"matches, defers or dismisses it."))
}

// QBOInboxEvent is one notification from QuickBooks (a webhook event, or a change the poller
// read), stored before it is acted on so that nothing received is lost: a job processes
// each by re-reading the record from QuickBooks. Duplicates collapse on dedupe_key. The
// table belongs to no tenant until the realm is known: a notification for a realm no
// connection holds is kept with status unknown_realm.
type QBOInboxEvent struct{ ent.Schema }

func (QBOInboxEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.QBOInboxEvent}, timeMixin{}}
}

func (QBOInboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("dedupe_key").Immutable().NotEmpty().MaxLen(300).
			Comment("What makes two deliveries the same notification: the realm and CloudEvents id, or the " +
				"realm, entity, id, operation and time of a legacy or polled change."),
		field.String("realm_id").Immutable().NotEmpty().MaxLen(64).
			Comment("The QuickBooks company the notification is about."),
		field.String("organization_id").Optional().Nillable().
			Comment("The organization of the connection holding the realm; null while the realm is unknown."),
		field.String("connection_id").Optional().Nillable().
			Comment("The connection holding the realm; null while the realm is unknown."),
		field.Enum("source").Values("cloudevents", "legacy", "poll").Immutable().
			Comment("How it arrived: a CloudEvents webhook, a legacy webhook, or the poller."),
		field.String("qbo_type").Immutable().MaxLen(40).
			Comment("The QuickBooks entity changed, e.g. Payment."),
		field.String("qbo_id").Immutable().MaxLen(40).
			Comment("QuickBooks' id of the record changed."),
		field.String("operation").Immutable().MaxLen(40).
			Comment("What happened: Create, Update, Delete, Void, Merge."),
		field.Time("occurred_at").Optional().Nillable().Immutable().
			Comment("When QuickBooks says the change happened; null when it did not say."),
		field.Text("payload").Optional().
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Comment("The notification as received (one event)."),
		field.Enum("status").Values("pending", "processed", "ignored", "unknown_realm", "failed").Default("pending").
			Comment("pending until processed; ignored for an entity Books does not act on; unknown_realm while " +
				"no connection holds the realm; failed after too many attempts (an admin issue says why)."),
		field.Int("attempts").Default(0).
			Comment("How many times processing was tried."),
		field.String("last_error").Optional().MaxLen(2000).
			Comment("The last processing error; empty when none."),
		field.Time("processed_at").Optional().Nillable().
			Comment("When it was processed (UTC)."),
	}
}

func (QBOInboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("dedupe_key").Unique(),
		index.Fields("connection_id", "status", "id"),
		index.Fields("realm_id", "status"),
	}
}

func (QBOInboxEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		schema.Comment("A notification from QuickBooks kept until it is processed."),
	}
}
