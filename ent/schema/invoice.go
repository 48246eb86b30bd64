package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
	"books/internal/money"
	"books/internal/qbo/syncstate"
)

// invoiceStatuses are the stored statuses; overdue is derived, never stored.
var invoiceStatuses = []string{"draft", "submitted", "approved", "sent", "viewed", "partially_paid", "paid", "void", "written_off"}

// portalInvoiceStatuses are the statuses a customer sees in the portal: approved or later.
var portalInvoiceStatuses = []any{"approved", "sent", "viewed", "partially_paid", "paid", "void", "written_off"}

func portalInvoices(customer string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		s.Where(sql.And(sql.EQ(s.C("customer_id"), customer), sql.In(s.C("status"), portalInvoiceStatuses...)))
	}
}

// Invoice bills a customer. It reaches the ledger and QuickBooks only once approved, and is
// never edited after that: a mistake is voided and re-issued.
type Invoice struct{ ent.Schema }

func (Invoice) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Invoice}, timeMixin{}, orgMixin{portal: portalInvoices}}
}

func (Invoice) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity that issues the invoice; fixed at creation."),
		field.String("customer_id").NotEmpty().
			Comment("The customer billed: an active customer whose currency is the invoice's."),
		field.String("number").Optional().Nillable().
			Comment("The invoice number, e.g. INV-00042: the entity's prefix and its next number. Assigned at " +
				"approval, gap-free per entity and never reused; null before approval.").
			Annotations(entgql.OrderField("NUMBER")),
		field.Int64("sequence").Optional().Nillable().
			Comment("The numeric part of the number in the entity's sequence; null before approval.").
			Annotations(entgql.Skip()),
		dateField("issue_date", 0, "The invoice date (YYYY-MM-DD). Approval posts the invoice on it, or in "+
			"the next open period when its period is closed.", entgql.OrderField("ISSUE_DATE")),
		dateField("due_date", 0, "When payment is due (YYYY-MM-DD), on or after the issue date. Past it, an "+
			"invoice with an open balance is overdue.", entgql.OrderField("DUE_DATE")),
		dateField("service_from", optional, "First day of the service period billed (YYYY-MM-DD); null when "+
			"not given."),
		dateField("service_to", optional, "Last day of the service period billed (YYYY-MM-DD), not before its "+
			"first day; null when not given."),
		currencyField("currency", 0, "ISO 4217 code of the invoice's currency: the customer's currency, which "+
			"must be the entity's base currency."),
		field.Enum("status").Values(invoiceStatuses...).Default("draft").
			Comment("Where the invoice is in its lifecycle. Payments and credits move it to partially paid "+
				"and paid; overdue is derived, never a status.").
			Annotations(entgql.Type("InvoiceStatus"), entgql.OrderField("STATUS")),
		field.String("memo").Optional().MaxLen(4000).
			Comment("Free-text note on the invoice; empty when none."),
		// text, not jsonb, on PostgreSQL: with binary_parameters lib/pq sends JSON as binary,
		// which jsonb refuses (see database.withBinaryParameters).
		field.JSON("custom_fields", map[string]string{}).Optional().
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Comment("Extra named text values of the invoice, e.g. a purchase order number: at most 10, "+
				"names of 1 to 50 characters, values of at most 500.").
			Annotations(entgql.Type("Map"), entgql.Skip(entgql.SkipWhereInput)),
		moneyField("subtotal", 0, "Sum of the line amounts, in the invoice's currency. Books adds no tax "+
			"or discount, so it equals the total."),
		moneyField("total", 0, "The amount billed, in the invoice's currency: the sum of the line amounts. "+
			"Approval debits it to Accounts Receivable.", entgql.OrderField("TOTAL")),
		moneyField("amount_paid", 0, "How much of the total payments and credit memos settle, net of "+
			"applications taken back, in the invoice's currency."),
		moneyField("written_off", 0, "How much was written off as bad debt, in the invoice's currency; zero "+
			"unless written off."),
		moneyField("balance", 0, "What is still open, in the invoice's currency: the total minus the amount "+
			"paid and written off. Zero once paid, written off or void; before approval it equals the total, "+
			"though nothing is owed until the invoice is approved."),
		field.String("submitted_by").Optional().
			Comment("Who submitted the invoice for approval (a user's subject); empty before submission and " +
				"after a rejection."),
		field.Time("submitted_at").Optional().Nillable().
			Comment("When the invoice was submitted for approval (UTC); null before submission and after a " +
				"rejection."),
		field.String("approved_by").Optional().
			Comment("Who approved the invoice (a user's subject), never its submitter; empty before approval."),
		field.Time("approved_at").Optional().Nillable().
			Comment("When the invoice was approved (UTC); null before approval."),
		field.String("rejection_reason").Optional().MaxLen(1000).
			Comment("Why the approver last sent the invoice back to draft; empty when never rejected, and " +
				"cleared when the draft is edited."),
		field.Time("sent_at").Optional().Nillable().
			Comment("When the invoice was marked sent (UTC); null before."),
		field.Time("viewed_at").Optional().Nillable().
			Comment("When the sent invoice was first marked viewed, as when the customer opens it in the portal " +
				"(UTC); null before."),
		field.Time("voided_at").Optional().Nillable().
			Comment("When the invoice was voided (UTC); null unless void."),
		field.String("journal_entry_id").Optional().Nillable().
			Comment("The journal entry its approval posted (DR Accounts Receivable, CR revenue or deferred " +
				"revenue); null before approval."),
		field.String("void_entry_id").Optional().Nillable().
			Comment("The reversing journal entry its void posted; null unless void."),
		field.Enum("sync_status").GoType(syncstate.Status("")).Default(string(syncstate.NotSynced)).
			Comment("Where the invoice stands with QuickBooks Online; new invoices are not synced.").
			Annotations(entgql.Type("SyncStatus")),
	}
}

func (Invoice) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity that issues the invoice."),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Required().
			Comment("The customer billed."),
		edge.To("lines", InvoiceLine.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("The invoice's lines; at least one."),
		edge.To("events", InvoiceEvent.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("The invoice's status changes, from its creation on."),
		edge.To("journal_entry", JournalEntry.Type).Field("journal_entry_id").Unique().
			Comment("The journal entry its approval posted; null before approval."),
		edge.To("payment_applications", PaymentApplication.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("Payments applied to the invoice, including applications taken back since."),
		edge.To("credit_applications", CreditApplication.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("Credit memos applied to the invoice, including applications taken back since."),
	}
}

func (Invoice) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entity_id", "number").Unique(),
		index.Fields("organization_id", "status", "issue_date"),
		index.Fields("customer_id"),
	}
}

func (Invoice) Annotations() []schema.Annotation {
	// The invoices query is hand-written (graph/billing.graphqls) for its extra filters.
	return []schema.Annotation{
		entgql.RelayConnection(),
		schema.Comment("A bill to a customer. It is posted to the ledger (DR Accounts Receivable, CR revenue) " +
			"only once approved by someone other than its submitter, and never edited after that: a mistake " +
			"is voided and re-issued."),
	}
}

func portalInvoiceLines(customer string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		inv := sql.Table("invoices")
		s.Where(sql.In(s.C("invoice_id"), sql.Select(inv.C("id")).From(inv).
			Where(sql.And(sql.EQ(inv.C("customer_id"), customer), sql.In(inv.C("status"), portalInvoiceStatuses...)))))
	}
}

// InvoiceLine is one line of an invoice: amount = quantity × unit price, rounded half-up to
// the currency's minor unit.
type InvoiceLine struct{ ent.Schema }

func (InvoiceLine) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.InvoiceLine}, orgMixin{portal: portalInvoiceLines}}
}

func (InvoiceLine) Fields() []ent.Field {
	return []ent.Field{
		field.String("invoice_id").Immutable().NotEmpty().
			Comment("The invoice the line belongs to."),
		field.Int("line_no").
			Comment("The line's position on the invoice, from 1."),
		field.String("item_id").NotEmpty().
			Comment("The service item billed: an active item of the invoice's entity."),
		field.String("description").Optional().MaxLen(4000).
			Comment("What the line bills for; defaults to the item's description."),
		field.Int64("quantity").GoType(money.Quantity{}).
			Comment("How many units are billed, e.g. hours; positive, at most 6 decimal places.").
			Annotations(entgql.Type("Quantity")),
		moneyField("unit_price", 0, "Price of one unit, in the invoice's currency; defaults to the item's "+
			"default rate."),
		moneyField("amount", 0, "Quantity × unit price, rounded half-up to the currency's minor unit, in the "+
			"invoice's currency."),
		field.String("class_id").Optional().Nillable().
			Comment("The class the line's revenue is tagged with; null for none."),
		dateField("service_date", optional, "The day the service was performed (YYYY-MM-DD); null when not given."),
		field.Bool("scheduled").Default(false).
			Comment("Recognized over time: approval credits deferred revenue instead of revenue."),
	}
}

func (InvoiceLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("invoice", Invoice.Type).Ref("lines").Field("invoice_id").Unique().Required().Immutable().
			Comment("The invoice the line belongs to."),
		edge.To("item", Item.Type).Field("item_id").Unique().Required().
			Comment("The service item billed."),
		edge.To("class", Class.Type).Field("class_id").Unique().
			Comment("The class the line's revenue is tagged with; null for none."),
	}
}

func (InvoiceLine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("invoice_id", "line_no").Unique()}
}

func (InvoiceLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One line of an invoice: an item, a quantity and a unit price. Its amount is quantity × " +
			"unit price, rounded half-up to the currency's minor unit."),
	}
}

// InvoiceEvent records one status change of an invoice: who, when, old → new.
type InvoiceEvent struct{ ent.Schema }

func (InvoiceEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.InvoiceEvent}, orgMixin{}}
}

func (InvoiceEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("invoice_id").Immutable().NotEmpty().
			Comment("The invoice whose status changed."),
		field.Time("at").Immutable().
			Comment("When the status changed (UTC)."),
		field.String("actor").Immutable().
			Comment("Who changed it: a user's subject, or system."),
		// via and the statuses are stored as text; graph/billing.graphqls shows them typed, as
		// the enums they hold.
		field.String("via").Immutable().
			Comment("The interface the change came through: graphql, api, cli or system, as in audit events.").
			Annotations(entgql.Skip()),
		field.String("from_status").Immutable().
			Comment("The invoice status before the change.").
			Annotations(entgql.Skip()),
		field.String("to_status").Immutable().
			Comment("The invoice status after the change.").
			Annotations(entgql.Skip()),
		field.String("note").Optional().Immutable().MaxLen(1000).
			Comment("What happened, e.g. approved, \"rejected: <reason>\" or the payment applied and its amount."),
	}
}

func (InvoiceEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("invoice", Invoice.Type).Ref("events").Field("invoice_id").Unique().Required().Immutable().
			Comment("The invoice whose status changed."),
	}
}

func (InvoiceEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One status change of an invoice: who, when, old → new, written in the same transaction " +
			"as the change."),
	}
}

// InvoiceSequence numbers an entity's invoices. The row is locked by the approval that takes
// the next number, so numbers are gap-free and never reused.
type InvoiceSequence struct{ ent.Schema }

func (InvoiceSequence) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.InvoiceSequence}, orgMixin{}}
}

func (InvoiceSequence) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().Unique().
			Comment("The legal entity numbered; one sequence per entity."),
		field.String("prefix").Default("INV-").MaxLen(20).
			Comment("Put before the number: INV- gives INV-00042."),
		field.Int64("last_number").Default(0).
			Comment("The last number taken; the next approval takes the one after it."),
	}
}

func (InvoiceSequence) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(),
		schema.Comment("Numbers a legal entity's invoices, gap-free and never reused."),
	}
}
