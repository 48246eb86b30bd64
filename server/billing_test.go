package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/auth"
	"books/internal/caldate"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/money"
)

// ---------------------------------------------------------------------------------------
// Helpers of the billing and portal tests, all prefixed bi. Everything goes through
// GraphQL over HTTP except the snapshot, which reads the database to prove a refused
// operation changed nothing.

// biFix is what biFixture creates in one organization through GraphQL mutations.
type biFix struct {
	org      testOrg
	us, uk   string            // entity ids
	acme     string            // USD customer "Acme Corporation", billing@acme.example
	globex   string            // USD customer "Globex", ap@globex.example
	brit     string            // GBP customer "Britannia Ltd"
	consult  string            // US item "Consulting", income account 4000, rate 150.00
	managed  string            // US item "Managed Services", income account 4100, rate 99.99
	ukItem   string            // UK item "UK Consulting", income account 4000
	accts    map[string]string // US account ids by code
	ukAccts  map[string]string // UK account ids by code
	class    string            // US class "Consulting"
	ukClass  string            // UK class "Consulting"
	customer map[string]string // customer ids by display name
}

// biSetup is setup for the billing scenarios: when the scenario ends, both organizations'
// ledgers must be sealed, balanced, and equal to the documents behind their control
// accounts, whatever the scenario did, so no scenario can forget to check.
func biSetup(t *testing.T, dialectName string) *testBundle {
	t.Helper()
	b := setup(t, dialectName)
	t.Cleanup(func() {
		if t.Failed() {
			return // the failure says more than what it left behind
		}
		// The database's own client: the statement counter's driver has no BeginTx with
		// options, which the verification's read-only snapshot needs.
		client := b.db.Client()
		for _, org := range []testOrg{b.orgA, b.orgB} {
			integritytest.Check(t, client, org.ID)
		}
	})
	return b
}

// biSubject is the subject of org's token of role, as setup mints it: the actor the events
// and audit record.
func biSubject(org testOrg, role auth.Role) string { return "user-" + string(role) + "-" + org.ID }

func (b *testBundle) biCreateCustomer(t *testing.T, token string, in map[string]any) string {
	t.Helper()
	var out struct {
		CreateCustomer struct{ Customer struct{ ID string } }
	}
	b.gqlOK(t, token, `mutation($in: CreateCustomerInput!) { createCustomer(input: $in) { customer { id } } }`, map[string]any{"in": in}, &out)
	require.NotEmpty(t, out.CreateCustomer.Customer.ID)
	return out.CreateCustomer.Customer.ID
}

func (b *testBundle) biCreateItem(t *testing.T, token, entityID, name, rate, incomeAccountID string) string {
	t.Helper()
	var out struct {
		CreateItem struct {
			Item struct{ ID, IncomeAccountID, DefaultRate string }
		}
	}
	b.gqlOK(t, token, `mutation($in: CreateItemInput!) { createItem(input: $in) { item { id incomeAccountId defaultRate } } }`,
		map[string]any{"in": map[string]any{"entityId": entityID, "name": name, "description": name + " services",
			"defaultRate": rate, "incomeAccountId": incomeAccountID}}, &out)
	require.Equal(t, incomeAccountID, out.CreateItem.Item.IncomeAccountID)
	require.Equal(t, rate, out.CreateItem.Item.DefaultRate)
	return out.CreateItem.Item.ID
}

// biFixture creates org's billing reference data through GraphQL with the admin token.
func (b *testBundle) biFixture(t *testing.T, org testOrg) biFix {
	t.Helper()
	f := biFix{org: org, us: org.Entities[0].ID, uk: org.Entities[1].ID,
		accts: b.gqAccountIDs(t, org, 0), ukAccts: b.gqAccountIDs(t, org, 1),
		class: b.gqClassID(t, org, 0, "Consulting"), ukClass: b.gqClassID(t, org, 1, "Consulting")}
	f.acme = b.biCreateCustomer(t, org.Admin, map[string]any{"name": "Acme Corporation", "displayName": "Acme Corporation",
		"email": "billing@acme.example", "currency": "USD"})
	f.globex = b.biCreateCustomer(t, org.Admin, map[string]any{"name": "Globex Inc", "displayName": "Globex",
		"email": "ap@globex.example", "currency": "USD"})
	f.brit = b.biCreateCustomer(t, org.Admin, map[string]any{"name": "Britannia Ltd", "displayName": "Britannia Ltd",
		"email": "ledger@britannia.example", "currency": "GBP"})
	f.customer = map[string]string{"Acme Corporation": f.acme, "Globex": f.globex, "Britannia Ltd": f.brit}
	f.consult = b.biCreateItem(t, org.Admin, f.us, "Consulting", "150.00", f.accts["4000"])
	f.managed = b.biCreateItem(t, org.Admin, f.us, "Managed Services", "99.99", f.accts["4100"])
	f.ukItem = b.biCreateItem(t, org.Admin, f.uk, "UK Consulting", "120.00", f.ukAccts["4000"])
	return f
}

// biLine is an InvoiceLineInput; price "" takes the item's default rate.
func biLine(itemID, qty, price string) map[string]any {
	l := map[string]any{"itemId": itemID, "quantity": qty}
	if price != "" {
		l["unitPrice"] = price
	}
	return l
}

// biInput is an InvoiceFields on the US entity.
func (f biFix) biInput(customerID, issue, due string, lines ...map[string]any) map[string]any {
	return map[string]any{"entityId": f.us, "customerId": customerID, "issueDate": issue, "dueDate": due, "lines": lines}
}

type biEvent struct {
	ID         string
	Actor      string
	Via        string
	At         string
	FromStatus string
	ToStatus   string
	Note       string
}

type biInvoiceLine struct {
	ID          string
	LineNo      int
	ItemID      string
	ClassID     *string
	Description string
	Quantity    string
	UnitPrice   string
	Amount      string
	Scheduled   bool
}

type biInvoice struct {
	ID              string
	Status          string
	Number          *string
	EntityID        string
	CustomerID      string
	IssueDate       string
	DueDate         string
	Currency        string
	Memo            *string
	Subtotal        string
	Total           string
	AmountPaid      string
	WrittenOff      string
	Balance         string
	Overdue         bool
	SubmittedBy     *string
	ApprovedBy      *string
	RejectionReason *string
	SentAt          *string
	ViewedAt        *string
	VoidedAt        *string
	JournalEntryID  *string
	VoidEntryID     *string
	SyncStatus      string
	CustomFields    map[string]any
	Lines           []biInvoiceLine
	Events          []biEvent
}

// transitions returns the invoice's status changes in order, as "from>to".
func (inv biInvoice) transitions() []string {
	evs := append([]biEvent(nil), inv.Events...)
	sort.Slice(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID }) // ids are time-ordered
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.FromStatus + ">" + e.ToStatus
	}
	return out
}

// lastEvent returns the invoice's latest status change.
func (inv biInvoice) lastEvent(t *testing.T) biEvent {
	t.Helper()
	require.NotEmpty(t, inv.Events)
	evs := append([]biEvent(nil), inv.Events...)
	sort.Slice(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID })
	return evs[len(evs)-1]
}

func (inv biInvoice) number() string {
	if inv.Number == nil {
		return ""
	}
	return *inv.Number
}

const biInvoiceFields = `id status number entityId customerId issueDate dueDate currency memo subtotal total amountPaid
	writtenOff balance overdue submittedBy approvedBy rejectionReason sentAt viewedAt voidedAt journalEntryId voidEntryId
	syncStatus customFields
	lines { id lineNo itemId classId description quantity unitPrice amount scheduled }
	events { id actor via at fromStatus toStatus note }`

// biCreateQ creates a draft invoice from InvoiceFields $in.
const biCreateQ = `mutation($in: InvoiceFields!) { createInvoice(input: {invoice: $in}) { invoice { id } } }`

// biUpdateQ replaces draft $id's fields with InvoiceFields $in.
const biUpdateQ = `mutation($id: ID!, $in: InvoiceFields!) { updateInvoice(input: {invoiceId: $id, invoice: $in}) { invoice { id } } }`

// biCreate creates a draft invoice; it must succeed.
func (b *testBundle) biCreate(t *testing.T, token string, in map[string]any) biInvoice {
	t.Helper()
	var out struct {
		CreateInvoice struct{ Invoice biInvoice }
	}
	b.gqlOK(t, token, `mutation($in: InvoiceFields!) { createInvoice(input: {invoice: $in}) { invoice { `+biInvoiceFields+` } } }`,
		map[string]any{"in": in}, &out)
	return out.CreateInvoice.Invoice
}

// biTry runs an invoice mutation taking only the invoice's id (submitInvoice,
// approveInvoice, sendInvoice, voidInvoice, markInvoiceViewed).
func (b *testBundle) biTry(t *testing.T, token, field, id string) gqlResponse {
	t.Helper()
	return b.gql(t, token, `mutation($id: ID!) { r: `+field+`(input: {invoiceId: $id}) { invoice { `+biInvoiceFields+` } } }`,
		map[string]any{"id": id})
}

// biDo runs biTry's mutation, which must succeed, and returns the invoice.
func (b *testBundle) biDo(t *testing.T, token, field, id string) biInvoice {
	t.Helper()
	r := b.biTry(t, token, field, id)
	require.Empty(t, r.Errors, "%s: unexpected errors", field)
	var out struct{ R struct{ Invoice biInvoice } }
	require.NoError(t, json.Unmarshal(r.Data, &out))
	require.Equal(t, id, out.R.Invoice.ID, "%s: the payload carries the invoice", field)
	return out.R.Invoice
}

// biInvoice reads an invoice through node.
func (b *testBundle) biInvoice(t *testing.T, token, id string) biInvoice {
	t.Helper()
	var out struct{ Node *biInvoice }
	b.gqlOK(t, token, `query($id: ID!) { node(id: $id) { ... on Invoice { `+biInvoiceFields+` } } }`, map[string]any{"id": id}, &out)
	require.NotNil(t, out.Node, "invoice %s", id)
	return *out.Node
}

// biApproved creates an invoice with the accountant, submits it with the accountant and
// approves it with the finance lead.
func (b *testBundle) biApproved(t *testing.T, f biFix, in map[string]any) biInvoice {
	t.Helper()
	inv := b.biCreate(t, f.org.Accountant, in)
	b.biDo(t, f.org.Accountant, "submitInvoice", inv.ID)
	inv = b.biDo(t, f.org.FinanceLead, "approveInvoice", inv.ID)
	require.Equal(t, "APPROVED", inv.Status)
	require.NotNil(t, inv.Number)
	return inv
}

type biApplication struct {
	ID          string
	InvoiceID   string
	Amount      string
	UnappliedAt *string
}

type biPayment struct {
	ID             string
	EntityID       string
	CustomerID     string
	Amount         string
	Currency       string
	ReceivedDate   string
	Applied        string
	Unapplied      string
	Refunded       string
	Reversed       string
	JournalEntryID *string
	Applications   []biApplication
}

// activeApps returns the applications not unapplied, by invoice id.
func (p biPayment) activeApps() map[string]biApplication {
	out := map[string]biApplication{}
	for _, a := range p.Applications {
		if a.UnappliedAt == nil {
			out[a.InvoiceID] = a
		}
	}
	return out
}

const biPaymentFields = `id entityId customerId amount currency receivedDate applied unapplied refunded reversed journalEntryId
	applications { id invoiceId amount unappliedAt }`

// biApp is an ApplicationInput.
func biApp(invoiceID, amount string) map[string]any {
	return map[string]any{"invoiceId": invoiceID, "amount": amount}
}

// biPaymentInput is a RecordPaymentInput on the US entity received 2026-03-01 by ACH.
func (f biFix) biPaymentInput(customerID, amount string, apps ...map[string]any) map[string]any {
	in := map[string]any{"entityId": f.us, "customerId": customerID, "amount": amount,
		"receivedDate": "2026-03-01", "method": "ACH"}
	if len(apps) > 0 {
		in["applications"] = apps
	}
	return in
}

const biRecordPayment = `mutation($in: RecordPaymentInput!) { r: recordPayment(input: $in) { payment { ` + biPaymentFields + ` }
	invoices { id balance } } }`

// biPaymentPayload decodes a PaymentPayload.
type biPaymentPayload struct {
	Payment  biPayment
	Invoices []struct{ ID, Balance string }
}

// requireInvoices requires the payload to carry exactly the invoices ids, in that order.
func (p biPaymentPayload) requireInvoices(t *testing.T, ids ...string) {
	t.Helper()
	got := []string{}
	for _, inv := range p.Invoices {
		got = append(got, inv.ID)
	}
	require.Equal(t, append([]string{}, ids...), got, "the invoices the payload carries")
}

// biPay records a payment; it must succeed, and its payload carries the invoices it paid.
func (b *testBundle) biPay(t *testing.T, token string, in map[string]any) biPayment {
	t.Helper()
	var out struct{ R biPaymentPayload }
	b.gqlOK(t, token, biRecordPayment, map[string]any{"in": in}, &out)
	var ids []string
	if apps, ok := in["applications"].([]map[string]any); ok {
		for _, a := range apps {
			ids = append(ids, a["invoiceId"].(string))
		}
	}
	out.R.requireInvoices(t, ids...)
	return out.R.Payment
}

// biPayment reads a payment through node.
func (b *testBundle) biPayment(t *testing.T, token, id string) biPayment {
	t.Helper()
	var out struct{ Node *biPayment }
	b.gqlOK(t, token, `query($id: ID!) { node(id: $id) { ... on Payment { `+biPaymentFields+` } } }`, map[string]any{"id": id}, &out)
	require.NotNil(t, out.Node, "payment %s", id)
	return *out.Node
}

// biEntryLines reads a journal entry's lines as "code DR|CR amount", sorted.
func (b *testBundle) biEntryLines(t *testing.T, token, entryID string) []string {
	t.Helper()
	var out struct {
		Node *struct {
			Lines []struct {
				Debit, Credit string
				Account       struct{ Code string }
			}
		}
	}
	b.gqlOK(t, token, `query($id: ID!) { node(id: $id) { ... on JournalEntry { lines { debit credit account { code } } } } }`,
		map[string]any{"id": entryID}, &out)
	require.NotNil(t, out.Node, "entry %s", entryID)
	var lines []string
	for _, l := range out.Node.Lines {
		if !money.MustParse(l.Debit).IsZero() {
			lines = append(lines, l.Account.Code+" DR "+l.Debit)
		}
		if !money.MustParse(l.Credit).IsZero() {
			lines = append(lines, l.Account.Code+" CR "+l.Credit)
		}
	}
	sort.Strings(lines)
	return lines
}

// biBalances returns the non-zero balances of the entity's trial balance by account code.
func (b *testBundle) biBalances(t *testing.T, org testOrg, entityID string) map[string]string {
	t.Helper()
	tb := b.gqTrialBalance(t, org.Viewer, entityID, "2099-12-31")
	require.True(t, tb.Balanced, "trial balance: debits %s credits %s", tb.TotalDebit, tb.TotalCredit)
	return gqNonZero(tb)
}

// biRequireARInvariant checks, through GraphQL, for every entity of org: the trial balance
// balances; AR (1200) equals the sum of the balances of open invoices (approved, sent,
// viewed, partially paid); Customer Credits (2100, a credit balance) equals the payments'
// unapplied amounts plus the credit memos' remaining credit.
func biRequireARInvariant(t *testing.T, b *testBundle, org testOrg) {
	t.Helper()
	for i, le := range org.Entities {
		accts := b.gqAccountIDs(t, org, i)
		tb := b.gqTrialBalance(t, org.Viewer, le.ID, "2099-12-31")
		require.True(t, tb.Balanced, "trial balance of %s: debits %s credits %s", le.Code, tb.TotalDebit, tb.TotalCredit)
		require.Equal(t, tb.TotalDebit, tb.TotalCredit)
		var out struct {
			AR, CC struct {
				Debit, Credit, Balance string
			}
			Invoices    gqConn[struct{ Balance, Status string }]
			Payments    gqConn[struct{ Unapplied string }]
			CreditMemos gqConn[struct{ Remaining string }]
		}
		b.gqlOK(t, org.Viewer, `query($ar: ID!, $cc: ID!, $e: ID!, $es: ID!) {
			ar: accountBalance(accountId: $ar, asOf: "2099-12-31") { debit credit balance }
			cc: accountBalance(accountId: $cc, asOf: "2099-12-31") { debit credit balance }
			invoices(first: 200, where: {entityId: $e, statusIn: [APPROVED, SENT, VIEWED, PARTIALLY_PAID]}) {
				totalCount edges { node { balance status } } }
			payments(first: 200, where: {entityId: $e}) { totalCount edges { node { unapplied } } }
			creditMemos(first: 200, where: {entityId: $es}) { totalCount edges { node { remaining } } }
		}`, map[string]any{"ar": accts["1200"], "cc": accts["2100"], "e": le.ID, "es": le.ID}, &out)
		require.Len(t, out.Invoices.Edges, out.Invoices.TotalCount)
		require.Len(t, out.Payments.Edges, out.Payments.TotalCount)
		require.Len(t, out.CreditMemos.Edges, out.CreditMemos.TotalCount)
		var open, credits money.Amount
		for _, inv := range out.Invoices.nodes() {
			open = open.Add(money.MustParse(inv.Balance))
		}
		for _, p := range out.Payments.nodes() {
			credits = credits.Add(money.MustParse(p.Unapplied))
		}
		for _, cm := range out.CreditMemos.nodes() {
			credits = credits.Add(money.MustParse(cm.Remaining))
		}
		require.Equal(t, open.String(), money.MustParse(out.AR.Balance).String(),
			"%s: AR 1200 must equal the open invoices' balances (%d open invoices)", le.Code, out.Invoices.TotalCount)
		require.Equal(t, credits.String(), money.MustParse(out.CC.Balance).Neg().String(),
			"%s: Customer Credits 2100 must equal unapplied payments plus remaining credit memos", le.Code)
	}
}

// biSnapshot renders org's billing documents and ledger totals, so a test can show that a
// refused operation changed nothing and posted nothing.
func (b *testBundle) biSnapshot(t *testing.T, org testOrg) string {
	t.Helper()
	ctx := orgCtx(org)
	var out []string
	add := func(kind string, rows []string) {
		sort.Strings(rows)
		out = append(out, fmt.Sprintf("%s(%d): %s", kind, len(rows), strings.Join(rows, "; ")))
	}
	str := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	tm := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	c := b.client

	var rows []string
	customers, err := c.Customer.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range customers {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s|%v", x.ID, x.Name, x.DisplayName, x.Email, x.Currency, x.Active))
	}
	add("customers", rows)
	rows = nil
	vendors, err := c.Vendor.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range vendors {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s", x.ID, x.DisplayName, x.Email, x.Currency))
	}
	add("vendors", rows)
	rows = nil
	items, err := c.Item.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range items {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%v", x.ID, x.Name, x.DefaultRate, x.IncomeAccountID, x.Active))
	}
	add("items", rows)
	rows = nil
	invoices, err := c.Invoice.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range invoices {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%v", x.ID, x.Status, str(x.Number), x.CustomerID,
			x.IssueDate, x.DueDate, x.Total, x.AmountPaid, x.WrittenOff, x.Balance, x.SubmittedBy, x.ApprovedBy,
			tm(x.SentAt), tm(x.ViewedAt), str(x.JournalEntryID), x.CustomFields))
	}
	add("invoices", rows)
	rows = nil
	lines, err := c.InvoiceLine.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range lines {
		rows = append(rows, fmt.Sprintf("%s|%s|%d|%s|%s|%s|%s", x.ID, x.InvoiceID, x.LineNo, x.ItemID, x.Quantity, x.UnitPrice, x.Amount))
	}
	add("invoice lines", rows)
	rows = nil
	events, err := c.InvoiceEvent.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range events {
		rows = append(rows, fmt.Sprintf("%s|%s|%s>%s", x.ID, x.InvoiceID, x.FromStatus, x.ToStatus))
	}
	add("invoice events", rows)
	rows = nil
	seqs, err := c.InvoiceSequence.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range seqs {
		rows = append(rows, fmt.Sprintf("%s|%s|%d", x.EntityID, x.Prefix, x.LastNumber))
	}
	add("sequences", rows)
	rows = nil
	payments, err := c.Payment.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range payments {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s|%s", x.ID, x.Amount, x.Applied, x.Unapplied, x.Refunded, x.Reversed))
	}
	add("payments", rows)
	rows = nil
	apps, err := c.PaymentApplication.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range apps {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s", x.ID, x.PaymentID, x.InvoiceID, x.Amount, tm(x.UnappliedAt)))
	}
	add("payment applications", rows)
	rows = nil
	memos, err := c.CreditMemo.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range memos {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s", x.ID, x.Amount, x.Applied, x.Remaining))
	}
	add("credit memos", rows)
	rows = nil
	capps, err := c.CreditApplication.Query().All(ctx)
	require.NoError(t, err)
	for _, x := range capps {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s", x.ID, x.InvoiceID, x.Amount, tm(x.UnappliedAt)))
	}
	add("credit applications", rows)
	for kind, n := range map[string]func() (int, error){
		"refunds":          func() (int, error) { return c.Refund.Query().Count(ctx) },
		"charge reversals": func() (int, error) { return c.ChargeReversal.Query().Count(ctx) },
		"write-offs":       func() (int, error) { return c.WriteOff.Query().Count(ctx) },
		"journal lines":    func() (int, error) { return c.JournalLine.Query().Count(ctx) },
		"audit events":     func() (int, error) { return c.AuditEvent.Query().Count(ctx) },
	} {
		count, err := n()
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%s: %d", kind, count))
	}
	out = append(out, fmt.Sprintf("entries: %d", b.entryCount(t, org)))
	for i, le := range org.Entities {
		tb := b.gqTrialBalance(t, org.Viewer, le.ID, "2099-12-31")
		out = append(out, fmt.Sprintf("tb %d %s: %s/%s", i, le.Code, tb.TotalDebit, tb.TotalCredit))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// biRequireRefused requires r to have failed with code and the organization to be exactly as
// in before.
func (b *testBundle) biRequireRefused(t *testing.T, org testOrg, before string, r gqlResponse, code string) {
	t.Helper()
	gqRequireCode(t, r, code)
	require.Equal(t, before, b.biSnapshot(t, org), "a refused operation must change nothing")
}

// biRequireNoData requires an operation whose non-null root field failed to return no
// object: the field's null propagates to data, which is null (or absent when the request
// was refused as a whole).
func biRequireNoData(t *testing.T, r gqlResponse) {
	t.Helper()
	require.NotEmpty(t, r.Errors)
	if len(r.Data) > 0 {
		require.JSONEq(t, "null", string(r.Data), "data of a failed operation")
	}
}

// idsOf maps xs to their ids.
func idsOf[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

// ---------------------------------------------------------------------------------------

func TestBillingInvoiceLifecycle(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			accountant, lead := biSubject(a, auth.RoleAccountant), biSubject(a, auth.RoleFinanceLead)

			// A draft: priced lines, no number, nothing posted.
			entries := b.entryCount(t, a)
			in := f.biInput(f.acme, "2026-02-10", "2026-03-12",
				biLine(f.consult, "2", ""),   // 2 × 150.00 = 300.00
				biLine(f.managed, "1.5", ""), // 1.5 × 99.99 = 149.985 → 149.99
				map[string]any{"itemId": f.consult, "quantity": "1", "unitPrice": "50.00", "scheduled": true, "description": "Retainer", "classId": f.class})
			in["memo"] = "February work"
			in["customFields"] = map[string]any{"po": "PO-7", "project": "Apollo"}
			draft := b.biCreate(t, a.Accountant, in)
			require.Equal(t, "DRAFT", draft.Status)
			require.Nil(t, draft.Number)
			require.Equal(t, "USD", draft.Currency)
			require.Equal(t, "499.99", draft.Subtotal)
			require.Equal(t, "499.99", draft.Total)
			require.Equal(t, "499.99", draft.Balance)
			require.Equal(t, "0.00", draft.AmountPaid)
			require.Equal(t, "NOT_SYNCED", draft.SyncStatus)
			require.Equal(t, map[string]any{"po": "PO-7", "project": "Apollo"}, draft.CustomFields)
			require.False(t, draft.Overdue, "a draft is never overdue")
			require.Len(t, draft.Lines, 3)
			sort.Slice(draft.Lines, func(i, j int) bool { return draft.Lines[i].LineNo < draft.Lines[j].LineNo })
			require.Equal(t, []string{"300.00", "149.99", "50.00"}, []string{draft.Lines[0].Amount, draft.Lines[1].Amount, draft.Lines[2].Amount})
			require.Equal(t, "1.5", draft.Lines[1].Quantity)
			require.Equal(t, "99.99", draft.Lines[1].UnitPrice)
			require.Equal(t, "Consulting services", draft.Lines[0].Description, "the item's description by default")
			require.Equal(t, "Retainer", draft.Lines[2].Description)
			require.True(t, draft.Lines[2].Scheduled)
			require.Equal(t, f.class, *draft.Lines[2].ClassID)
			require.Equal(t, []string{">DRAFT"}, draft.transitions())
			require.Equal(t, accountant, draft.Events[0].Actor)
			require.Equal(t, entries, b.entryCount(t, a), "a draft posts nothing")
			biRequireARInvariant(t, b, a)

			// Drafts can be edited: the lines are replaced.
			in["lines"] = []map[string]any{biLine(f.consult, "2", ""), biLine(f.managed, "1.5", ""),
				{"itemId": f.consult, "quantity": "1", "unitPrice": "60.00", "scheduled": true, "classId": f.class}}
			var upd struct {
				UpdateInvoice struct{ Invoice biInvoice }
			}
			b.gqlOK(t, a.Accountant, `mutation($id: ID!, $in: InvoiceFields!) {
				updateInvoice(input: {invoiceId: $id, invoice: $in}) { invoice { `+biInvoiceFields+` } } }`,
				map[string]any{"id": draft.ID, "in": in}, &upd)
			require.Equal(t, draft.ID, upd.UpdateInvoice.Invoice.ID)
			require.Equal(t, "509.99", upd.UpdateInvoice.Invoice.Total)
			require.Len(t, upd.UpdateInvoice.Invoice.Lines, 3)

			// Submit (accountant), reject (finance lead) back to draft, submit again.
			sub := b.biDo(t, a.Accountant, "submitInvoice", draft.ID)
			require.Equal(t, "SUBMITTED", sub.Status)
			require.Equal(t, accountant, *sub.SubmittedBy)
			r := b.gql(t, a.Accountant, biUpdateQ,
				map[string]any{"id": draft.ID, "in": in})
			gqRequireCode(t, r, "NOT_EDITABLE")
			before := b.biSnapshot(t, a)
			r = b.gql(t, a.FinanceLead, `mutation($id: ID!) { rejectInvoice(input: {invoiceId: $id, reason: "  "}) { invoice { id } } }`, map[string]any{"id": draft.ID})
			b.biRequireRefused(t, a, before, r, "VALIDATION")
			r = b.gql(t, a.Accountant, `mutation($id: ID!) { rejectInvoice(input: {invoiceId: $id, reason: "wrong rate"}) { invoice { id } } }`, map[string]any{"id": draft.ID})
			b.biRequireRefused(t, a, before, r, "FORBIDDEN")
			var rej struct {
				RejectInvoice struct{ Invoice biInvoice }
			}
			b.gqlOK(t, a.FinanceLead, `mutation($id: ID!) { rejectInvoice(input: {invoiceId: $id, reason: "wrong rate"}) { invoice { `+biInvoiceFields+` } } }`,
				map[string]any{"id": draft.ID}, &rej)
			rejected := rej.RejectInvoice.Invoice
			require.Equal(t, "DRAFT", rejected.Status)
			require.Equal(t, "wrong rate", *rejected.RejectionReason)
			require.Equal(t, "SUBMITTED>DRAFT", rejected.transitions()[2])
			require.Equal(t, lead, rejected.lastEvent(t).Actor)
			require.Contains(t, rejected.lastEvent(t).Note, "wrong rate")
			b.biDo(t, a.Accountant, "submitInvoice", draft.ID)

			// Only finance leads and admins approve; viewers do nothing.
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.biTry(t, a.Accountant, "approveInvoice", draft.ID), "FORBIDDEN")
			b.biRequireRefused(t, a, before, b.biTry(t, a.Viewer, "approveInvoice", draft.ID), "FORBIDDEN")
			b.biRequireRefused(t, a, before, b.biTry(t, a.Viewer, "submitInvoice", draft.ID), "FORBIDDEN")
			b.biRequireRefused(t, a, before, b.gql(t, a.Viewer, biCreateQ,
				map[string]any{"in": in}), "FORBIDDEN")

			// Approval numbers the invoice and posts DR AR, CR revenue per item account, CR
			// deferred revenue for the scheduled line, in one entry.
			appr := b.biDo(t, a.FinanceLead, "approveInvoice", draft.ID)
			require.Equal(t, "APPROVED", appr.Status)
			require.Equal(t, "INV-00001", appr.number())
			require.Equal(t, lead, *appr.ApprovedBy)
			require.Equal(t, accountant, *appr.SubmittedBy)
			require.NotNil(t, appr.JournalEntryID)
			require.Equal(t, "509.99", appr.Balance)
			require.Equal(t, []string{"1200 DR 509.99", "2400 CR 60.00", "4000 CR 300.00", "4100 CR 149.99"},
				b.biEntryLines(t, a.Viewer, *appr.JournalEntryID))
			require.Equal(t, entries+1, b.entryCount(t, a))
			require.Equal(t, map[string]string{"1200": "509.99", "2400": "-60.00", "4000": "-300.00", "4100": "-149.99"},
				b.biBalances(t, a, f.us))
			biRequireARInvariant(t, b, a)

			// Approved invoices are never edited, and take no second approval or submission.
			before = b.biSnapshot(t, a)
			r = b.gql(t, a.Admin, biUpdateQ,
				map[string]any{"id": draft.ID, "in": in})
			b.biRequireRefused(t, a, before, r, "NOT_EDITABLE")
			b.biRequireRefused(t, a, before, b.biTry(t, a.Admin, "approveInvoice", draft.ID), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.Admin, "submitInvoice", draft.ID), "INVALID_TRANSITION")
			r = b.gql(t, a.Admin, `mutation($id: ID!) { rejectInvoice(input: {invoiceId: $id, reason: "late"}) { invoice { id } } }`, map[string]any{"id": draft.ID})
			b.biRequireRefused(t, a, before, r, "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.Admin, "markInvoiceViewed", "inv_01zzzzzzzzzzzzzzzzzzzzzzzz"), "NOT_FOUND")

			// Sending.
			sent := b.biDo(t, a.Accountant, "sendInvoice", draft.ID)
			require.Equal(t, "SENT", sent.Status)
			require.NotNil(t, sent.SentAt)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.biTry(t, a.Accountant, "sendInvoice", draft.ID), "INVALID_TRANSITION")
			require.Equal(t, []string{">DRAFT", "DRAFT>SUBMITTED", "SUBMITTED>DRAFT", "DRAFT>SUBMITTED", "SUBMITTED>APPROVED", "APPROVED>SENT"},
				sent.transitions())
			for _, e := range sent.Events {
				require.NotEmpty(t, e.At)
				require.NotEmpty(t, e.Actor)
				require.Equal(t, "GRAPHQL", e.Via)
			}
			require.Equal(t, accountant, sent.lastEvent(t).Actor)
			biRequireARInvariant(t, b, a)

			// Approving your own submission is refused and takes no number; another approver
			// then gets the next number, gap-free.
			second := b.biCreate(t, a.FinanceLead, f.biInput(f.globex, "2026-02-11", "2026-03-11", biLine(f.consult, "1", "")))
			b.biDo(t, a.FinanceLead, "submitInvoice", second.ID)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "approveInvoice", second.ID), "SELF_APPROVAL")
			second = b.biDo(t, a.Admin, "approveInvoice", second.ID)
			require.Equal(t, "INV-00002", second.number())
			biRequireARInvariant(t, b, a)

			// The prefix is configurable per entity, from the next number on; numbers of the UK
			// entity run on their own.
			before = b.biSnapshot(t, a)
			const setPrefix = `mutation($e: ID!, $p: String!) { setInvoicePrefix(input: {entityId: $e, prefix: $p}) { entity { id } prefix } }`
			r = b.gql(t, a.Accountant, setPrefix, map[string]any{"e": f.us, "p": "US-"})
			b.biRequireRefused(t, a, before, r, "FORBIDDEN")
			r = b.gql(t, a.Admin, setPrefix, map[string]any{"e": f.us, "p": "has space"})
			b.biRequireRefused(t, a, before, r, "VALIDATION")
			var prefix struct {
				SetInvoicePrefix struct {
					Entity struct{ ID string }
					Prefix string
				}
			}
			b.gqlOK(t, a.FinanceLead, setPrefix, map[string]any{"e": f.us, "p": "US-"}, &prefix)
			require.Equal(t, f.us, prefix.SetInvoicePrefix.Entity.ID)
			require.Equal(t, "US-", prefix.SetInvoicePrefix.Prefix)
			third := b.biApproved(t, f, f.biInput(f.acme, "2026-02-12", "2026-03-12", biLine(f.managed, "2", "")))
			require.Equal(t, "US-00003", third.number())
			ukIn := map[string]any{"entityId": f.uk, "customerId": f.brit, "issueDate": "2026-02-12", "dueDate": "2026-03-12",
				"lines": []map[string]any{biLine(f.ukItem, "1", "")}}
			uk := b.biApproved(t, f, ukIn)
			require.Equal(t, "INV-00001", uk.number())
			require.Equal(t, "GBP", uk.Currency)
			require.Equal(t, []string{"1200 DR 120.00", "4000 CR 120.00"}, b.biEntryLines(t, a.Viewer, *uk.JournalEntryID))
			biRequireARInvariant(t, b, a)

			// Voiding posts the reversal and keeps the number; the receivable is gone.
			void := b.biDo(t, a.FinanceLead, "voidInvoice", third.ID)
			require.Equal(t, "VOID", void.Status)
			require.Equal(t, "US-00003", void.number())
			require.Equal(t, "0.00", void.Balance)
			require.NotNil(t, void.VoidedAt)
			require.NotNil(t, void.VoidEntryID)
			require.Equal(t, []string{"1200 CR 199.98", "4100 DR 199.98"}, b.biEntryLines(t, a.Viewer, *void.VoidEntryID))
			require.Equal(t, "APPROVED>VOID", void.lastEvent(t).FromStatus+">"+void.lastEvent(t).ToStatus)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "voidInvoice", third.ID), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.Accountant, "voidInvoice", second.ID), "FORBIDDEN")
			fresh := b.biCreate(t, a.Accountant, f.biInput(f.acme, "2026-02-12", "2026-03-12", biLine(f.consult, "1", "")))
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "voidInvoice", fresh.ID), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "approveInvoice", fresh.ID), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "sendInvoice", fresh.ID), "INVALID_TRANSITION")
			// The next number after the void is still gap-free.
			fourth := b.biApproved(t, f, f.biInput(f.globex, "2026-02-13", "2026-03-13", biLine(f.consult, "1", "")))
			require.Equal(t, "US-00004", fourth.number())
			sentVoid := b.biDo(t, a.Accountant, "sendInvoice", fourth.ID)
			sentVoid = b.biDo(t, a.Admin, "voidInvoice", sentVoid.ID)
			require.Equal(t, "VOID", sentVoid.Status)
			require.Equal(t, map[string]string{"1200": "659.99", "2400": "-60.00", "4000": "-450.00", "4100": "-149.99"},
				b.biBalances(t, a, f.us))
			biRequireARInvariant(t, b, a)
			biRequireARInvariant(t, b, b.orgB)
		})
	}
}

func TestBillingPayments(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			i1 := b.biApproved(t, f, f.biInput(f.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "2", "")))         // 300.00
			i2 := b.biApproved(t, f, f.biInput(f.acme, "2026-02-02", "2026-03-02", biLine(f.consult, "1", "200.00")))   // 200.00
			i3 := b.biApproved(t, f, f.biInput(f.acme, "2026-02-03", "2026-03-03", biLine(f.managed, "1", "100.00")))   // 100.00
			g1 := b.biApproved(t, f, f.biInput(f.globex, "2026-02-04", "2026-03-04", biLine(f.managed, "1", "100.00"))) // 100.00
			biRequireARInvariant(t, b, a)

			// A payment applied in part: the rest is customer credit.
			p1 := b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "400.00", biApp(i1.ID, "300.00"), biApp(i2.ID, "50.00")))
			require.Equal(t, "400.00", p1.Amount)
			require.Equal(t, "USD", p1.Currency)
			require.Equal(t, "350.00", p1.Applied)
			require.Equal(t, "50.00", p1.Unapplied)
			require.Len(t, p1.activeApps(), 2)
			require.Equal(t, []string{"1200 CR 300.00", "1200 CR 50.00", "1300 DR 400.00", "2100 CR 50.00"}, b.biEntryLines(t, a.Viewer, *p1.JournalEntryID))
			i1 = b.biInvoice(t, a.Viewer, i1.ID)
			require.Equal(t, "PAID", i1.Status)
			require.Equal(t, "0.00", i1.Balance)
			require.Equal(t, "300.00", i1.AmountPaid)
			require.Equal(t, "APPROVED>PAID", i1.transitions()[len(i1.transitions())-1])
			i2 = b.biInvoice(t, a.Viewer, i2.ID)
			require.Equal(t, "PARTIALLY_PAID", i2.Status)
			require.Equal(t, "150.00", i2.Balance)
			biRequireARInvariant(t, b, a)

			// Over-application and other refusals change nothing.
			before := b.biSnapshot(t, a)
			for name, c := range map[string]struct {
				in   map[string]any
				code string
			}{
				"applications above the payment": {f.biPaymentInput(f.acme, "100.00", biApp(i2.ID, "150.00")), "OVER_APPLICATION"},
				"application above the balance":  {f.biPaymentInput(f.acme, "500.00", biApp(i2.ID, "150.01")), "OVER_APPLICATION"},
				"application to a paid invoice":  {f.biPaymentInput(f.acme, "500.00", biApp(i1.ID, "1.00")), "OVER_APPLICATION"},
				"second application fails": {f.biPaymentInput(f.acme, "500.00", biApp(i3.ID, "10.00"), biApp(i2.ID, "150.01")),
					"OVER_APPLICATION"},
				"invoice of another customer": {f.biPaymentInput(f.acme, "50.00", biApp(g1.ID, "50.00")), "VALIDATION"},
				"currency of another customer": {func() map[string]any {
					in := f.biPaymentInput(f.acme, "50.00")
					in["currency"] = "GBP"
					return in
				}(), "CURRENCY_MISMATCH"},
				"GBP customer on the US entity": {f.biPaymentInput(f.brit, "50.00"), "CURRENCY_MISMATCH"},
				"zero amount":                   {f.biPaymentInput(f.acme, "0.00"), "INVALID_AMOUNT"},
				"negative amount":               {f.biPaymentInput(f.acme, "-5.00"), "INVALID_AMOUNT"},
				"fraction of a cent":            {f.biPaymentInput(f.acme, "10.001"), "INVALID_AMOUNT"},
			} {
				r := b.gql(t, a.Accountant, biRecordPayment, map[string]any{"in": c.in})
				require.NotEmpty(t, r.Errors, name)
				b.biRequireRefused(t, a, before, r, c.code)
			}
			r := b.gql(t, a.Viewer, biRecordPayment, map[string]any{"in": f.biPaymentInput(f.acme, "5.00")})
			b.biRequireRefused(t, a, before, r, "FORBIDDEN")

			// Applying the customer credit later: DR 2100, CR AR.
			const applyQ = `mutation($p: ID!, $apps: [ApplicationInput!]!) { r: applyPayment(input: {paymentId: $p, applications: $apps}) {
				payment { ` + biPaymentFields + ` } invoices { id balance } } }`
			r = b.gql(t, a.Accountant, applyQ, map[string]any{"p": p1.ID, "apps": []any{biApp(i2.ID, "50.01")}})
			b.biRequireRefused(t, a, before, r, "OVER_APPLICATION")
			r = b.gql(t, a.Accountant, applyQ, map[string]any{"p": p1.ID, "apps": []any{biApp(g1.ID, "10.00")}})
			b.biRequireRefused(t, a, before, r, "VALIDATION")
			var applied struct{ R biPaymentPayload }
			b.gqlOK(t, a.Accountant, applyQ, map[string]any{"p": p1.ID, "apps": []any{biApp(i2.ID, "50.00")}}, &applied)
			require.Equal(t, "400.00", applied.R.Payment.Applied)
			require.Equal(t, "0.00", applied.R.Payment.Unapplied)
			applied.R.requireInvoices(t, i2.ID)
			require.Equal(t, "100.00", applied.R.Invoices[0].Balance)
			i2 = b.biInvoice(t, a.Viewer, i2.ID)
			require.Equal(t, "PARTIALLY_PAID", i2.Status)
			require.Equal(t, "100.00", i2.Balance)
			require.Equal(t, "100.00", i2.AmountPaid)
			require.Equal(t, map[string]string{"1200": "300.00", "1300": "400.00", "4000": "-500.00", "4100": "-200.00"}, b.biBalances(t, a, f.us))
			biRequireARInvariant(t, b, a)

			// Unapplying re-opens the invoice and makes the money credit again.
			const unapplyQ = `mutation($id: ID!) { r: unapplyPayment(input: {paymentApplicationId: $id}) {
				payment { ` + biPaymentFields + ` } invoices { id balance } } }`
			var unapplied struct{ R biPaymentPayload }
			b.gqlOK(t, a.Accountant, unapplyQ, map[string]any{"id": p1.activeApps()[i1.ID].ID}, &unapplied)
			require.Equal(t, "100.00", unapplied.R.Payment.Applied)
			require.Equal(t, "300.00", unapplied.R.Payment.Unapplied)
			unapplied.R.requireInvoices(t, i1.ID)
			require.Equal(t, "300.00", unapplied.R.Invoices[0].Balance)
			i1 = b.biInvoice(t, a.Viewer, i1.ID)
			require.Equal(t, "APPROVED", i1.Status)
			require.Equal(t, "300.00", i1.Balance)
			require.Equal(t, "PAID>APPROVED", i1.transitions()[len(i1.transitions())-1])
			biRequireARInvariant(t, b, a)
			before = b.biSnapshot(t, a)
			r = b.gql(t, a.Accountant, unapplyQ, map[string]any{"id": p1.activeApps()[i1.ID].ID})
			b.biRequireRefused(t, a, before, r, "INVALID_TRANSITION")
			r = b.gql(t, a.Accountant, unapplyQ, map[string]any{"id": "papp_01zzzzzzzzzzzzzzzzzzzzzzzz"})
			b.biRequireRefused(t, a, before, r, "NOT_FOUND")

			// Refunds: never more than is left of the payment.
			const refundQ = `mutation($in: CashReturnInput!) { r: refundPayment(input: $in) {
				refund { id amount paymentId date journalEntryId } payment { id refunded unapplied } } }`
			refund := func(amount string) map[string]any {
				return map[string]any{"in": map[string]any{"paymentId": p1.ID, "amount": amount, "date": "2026-03-05", "reason": "goodwill"}}
			}
			b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, refundQ, refund("400.01")), "OVER_REFUND")
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, refundQ, refund("10.00")), "FORBIDDEN")
			var rf struct {
				R struct {
					Refund  struct{ ID, Amount, PaymentID, Date, JournalEntryID string }
					Payment struct{ ID, Refunded, Unapplied string }
				}
			}
			b.gqlOK(t, a.FinanceLead, refundQ, refund("100.00"), &rf)
			require.Equal(t, "100.00", rf.R.Refund.Amount)
			require.Equal(t, "2026-03-05", rf.R.Refund.Date)
			require.Equal(t, p1.ID, rf.R.Refund.PaymentID)
			require.Equal(t, []string{"1300 CR 100.00", "2100 DR 100.00"}, b.biEntryLines(t, a.Viewer, rf.R.Refund.JournalEntryID))
			require.Equal(t, p1.ID, rf.R.Payment.ID)
			require.Equal(t, "100.00", rf.R.Payment.Refunded, "the payload carries the payment as refunded")
			require.Equal(t, "200.00", rf.R.Payment.Unapplied)
			p := b.biPayment(t, a.Viewer, p1.ID)
			require.Equal(t, "100.00", p.Refunded)
			require.Equal(t, "200.00", p.Unapplied)
			biRequireARInvariant(t, b, a)
			// 300.00 is left to refund: more is refused; 250.00 takes the 200.00 credit and
			// unapplies 50.00 from the invoice, which re-opens.
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, refundQ, refund("300.01")), "OVER_REFUND")
			b.gqlOK(t, a.FinanceLead, refundQ, refund("250.00"), &rf)
			p = b.biPayment(t, a.Viewer, p1.ID)
			require.Equal(t, "350.00", p.Refunded)
			require.Equal(t, "0.00", p.Unapplied)
			require.Equal(t, "50.00", p.Applied)
			i2 = b.biInvoice(t, a.Viewer, i2.ID)
			require.Equal(t, "PARTIALLY_PAID", i2.Status)
			require.Equal(t, "150.00", i2.Balance)
			biRequireARInvariant(t, b, a)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, refundQ, refund("50.01")), "OVER_REFUND")

			// A charge reversal re-opens the receivable the payment had paid.
			p2 := b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "100.00", biApp(i3.ID, "100.00")))
			require.Equal(t, "PAID", b.biInvoice(t, a.Viewer, i3.ID).Status)
			const reverseQ = `mutation($in: CashReturnInput!) { r: reverseCharge(input: $in) {
				chargeReversal { id amount paymentId journalEntryId } payment { id reversed } invoices { id status balance } } }`
			reversal := map[string]any{"in": map[string]any{"paymentId": p2.ID, "amount": "100.00", "date": "2026-03-06", "reason": "dispute lost"}}
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, reverseQ, reversal), "FORBIDDEN")
			var cr struct {
				R struct {
					ChargeReversal struct{ ID, Amount, PaymentID, JournalEntryID string }
					Payment        struct{ ID, Reversed string }
					Invoices       []struct{ ID, Status, Balance string }
				}
			}
			b.gqlOK(t, a.FinanceLead, reverseQ, reversal, &cr)
			require.Equal(t, "100.00", cr.R.ChargeReversal.Amount)
			require.Equal(t, p2.ID, cr.R.ChargeReversal.PaymentID)
			require.Equal(t, p2.ID, cr.R.Payment.ID)
			require.Equal(t, "100.00", cr.R.Payment.Reversed)
			require.Len(t, cr.R.Invoices, 1, "the payload carries the invoice the payment had paid")
			require.Equal(t, i3.ID, cr.R.Invoices[0].ID)
			require.Equal(t, "APPROVED", cr.R.Invoices[0].Status)
			require.Equal(t, "100.00", cr.R.Invoices[0].Balance)
			i3 = b.biInvoice(t, a.Viewer, i3.ID)
			require.Equal(t, "APPROVED", i3.Status)
			require.Equal(t, "100.00", i3.Balance)
			require.Equal(t, "PAID>APPROVED", i3.transitions()[len(i3.transitions())-1])
			p = b.biPayment(t, a.Viewer, p2.ID)
			require.Equal(t, "100.00", p.Reversed)
			require.Equal(t, "0.00", p.Applied)
			require.Equal(t, "0.00", p.Unapplied)
			biRequireARInvariant(t, b, a)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, reverseQ, reversal), "OVER_REFUND")

			// A sent invoice paid in full is paid; unapplying sends it back to sent.
			b.biDo(t, a.Accountant, "sendInvoice", g1.ID)
			pg := b.biPay(t, a.Accountant, f.biPaymentInput(f.globex, "100.00", biApp(g1.ID, "100.00")))
			require.Equal(t, "PAID", b.biInvoice(t, a.Viewer, g1.ID).Status)
			b.gqlOK(t, a.Accountant, unapplyQ, map[string]any{"id": pg.activeApps()[g1.ID].ID}, nil)
			g1 = b.biInvoice(t, a.Viewer, g1.ID)
			require.Equal(t, "SENT", g1.Status)
			require.Equal(t, []string{"SUBMITTED>APPROVED", "APPROVED>SENT", "SENT>PAID", "PAID>SENT"}, g1.transitions()[2:])
			biRequireARInvariant(t, b, a)

			// Credit memos: DR revenue, CR customer credits; applied later to invoices.
			const issueQ = `mutation($in: IssueCreditMemoInput!) { r: issueCreditMemo(input: $in) {
				creditMemo { id amount applied remaining journalEntryId } invoices { id balance } } }`
			const applyCMQ = `mutation($id: ID!, $apps: [ApplicationInput!]!) { r: applyCreditMemo(input: {creditMemoId: $id, applications: $apps}) {
				creditMemo { id amount applied remaining } invoices { id balance } } }`
			memo := map[string]any{"entityId": f.us, "customerId": f.acme, "date": "2026-03-07", "amount": "80.00", "reason": "service credit"}
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, issueQ, map[string]any{"in": memo}), "FORBIDDEN")
			type cmPayload struct {
				R struct {
					CreditMemo struct{ ID, Amount, Applied, Remaining, JournalEntryID string }
					Invoices   []struct{ ID, Balance string }
				}
			}
			var cm cmPayload
			b.gqlOK(t, a.FinanceLead, issueQ, map[string]any{"in": memo}, &cm)
			require.Equal(t, "80.00", cm.R.CreditMemo.Remaining)
			require.Empty(t, cm.R.Invoices, "applied to no invoice")
			require.Equal(t, []string{"2100 CR 80.00", "4000 DR 80.00"}, b.biEntryLines(t, a.Viewer, cm.R.CreditMemo.JournalEntryID))
			biRequireARInvariant(t, b, a)
			before = b.biSnapshot(t, a)
			memoID := cm.R.CreditMemo.ID
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, applyCMQ, map[string]any{"id": memoID, "apps": []any{biApp(i3.ID, "80.01")}}), "OVER_APPLICATION")
			b.biRequireRefused(t, a, before, b.gql(t, a.Viewer, applyCMQ, map[string]any{"id": memoID, "apps": []any{biApp(i3.ID, "1.00")}}), "FORBIDDEN")
			var cmApplied cmPayload
			b.gqlOK(t, a.Accountant, applyCMQ, map[string]any{"id": memoID, "apps": []any{biApp(i3.ID, "50.00")}}, &cmApplied)
			require.Equal(t, memoID, cmApplied.R.CreditMemo.ID)
			require.Equal(t, "50.00", cmApplied.R.CreditMemo.Applied)
			require.Equal(t, "30.00", cmApplied.R.CreditMemo.Remaining)
			require.Len(t, cmApplied.R.Invoices, 1)
			require.Equal(t, i3.ID, cmApplied.R.Invoices[0].ID)
			require.Equal(t, "50.00", cmApplied.R.Invoices[0].Balance)
			i3 = b.biInvoice(t, a.Viewer, i3.ID)
			require.Equal(t, "PARTIALLY_PAID", i3.Status)
			require.Equal(t, "50.00", i3.Balance)
			biRequireARInvariant(t, b, a)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, applyCMQ, map[string]any{"id": memoID, "apps": []any{biApp(i3.ID, "30.01")}}), "OVER_APPLICATION")
			memo2 := map[string]any{"entityId": f.us, "customerId": f.acme, "date": "2026-03-08", "amount": "20.00",
				"applications": []any{biApp(i2.ID, "20.00")}}
			cm = cmPayload{}
			b.gqlOK(t, a.Admin, issueQ, map[string]any{"in": memo2}, &cm)
			require.Equal(t, "0.00", cm.R.CreditMemo.Remaining)
			require.Len(t, cm.R.Invoices, 1)
			require.Equal(t, i2.ID, cm.R.Invoices[0].ID)
			require.Equal(t, "130.00", cm.R.Invoices[0].Balance)
			require.Equal(t, "130.00", b.biInvoice(t, a.Viewer, i2.ID).Balance)
			biRequireARInvariant(t, b, a)

			// Write-off: DR bad debt, CR AR for the open balance.
			const writeOffQ = `mutation($in: WriteOffInvoiceInput!) { r: writeOffInvoice(input: $in) {
				writeOff { id amount date invoiceId journalEntryId } invoice { id status balance writtenOff } } }`
			wo := map[string]any{"in": map[string]any{"invoiceId": i3.ID, "date": "2026-03-09", "reason": "uncollectible"}}
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, writeOffQ, wo), "FORBIDDEN")
			var w struct {
				R struct {
					WriteOff struct{ ID, Amount, Date, InvoiceID, JournalEntryID string }
					Invoice  struct{ ID, Status, Balance, WrittenOff string }
				}
			}
			b.gqlOK(t, a.FinanceLead, writeOffQ, wo, &w)
			require.Equal(t, "50.00", w.R.WriteOff.Amount)
			require.Equal(t, i3.ID, w.R.WriteOff.InvoiceID)
			require.Equal(t, i3.ID, w.R.Invoice.ID)
			require.Equal(t, "WRITTEN_OFF", w.R.Invoice.Status)
			require.Equal(t, "0.00", w.R.Invoice.Balance)
			require.Equal(t, "50.00", w.R.Invoice.WrittenOff)
			require.Equal(t, []string{"1200 CR 50.00", "6100 DR 50.00"}, b.biEntryLines(t, a.Viewer, w.R.WriteOff.JournalEntryID))
			biRequireARInvariant(t, b, a)
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, writeOffQ, wo), "INVALID_TRANSITION")
			draft := b.biCreate(t, a.Accountant, f.biInput(f.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "1", "")))
			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, writeOffQ, map[string]any{"in": map[string]any{"invoiceId": draft.ID}}), "INVALID_TRANSITION")
			// Payments cannot go to drafts, and partly paid invoices are not voided or re-sent.
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, biRecordPayment,
				map[string]any{"in": f.biPaymentInput(f.acme, "10.00", biApp(draft.ID, "10.00"))}), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "voidInvoice", i2.ID), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.biTry(t, a.FinanceLead, "sendInvoice", i2.ID), "INVALID_TRANSITION")

			require.Equal(t, map[string]string{
				"1200": "530.00",  // i1 300.00 (unapplied again) + i2 130.00 + g1 100.00
				"1300": "150.00",  // received 400 + 100 + 100; refunded 350; reversed 100
				"2100": "-130.00", // Globex's unapplied 100.00 + the first memo's 30.00
				"4000": "-400.00", // i1 + i2 500.00 less the memos' 100.00
				"4100": "-200.00",
				"6100": "50.00",
			}, b.biBalances(t, a, f.us))
			biRequireARInvariant(t, b, a)
			biRequireARInvariant(t, b, b.orgB)
		})
	}
}

func TestBillingContacts(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			const createCustomer = `mutation($in: CreateCustomerInput!) { createCustomer(input: $in) { customer { id displayName email currency syncStatus } } }`
			const createVendor = `mutation($in: CreateVendorInput!) { createVendor(input: $in) { vendor { id displayName } } }`
			const updateCustomer = `mutation($id: ID!, $in: CustomerPatch!) { updateCustomer(input: {customerId: $id, patch: $in}) { customer { id displayName email } } }`
			const updateVendor = `mutation($id: ID!, $in: VendorPatch!) { updateVendor(input: {vendorId: $id, patch: $in}) { vendor { id displayName } } }`
			const createItem = `mutation($in: CreateItemInput!) { createItem(input: $in) { item { id } } }`
			const updateItem = `mutation($id: ID!, $in: ItemPatch!) { updateItem(input: {itemId: $id, patch: $in}) { item { id incomeAccountId } } }`

			var vendor struct {
				CreateVendor struct {
					Vendor struct{ ID, DisplayName string }
				}
			}
			b.gqlOK(t, a.Accountant, createVendor, map[string]any{"in": map[string]any{"name": "Initech LLC", "displayName": "Initech",
				"email": "ap@initech.example", "currency": "USD"}}, &vendor)
			require.Equal(t, "Initech", vendor.CreateVendor.Vendor.DisplayName)
			var cus struct {
				CreateCustomer struct {
					Customer struct{ ID, DisplayName, Email, Currency, SyncStatus string }
				}
			}
			b.gqlOK(t, a.Accountant, createCustomer, map[string]any{"in": map[string]any{"name": "Hooli", "displayName": "Hooli",
				"email": "finance@hooli.example", "currency": "USD"}}, &cus)
			require.Equal(t, "finance@hooli.example", cus.CreateCustomer.Customer.Email)
			require.Equal(t, "NOT_SYNCED", cus.CreateCustomer.Customer.SyncStatus)

			before := b.biSnapshot(t, a)
			for _, c := range []struct {
				name, token, query string
				vars               map[string]any
				code               string
			}{
				{"customer with an invalid email", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "X", "displayName": "X",
					"email": "not an email", "currency": "USD"}}, "VALIDATION"},
				{"customer with a display-name email", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "X", "displayName": "X",
					"email": "X <x@example.com>", "currency": "USD"}}, "VALIDATION"},
				{"vendor with an invalid email", a.Admin, createVendor, map[string]any{"in": map[string]any{"name": "X", "displayName": "X",
					"email": "x@", "currency": "USD"}}, "VALIDATION"},
				{"customer with an unknown currency", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "X", "displayName": "X",
					"currency": "XYZ"}}, "VALIDATION"},
				{"customer named like a customer", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "Other", "displayName": "Globex",
					"currency": "USD"}}, "DUPLICATE_NAME"},
				{"customer named like a customer, other case", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "Other",
					"displayName": "GLOBEX", "currency": "USD"}}, "DUPLICATE_NAME"},
				{"customer named like a vendor", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "Other", "displayName": "Initech",
					"currency": "USD"}}, "DUPLICATE_NAME"},
				{"vendor named like a customer", a.Admin, createVendor, map[string]any{"in": map[string]any{"name": "Other", "displayName": "Acme Corporation",
					"currency": "USD"}}, "DUPLICATE_NAME"},
				{"customer renamed like a vendor", a.Admin, updateCustomer, map[string]any{"id": f.globex, "in": map[string]any{"displayName": "initech"}},
					"DUPLICATE_NAME"},
				{"vendor renamed like a customer", a.Admin, updateVendor, map[string]any{"id": vendor.CreateVendor.Vendor.ID, "in": map[string]any{"displayName": "Hooli"}},
					"DUPLICATE_NAME"},
				{"customer updated with an invalid email", a.Admin, updateCustomer, map[string]any{"id": f.globex, "in": map[string]any{"email": "nope"}},
					"VALIDATION"},
				{"blank display name", a.Admin, createCustomer, map[string]any{"in": map[string]any{"name": "X", "displayName": "  ", "currency": "USD"}},
					"VALIDATION"},
				{"unknown customer", a.Admin, updateCustomer, map[string]any{"id": "cus_01zzzzzzzzzzzzzzzzzzzzzzzz", "in": map[string]any{"name": "Y"}},
					"NOT_FOUND"},
				{"viewer creates a customer", a.Viewer, createCustomer, map[string]any{"in": map[string]any{"name": "V", "displayName": "V", "currency": "USD"}},
					"FORBIDDEN"},
				{"item on an asset account", a.Admin, createItem, map[string]any{"in": map[string]any{"entityId": f.us, "name": "Bad",
					"defaultRate": "10.00", "incomeAccountId": f.accts["1200"]}}, "VALIDATION"},
				{"item on an expense account", a.Admin, createItem, map[string]any{"in": map[string]any{"entityId": f.us, "name": "Bad",
					"defaultRate": "10.00", "incomeAccountId": f.accts["6000"]}}, "VALIDATION"},
				{"item on another entity's revenue account", a.Admin, createItem, map[string]any{"in": map[string]any{"entityId": f.us, "name": "Bad",
					"defaultRate": "10.00", "incomeAccountId": f.ukAccts["4000"]}}, "UNKNOWN_ACCOUNT"},
				{"item with a negative rate", a.Admin, createItem, map[string]any{"in": map[string]any{"entityId": f.us, "name": "Bad",
					"defaultRate": "-1.00", "incomeAccountId": f.accts["4000"]}}, "INVALID_AMOUNT"},
				{"item named like another", a.Admin, createItem, map[string]any{"in": map[string]any{"entityId": f.us, "name": "consulting",
					"defaultRate": "1.00", "incomeAccountId": f.accts["4000"]}}, "CONFLICT"},
				{"item moved to a liability account", a.Admin, updateItem, map[string]any{"id": f.consult, "in": map[string]any{"incomeAccountId": f.accts["2400"]}},
					"VALIDATION"},
				{"accountant creates an item", a.Accountant, createItem, map[string]any{"in": map[string]any{"entityId": f.us, "name": "Acc",
					"defaultRate": "1.00", "incomeAccountId": f.accts["4000"]}}, "FORBIDDEN"},
			} {
				t.Run(c.name, func(t *testing.T) {
					b.biRequireRefused(t, a, before, b.gql(t, c.token, c.query, c.vars), c.code)
				})
			}

			// Renaming to its own name (another case) is fine, and the name is unique per
			// organization only: org B may use it.
			var upd struct {
				UpdateCustomer struct {
					Customer struct{ ID, DisplayName, Email string }
				}
			}
			b.gqlOK(t, a.Accountant, updateCustomer, map[string]any{"id": f.globex, "in": map[string]any{"displayName": "GLOBEX", "email": "billing@globex.example"}}, &upd)
			require.Equal(t, f.globex, upd.UpdateCustomer.Customer.ID)
			require.Equal(t, "GLOBEX", upd.UpdateCustomer.Customer.DisplayName)
			require.Equal(t, "billing@globex.example", upd.UpdateCustomer.Customer.Email)
			b.gqlOK(t, b.orgB.Admin, createVendor, map[string]any{"in": map[string]any{"name": "Hooli", "displayName": "Hooli", "currency": "USD"}}, nil)
			var it struct {
				UpdateItem struct {
					Item struct{ ID, IncomeAccountID string }
				}
			}
			b.gqlOK(t, a.FinanceLead, updateItem, map[string]any{"id": f.consult, "in": map[string]any{"incomeAccountId": f.accts["4200"]}}, &it)
			require.Equal(t, f.consult, it.UpdateItem.Item.ID)
			require.Equal(t, f.accts["4200"], it.UpdateItem.Item.IncomeAccountID)

			// Listing: customers, vendors and items of the organization only.
			var lists struct {
				Customers, Vendors, Items struct{ TotalCount int }
			}
			b.gqlOK(t, a.Viewer, `{ customers { totalCount } vendors { totalCount } items { totalCount } }`, nil, &lists)
			require.Equal(t, 4, lists.Customers.TotalCount)
			require.Equal(t, 1, lists.Vendors.TotalCount)
			require.Equal(t, 3, lists.Items.TotalCount)
			biRequireARInvariant(t, b, a)
		})
	}
}

func TestBillingInvoiceSearch(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			// Today is after every 2025 date and before every 2099 one.
			a1 := b.biApproved(t, f, f.biInput(f.acme, "2025-01-10", "2025-02-09", biLine(f.consult, "1", "")))              // 150.00, overdue
			a2 := b.biApproved(t, f, f.biInput(f.acme, "2026-01-15", "2099-01-15", biLine(f.consult, "3", "")))              // 450.00, due later
			b.biDo(t, a.Accountant, "sendInvoice", a2.ID)                                                                    // sent
			a3 := b.biCreate(t, a.Accountant, f.biInput(f.acme, "2025-03-01", "2025-03-31", biLine(f.managed, "1", "")))     // 99.99 draft, past due
			g1 := b.biApproved(t, f, f.biInput(f.globex, "2025-06-01", "2025-07-01", biLine(f.consult, "1", "1000.00")))     // 1000.00, paid
			g2 := b.biApproved(t, f, f.biInput(f.globex, "2025-09-01", "2025-10-01", biLine(f.consult, "1", "250.00")))      // 250.00, partly paid
			g3 := b.biCreate(t, a.Accountant, f.biInput(f.globex, "2026-01-01", "2099-02-01", biLine(f.consult, "1", "75"))) // 75.00 submitted
			b.biDo(t, a.Accountant, "submitInvoice", g3.ID)
			uk1 := b.biApproved(t, f, map[string]any{"entityId": f.uk, "customerId": f.brit, "issueDate": "2025-04-01", "dueDate": "2025-05-01",
				"lines": []map[string]any{biLine(f.ukItem, "1", "")}}) // 120.00 GBP, overdue
			b.biPay(t, a.Accountant, f.biPaymentInput(f.globex, "1100.00", biApp(g1.ID, "1000.00"), biApp(g2.ID, "100.00")))
			// Org B has an Acme too, with an invoice org A must never see.
			fb := b.biFixture(t, b.orgB)
			b.biApproved(t, fb, fb.biInput(fb.acme, "2025-01-10", "2025-02-09", biLine(fb.consult, "1", "")))
			names := map[string]string{a1.ID: "a1", a2.ID: "a2", a3.ID: "a3", g1.ID: "g1", g2.ID: "g2", g3.ID: "g3", uk1.ID: "uk1"}

			type node struct {
				ID, Number, Status, Total, Balance, IssueDate, DueDate, SyncStatus string
				Overdue                                                            bool
				Customer                                                           struct{ DisplayName, Email string }
			}
			const q = `query($s: InvoiceSearch, $w: InvoiceWhereInput, $o: InvoiceOrder) {
				invoices(first: 50, search: $s, where: $w, orderBy: $o) { totalCount edges { node {
					id number status total balance issueDate dueDate syncStatus overdue customer { displayName email } } } } }`
			list := func(t *testing.T, token string, vars map[string]any) []string {
				t.Helper()
				var out struct{ Invoices gqConn[node] }
				b.gqlOK(t, token, q, vars, &out)
				require.Len(t, out.Invoices.Edges, out.Invoices.TotalCount)
				var got []string
				for _, n := range out.Invoices.nodes() {
					name, ok := names[n.ID]
					require.True(t, ok, "invoice %s is not org A's", n.ID)
					got = append(got, name)
				}
				return got
			}
			for _, c := range []struct {
				name    string
				vars    map[string]any
				want    []string
				ordered bool
			}{
				{"all", nil, []string{"a1", "a2", "a3", "g1", "g2", "g3", "uk1"}, false},
				{"customer by id", map[string]any{"s": map[string]any{"customer": f.acme}}, []string{"a1", "a2", "a3"}, false},
				{"customer by partial display name, any case", map[string]any{"s": map[string]any{"customer": "aCmE cOrP"}}, []string{"a1", "a2", "a3"}, false},
				{"customer by partial name", map[string]any{"s": map[string]any{"customer": "inc"}}, []string{"g1", "g2", "g3"}, false},
				{"customer matching nothing", map[string]any{"s": map[string]any{"customer": "Umbrella"}}, nil, false},
				{"customer of org B by id", map[string]any{"s": map[string]any{"customer": fb.acme}}, nil, false},
				{"email, any case", map[string]any{"s": map[string]any{"email": "ACME.example"}}, []string{"a1", "a2", "a3"}, false},
				{"email partial", map[string]any{"s": map[string]any{"email": "ap@glob"}}, []string{"g1", "g2", "g3"}, false},
				{"status", map[string]any{"w": map[string]any{"status": "APPROVED"}}, []string{"a1", "uk1"}, false},
				{"status in", map[string]any{"w": map[string]any{"statusIn": []string{"PAID", "PARTIALLY_PAID"}}}, []string{"g1", "g2"}, false},
				{"issue date range", map[string]any{"w": map[string]any{"issueDateGTE": "2025-06-01", "issueDateLTE": "2025-12-31"}}, []string{"g1", "g2"}, false},
				{"issue date range inclusive", map[string]any{"w": map[string]any{"issueDateGTE": "2025-01-10", "issueDateLTE": "2025-03-01"}}, []string{"a1", "a3"}, false},
				{"amount range", map[string]any{"w": map[string]any{"totalGTE": "200.00", "totalLTE": "450.00"}}, []string{"a2", "g2"}, false},
				{"sync status not synced", map[string]any{"w": map[string]any{"syncStatus": "NOT_SYNCED"}}, []string{"a1", "a2", "a3", "g1", "g2", "g3", "uk1"}, false},
				{"sync status synced", map[string]any{"w": map[string]any{"syncStatus": "SYNCED"}}, nil, false},
				{"overdue", map[string]any{"s": map[string]any{"overdue": true}}, []string{"a1", "g2", "uk1"}, false},
				{"not overdue", map[string]any{"s": map[string]any{"overdue": false}}, []string{"a2", "a3", "g1", "g3"}, false},
				{"search and where together", map[string]any{"s": map[string]any{"customer": "acme", "overdue": false}, "w": map[string]any{"status": "SENT"}},
					[]string{"a2"}, false},
				{"issue date ascending", map[string]any{"w": map[string]any{"entityId": f.us}, "o": map[string]any{"field": "ISSUE_DATE"}},
					[]string{"a1", "a3", "g1", "g2", "g3", "a2"}, true},
				{"issue date descending", map[string]any{"w": map[string]any{"entityId": f.us}, "o": map[string]any{"field": "ISSUE_DATE", "direction": "DESC"}},
					[]string{"a2", "g3", "g2", "g1", "a3", "a1"}, true},
				{"due date ascending", map[string]any{"w": map[string]any{"entityId": f.us}, "o": map[string]any{"field": "DUE_DATE", "direction": "ASC"}},
					[]string{"a1", "a3", "g1", "g2", "a2", "g3"}, true},
				{"due date descending", map[string]any{"w": map[string]any{"entityId": f.us}, "o": map[string]any{"field": "DUE_DATE", "direction": "DESC"}},
					[]string{"g3", "a2", "g2", "g1", "a3", "a1"}, true},
				{"total ascending", map[string]any{"w": map[string]any{"entityId": f.us}, "o": map[string]any{"field": "TOTAL"}},
					[]string{"g3", "a3", "a1", "g2", "a2", "g1"}, true},
				{"total descending", map[string]any{"w": map[string]any{"entityId": f.us}, "o": map[string]any{"field": "TOTAL", "direction": "DESC"}},
					[]string{"g1", "a2", "g2", "a1", "a3", "g3"}, true},
				{"number ascending", map[string]any{"w": map[string]any{"entityId": f.us, "numberNotNil": true}, "o": map[string]any{"field": "NUMBER"}},
					[]string{"a1", "a2", "g1", "g2"}, true},
				{"number descending", map[string]any{"w": map[string]any{"entityId": f.us, "numberNotNil": true}, "o": map[string]any{"field": "NUMBER", "direction": "DESC"}},
					[]string{"g2", "g1", "a2", "a1"}, true},
			} {
				t.Run(c.name, func(t *testing.T) {
					got := list(t, a.Viewer, c.vars)
					if c.ordered {
						require.Equal(t, c.want, got)
					} else {
						require.ElementsMatch(t, c.want, got)
					}
				})
			}

			// The derived fields agree with the filters.
			var out struct{ Invoices gqConn[node] }
			b.gqlOK(t, a.Viewer, q, map[string]any{"o": map[string]any{"field": "ISSUE_DATE"}}, &out)
			overdue := map[string]bool{}
			for _, n := range out.Invoices.nodes() {
				overdue[names[n.ID]] = n.Overdue
				require.Equal(t, "NOT_SYNCED", n.SyncStatus)
			}
			require.Equal(t, map[string]bool{"a1": true, "a2": false, "a3": false, "g1": false, "g2": true, "g3": false, "uk1": true}, overdue)
			require.Equal(t, "INV-00001", b.biInvoice(t, a.Viewer, uk1.ID).number(), "the UK entity numbers on its own")

			// Cursors walk every ordering page by page (a money or date order value travels
			// in the cursor), forwards and backwards, to the same list as one page.
			for _, field := range []string{"TOTAL", "ISSUE_DATE", "DUE_DATE", "NUMBER", "STATUS"} {
				for _, dir := range []string{"ASC", "DESC"} {
					t.Run("pages by "+field+" "+dir, func(t *testing.T) {
						where := map[string]any{"numberNotNil": true} // NULL numbers do not page
						order := map[string]any{"field": field, "direction": dir}
						var all struct{ Invoices gqConn[node] }
						b.gqlOK(t, a.Viewer, `query($w: InvoiceWhereInput, $o: InvoiceOrder) { invoices(first: 50, where: $w, orderBy: $o) {
							edges { node { id } } } }`, map[string]any{"w": where, "o": order}, &all)
						var want []string
						for _, n := range all.Invoices.nodes() {
							want = append(want, n.ID)
						}
						require.Len(t, want, 5)
						var fwd []string
						var after *string
						for range 10 {
							var page struct{ Invoices gqConn[node] }
							b.gqlOK(t, a.Viewer, `query($w: InvoiceWhereInput, $o: InvoiceOrder, $c: Cursor) {
								invoices(first: 2, after: $c, where: $w, orderBy: $o) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`,
								map[string]any{"w": where, "o": order, "c": after}, &page)
							require.Equal(t, 5, page.Invoices.TotalCount)
							for _, n := range page.Invoices.nodes() {
								fwd = append(fwd, n.ID)
							}
							if !page.Invoices.PageInfo.HasNextPage {
								break
							}
							after = page.Invoices.PageInfo.EndCursor
						}
						require.Equal(t, want, fwd)
						var back []string
						var before *string
						for range 10 {
							var page struct{ Invoices gqConn[node] }
							b.gqlOK(t, a.Viewer, `query($w: InvoiceWhereInput, $o: InvoiceOrder, $c: Cursor) {
								invoices(last: 2, before: $c, where: $w, orderBy: $o) { pageInfo { hasPreviousPage startCursor } edges { node { id } } } }`,
								map[string]any{"w": where, "o": order, "c": before}, &page)
							back = append(slices.Clone(idsOf(page.Invoices.nodes(), func(n node) string { return n.ID })), back...)
							if !page.Invoices.PageInfo.HasPreviousPage {
								break
							}
							before = page.Invoices.PageInfo.StartCursor
						}
						require.Equal(t, want, back)
					})
				}
			}

			// Org B sees its own invoice only.
			var bOut struct{ Invoices struct{ TotalCount int } }
			b.gqlOK(t, b.orgB.Viewer, `{ invoices { totalCount } }`, nil, &bOut)
			require.Equal(t, 1, bOut.Invoices.TotalCount)
			biRequireARInvariant(t, b, a)
			biRequireARInvariant(t, b, b.orgB)
		})
	}
}

func TestBillingBulk(t *testing.T) {
	t.Parallel()
	const bulkFields = `results { invoiceId ok invoice { id status number } error { code message } }`
	const approveQ = `mutation($ids: [ID!]!) { r: bulkApproveInvoices(input: {invoiceIds: $ids}) { ` + bulkFields + ` } }`
	const submitQ = `mutation($ids: [ID!]!) { r: bulkSubmitInvoices(input: {invoiceIds: $ids}) { ` + bulkFields + ` } }`
	type result struct {
		InvoiceID string
		Ok        bool
		Invoice   *struct {
			ID, Status string
			Number     *string
		}
		Error *struct{ Code, Message string }
	}
	type bulkOut struct {
		R struct{ Results []result }
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			fb := b.biFixture(t, b.orgB)
			var drafts []biInvoice
			for i := range 4 {
				drafts = append(drafts, b.biCreate(t, a.Accountant, f.biInput(f.acme, fmt.Sprintf("2026-02-%02d", i+1), "2026-03-31",
					biLine(f.consult, fmt.Sprint(i+1), ""))))
			}
			byFinanceLead := b.biCreate(t, a.FinanceLead, f.biInput(f.globex, "2026-02-09", "2026-03-31", biLine(f.managed, "1", "")))
			bDraft := b.biCreate(t, b.orgB.Accountant, fb.biInput(fb.acme, "2026-02-01", "2026-03-31", biLine(fb.consult, "1", "")))
			b.biDo(t, b.orgB.Accountant, "submitInvoice", bDraft.ID)
			bBefore := b.biSnapshot(t, b.orgB)

			// Bulk submit: three of the drafts; a repeat of one is an invalid transition.
			var sub bulkOut
			b.gqlOK(t, a.Accountant, submitQ, map[string]any{"ids": []string{drafts[0].ID, drafts[1].ID, drafts[2].ID, drafts[0].ID}}, &sub)
			require.Len(t, sub.R.Results, 4)
			for i := range 3 {
				require.True(t, sub.R.Results[i].Ok, "item %d: %+v", i, sub.R.Results[i].Error)
				require.Equal(t, drafts[i].ID, sub.R.Results[i].InvoiceID)
				require.Equal(t, "SUBMITTED", sub.R.Results[i].Invoice.Status)
				require.Nil(t, sub.R.Results[i].Error)
			}
			require.False(t, sub.R.Results[3].Ok)
			require.Equal(t, "INVALID_TRANSITION", sub.R.Results[3].Error.Code)
			require.NotEmpty(t, sub.R.Results[3].Error.Message)
			require.Nil(t, sub.R.Results[3].Invoice)
			b.biDo(t, a.FinanceLead, "submitInvoice", byFinanceLead.ID)

			// Bulk approve: three submitted, a draft, an unknown id, org B's submitted invoice
			// and one the finance lead submitted.
			ids := []string{drafts[0].ID, drafts[3].ID, "inv_01zzzzzzzzzzzzzzzzzzzzzzzz", drafts[1].ID, bDraft.ID, byFinanceLead.ID, drafts[2].ID}
			entries := b.entryCount(t, a)
			var appr bulkOut
			b.gqlOK(t, a.FinanceLead, approveQ, map[string]any{"ids": ids}, &appr)
			require.Len(t, appr.R.Results, len(ids))
			got := map[string]string{}
			for i, r := range appr.R.Results {
				require.Equal(t, ids[i], r.InvoiceID, "results keep the order of ids")
				if r.Ok {
					require.Nil(t, r.Error)
					got[r.InvoiceID] = r.Invoice.Status + " " + *r.Invoice.Number
				} else {
					require.Nil(t, r.Invoice)
					got[r.InvoiceID] = r.Error.Code
				}
			}
			require.Equal(t, map[string]string{
				drafts[0].ID:                     "APPROVED INV-00001",
				drafts[3].ID:                     "INVALID_TRANSITION",
				"inv_01zzzzzzzzzzzzzzzzzzzzzzzz": "NOT_FOUND",
				drafts[1].ID:                     "APPROVED INV-00002",
				bDraft.ID:                        "NOT_FOUND",
				byFinanceLead.ID:                 "SELF_APPROVAL",
				drafts[2].ID:                     "APPROVED INV-00003",
			}, got)
			require.Equal(t, entries+3, b.entryCount(t, a), "one entry per approved invoice")
			for i, want := range []string{"INV-00001", "INV-00002", "INV-00003"} {
				inv := b.biInvoice(t, a.Viewer, drafts[i].ID)
				require.Equal(t, "APPROVED", inv.Status)
				require.Equal(t, want, inv.number())
				require.Equal(t, biSubject(a, auth.RoleFinanceLead), *inv.ApprovedBy)
				require.Equal(t, "SUBMITTED>APPROVED", inv.transitions()[len(inv.transitions())-1])
				require.Equal(t, []string{"1200 DR " + inv.Total, "4000 CR " + inv.Total}, b.biEntryLines(t, a.Viewer, *inv.JournalEntryID))
			}
			require.Equal(t, "DRAFT", b.biInvoice(t, a.Viewer, drafts[3].ID).Status)
			self := b.biInvoice(t, a.Viewer, byFinanceLead.ID)
			require.Equal(t, "SUBMITTED", self.Status)
			require.Nil(t, self.Number)
			require.Equal(t, bBefore, b.biSnapshot(t, b.orgB), "org B's invoice is untouched")
			require.Equal(t, "SUBMITTED", b.biInvoice(t, b.orgB.Viewer, bDraft.ID).Status)
			// Each success is audited on its own.
			var audit struct{ AuditEvents struct{ TotalCount int } }
			b.gqlOK(t, a.Admin, `{ auditEvents(where: {action: "approveInvoice"}) { totalCount } }`, nil, &audit)
			require.Equal(t, 3, audit.AuditEvents.TotalCount)
			biRequireARInvariant(t, b, a)

			// More than 30 ids, roles, and a bulk mutation sharing its operation are refused.
			before := b.biSnapshot(t, a)
			many := make([]string, 31)
			for i := range many {
				many[i] = drafts[3].ID
			}
			r := b.gql(t, a.FinanceLead, approveQ, map[string]any{"ids": many})
			b.biRequireRefused(t, a, before, r, "VALIDATION")
			r = b.gql(t, a.Accountant, submitQ, map[string]any{"ids": many})
			b.biRequireRefused(t, a, before, r, "VALIDATION")
			r = b.gql(t, a.Accountant, approveQ, map[string]any{"ids": []string{byFinanceLead.ID}})
			b.biRequireRefused(t, a, before, r, "FORBIDDEN")
			r = b.gql(t, a.Viewer, submitQ, map[string]any{"ids": []string{drafts[3].ID}})
			b.biRequireRefused(t, a, before, r, "FORBIDDEN")
			r = b.gql(t, a.Admin, `mutation($ids: [ID!]!) { x: bulkSubmitInvoices(input: {invoiceIds: $ids}) { results { ok } }
				y: submitInvoice(input: {invoiceId: "inv_x"}) { invoice { id } } }`,
				map[string]any{"ids": []string{drafts[3].ID}})
			b.biRequireRefused(t, a, before, r, "VALIDATION")
			// Exactly 30 is fine.
			thirty := make([]string, 30)
			for i := range thirty {
				thirty[i] = drafts[3].ID
			}
			var h bulkOut
			b.gqlOK(t, a.Admin, approveQ, map[string]any{"ids": thirty}, &h)
			require.Len(t, h.R.Results, 30)
			for _, x := range h.R.Results {
				require.Equal(t, "INVALID_TRANSITION", x.Error.Code)
			}
			biRequireARInvariant(t, b, a)
			biRequireARInvariant(t, b, b.orgB)
		})
	}
}

func TestBillingBadInput(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			fb := b.biFixture(t, b.orgB)
			approved := b.biApproved(t, f, f.biInput(f.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "1", ""))) // 150.00
			submitted := b.biCreate(t, a.FinanceLead, f.biInput(f.acme, "2026-02-02", "2026-03-02", biLine(f.consult, "1", "")))
			b.biDo(t, a.FinanceLead, "submitInvoice", submitted.ID)
			draft := b.biCreate(t, a.Accountant, f.biInput(f.acme, "2026-02-03", "2026-03-03", biLine(f.consult, "1", "")))
			paid := b.biApproved(t, f, f.biInput(f.acme, "2026-02-04", "2026-03-04", biLine(f.managed, "1", "")))
			pay := b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "120.00", biApp(paid.ID, "99.99")))
			var cm struct {
				IssueCreditMemo struct{ CreditMemo struct{ ID string } }
			}
			b.gqlOK(t, a.FinanceLead, `mutation($in: IssueCreditMemoInput!) { issueCreditMemo(input: $in) { creditMemo { id } } }`,
				map[string]any{"in": map[string]any{"entityId": f.us, "customerId": f.acme, "date": "2026-03-01", "amount": "10.00"}}, &cm)
			biRequireARInvariant(t, b, a)

			createQ := biCreateQ
			updateQ := biUpdateQ
			withLine := func(line map[string]any) map[string]any {
				return f.biInput(f.acme, "2026-02-10", "2026-03-10", biLine(f.consult, "1", ""), line)
			}
			with := func(key string, v any) map[string]any {
				in := f.biInput(f.acme, "2026-02-10", "2026-03-10", biLine(f.consult, "1", ""))
				in[key] = v
				return in
			}
			manyFields := map[string]any{}
			for i := range 11 {
				manyFields[fmt.Sprintf("f%d", i)] = "x"
			}
			cases := []struct {
				name, token, query string
				vars               map[string]any
				code               string
			}{
				{"zero quantity", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "0", ""))}, "INVALID_QUANTITY"},
				{"negative quantity", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "-1", ""))}, "INVALID_QUANTITY"},
				{"zero price", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "1", "0.00"))}, "INVALID_AMOUNT"},
				{"negative price", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "1", "-10.00"))}, "INVALID_AMOUNT"},
				{"amount rounding to zero", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "0.001", "0.01"))}, "INVALID_AMOUNT"},
				{"malformed price", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "1", "ten"))}, "INVALID_AMOUNT"},
				{"malformed quantity", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.managed, "one", ""))}, "INVALID_AMOUNT"},
				{"unknown item", a.Accountant, createQ, map[string]any{"in": withLine(biLine("item_01zzzzzzzzzzzzzzzzzzzzzzzz", "1", ""))}, "UNKNOWN_ITEM"},
				{"item of the other entity", a.Accountant, createQ, map[string]any{"in": withLine(biLine(f.ukItem, "1", ""))}, "UNKNOWN_ITEM"},
				{"item of org B", a.Accountant, createQ, map[string]any{"in": withLine(biLine(fb.consult, "1", ""))}, "UNKNOWN_ITEM"},
				{"unknown class", a.Accountant, createQ, map[string]any{"in": withLine(map[string]any{"itemId": f.managed, "quantity": "1", "classId": "cls_nope"})}, "UNKNOWN_CLASS"},
				{"class of the other entity", a.Accountant, createQ, map[string]any{"in": withLine(map[string]any{"itemId": f.managed, "quantity": "1", "classId": f.ukClass})}, "UNKNOWN_CLASS"},
				{"class of org B", a.Accountant, createQ, map[string]any{"in": withLine(map[string]any{"itemId": f.managed, "quantity": "1", "classId": fb.class})}, "UNKNOWN_CLASS"},
				{"currency other than the customer's", a.Accountant, createQ, map[string]any{"in": with("currency", "GBP")}, "CURRENCY_MISMATCH"},
				{"GBP customer on the USD entity", a.Accountant, createQ, map[string]any{"in": with("customerId", f.brit)}, "CURRENCY_MISMATCH"},
				{"unknown currency", a.Accountant, createQ, map[string]any{"in": with("currency", "XYZ")}, "CURRENCY_MISMATCH"},
				{"due date before issue date", a.Accountant, createQ, map[string]any{"in": with("dueDate", "2026-02-09")}, "VALIDATION"},
				{"malformed date", a.Accountant, createQ, map[string]any{"in": with("dueDate", "2026-02-30")}, "VALIDATION"},
				{"service period backwards", a.Accountant, createQ, map[string]any{"in": func() map[string]any {
					in := with("serviceFrom", "2026-02-01")
					in["serviceTo"] = "2026-01-01"
					return in
				}()}, "VALIDATION"},
				{"no lines", a.Accountant, createQ, map[string]any{"in": with("lines", []any{})}, "VALIDATION"},
				{"too many custom fields", a.Accountant, createQ, map[string]any{"in": with("customFields", manyFields)}, "VALIDATION"},
				{"custom field not a string", a.Accountant, createQ, map[string]any{"in": with("customFields", map[string]any{"po": 7})}, "VALIDATION"},
				{"unknown customer", a.Accountant, createQ, map[string]any{"in": with("customerId", "cus_01zzzzzzzzzzzzzzzzzzzzzzzz")}, "UNKNOWN_CUSTOMER"},
				{"customer of org B", a.Accountant, createQ, map[string]any{"in": with("customerId", fb.acme)}, "UNKNOWN_CUSTOMER"},
				{"entity of org B", a.Accountant, createQ, map[string]any{"in": with("entityId", fb.us)}, "UNKNOWN_ENTITY"},
				{"editing an approved invoice", a.Admin, updateQ, map[string]any{"id": approved.ID, "in": with("memo", "changed")}, "NOT_EDITABLE"},
				{"editing a submitted invoice", a.Admin, updateQ, map[string]any{"id": submitted.ID, "in": with("memo", "changed")}, "NOT_EDITABLE"},
				{"editing with a bad line", a.Admin, updateQ, map[string]any{"id": draft.ID, "in": withLine(biLine(f.managed, "0", ""))}, "INVALID_QUANTITY"},
				{"moving a draft to another entity", a.Admin, updateQ, map[string]any{"id": draft.ID, "in": map[string]any{"entityId": f.uk, "customerId": f.brit,
					"issueDate": "2026-02-10", "dueDate": "2026-03-10", "lines": []any{biLine(f.ukItem, "1", "")}}}, "VALIDATION"},
				{"approving your own submission", a.FinanceLead, `mutation($id: ID!) { approveInvoice(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": submitted.ID}, "SELF_APPROVAL"},
				{"approving a draft", a.Admin, `mutation($id: ID!) { approveInvoice(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": draft.ID}, "INVALID_TRANSITION"},
				{"applying more than the balance", a.Accountant, biRecordPayment, map[string]any{"in": f.biPaymentInput(f.acme, "200.00", biApp(approved.ID, "150.01"))}, "OVER_APPLICATION"},
				{"applying more than the payment", a.Accountant, biRecordPayment, map[string]any{"in": f.biPaymentInput(f.acme, "100.00", biApp(approved.ID, "100.01"))}, "OVER_APPLICATION"},
				{"applying to an unknown invoice", a.Accountant, biRecordPayment, map[string]any{"in": f.biPaymentInput(f.acme, "100.00", biApp("inv_01zzzzzzzzzzzzzzzzzzzzzzzz", "1.00"))}, "NOT_FOUND"},
				{"applying the same invoice twice", a.Accountant, biRecordPayment, map[string]any{"in": f.biPaymentInput(f.acme, "100.00", biApp(approved.ID, "1.00"), biApp(approved.ID, "1.00"))}, "VALIDATION"},
				{"payment with an unknown method", a.Accountant, biRecordPayment, map[string]any{"in": func() map[string]any {
					in := f.biPaymentInput(f.acme, "1.00")
					in["method"] = "barter"
					return in
				}()}, "GRAPHQL_VALIDATION_FAILED"},
				{"applying unapplied credit beyond it", a.Accountant, `mutation($p: ID!, $apps: [ApplicationInput!]!) { applyPayment(input: {paymentId: $p, applications: $apps}) { payment { id } } }`,
					map[string]any{"p": pay.ID, "apps": []any{biApp(approved.ID, "20.02")}}, "OVER_APPLICATION"},
				{"applying a credit memo beyond it", a.Accountant, `mutation($c: ID!, $apps: [ApplicationInput!]!) { applyCreditMemo(input: {creditMemoId: $c, applications: $apps}) { creditMemo { id } } }`,
					map[string]any{"c": cm.IssueCreditMemo.CreditMemo.ID, "apps": []any{biApp(approved.ID, "10.01")}}, "OVER_APPLICATION"},
				{"refunding more than paid", a.FinanceLead, `mutation($in: CashReturnInput!) { refundPayment(input: $in) { refund { id } } }`,
					map[string]any{"in": map[string]any{"paymentId": pay.ID, "amount": "120.01"}}, "OVER_REFUND"},
				{"charging back more than paid", a.FinanceLead, `mutation($in: CashReturnInput!) { reverseCharge(input: $in) { chargeReversal { id } } }`,
					map[string]any{"in": map[string]any{"paymentId": pay.ID, "amount": "120.01"}}, "OVER_REFUND"},
				{"refund dated before the payment", a.FinanceLead, `mutation($in: CashReturnInput!) { refundPayment(input: $in) { refund { id } } }`,
					map[string]any{"in": map[string]any{"paymentId": pay.ID, "amount": "1.00", "date": "2026-02-28"}}, "VALIDATION"},
				{"writing off a paid invoice", a.FinanceLead, `mutation($in: WriteOffInvoiceInput!) { writeOffInvoice(input: $in) { writeOff { id } } }`,
					map[string]any{"in": map[string]any{"invoiceId": paid.ID}}, "INVALID_TRANSITION"},
				{"credit memo on a non-revenue account", a.FinanceLead, `mutation($in: IssueCreditMemoInput!) { issueCreditMemo(input: $in) { creditMemo { id } } }`,
					map[string]any{"in": map[string]any{"entityId": f.us, "customerId": f.acme, "date": "2026-03-01", "amount": "5.00", "accountId": f.accts["1000"]}}, "VALIDATION"},
				{"credit memo applied beyond its amount", a.FinanceLead, `mutation($in: IssueCreditMemoInput!) { issueCreditMemo(input: $in) { creditMemo { id } } }`,
					map[string]any{"in": map[string]any{"entityId": f.us, "customerId": f.acme, "date": "2026-03-01", "amount": "5.00",
						"applications": []any{biApp(approved.ID, "5.01")}}}, "OVER_APPLICATION"},
				{"credit memo applied to a draft", a.FinanceLead, `mutation($in: IssueCreditMemoInput!) { issueCreditMemo(input: $in) { creditMemo { id } } }`,
					map[string]any{"in": map[string]any{"entityId": f.us, "customerId": f.acme, "date": "2026-03-01", "amount": "5.00",
						"applications": []any{biApp(draft.ID, "5.00")}}}, "INVALID_TRANSITION"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := b.biSnapshot(t, a)
					r := b.gql(t, c.token, c.query, c.vars)
					biRequireNoData(t, r)
					b.biRequireRefused(t, a, before, r, c.code)
					biRequireARInvariant(t, b, a)
				})
			}
		})
	}
}

func TestBillingTenancy(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			fb := b.biFixture(t, b.orgB)
			ob := b.orgB
			// Org B: an approved invoice paid in part, its payment and application, a draft,
			// a submitted invoice, a credit memo.
			bInv := b.biApproved(t, fb, fb.biInput(fb.acme, "2026-02-01", "2026-03-01", biLine(fb.consult, "2", "")))
			bPay := b.biPay(t, ob.Accountant, fb.biPaymentInput(fb.acme, "200.00", biApp(bInv.ID, "100.00")))
			bDraft := b.biCreate(t, ob.Accountant, fb.biInput(fb.acme, "2026-02-02", "2026-03-02", biLine(fb.consult, "1", "")))
			bSub := b.biCreate(t, ob.Accountant, fb.biInput(fb.acme, "2026-02-03", "2026-03-03", biLine(fb.consult, "1", "")))
			b.biDo(t, ob.Accountant, "submitInvoice", bSub.ID)
			var bCM struct {
				IssueCreditMemo struct{ CreditMemo struct{ ID string } }
			}
			b.gqlOK(t, ob.FinanceLead, `mutation($in: IssueCreditMemoInput!) { issueCreditMemo(input: $in) { creditMemo { id } } }`,
				map[string]any{"in": map[string]any{"entityId": fb.us, "customerId": fb.acme, "date": "2026-03-01", "amount": "10.00"}}, &bCM)
			// Org A has its own, for mixed requests.
			aInv := b.biApproved(t, f, f.biInput(f.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "1", "")))
			aPay := b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "10.00"))
			bBefore := b.biSnapshot(t, ob)

			// Reads: lists, search and node show org A's records only.
			var lists struct {
				Invoices, Payments, Customers, Items, CreditMemos, Vendors, Refunds, WriteOffs, ChargeReversals struct{ TotalCount int }
			}
			b.gqlOK(t, a.Admin, `{ invoices { totalCount } payments { totalCount } customers { totalCount } items { totalCount }
				creditMemos { totalCount } vendors { totalCount } refunds { totalCount } writeOffs { totalCount } chargeReversals { totalCount } }`, nil, &lists)
			require.Equal(t, 1, lists.Invoices.TotalCount)
			require.Equal(t, 1, lists.Payments.TotalCount)
			require.Equal(t, 3, lists.Customers.TotalCount)
			require.Equal(t, 3, lists.Items.TotalCount)
			require.Equal(t, 0, lists.CreditMemos.TotalCount)
			for _, q := range []struct {
				query string
				vars  map[string]any
			}{
				{`query($c: String) { invoices(search: {customer: $c}) { totalCount } }`, map[string]any{"c": fb.acme}},
				{`query($id: ID) { invoices(where: {id: $id}) { totalCount } }`, map[string]any{"id": bInv.ID}},
				{`query($id: ID) { invoices(where: {customerId: $id}) { totalCount } }`, map[string]any{"id": fb.acme}},
				{`query($id: ID) { payments(where: {id: $id}) { totalCount } }`, map[string]any{"id": bPay.ID}},
				{`query($id: ID) { customers(where: {id: $id}) { totalCount } }`, map[string]any{"id": fb.acme}},
			} {
				var out map[string]struct{ TotalCount int }
				b.gqlOK(t, a.Admin, q.query, q.vars, &out)
				for k, v := range out {
					require.Zero(t, v.TotalCount, "%s: %s", k, q.query)
				}
			}
			for _, id := range []string{bInv.ID, bDraft.ID, bPay.ID, bPay.Applications[0].ID, fb.acme, fb.consult, bCM.IssueCreditMemo.CreditMemo.ID, bInv.Lines[0].ID, bInv.Events[0].ID} {
				r := b.gql(t, a.Admin, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
				gqRequireCode(t, r, "NOT_FOUND")
				require.JSONEq(t, `{"node": null}`, string(r.Data), id)
			}
			r := b.gql(t, a.Admin, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{aInv.ID, bInv.ID, aPay.ID, bPay.ID}})
			require.JSONEq(t, fmt.Sprintf(`{"nodes": [{"id": %q}, null, {"id": %q}, null]}`, aInv.ID, aPay.ID), string(r.Data))
			require.Equal(t, []string{"NOT_FOUND", "NOT_FOUND"}, r.errorCodes())
			// Org A's own records resolve by node, as org B's do for org B.
			require.Equal(t, bInv.ID, b.biInvoice(t, ob.Viewer, bInv.ID).ID)
			require.Equal(t, aInv.ID, b.biInvoice(t, a.Viewer, aInv.ID).ID)

			// Writes: every mutation naming org B's records is refused and changes nothing of
			// either organization.
			aBefore := b.biSnapshot(t, a)
			for _, c := range []struct {
				name, token, query string
				vars               map[string]any
				code               string
			}{
				{"updateCustomer", a.Admin, `mutation($id: ID!) { updateCustomer(input: {customerId: $id, patch: {name: "Hijacked"}}) { customer { id } } }`, map[string]any{"id": fb.acme}, "NOT_FOUND"},
				{"updateItem", a.Admin, `mutation($id: ID!) { updateItem(input: {itemId: $id, patch: {name: "Hijacked"}}) { item { id } } }`, map[string]any{"id": fb.consult}, "NOT_FOUND"},
				{"createItem on org B's entity", a.Admin, `mutation($e: ID!, $acct: ID!) { createItem(input: {entityId: $e, name: "X", defaultRate: "1.00", incomeAccountId: $acct}) { item { id } } }`,
					map[string]any{"e": fb.us, "acct": fb.accts["4000"]}, "UNKNOWN_ENTITY"},
				{"createItem on org B's account", a.Admin, `mutation($e: ID!, $acct: ID!) { createItem(input: {entityId: $e, name: "X", defaultRate: "1.00", incomeAccountId: $acct}) { item { id } } }`,
					map[string]any{"e": f.us, "acct": fb.accts["4000"]}, "UNKNOWN_ACCOUNT"},
				{"setInvoicePrefix", a.Admin, `mutation($e: ID!) { setInvoicePrefix(input: {entityId: $e, prefix: "X-"}) { prefix } }`, map[string]any{"e": fb.us}, "UNKNOWN_ENTITY"},
				{"createInvoice for org B's customer", a.Admin, biCreateQ,
					map[string]any{"in": f.biInput(fb.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "1", ""))}, "UNKNOWN_CUSTOMER"},
				{"updateInvoice", a.Admin, biUpdateQ,
					map[string]any{"id": bDraft.ID, "in": f.biInput(f.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "1", ""))}, "NOT_FOUND"},
				{"submitInvoice", a.Admin, `mutation($id: ID!) { submitInvoice(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": bDraft.ID}, "NOT_FOUND"},
				{"approveInvoice", a.Admin, `mutation($id: ID!) { approveInvoice(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": bSub.ID}, "NOT_FOUND"},
				{"rejectInvoice", a.Admin, `mutation($id: ID!) { rejectInvoice(input: {invoiceId: $id, reason: "x"}) { invoice { id } } }`, map[string]any{"id": bSub.ID}, "NOT_FOUND"},
				{"sendInvoice", a.Admin, `mutation($id: ID!) { sendInvoice(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": bInv.ID}, "NOT_FOUND"},
				{"voidInvoice", a.Admin, `mutation($id: ID!) { voidInvoice(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": bInv.ID}, "NOT_FOUND"},
				{"markInvoiceViewed", a.Admin, `mutation($id: ID!) { markInvoiceViewed(input: {invoiceId: $id}) { invoice { id } } }`, map[string]any{"id": bInv.ID}, "NOT_FOUND"},
				{"writeOffInvoice", a.Admin, `mutation($id: ID!) { writeOffInvoice(input: {invoiceId: $id}) { writeOff { id } } }`, map[string]any{"id": bInv.ID}, "NOT_FOUND"},
				{"bulkSubmitInvoices", a.Admin, `mutation($id: ID!) { bulkSubmitInvoices(input: {invoiceIds: [$id]}) { results { ok error { code } } } }`, map[string]any{"id": bDraft.ID}, ""},
				{"recordPayment for org B's customer", a.Admin, biRecordPayment, map[string]any{"in": f.biPaymentInput(fb.acme, "1.00")}, "UNKNOWN_CUSTOMER"},
				{"recordPayment on org B's entity", a.Admin, biRecordPayment, map[string]any{"in": fb.biPaymentInput(fb.acme, "1.00")}, "UNKNOWN_ENTITY"},
				{"recordPayment applied to org B's invoice", a.Admin, biRecordPayment, map[string]any{"in": f.biPaymentInput(f.acme, "1.00", biApp(bInv.ID, "1.00"))}, "NOT_FOUND"},
				{"applyPayment of org B's payment", a.Admin, `mutation($p: ID!, $i: ID!) { applyPayment(input: {paymentId: $p, applications: [{invoiceId: $i, amount: "1.00"}]}) { payment { id } } }`,
					map[string]any{"p": bPay.ID, "i": bInv.ID}, "NOT_FOUND"},
				{"applyPayment to org B's invoice", a.Admin, `mutation($p: ID!, $i: ID!) { applyPayment(input: {paymentId: $p, applications: [{invoiceId: $i, amount: "1.00"}]}) { payment { id } } }`,
					map[string]any{"p": aPay.ID, "i": bInv.ID}, "NOT_FOUND"},
				{"unapplyPayment", a.Admin, `mutation($id: ID!) { unapplyPayment(input: {paymentApplicationId: $id}) { payment { id } } }`, map[string]any{"id": bPay.Applications[0].ID}, "NOT_FOUND"},
				{"refundPayment", a.Admin, `mutation($id: ID!) { refundPayment(input: {paymentId: $id, amount: "1.00"}) { refund { id } } }`, map[string]any{"id": bPay.ID}, "NOT_FOUND"},
				{"reverseCharge", a.Admin, `mutation($id: ID!) { reverseCharge(input: {paymentId: $id, amount: "1.00"}) { chargeReversal { id } } }`, map[string]any{"id": bPay.ID}, "NOT_FOUND"},
				{"issueCreditMemo for org B's customer", a.Admin, `mutation($e: ID!, $c: ID!) { issueCreditMemo(input: {entityId: $e, customerId: $c, date: "2026-03-01", amount: "1.00"}) { creditMemo { id } } }`,
					map[string]any{"e": f.us, "c": fb.acme}, "UNKNOWN_CUSTOMER"},
				{"applyCreditMemo", a.Admin, `mutation($c: ID!, $i: ID!) { applyCreditMemo(input: {creditMemoId: $c, applications: [{invoiceId: $i, amount: "1.00"}]}) { creditMemo { id } } }`,
					map[string]any{"c": bCM.IssueCreditMemo.CreditMemo.ID, "i": bInv.ID}, "NOT_FOUND"},
			} {
				t.Run(c.name, func(t *testing.T) {
					r := b.gql(t, c.token, c.query, c.vars)
					if c.code == "" { // a bulk item fails on its own
						require.Empty(t, r.Errors)
						require.JSONEq(t, `{"bulkSubmitInvoices": {"results": [{"ok": false, "error": {"code": "NOT_FOUND"}}]}}`, string(r.Data))
						require.Equal(t, aBefore, b.biSnapshot(t, a))
					} else {
						b.biRequireRefused(t, a, aBefore, r, c.code)
					}
					require.Equal(t, bBefore, b.biSnapshot(t, ob), "org B is untouched")
				})
			}

			// Payments page by amount with cursors (a money order value).
			b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "5.00"))
			b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "7.50"))
			var amounts []string
			var after *string
			for range 5 {
				var page struct {
					Payments gqConn[struct{ Amount string }]
				}
				b.gqlOK(t, a.Viewer, `query($c: Cursor) { payments(first: 1, after: $c, orderBy: {field: AMOUNT, direction: DESC}) {
					pageInfo { hasNextPage endCursor } edges { node { amount } } } }`, map[string]any{"c": after}, &page)
				for _, n := range page.Payments.nodes() {
					amounts = append(amounts, n.Amount)
				}
				if !page.Payments.PageInfo.HasNextPage {
					break
				}
				after = page.Payments.PageInfo.EndCursor
			}
			require.Equal(t, []string{"10.00", "7.50", "5.00"}, amounts)
			biRequireARInvariant(t, b, a)
			biRequireARInvariant(t, b, ob)
		})
	}
}

func TestBillingInvoiceListCost(t *testing.T) {
	t.Parallel()
	const q = `query($n: Int) { invoices(first: $n, where: {statusIn: [APPROVED, SENT, PARTIALLY_PAID]}, orderBy: {field: ISSUE_DATE, direction: DESC}) {
		totalCount edges { node { id number total balance overdue customer { displayName email }
		lines { description quantity unitPrice amount item { name } } paymentApplications { amount } } } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			var ids []string
			for i := range 24 {
				customer := []string{f.acme, f.globex}[i%2]
				inv := b.biCreate(t, a.Accountant, f.biInput(customer, fmt.Sprintf("2026-%02d-%02d", 1+i%10, 1+i), "2026-12-31",
					biLine(f.consult, "1", ""), biLine(f.managed, fmt.Sprint(1+i%3), "")))
				ids = append(ids, inv.ID)
			}
			var sub, appr struct {
				R struct{ Results []struct{ Ok bool } }
			}
			b.gqlOK(t, a.Accountant, `mutation($ids: [ID!]!) { r: bulkSubmitInvoices(input: {invoiceIds: $ids}) { results { ok } } }`, map[string]any{"ids": ids}, &sub)
			b.gqlOK(t, a.FinanceLead, `mutation($ids: [ID!]!) { r: bulkApproveInvoices(input: {invoiceIds: $ids}) { results { ok } } }`, map[string]any{"ids": ids}, &appr)
			require.Len(t, appr.R.Results, len(ids))
			for _, r := range appr.R.Results {
				require.True(t, r.Ok)
			}
			for _, id := range ids[:6] {
				b.biDo(t, a.Accountant, "sendInvoice", id)
			}
			b.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "100.00", biApp(ids[6], "100.00")))

			// The statements a page costs do not grow with the page (no N+1).
			counts := map[int]int64{}
			for _, n := range []int{5, 20} {
				var out struct {
					Invoices gqConn[struct {
						ID       string
						Customer struct{ DisplayName string }
						Lines    []struct{ Amount string }
					}]
				}
				b.counter.Reset()
				b.gqlOK(t, a.Viewer, q, map[string]any{"n": n}, &out)
				counts[n] = b.counter.Count()
				require.Equal(t, 24, out.Invoices.TotalCount)
				require.Len(t, out.Invoices.Edges, n)
				for _, inv := range out.Invoices.nodes() {
					require.Len(t, inv.Lines, 2)
					require.NotEmpty(t, inv.Customer.DisplayName)
				}
			}
			t.Logf("statements per invoices request by page size: %v", counts)
			require.Equal(t, counts[5], counts[20], "statements must not grow with the page size")
			require.Less(t, counts[20], int64(12))

			// A page of 1,000 invoices with their lines is refused before it runs, and so is a
			// page beyond 1,000.
			r := b.gql(t, a.Viewer, q, map[string]any{"n": 1000})
			gqRequireCode(t, r, "COMPLEXITY_LIMIT_EXCEEDED")
			r = b.gql(t, a.Viewer, `{ invoices(first: 1001) { totalCount } }`, nil)
			gqRequireCode(t, r, "VALIDATION")
			biRequireARInvariant(t, b, a)
		})
	}
}

// biCreditMemoFields are a credit memo's fields with its applications.
const biCreditMemoFields = `id customerId applied remaining journalEntryId
	applications { id invoiceId amount journalEntryId unappliedAt unapplyEntryId }`

type biCreditMemo struct {
	ID, CustomerID, Applied, Remaining, JournalEntryID string
	Applications                                       []struct {
		ID, InvoiceID, Amount, JournalEntryID string
		UnappliedAt, UnapplyEntryID           *string
	}
}

// biEntry is a journal entry with what says whose it is.
type biEntry struct {
	ID, Date, SourceRef, Status string
	DocumentDate                *string
	DocumentType, DocumentID    *string
	ReversalOfID                *string
	Lines                       []struct {
		CustomerID *string
		Account    struct{ Code, Subtype string }
	}
}

// biEntry reads a journal entry through node.
func (b *testBundle) biEntry(t *testing.T, token, id string) biEntry {
	t.Helper()
	var out struct{ Node *biEntry }
	b.gqlOK(t, token, `query($id: ID!) { node(id: $id) { ... on JournalEntry { id date sourceRef status documentDate
		documentType documentId reversalOfId lines { customerId account { code subtype } } } } }`, map[string]any{"id": id}, &out)
	require.NotNil(t, out.Node, "entry %s", id)
	return *out.Node
}

// requireDocument requires the entry to belong to document (docType, docID) and each of its
// Accounts Receivable and Customer Credits lines to name customerID.
func (e biEntry) requireDocument(t *testing.T, docType, docID, customerID string) {
	t.Helper()
	require.NotNil(t, e.DocumentType, "entry %s (%s) has no document", e.ID, e.SourceRef)
	require.NotNil(t, e.DocumentID, "entry %s (%s) has no document id", e.ID, e.SourceRef)
	require.Equal(t, strings.ToUpper(docType)+" "+docID, *e.DocumentType+" "+*e.DocumentID, "document of entry %s (%s)", e.ID, e.SourceRef)
	for _, l := range e.Lines {
		if l.Account.Subtype == "ACCOUNTS_RECEIVABLE" || l.Account.Subtype == "CUSTOMER_CREDIT" {
			require.NotNil(t, l.CustomerID, "%s line of entry %s names no customer", l.Account.Code, e.ID)
			require.Equal(t, customerID, *l.CustomerID, "%s line of entry %s", l.Account.Code, e.ID)
		}
	}
}

func TestBillingUnapplyCredit(t *testing.T) {
	t.Parallel()
	const issueQ = `mutation($in: IssueCreditMemoInput!) { r: issueCreditMemo(input: $in) { creditMemo { ` + biCreditMemoFields + ` } } }`
	const unapplyQ = `mutation($id: ID!) { r: unapplyCredit(input: {creditApplicationId: $id}) { creditMemo { ` + biCreditMemoFields + ` }
		invoices { id status balance } } }`
	const reverseQ = `mutation($id: ID!) { reverseJournalEntry(input: {journalEntryId: $id}) { reversal { id } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := biSetup(t, d)
			a := b.orgA
			f := b.biFixture(t, a)
			loc, err := time.LoadLocation(a.Entities[0].TimeZone)
			require.NoError(t, err)
			today := caldate.Today(loc)

			inv := b.biApproved(t, f, f.biInput(f.acme, "2026-02-01", "2026-03-01", biLine(f.consult, "2", ""))) // 300.00
			b.biEntry(t, a.Viewer, *inv.JournalEntryID).requireDocument(t, "invoice", inv.ID, f.acme)
			var issued struct {
				R struct{ CreditMemo biCreditMemo }
			}
			b.gqlOK(t, a.FinanceLead, issueQ, map[string]any{"in": map[string]any{"entityId": f.us, "customerId": f.acme,
				"date": "2026-03-07", "amount": "100.00", "applications": []any{biApp(inv.ID, "100.00")}}}, &issued)
			cm := issued.R.CreditMemo
			require.Equal(t, "100.00", cm.Applied)
			require.Len(t, cm.Applications, 1)
			app := cm.Applications[0]
			require.Nil(t, app.UnappliedAt)
			require.Nil(t, app.UnapplyEntryID)
			b.biEntry(t, a.Viewer, cm.JournalEntryID).requireDocument(t, "credit_memo", cm.ID, f.acme)
			b.biEntry(t, a.Viewer, app.JournalEntryID).requireDocument(t, "credit_application", app.ID, f.acme)
			require.Equal(t, "PARTIALLY_PAID", b.biInvoice(t, a.Viewer, inv.ID).Status)

			// A credited invoice is not voided: the refusal names the way out. Nor are its
			// entries or the credit's undone behind the documents' backs.
			before := b.biSnapshot(t, a)
			r := b.biTry(t, a.FinanceLead, "voidInvoice", inv.ID)
			b.biRequireRefused(t, a, before, r, "INVALID_TRANSITION")
			require.Contains(t, r.Errors[0].Message, "unapplyPayment")
			require.Contains(t, r.Errors[0].Message, "unapplyCredit")
			for _, id := range []string{*inv.JournalEntryID, cm.JournalEntryID, app.JournalEntryID} {
				b.biRequireRefused(t, a, before, b.gql(t, a.FinanceLead, reverseQ, map[string]any{"id": id}), "DOCUMENT_OWNED")
			}

			// Viewers do not unapply; other organizations cannot see the application.
			b.biRequireRefused(t, a, before, b.gql(t, a.Viewer, unapplyQ, map[string]any{"id": app.ID}), "FORBIDDEN")
			bBefore := b.biSnapshot(t, b.orgB)
			gqRequireCode(t, b.gql(t, b.orgB.Admin, unapplyQ, map[string]any{"id": app.ID}), "NOT_FOUND")
			require.Equal(t, before, b.biSnapshot(t, a))
			require.Equal(t, bBefore, b.biSnapshot(t, b.orgB))

			// Unapplying: DR AR, CR Customer Credits; the invoice re-opens and the memo has its
			// credit again.
			var un struct {
				R struct {
					CreditMemo biCreditMemo
					Invoices   []struct{ ID, Status, Balance string }
				}
			}
			b.gqlOK(t, a.Accountant, unapplyQ, map[string]any{"id": app.ID}, &un)
			unCM := un.R.CreditMemo
			require.Equal(t, cm.ID, unCM.ID)
			require.Equal(t, "0.00", unCM.Applied)
			require.Equal(t, "100.00", unCM.Remaining)
			require.Len(t, unCM.Applications, 1)
			require.NotNil(t, unCM.Applications[0].UnappliedAt)
			require.NotNil(t, unCM.Applications[0].UnapplyEntryID)
			require.Len(t, un.R.Invoices, 1, "the payload carries the invoice the credit left")
			require.Equal(t, inv.ID, un.R.Invoices[0].ID)
			require.Equal(t, "APPROVED", un.R.Invoices[0].Status)
			require.Equal(t, "300.00", un.R.Invoices[0].Balance)
			unEntry := *unCM.Applications[0].UnapplyEntryID
			require.Equal(t, []string{"1200 DR 100.00", "2100 CR 100.00"}, b.biEntryLines(t, a.Viewer, unEntry))
			e := b.biEntry(t, a.Viewer, unEntry)
			require.Equal(t, "cunapply:"+app.ID, e.SourceRef)
			require.Equal(t, today.String(), e.Date, "dated today, after the memo")
			e.requireDocument(t, "credit_application", app.ID, f.acme)
			got := b.biInvoice(t, a.Viewer, inv.ID)
			require.Equal(t, "APPROVED", got.Status)
			require.Equal(t, "300.00", got.Balance)
			require.Equal(t, "0.00", got.AmountPaid)
			require.Equal(t, "PARTIALLY_PAID>APPROVED", got.transitions()[len(got.transitions())-1])
			require.Equal(t, biSubject(a, auth.RoleAccountant), got.lastEvent(t).Actor)
			var audit struct {
				AuditEvents gqConn[struct{ Actor, SubjectID, Detail string }]
			}
			b.gqlOK(t, a.Admin, `{ auditEvents(where: {action: "unapplyCredit"}) { totalCount edges { node { actor subjectId detail } } } }`, nil, &audit)
			require.Equal(t, 1, audit.AuditEvents.TotalCount, "the mutation is audited")
			require.Equal(t, biSubject(a, auth.RoleAccountant), audit.AuditEvents.nodes()[0].Actor)
			require.Contains(t, audit.AuditEvents.nodes()[0].Detail, app.ID)
			biRequireARInvariant(t, b, a)

			before = b.biSnapshot(t, a)
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, unapplyQ, map[string]any{"id": app.ID}), "INVALID_TRANSITION")
			b.biRequireRefused(t, a, before, b.gql(t, a.Accountant, unapplyQ, map[string]any{"id": "capp_01zzzzzzzzzzzzzzzzzzzzzzzz"}), "NOT_FOUND")

			// Now the invoice is voided, even with this month closed: the reversal goes to the
			// first day of the next open month and keeps today as its document date.
			b.gqlOK(t, a.FinanceLead, `mutation($e: ID, $n: String) { closePeriod(input: {entityId: $e, name: $n}) { period { id } } }`,
				map[string]any{"e": f.us, "n": fmt.Sprintf("%04d-%02d", today.Year(), today.Month())}, nil)
			void := b.biDo(t, a.FinanceLead, "voidInvoice", inv.ID)
			require.Equal(t, "VOID", void.Status)
			require.Equal(t, "0.00", void.Balance)
			require.NotNil(t, void.VoidEntryID)
			require.Equal(t, []string{"1200 CR 300.00", "4000 DR 300.00"}, b.biEntryLines(t, a.Viewer, *void.VoidEntryID))
			ve := b.biEntry(t, a.Viewer, *void.VoidEntryID)
			require.Equal(t, today.FirstOfMonth().AddMonths(1).String(), ve.Date)
			require.NotNil(t, ve.DocumentDate)
			require.Equal(t, today.String(), *ve.DocumentDate)
			require.Equal(t, *inv.JournalEntryID, *ve.ReversalOfID)
			ve.requireDocument(t, "invoice", inv.ID, f.acme)
			require.Equal(t, map[string]string{"2100": "-100.00", "4000": "100.00"}, b.biBalances(t, a, f.us),
				"the invoice is gone from AR and revenue; the credit memo's 100.00 is the customer's")
			biRequireARInvariant(t, b, a)
		})
	}
}
