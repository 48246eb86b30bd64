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
		field.String("entity_id").Immutable().NotEmpty(),
		field.String("customer_id").NotEmpty(),
		field.String("number").Optional().Nillable().
			Comment("Assigned at approval, gap-free per entity; drafts have none.").
			Annotations(entgql.OrderField("NUMBER")),
		field.Int64("sequence").Optional().Nillable().Annotations(entgql.Skip()),
		dateField("issue_date", 0, entgql.OrderField("ISSUE_DATE")),
		dateField("due_date", 0, entgql.OrderField("DUE_DATE")),
		dateField("service_from", optional),
		dateField("service_to", optional),
		currencyField("currency", 0),
		field.Enum("status").Values(invoiceStatuses...).Default("draft").
			Annotations(entgql.Type("InvoiceStatus"), entgql.OrderField("STATUS")),
		field.String("memo").Optional().MaxLen(4000),
		// text, not jsonb, on PostgreSQL: with binary_parameters lib/pq sends JSON as binary,
		// which jsonb refuses (see database.withBinaryParameters).
		field.JSON("custom_fields", map[string]string{}).Optional().
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Annotations(entgql.Type("Map"), entgql.Skip(entgql.SkipWhereInput)),
		moneyField("subtotal", 0),
		moneyField("total", 0, entgql.OrderField("TOTAL")),
		moneyField("amount_paid", 0),
		moneyField("written_off", 0),
		moneyField("balance", 0),
		field.String("submitted_by").Optional(),
		field.Time("submitted_at").Optional().Nillable(),
		field.String("approved_by").Optional(),
		field.Time("approved_at").Optional().Nillable(),
		field.String("rejection_reason").Optional().MaxLen(1000),
		field.Time("sent_at").Optional().Nillable(),
		field.Time("viewed_at").Optional().Nillable(),
		field.Time("voided_at").Optional().Nillable(),
		field.String("journal_entry_id").Optional().Nillable(),
		field.String("void_entry_id").Optional().Nillable(),
		field.Enum("sync_status").GoType(syncstate.Status("")).Default(string(syncstate.NotSynced)).
			Annotations(entgql.Type("SyncStatus")),
	}
}

func (Invoice) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable(),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Required(),
		edge.To("lines", InvoiceLine.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("events", InvoiceEvent.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("journal_entry", JournalEntry.Type).Field("journal_entry_id").Unique(),
		edge.To("payment_applications", PaymentApplication.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("credit_applications", CreditApplication.Type).Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
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
	return []schema.Annotation{entgql.RelayConnection()}
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
		field.String("invoice_id").Immutable().NotEmpty(),
		field.Int("line_no"),
		field.String("item_id").NotEmpty(),
		field.String("description").Optional().MaxLen(4000),
		field.Int64("quantity").GoType(money.Quantity{}).Annotations(entgql.Type("Quantity")),
		moneyField("unit_price", 0),
		moneyField("amount", 0),
		field.String("class_id").Optional().Nillable(),
		dateField("service_date", optional),
		field.Bool("scheduled").Default(false).
			Comment("Recognized over time: approval credits deferred revenue instead of revenue."),
	}
}

func (InvoiceLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("invoice", Invoice.Type).Ref("lines").Field("invoice_id").Unique().Required().Immutable(),
		edge.To("item", Item.Type).Field("item_id").Unique().Required(),
		edge.To("class", Class.Type).Field("class_id").Unique(),
	}
}

func (InvoiceLine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("invoice_id", "line_no").Unique()}
}

// InvoiceEvent records one status change of an invoice: who, when, old → new.
type InvoiceEvent struct{ ent.Schema }

func (InvoiceEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.InvoiceEvent}, orgMixin{}}
}

func (InvoiceEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("invoice_id").Immutable().NotEmpty(),
		field.Time("at").Immutable(),
		field.String("actor").Immutable(),
		// Stored as text; graph/billing.graphqls shows them typed, as the enums they hold.
		field.String("via").Immutable().Annotations(entgql.Skip()),
		field.String("from_status").Immutable().Annotations(entgql.Skip()),
		field.String("to_status").Immutable().Annotations(entgql.Skip()),
		field.String("note").Optional().Immutable().MaxLen(1000),
	}
}

func (InvoiceEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("invoice", Invoice.Type).Ref("events").Field("invoice_id").Unique().Required().Immutable(),
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
		field.String("entity_id").Immutable().NotEmpty().Unique(),
		field.String("prefix").Default("INV-").MaxLen(20),
		field.Int64("last_number").Default(0),
	}
}

func (InvoiceSequence) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
