package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
	"books/internal/ledger/source"
)

// JournalEntry is a balanced set of debits and credits on one entity's ledger. Once posted it
// is immutable (the database enforces it); a correction is a reversing entry.
type JournalEntry struct{ ent.Schema }

func (JournalEntry) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.JournalEntry}, timeMixin{}, orgMixin{}}
}

func (JournalEntry) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		dateField("date", immutable, entgql.OrderField("DATE")),
		dateField("document_date", immutable|optional),
		field.String("description").MaxLen(1000).Default("").Immutable(),
		currencyField("currency", immutable),
		field.Enum("source_system").GoType(source.System("")).Immutable().
			Annotations(entgql.Type("SourceSystem")),
		field.String("source_ref").NotEmpty().MaxLen(200).Immutable(),
		field.Enum("status").Values("draft", "posted", "reversed").Default("draft").
			Annotations(entgql.Type("JournalEntryStatus")),
		moneyField("total", immutable),
		field.Time("posted_at").Optional().Nillable(),
		field.String("reversal_of_id").Optional().Nillable().Immutable(),
		field.String("created_by").Default("").Immutable(),
		field.String("created_via").Default("").Immutable(),
		field.String("request_id").Optional().Immutable(),
		// The caller's Idempotency-Key and a hash of its request: a retry replays this entry,
		// a different request under the same key is refused. Kept on the entry itself, as
		// ledgers like Formance do, so the check costs no extra write.
		field.String("idempotency_key").Optional().Nillable().Immutable().MaxLen(255).
			Annotations(entgql.Skip()),
		field.String("request_hash").Optional().Immutable().
			Annotations(entgql.Skip()),
		// The Books document that posted the entry (an invoice, payment, credit memo, …). Such an
		// entry belongs to the document: only the document's own operations (void, unapply,
		// refund) undo it, and only such entries may touch control accounts.
		field.String("document_type").Optional().Nillable().Immutable().MaxLen(50).
			Comment("The kind of Books document that posted the entry, e.g. invoice or payment; null for manual and API entries."),
		field.String("document_id").Optional().Nillable().Immutable().MaxLen(100).
			Comment("The id of the document that posted the entry."),
	}
}

func (JournalEntry) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("journal_entries").
			Field("entity_id").Unique().Required().Immutable(),
		edge.To("lines", JournalLine.Type),
		edge.To("reversed_by", JournalEntry.Type).Unique().
			From("reversal_of").Field("reversal_of_id").Unique().Immutable(),
	}
}

func (JournalEntry) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entity_id", "source_system", "source_ref").Unique(),
		index.Fields("entity_id", "date"),
		// The sealer finds the recent end of a ledger by it (ledger.SealRecent).
		index.Fields("entity_id", "posted_at"),
		// NULL keys never collide, so entries posted without a key are unconstrained.
		index.Fields("created_by", "idempotency_key").Unique(),
	}
}

func (JournalEntry) Annotations() []schema.Annotation {
	// The same on both databases; the ledger migrations add triggers for what a CHECK
	// cannot see (other rows, other tables).
	return append(gqlRoot("journalEntries"), entsql.Checks(map[string]string{
		"journal_entry_status": "status IN ('draft', 'posted', 'reversed')",
		"journal_entry_total":  "total > 0",
		// The documented range of ledger dates (ledger.MinDate … ledger.MaxDate).
		"journal_entry_dates": "(date >= '1900-01-01' AND date <= '2199-12-31' AND " +
			"(document_date IS NULL OR (document_date >= '1900-01-01' AND document_date <= '2199-12-31')))",
		// "reversal:<id>" is the reference of the one reversal of entry <id> and nothing else.
		"journal_entry_reversal_ref": "((reversal_of_id IS NULL AND substr(source_ref, 1, 9) <> 'reversal:') OR " +
			"(reversal_of_id IS NOT NULL AND source_ref = 'reversal:' || reversal_of_id))",
		// A document entry names its document fully and is posted by Books itself.
		"journal_entry_document": "((document_type IS NULL AND document_id IS NULL) OR " +
			"(document_type IS NOT NULL AND document_id IS NOT NULL AND source_system = 'books'))",
	}))
}

// JournalLine is one debit or one credit of a journal entry.
type JournalLine struct{ ent.Schema }

func (JournalLine) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.JournalLine}, orgMixin{}}
}

func (JournalLine) Fields() []ent.Field {
	return []ent.Field{
		field.String("entry_id").Immutable().NotEmpty(),
		field.Int("line_no").Immutable(),
		field.String("account_id").Immutable().NotEmpty(),
		moneyField("debit", immutable),
		moneyField("credit", immutable),
		field.String("class_id").Optional().Nillable().Immutable(),
		field.String("description").MaxLen(1000).Default("").Immutable(),
		// QuickBooks requires a customer on every A/R line and a vendor on every A/P line.
		field.String("customer_id").Optional().Nillable().Immutable(),
		field.String("vendor_id").Optional().Nillable().Immutable(),
	}
}

func (JournalLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entry", JournalEntry.Type).Ref("lines").
			Field("entry_id").Unique().Required().Immutable(),
		edge.To("account", Account.Type).Field("account_id").Unique().Required().Immutable(),
		edge.To("class", Class.Type).Field("class_id").Unique().Immutable(),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Immutable(),
		edge.To("vendor", Vendor.Type).Field("vendor_id").Unique().Immutable(),
	}
}

func (JournalLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		// Exactly one side per line, and it is positive.
		entsql.Checks(map[string]string{
			"journal_line_one_side": "((debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0))",
		}),
	}
}

func (JournalLine) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entry_id", "line_no").Unique(),
		index.Fields("account_id"),
	}
}
