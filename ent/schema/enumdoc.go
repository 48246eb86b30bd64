package schema

// GraphQLEnumDocs describes each value of the GraphQL enums generated from these schemas,
// keyed by the enum's GraphQL name and then by the value in UPPER_SNAKE form ("_" describes
// the enum itself). entgql gives
// enum values no descriptions of its own; the GraphQL schema hook takes them from here, and
// a test fails when a value of graph/ent.graphqls has none.
var GraphQLEnumDocs = map[string]map[string]string{
	"AccountType": {
		"_":         "The kind of an account, which decides its normal balance and its place in the statements.",
		"ASSET":     "Something the entity owns or is owed, e.g. cash and receivables; normally a debit balance.",
		"LIABILITY": "Something the entity owes, e.g. payables, deferred revenue and customer credits; normally a credit balance.",
		"EQUITY":    "The owners' stake, e.g. capital and retained earnings; normally a credit balance.",
		"REVENUE":   "Income earned from the firm's sales; normally a credit balance.",
		"EXPENSE":   "A cost incurred, e.g. cost of services and bad debt; normally a debit balance.",
	},
	"AccountSubtype": {
		"_":                       "The finer kind of an account; it maps to QuickBooks' AccountSubType and marks control accounts.",
		"BANK":                    "A bank account (asset).",
		"ACCOUNTS_RECEIVABLE":     "What customers owe on approved invoices (asset); a control account that only billing documents post to.",
		"UNDEPOSITED_FUNDS":       "Money received but not yet deposited in a bank account (asset); recorded payments are debited to it by default.",
		"UNBILLED_RECEIVABLES":    "Work performed but not yet invoiced, e.g. time logged on time-and-materials engagements (asset).",
		"OTHER_CURRENT_ASSET":     "Another asset expected to turn into cash within a year (asset).",
		"FIXED_ASSET":             "Long-lived property or equipment (asset).",
		"OTHER_ASSET":             "Any other asset (asset).",
		"ACCOUNTS_PAYABLE":        "What the entity owes its vendors (liability); a control account that manual and API entries cannot post to.",
		"CREDIT_CARD":             "A credit card balance owed (liability).",
		"DEFERRED_REVENUE":        "Amounts billed for service not yet delivered, recognized as revenue over time (liability).",
		"CUSTOMER_CREDIT":         "Unapplied payments and credit memo credit owed to customers (liability); a control account that only billing documents post to.",
		"OTHER_CURRENT_LIABILITY": "Another liability due within a year (liability).",
		"LONG_TERM_LIABILITY":     "A liability due after more than a year, e.g. a loan (liability).",
		"EQUITY":                  "The owners' capital (equity).",
		"RETAINED_EARNINGS":       "Profits kept in the business over past years (equity).",
		"INCOME":                  "Revenue from the firm's services (revenue).",
		"OTHER_INCOME":            "Revenue from outside the firm's main business, e.g. interest (revenue).",
		"COST_OF_SALES":           "Direct costs of delivering the firm's services (expense).",
		"EXPENSE":                 "An operating expense (expense).",
		"BAD_DEBT":                "Receivables written off as uncollectible (expense); write-offs are debited to it by default.",
		"OTHER_EXPENSE":           "An expense outside the firm's main business (expense).",
	},
	"AdminIssueStatus": {
		"_":        "Where an admin issue stands.",
		"OPEN":     "Needs a person's attention.",
		"RESOLVED": "Settled by a person, or retried; it opens again if the problem recurs.",
		"IGNORED":  "Set aside by a person with a note saying why; it stays ignored when the problem recurs.",
	},
	"AuditActorType": {
		"_":               "Who made an audited change.",
		"USER":            "A person signed in with a bearer token: staff, or a client portal user.",
		"INTEGRATION_KEY": "An external system calling with an integration key.",
		"SYSTEM":          "Books itself, e.g. a background job or the command-line tool.",
	},
	"AuditInterface": {
		"_":       "The interface through which a change was made.",
		"GRAPHQL": "The GraphQL API.",
		"API":     "The journal entry REST API (JE API).",
		"CLI":     "The books command-line tool.",
		"SYSTEM":  "Books itself, e.g. a background job.",
	},
	"QBOLinkRecordType": {
		"_":               "The kind of Books record a QuickBooks link ties.",
		"ACCOUNT":         "A general-ledger account, mapped to a QuickBooks account.",
		"CLASS":           "A class, pushed as a QuickBooks Class.",
		"ITEM":            "A product or service, pushed as a QuickBooks Item.",
		"CUSTOMER":        "A customer, pushed as a QuickBooks Customer.",
		"VENDOR":          "A vendor, pushed as a QuickBooks Vendor.",
		"INVOICE":         "An approved invoice (or one month of it when split), pushed as a QuickBooks Invoice.",
		"PAYMENT":         "A customer payment, pushed as a QuickBooks Payment linked to its invoices.",
		"CREDIT_MEMO":     "A credit memo, pushed as a QuickBooks CreditMemo.",
		"REFUND":          "A refund of a payment, pushed as a QuickBooks RefundReceipt.",
		"CHARGE_REVERSAL": "A charge reversal (lost dispute), pushed as a QuickBooks JournalEntry on Accounts Receivable.",
		"WRITE_OFF":       "A write-off of an invoice balance, pushed as a QuickBooks JournalEntry on Accounts Receivable.",
		"JOURNAL_ENTRY":   "A manual journal entry, pushed as a QuickBooks JournalEntry with the class on each line.",
	},
	"QBOLinkStatus": {
		"_":                "Where a QuickBooks link stands.",
		"PENDING":          "A write to QuickBooks is owed and queued.",
		"SYNCED":           "QuickBooks holds the latest version of the record.",
		"ERROR":            "The write failed in a way a person must fix; the link's lastError and the admin queue say why.",
		"DELETED_REMOTELY": "The record was deleted or voided in QuickBooks; a person unlinks or pushes it again.",
	},
	"QBOLinkOperation": {
		"_":      "The write a pending QuickBooks link owes.",
		"UPSERT": "Create the QuickBooks record, or update it when it exists.",
		"VOID":   "Void the QuickBooks transaction.",
		"DELETE": "Delete the QuickBooks transaction.",
	},
	"InvoiceStatus": {
		"_":              "Where an invoice stands in its life cycle. Overdue is derived (see Invoice.overdue), never a status.",
		"DRAFT":          "Being prepared: it can be edited and is not on the ledger.",
		"SUBMITTED":      "Put up for approval; another person approves it or sends it back to draft.",
		"APPROVED":       "Approved, numbered and posted to the ledger; not yet sent.",
		"SENT":           "Approved and marked sent to the customer.",
		"VIEWED":         "Sent, then marked viewed, as when the customer opens it in the portal.",
		"PARTIALLY_PAID": "Payments or credits settle part of the total; a balance is still open.",
		"PAID":           "Payments and credits settle the whole total.",
		"VOID":           "Cancelled after approval: its posting was reversed and its number is kept.",
		"WRITTEN_OFF":    "Its open balance was written off as bad debt.",
	},
	"JournalEntryStatus": {
		"_":        "Whether a journal entry is posted to the ledger.",
		"DRAFT":    "Being written: its lines are added before it is posted. Not counted in balances.",
		"POSTED":   "On the ledger and immutable.",
		"REVERSED": "Posted, then cancelled by a reversing entry; both stay on the ledger.",
	},
	"PaymentMethod": {
		"_":     "How a customer paid.",
		"CARD":  "Credit or debit card.",
		"ACH":   "ACH bank transfer.",
		"CHECK": "Paper check.",
		"WIRE":  "Wire transfer.",
		"CASH":  "Cash.",
		"OTHER": "Any other method.",
	},
	"PaymentProcessor": {
		"_":      "The system that processed a payment.",
		"MANUAL": "Recorded by a person in Books.",
		"STRIPE": "Received through Stripe; the external reference is Stripe's id.",
		"QBO":    "Received in QuickBooks Online; the external reference is the QuickBooks payment id.",
	},
	"PeriodStatus": {
		"_":      "Whether an accounting period accepts postings.",
		"OPEN":   "Entries dated in the period are posted.",
		"CLOSED": "Entries dated in the period are refused, or moved to the next open period when the poster allows late entries.",
	},
	"SourceSystem": {
		"_":           "The system a posting or mapping comes from.",
		"BOOKS":       "Books itself: entries made by hand and by its billing documents.",
		"PSA":         "The professional services automation system: billable time and its revenue.",
		"AMS":         "The AMS system, posting through the journal entry API.",
		"CHMS":        "The CHMS system, posting through the journal entry API.",
		"IMPORT":      "Entries loaded by a data import.",
		"AUTOTASK":    "Autotask, a PSA product.",
		"STRIPE":      "Stripe payment events.",
		"HUB_BILLING": "Hub subscription billing events.",
	},
	"SyncStatus": {
		"_":          "Where a record stands in its push to QuickBooks Online.",
		"NOT_SYNCED": "Not in QuickBooks Online.",
		"PENDING":    "Waiting to be pushed to QuickBooks Online.",
		"SYNCED":     "In step with its QuickBooks Online record.",
		"ERROR":      "The last sync with QuickBooks Online failed.",
	},

	"OrderDirection": {
		"ASC":  "Ascending: smallest, earliest or first in alphabetical order first.",
		"DESC": "Descending: largest, latest or last in alphabetical order first.",
	},
	"AccountOrderField": {
		"CREATED_AT": "Order by when the account was created.",
		"CODE":       "Order by the account code.",
		"NAME":       "Order by the account name.",
		"TYPE":       "Order by the account type, alphabetically.",
	},
	"AccountingPeriodOrderField": {
		"CREATED_AT": "Order by when the period record was created.",
		"START_DATE": "Order by the period's first day.",
	},
	"AdminIssueOrderField": {
		"CREATED_AT":    "Order by when the issue was created.",
		"KIND":          "Order by the kind of problem.",
		"FIRST_SEEN_AT": "Order by when the problem first occurred.",
		"LAST_SEEN_AT":  "Order by when the problem last occurred.",
	},
	"AuditEventOrderField": {
		"AT": "Order by when the change happened.",
	},
	"QBOLinkOrderField": {
		"CREATED_AT": "Order by when the link was created.",
	},
	"COAMappingOrderField": {
		"CREATED_AT":  "Order by when the mapping was created.",
		"SOURCE_CODE": "Order by the source code.",
	},
	"ChargeReversalOrderField": {
		"CREATED_AT": "Order by when the charge reversal was recorded.",
	},
	"ClassOrderField": {
		"CREATED_AT": "Order by when the class was created.",
		"NAME":       "Order by the class name.",
	},
	"CreditApplicationOrderField": {
		"CREATED_AT": "Order by when the credit was applied.",
	},
	"CreditMemoOrderField": {
		"CREATED_AT": "Order by when the credit memo was issued.",
	},
	"CustomerOrderField": {
		"CREATED_AT":   "Order by when the customer was created.",
		"NAME":         "Order by the customer's name.",
		"DISPLAY_NAME": "Order by the customer's display name.",
	},
	"IntegrationKeyOrderField": {
		"CREATED_AT": "Order by when the key was created.",
	},
	"InvoiceOrderField": {
		"CREATED_AT": "Order by when the invoice was created.",
		"NUMBER":     "Order by the invoice number.",
		"ISSUE_DATE": "Order by the invoice date.",
		"DUE_DATE":   "Order by the due date.",
		"STATUS":     "Order by the status, alphabetically.",
		"TOTAL":      "Order by the invoice total.",
	},
	"ItemOrderField": {
		"CREATED_AT": "Order by when the item was created.",
		"NAME":       "Order by the item name.",
	},
	"JournalEntryOrderField": {
		"CREATED_AT": "Order by when the entry was written.",
		"DATE":       "Order by the accounting date.",
	},
	"LegalEntityOrderField": {
		"CREATED_AT": "Order by when the entity was created.",
		"CODE":       "Order by the entity code.",
		"NAME":       "Order by the entity name.",
	},
	"OrganizationOrderField": {
		"CREATED_AT": "Order by when the organization was created.",
	},
	"PaymentApplicationOrderField": {
		"CREATED_AT": "Order by when the payment was applied.",
	},
	"PaymentOrderField": {
		"CREATED_AT":    "Order by when the payment was recorded.",
		"AMOUNT":        "Order by the amount received.",
		"RECEIVED_DATE": "Order by the date the money was received.",
	},
	"RefundOrderField": {
		"CREATED_AT": "Order by when the refund was recorded.",
	},
	"VendorOrderField": {
		"CREATED_AT":   "Order by when the vendor was created.",
		"NAME":         "Order by the vendor's name.",
		"DISPLAY_NAME": "Order by the vendor's display name.",
	},
	"WriteOffOrderField": {
		"CREATED_AT": "Order by when the write-off was recorded.",
	},
}
