package schema

// GraphQLEnumDocs describes the API's enums and their values, by GraphQL enum name and then
// by value as the API spells it (UPPER_SNAKE); "_" describes the enum itself. The ent
// generator (ent/entc) copies them into graph/ent.graphqls and fails when one is missing.
var GraphQLEnumDocs = map[string]map[string]string{
	"AccountType":        {"_": "The kind of an account, which decides its normal balance and its place in the statements."},
	"AccountSubtype":     {"_": "The finer kind of an account; it maps to QuickBooks' AccountSubType and marks control accounts."},
	"AdminIssueStatus":   {"_": "Where an admin issue stands."},
	"AuditActorType":     {"_": "Who made an audited change."},
	"AuditInterface":     {"_": "The interface through which a change was made."},
	"InvoiceStatus":      {"_": "Where an invoice stands in its life cycle. Overdue is derived (see Invoice.overdue), never a status."},
	"JournalEntryStatus": {"_": "Whether a journal entry is posted to the ledger."},
	"PaymentMethod":      {"_": "How a customer paid."},
	"PaymentProcessor":   {"_": "The system that processed a payment."},
	"PeriodStatus":       {"_": "Whether an accounting period accepts postings."},
	"SourceSystem":       {"_": "The system a posting or mapping comes from."},
	"SyncStatus":         {"_": "Where a record stands in its push to QuickBooks Online."},
}
