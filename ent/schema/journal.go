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
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity whose ledger the entry is on."),
		dateField("date", immutable, "The accounting date the entry posts on (YYYY-MM-DD), between "+
			"1900-01-01 and 2199-12-31; its month is the entry's period.", entgql.OrderField("DATE")),
		dateField("document_date", immutable|optional, "The date the entry was asked for when that date's "+
			"period was closed and the entry moved to the first day of the next open period; null otherwise."),
		field.String("description").MaxLen(1000).Default("").Immutable().
			Comment("The entry's memo; empty when none."),
		currencyField("currency", immutable, "ISO 4217 code of the entry's amounts: the entity's base "+
			"currency (Books has no exchange rates)."),
		field.Enum("source_system").GoType(source.System("")).Immutable().
			Comment("The system the entry came from; books for entries made in Books, by hand or by its " +
				"billing documents.").
			Annotations(entgql.Type("SourceSystem")),
		field.String("source_ref").NotEmpty().MaxLen(200).Immutable().
			Comment("The source system's reference of the event posted. It is unique per entity and source " +
				"system, so posting the same reference again returns the first entry. Books uses the entry's " +
				"id when a manual entry gives none, reversal:<id> for reversals and <kind>:<id> for its documents."),
		field.Enum("status").Values("draft", "posted", "reversed").Default("draft").
			Comment("Posted once written; reversed once a reversing entry cancels it. A draft exists only while " +
				"an entry is being written.").
			Annotations(entgql.Type("JournalEntryStatus")),
		moneyField("total", immutable, "The sum of the entry's debits, which equals the sum of its credits; "+
			"positive, in the entry's currency."),
		field.Time("posted_at").Optional().Nillable().
			Comment("When the entry was posted (UTC); null only for a draft."),
		field.String("reversal_of_id").Optional().Nillable().Immutable().
			Comment("For a reversing entry, the id of the entry it reverses; null otherwise."),
		field.String("created_by").Default("").Immutable().
			Comment("Who posted the entry: a user's subject or an integration key's id; system, or empty, for " +
				"postings no person or key made."),
		field.String("created_via").Default("").Immutable().
			Comment("The interface the entry was posted through: graphql, api, cli or system; empty when not " +
				"recorded.").
			// graph/schema.graphqls shows it typed, as an AuditInterface.
			Annotations(entgql.Skip()),
		field.String("request_id").Optional().Immutable().
			Comment("The id of the HTTP request that posted the entry (its X-Request-Id); empty outside a request."),
		// The caller's Idempotency-Key and a hash of its request: a retry replays this entry,
		// a different request under the same key is refused. Kept on the entry itself, as
		// ledgers like Formance do, so the check costs no extra write.
		field.String("idempotency_key").Optional().Nillable().Immutable().MaxLen(255).
			Comment("The Idempotency-Key the JE API caller sent, unique per caller; null when none.").
			Annotations(entgql.Skip()),
		field.String("request_hash").Optional().Immutable().
			Comment("A hash of the request that carried the idempotency key, to refuse a different request " +
				"under the same key.").
			Annotations(entgql.Skip()),
		// The Books document that posted the entry (an invoice, payment, credit memo, …). Such an
		// entry belongs to the document: only the document's own operations (void, unapply,
		// refund) undo it, and only such entries may touch control accounts.
		field.String("document_type").Optional().Nillable().Immutable().MaxLen(50).
			Comment("The kind of Books document that posted the entry, e.g. invoice or payment; null for manual " +
				"and API entries. Only that document's own operations (void, unapply, refund) undo the entry.").
			// graph/schema.graphqls shows it typed, as a DocumentType.
			Annotations(entgql.Skip()),
		field.String("document_id").Optional().Nillable().Immutable().MaxLen(100).
			Comment("The id of the document that posted the entry; null for manual and API entries."),
	}
}

func (JournalEntry) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", LegalEntity.Type).Ref("journal_entries").
			Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity whose ledger the entry is on."),
		edge.To("lines", JournalLine.Type).
			Comment("The entry's debit and credit lines; at least two."),
		edge.To("reversed_by", JournalEntry.Type).Unique().
			Comment("The entry that reverses this one; null unless reversed.").
			From("reversal_of").Field("reversal_of_id").Unique().Immutable().
			Comment("For a reversing entry, the entry it reverses; null otherwise."),
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
	return append(gqlRoot("journalEntries", "The journal entries of every legal entity of the organization."), schema.Comment("A balanced set of debits and credits on one "+
		"legal entity's ledger. Once posted it is immutable (the database enforces it); a correction is a "+
		"reversing entry."), entsql.Checks(map[string]string{
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
		field.String("entry_id").Immutable().NotEmpty().
			Comment("The journal entry the line belongs to."),
		field.Int("line_no").Immutable().
			Comment("The line's position in its entry, from 1."),
		field.String("account_id").Immutable().NotEmpty().
			Comment("The account debited or credited: an active account of the entry's entity."),
		moneyField("debit", immutable, "The amount debited, in the entry's currency; zero on a credit line. "+
			"Exactly one of debit and credit is positive."),
		moneyField("credit", immutable, "The amount credited, in the entry's currency; zero on a debit line."),
		field.String("class_id").Optional().Nillable().Immutable().
			Comment("The class the line is tagged with; null for none."),
		field.String("description").MaxLen(1000).Default("").Immutable().
			Comment("The line's memo; empty when none."),
		// QuickBooks requires a customer on every A/R line and a vendor on every A/P line.
		field.String("customer_id").Optional().Nillable().Immutable().
			Comment("The customer the line concerns; billing names it on every Accounts Receivable and " +
				"Customer Credits line. Null when none."),
		field.String("vendor_id").Optional().Nillable().Immutable().
			Comment("The vendor the line concerns; null when none."),
	}
}

func (JournalLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entry", JournalEntry.Type).Ref("lines").
			Field("entry_id").Unique().Required().Immutable().
			Comment("The journal entry the line belongs to."),
		edge.To("account", Account.Type).Field("account_id").Unique().Required().Immutable().
			Comment("The account debited or credited."),
		edge.To("class", Class.Type).Field("class_id").Unique().Immutable().
			Comment("The class the line is tagged with; null for none."),
		edge.To("customer", Customer.Type).Field("customer_id").Unique().Immutable().
			Comment("The customer the line concerns; null when none."),
		edge.To("vendor", Vendor.Type).Field("vendor_id").Unique().Immutable().
			Comment("The vendor the line concerns; null when none."),
	}
}

func (JournalLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One debit or one credit of a journal entry, on one account."),
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
