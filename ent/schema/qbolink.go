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
)

// QBOLinkRecordTypes are the Books records that can be linked to a QuickBooks record.
var QBOLinkRecordTypes = []string{"account", "class", "item", "customer", "vendor", "invoice", "payment",
	"credit_memo", "refund", "charge_reversal", "write_off", "journal_entry"}

// QBOLink ties one Books record (or one month part of a split invoice) to one QuickBooks
// record of one connection, and is the durable intent of the next write: a change of the
// Books record raises generation and sets status pending in the same transaction, and the
// push engine (internal/qbo/push) settles it. internal/qbo/push writes links, except account
// mappings, which internal/qbo/lists keeps.
type QBOLink struct{ ent.Schema }

func (QBOLink) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.QBOLink}, timeMixin{}, orgMixin{}}
}

func (QBOLink) Fields() []ent.Field {
	return []ent.Field{
		field.String("connection_id").Immutable().NotEmpty().
			Comment("The QuickBooks connection (company) the link belongs to. Links survive a disconnect and " +
				"resume when the same company is connected again."),
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity of the connection."),
		field.Enum("record_type").Values(QBOLinkRecordTypes...).Immutable().
			Comment("The kind of Books record linked."),
		field.String("record_id").Immutable().NotEmpty().MaxLen(40).
			Comment("The id of the Books record linked, e.g. inv_01jd8x…."),
		field.Int("part").Default(0).Immutable().
			Comment("For an invoice split by month: the month of the part as YYYYMM (one QuickBooks invoice " +
				"per calendar month of service dates); 0 for a record pushed whole."),
		field.String("qbo_type").Immutable().NotEmpty().MaxLen(40).
			Comment("The QuickBooks entity the record is pushed as, e.g. Customer, Invoice, Payment, " +
				"CreditMemo, RefundReceipt or JournalEntry."),
		field.String("qbo_id").Optional().Nillable().MaxLen(40).
			Comment("QuickBooks' id of the linked record; null until it is created or matched."),
		field.String("claim").Optional().Nillable().MaxLen(40).
			Comment("The QuickBooks id this link holds exclusively: equal to qboId once linked, except for " +
				"account mappings, which several Books accounts may share (null there)."),
		field.String("sync_token").Optional().MaxLen(20).
			Comment("QuickBooks' SyncToken of the linked record as last seen; an update sends it."),
		field.String("doc_number").Optional().MaxLen(40).
			Comment("The QuickBooks document number (DocNumber) or display name of the linked record, as last seen."),
		field.Enum("status").Values("pending", "synced", "error", "deleted_remotely").Default("pending").
			Comment("Where the link stands: pending while a write is owed, synced when QuickBooks holds the " +
				"latest generation, error when a person must act (see lastError), deleted_remotely when the " +
				"record was deleted or voided in QuickBooks."),
		field.Enum("operation").Values("upsert", "void", "delete").Default("upsert").
			Comment("The write owed while pending: create or update (upsert), void, or delete."),
		field.Int64("generation").Default(1).
			Comment("Counts the writes asked of the link; a write's QuickBooks requestid is derived from the " +
				"link, the operation and this number, so a retried write is recognized."),
		field.Int64("synced_generation").Default(0).
			Comment("The generation QuickBooks last confirmed; equal to generation when synced."),
		field.String("sent_key").Optional().MaxLen(200).
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The natural key (document number, display name or name) the last create attempt was sent " +
				"with; a retry after a lost answer also looks the record up by it, in case the Books record changed since."),
		field.String("sent_email").Optional().MaxLen(254).
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The email the last create attempt of a customer or vendor was sent with, looked up like sentKey."),
		field.Int("attempts").Default(0).
			Comment("Write attempts at the current generation; above zero a create may have reached QuickBooks, " +
				"so the next attempt looks the record up before creating."),
		field.String("last_error_code").Optional().MaxLen(100).
			Comment("The code of the last failure, e.g. QBO_FAULT or QBO_CUSTOMER_EMAIL_REQUIRED; empty when none."),
		field.String("last_error").Optional().MaxLen(2000).
			Comment("The last failure with QuickBooks' fault code and message; empty when none."),
		field.Time("synced_at").Optional().Nillable().
			Comment("When QuickBooks last confirmed the link (UTC); null before."),
		moneyField("qbo_total", optional, "QuickBooks' total (TotalAmt) of the linked transaction as last read; "+
			"null for lists and before the first push.", entgql.Skip(entgql.SkipWhereInput)),
		moneyField("qbo_balance", optional, "QuickBooks' open balance of the linked invoice as last read; "+
			"null for other records and before the first push.", entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (QBOLink) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("connection", QBOConnection.Type).Field("connection_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The QuickBooks connection the link belongs to."),
	}
}

func (QBOLink) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("connection_id", "record_type", "record_id", "part").Unique(),
		// One Books record per QuickBooks record: two links to one QuickBooks record would
		// push two records' changes into it. Accounts are only mapped, never pushed, and
		// several Books accounts may map to one QuickBooks account, so they claim nothing.
		index.Fields("connection_id", "qbo_type", "claim").Unique(),
		// A drain reads a connection's pending links of one type in id order from a cursor;
		// this index seeks there instead of sorting every pending link for each group.
		index.Fields("connection_id", "status", "record_type", "id"),
		index.Fields("record_id"),
	}
}

func (QBOLink) Annotations() []schema.Annotation {
	return append(gqlRoot("qboLinks", "The links of Books records to QuickBooks records, across connections."),
		entsql.Checks(map[string]string{
			"qbo_link_generation": "synced_generation >= 0 AND synced_generation <= generation AND attempts >= 0",
			"qbo_link_synced":     "(status <> 'synced' OR qbo_id IS NOT NULL)",
			"qbo_link_claim":      "(claim IS NULL OR claim = qbo_id)",
		}),
		schema.Comment("The link of one Books record to one QuickBooks Online record of a connection, with "+
			"where its sync stands."))
}

// QBOListEntry is one row of a QuickBooks list fetched by "Update lists": an account, a
// payment method, an item, a class or a custom-field definition.
type QBOListEntry struct{ ent.Schema }

func (QBOListEntry) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.QBOListEntry}, timeMixin{}, orgMixin{}}
}

func (QBOListEntry) Fields() []ent.Field {
	return []ent.Field{
		field.String("connection_id").Immutable().NotEmpty().
			Comment("The QuickBooks connection the list was fetched from."),
		field.Enum("list").Values("account", "payment_method", "item", "class", "custom_field").Immutable().
			Comment("Which QuickBooks list the entry belongs to."),
		field.String("qbo_id").Immutable().NotEmpty().MaxLen(40).
			Comment("QuickBooks' id of the entry."),
		field.String("name").MaxLen(400).
			Comment("The entry's name as QuickBooks shows it (FullyQualifiedName where there is one)."),
		field.String("qbo_kind").Optional().MaxLen(100).
			Comment("QuickBooks' type of the entry: AccountType for accounts (e.g. Bank), Type for payment " +
				"methods and items; empty for others."),
		field.String("qbo_subkind").Optional().MaxLen(100).
			Comment("QuickBooks' AccountSubType for accounts; empty for others."),
		field.Bool("active").Default(true).
			Comment("Whether the entry is active in QuickBooks."),
		field.Bool("deposit_allowed").Default(false).
			Comment("For accounts: whether payments may be deposited to it (types Bank and Other Current Asset only)."),
		field.Time("fetched_at").
			Comment("When the entry was last fetched (UTC)."),
	}
}

func (QBOListEntry) Indexes() []ent.Index {
	return []ent.Index{index.Fields("connection_id", "list", "qbo_id").Unique()}
}

func (QBOListEntry) Annotations() []schema.Annotation {
	return append(gqlRoot("qboListEntries", "The QuickBooks lists fetched by updateQuickBooksLists, across connections: "+
		"the choices for account mappings and connection settings."),
		schema.Comment("One entry of a QuickBooks list (account, payment method, item, class, custom field) "+
			"fetched by Update lists."))
}

// QBOAuthState is the server's half of an OAuth "state": one row per authorize URL handed
// out, consumed by the callback once. The state sent to Intuit is the row id with an HMAC,
// so a forged or altered state is refused before the database is read.
type QBOAuthState struct{ ent.Schema }

func (QBOAuthState) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.QBOAuthState}, timeMixin{}, orgMixin{}}
}

func (QBOAuthState) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity being connected."),
		field.String("principal").Immutable().MaxLen(300).
			Comment("Who asked to connect (principal subject), for the audit trail."),
		field.Time("expires_at").Immutable().
			Comment("When the state stops being accepted (UTC)."),
		field.Time("used_at").Optional().Nillable().
			Comment("When the callback consumed the state (UTC); a state is used once."),
	}
}

func (QBOAuthState) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		schema.Comment("A single-use OAuth state for connecting a legal entity to QuickBooks."),
	}
}
