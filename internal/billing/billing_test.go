package billing_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/coamapping"
	"books/ent/creditapplication"
	"books/ent/creditmemo"
	"books/ent/invoice"
	"books/ent/invoiceevent"
	"books/ent/journalentry"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

type testBundle struct {
	client   *ent.Client
	dialect  string
	org      string
	ctx      context.Context // alice, an accountant: submits and records
	bob      context.Context // bob, a finance lead: approves
	entity   *ent.LegalEntity
	customer *ent.Customer
	other    *ent.Customer // a second customer of the same organization
	item     *ent.Item
	class    *ent.Class
}

func setup(t *testing.T, dialectName string) *testBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	alice := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAccountant}})
	bob := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})
	b := &testBundle{client: client, dialect: dialectName, org: org.ID, ctx: alice, bob: bob}
	// Whatever a scenario did, the organization's ledgers must end sealed, balanced and equal
	// to the documents behind their control accounts. Registered after dbtest.Open, so it runs
	// while the database is still open.
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, client, org.ID)
		}
	})
	b.entity, err = ledger.CreateEntity(alice, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	b.customer = b.newCustomer(t, "Acme", "USD")
	b.other = b.newCustomer(t, "Globex", "USD")
	b.item = b.newItem(t, b.entity.ID)
	b.class, err = ledger.CreateClass(alice, client, ent.CreateClassInput{EntityID: b.entity.ID, Name: "Consulting"})
	require.NoError(t, err)
	return b
}

func (b *testBundle) newCustomer(t *testing.T, name, currency string) *ent.Customer {
	t.Helper()
	email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"
	cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{
		Name: name + " Corp", DisplayName: name, Email: &email, Currency: currency})
	require.NoError(t, err)
	return cus
}

func (b *testBundle) newItem(t *testing.T, entityID string) *ent.Item {
	t.Helper()
	it, err := billing.CreateItem(b.ctx, b.client, ent.CreateItemInput{
		Name: "Consulting hour", EntityID: entityID, IncomeAccountID: b.accountID(t, entityID, "4000"), DefaultRate: amt("150.00")})
	require.NoError(t, err)
	return it
}

func eachDialect(t *testing.T, fn func(t *testing.T, b *testBundle)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			fn(t, b)
			b.requireARMatchesOpenInvoices(t)
		})
	}
}

func amt(s string) money.Amount { return money.MustParse(s) }

func qty(s string) money.Quantity { return money.MustParseQuantity(s) }

func date(s string) caldate.Date { return caldate.MustParse(s) }

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, apperr.Code(err), "error: %v", err)
}

func (b *testBundle) accountID(t *testing.T, entityID, code string) string {
	t.Helper()
	id, err := b.client.Account.Query().Where(account.EntityID(entityID), account.Code(code)).OnlyID(b.ctx)
	require.NoError(t, err)
	return id
}

// draftInput is a one-line invoice of amount for customerID.
func (b *testBundle) draftInput(customerID, amount string) billing.InvoiceInput {
	price := amt(amount)
	return billing.InvoiceInput{
		EntityID: b.entity.ID, CustomerID: customerID,
		IssueDate: date("2026-11-01"), DueDate: date("2026-12-01"),
		Lines: []billing.LineInput{{ItemID: b.item.ID, Quantity: qty("1"), UnitPrice: &price}},
	}
}

// approve submits a draft as alice and approves it as bob.
func (b *testBundle) approve(t *testing.T, id string) *ent.Invoice {
	t.Helper()
	_, err := billing.SubmitInvoice(b.ctx, b.client, id)
	require.NoError(t, err)
	inv, err := billing.ApproveInvoice(b.bob, b.client, id)
	require.NoError(t, err)
	require.Equal(t, invoice.StatusApproved, inv.Status)
	return inv
}

func (b *testBundle) approvedInvoiceFor(t *testing.T, customerID, amount string) *ent.Invoice {
	t.Helper()
	inv, err := billing.CreateInvoice(b.ctx, b.client, b.draftInput(customerID, amount))
	require.NoError(t, err)
	return b.approve(t, inv.ID)
}

func (b *testBundle) approvedInvoice(t *testing.T, amount string) *ent.Invoice {
	t.Helper()
	return b.approvedInvoiceFor(t, b.customer.ID, amount)
}

func (b *testBundle) invoice(t *testing.T, id string) *ent.Invoice {
	t.Helper()
	inv, err := b.client.Invoice.Get(b.ctx, id)
	require.NoError(t, err)
	return inv
}

func (b *testBundle) payment(t *testing.T, id string) *ent.Payment {
	t.Helper()
	p, err := b.client.Payment.Get(b.ctx, id)
	require.NoError(t, err)
	return p
}

func (b *testBundle) pay(amount string, apps ...billing.Application) billing.PaymentInput {
	return billing.PaymentInput{
		EntityID: b.entity.ID, CustomerID: b.customer.ID, Amount: amt(amount),
		ReceivedDate: date("2026-11-10"), Method: payment.MethodAch, Applications: apps,
	}
}

func apply(inv *ent.Invoice, amount string) billing.Application {
	return billing.Application{InvoiceID: inv.ID, Amount: amt(amount)}
}

func (b *testBundle) record(t *testing.T, in billing.PaymentInput) *ent.Payment {
	t.Helper()
	p, err := billing.RecordPayment(b.ctx, b.client, in)
	require.NoError(t, err)
	return p
}

// activeApplications returns a payment's applications not unapplied, oldest first.
func (b *testBundle) activeApplications(t *testing.T, paymentID string) []*ent.PaymentApplication {
	t.Helper()
	apps, err := b.client.PaymentApplication.Query().
		Where(paymentapplication.PaymentID(paymentID), paymentapplication.UnappliedAtIsNil()).
		Order(ent.Asc(paymentapplication.FieldID)).All(b.ctx)
	require.NoError(t, err)
	return apps
}

func requireInvoice(t *testing.T, inv *ent.Invoice, status invoice.Status, balance, paid string) {
	t.Helper()
	require.Equal(t, status, inv.Status, "invoice %s", inv.ID)
	require.Equal(t, balance, inv.Balance.String(), "balance of invoice %s", inv.ID)
	require.Equal(t, paid, inv.AmountPaid.String(), "amount paid of invoice %s", inv.ID)
}

func requirePayment(t *testing.T, p *ent.Payment, applied, unapplied, refunded, reversed string) {
	t.Helper()
	require.Equal(t, applied, p.Applied.String(), "applied")
	require.Equal(t, unapplied, p.Unapplied.String(), "unapplied")
	require.Equal(t, refunded, p.Refunded.String(), "refunded")
	require.Equal(t, reversed, p.Reversed.String(), "reversed")
}

// balances returns the net (debit - credit) of each account of the entity by code.
func (b *testBundle) balances(t *testing.T) map[string]money.Amount {
	t.Helper()
	tb, err := ledger.GetTrialBalance(b.ctx, b.client, b.entity.ID, date("2099-12-31"))
	require.NoError(t, err)
	require.True(t, tb.Balanced(), "debits %s credits %s", tb.TotalDebit, tb.TotalCredit)
	out := map[string]money.Amount{}
	for _, r := range tb.Rows {
		out[r.Account.Code] = r.Net()
	}
	return out
}

// entryLines returns an entry's lines as "code DR|CR amount", in order.
func (b *testBundle) entryLines(t *testing.T, entryID string) []string {
	t.Helper()
	je, err := b.client.JournalEntry.Query().Where(journalentry.ID(entryID)).
		WithLines(func(q *ent.JournalLineQuery) { q.WithAccount() }).Only(b.ctx)
	require.NoError(t, err)
	lines := je.Edges.Lines
	sort.Slice(lines, func(i, j int) bool { return lines[i].LineNo < lines[j].LineNo })
	var out []string
	for _, l := range lines {
		if l.Debit.IsPositive() {
			out = append(out, fmt.Sprintf("%s DR %s", l.Edges.Account.Code, l.Debit))
		} else {
			out = append(out, fmt.Sprintf("%s CR %s", l.Edges.Account.Code, l.Credit))
		}
	}
	return out
}

// requireARMatchesOpenInvoices checks the ledger against the documents: the trial balance is
// balanced; AR equals the open invoices' balances; Customer Credits equals the payments'
// unapplied money plus the credit memos' remaining credit; Undeposited Funds equals the money
// received and not returned; and every document's amounts add up.
func (b *testBundle) requireARMatchesOpenInvoices(t *testing.T) {
	t.Helper()
	net := b.balances(t)
	ctx := b.ctx

	invs, err := b.client.Invoice.Query().Where(invoice.EntityID(b.entity.ID)).All(ctx)
	require.NoError(t, err)
	var open money.Amount
	for _, inv := range invs {
		switch inv.Status {
		case invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid, invoice.StatusPaid:
			open = open.Add(inv.Balance)
		}
		var paid money.Amount
		apps, err := b.client.PaymentApplication.Query().
			Where(paymentapplication.InvoiceID(inv.ID), paymentapplication.UnappliedAtIsNil()).All(ctx)
		require.NoError(t, err)
		for _, a := range apps {
			paid = paid.Add(a.Amount)
		}
		capps, err := b.client.CreditApplication.Query().
			Where(creditapplication.InvoiceID(inv.ID), creditapplication.UnappliedAtIsNil()).All(ctx)
		require.NoError(t, err)
		for _, a := range capps {
			paid = paid.Add(a.Amount)
		}
		require.Equal(t, paid.String(), inv.AmountPaid.String(), "invoice %s: amount paid = its active applications", inv.ID)
		if inv.Status == invoice.StatusVoid {
			require.True(t, inv.Balance.IsZero(), "void invoice %s has no balance", inv.ID)
			continue
		}
		require.Equal(t, inv.Total.Sub(inv.AmountPaid).Sub(inv.WrittenOff).String(), inv.Balance.String(),
			"invoice %s: balance = total - paid - written off", inv.ID)
		switch inv.Status {
		case invoice.StatusPaid:
			require.True(t, inv.Balance.IsZero() && inv.AmountPaid.IsPositive(), "paid invoice %s", inv.ID)
		case invoice.StatusPartiallyPaid:
			require.True(t, inv.Balance.IsPositive() && inv.AmountPaid.IsPositive(), "partially paid invoice %s", inv.ID)
		case invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed:
			require.True(t, inv.AmountPaid.IsZero(), "unpaid invoice %s", inv.ID)
		case invoice.StatusWrittenOff:
			require.True(t, inv.Balance.IsZero(), "written-off invoice %s", inv.ID)
		}
	}
	require.Equal(t, open.String(), net["1200"].String(), "AR equals the open invoices' balances")

	var credits, received money.Amount
	pays, err := b.client.Payment.Query().Where(payment.EntityID(b.entity.ID)).All(ctx)
	require.NoError(t, err)
	for _, p := range pays {
		require.Equal(t, p.Amount.String(), money.Sum(p.Applied, p.Unapplied, p.Refunded, p.Reversed).String(),
			"payment %s: amount = applied + unapplied + refunded + reversed", p.ID)
		require.False(t, p.Unapplied.IsNegative() || p.Applied.IsNegative(), "payment %s", p.ID)
		var applied money.Amount
		for _, a := range b.activeApplications(t, p.ID) {
			applied = applied.Add(a.Amount)
		}
		require.Equal(t, applied.String(), p.Applied.String(), "payment %s: applied = its active applications", p.ID)
		credits = credits.Add(p.Unapplied)
		received = received.Add(p.Amount.Sub(p.Refunded).Sub(p.Reversed))
	}
	memos, err := b.client.CreditMemo.Query().Where(creditmemo.EntityID(b.entity.ID)).
		WithApplications(func(q *ent.CreditApplicationQuery) { q.Where(creditapplication.UnappliedAtIsNil()) }).All(ctx)
	require.NoError(t, err)
	for _, m := range memos {
		var applied money.Amount
		for _, a := range m.Edges.Applications {
			applied = applied.Add(a.Amount)
		}
		require.Equal(t, applied.String(), m.Applied.String(), "credit memo %s: applied = its active applications", m.ID)
		require.Equal(t, m.Amount.String(), m.Applied.Add(m.Remaining).String(), "credit memo %s", m.ID)
		credits = credits.Add(m.Remaining)
	}
	require.Equal(t, credits.String(), net["2100"].Neg().String(), "Customer Credits equals unapplied payments and credit memos")
	require.Equal(t, received.String(), net["1300"].String(), "Undeposited Funds equals money received and not returned")
}

// snapshot is everything a rejected call must leave unchanged.
type snapshot struct {
	TotalDebit, TotalCredit string
	Entries                 int
	Docs                    []string
}

func (b *testBundle) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := b.ctx
	tb, err := ledger.GetTrialBalance(ctx, b.client, b.entity.ID, date("2099-12-31"))
	require.NoError(t, err)
	n, err := b.client.JournalEntry.Query().Count(ctx)
	require.NoError(t, err)
	s := snapshot{TotalDebit: tb.TotalDebit.String(), TotalCredit: tb.TotalCredit.String(), Entries: n}
	invs, err := b.client.Invoice.Query().Order(ent.Asc(invoice.FieldID)).All(ctx)
	require.NoError(t, err)
	for _, i := range invs {
		num := ""
		if i.Number != nil {
			num = *i.Number
		}
		s.Docs = append(s.Docs, fmt.Sprintf("inv %s %s %s %s paid %s wo %s", i.ID, num, i.Status, i.Balance, i.AmountPaid, i.WrittenOff))
	}
	pays, err := b.client.Payment.Query().Order(ent.Asc(payment.FieldID)).All(ctx)
	require.NoError(t, err)
	for _, p := range pays {
		s.Docs = append(s.Docs, fmt.Sprintf("pay %s %s %s %s %s", p.ID, p.Applied, p.Unapplied, p.Refunded, p.Reversed))
	}
	memos, err := b.client.CreditMemo.Query().Order(ent.Asc(creditmemo.FieldID)).All(ctx)
	require.NoError(t, err)
	for _, m := range memos {
		s.Docs = append(s.Docs, fmt.Sprintf("cm %s %s %s", m.ID, m.Applied, m.Remaining))
	}
	counts := []func() (int, error){
		func() (int, error) { return b.client.PaymentApplication.Query().Count(ctx) },
		func() (int, error) {
			return b.client.PaymentApplication.Query().Where(paymentapplication.UnappliedAtNotNil()).Count(ctx)
		},
		func() (int, error) { return b.client.CreditApplication.Query().Count(ctx) },
		func() (int, error) {
			return b.client.CreditApplication.Query().Where(creditapplication.UnappliedAtNotNil()).Count(ctx)
		},
		func() (int, error) { return b.client.Refund.Query().Count(ctx) },
		func() (int, error) { return b.client.ChargeReversal.Query().Count(ctx) },
		func() (int, error) { return b.client.WriteOff.Query().Count(ctx) },
		func() (int, error) { return b.client.InvoiceEvent.Query().Count(ctx) },
		func() (int, error) { return b.client.InvoiceLine.Query().Count(ctx) },
	}
	for i, f := range counts {
		n, err := f()
		require.NoError(t, err)
		s.Docs = append(s.Docs, fmt.Sprintf("count %d: %d", i, n))
	}
	return s
}

// requireRejected runs a call that must fail with code and change nothing.
func (b *testBundle) requireRejected(t *testing.T, code string, call func() error) {
	t.Helper()
	before := b.snapshot(t)
	requireCode(t, call(), code)
	require.Equal(t, before, b.snapshot(t), "a rejected call changes nothing")
}

func TestRecordPayment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		full := b.approvedInvoice(t, "150.00")
		part := b.approvedInvoice(t, "300.00")

		// Full and partial application in one payment, with money left over.
		p := b.record(t, b.pay("500.00", apply(full, "150.00"), apply(part, "100.00")))
		requirePayment(t, p, "250.00", "250.00", "0.00", "0.00")
		require.Equal(t, "alice", p.RecordedBy)
		require.Equal(t, payment.ProcessorManual, p.Processor)
		require.Equal(t, "USD", p.Currency)
		requireInvoice(t, b.invoice(t, full.ID), invoice.StatusPaid, "0.00", "150.00")
		requireInvoice(t, b.invoice(t, part.ID), invoice.StatusPartiallyPaid, "200.00", "100.00")
		require.Equal(t, []string{"1300 DR 500.00", "1200 CR 150.00", "1200 CR 100.00", "2100 CR 250.00"}, b.entryLines(t, *p.JournalEntryID))
		je, err := b.client.JournalEntry.Get(b.ctx, *p.JournalEntryID)
		require.NoError(t, err)
		require.Equal(t, "payment:"+p.ID, je.SourceRef)
		require.Equal(t, date("2026-11-10"), je.Date)
		apps, err := p.QueryApplications().All(b.ctx)
		require.NoError(t, err, "the returned payment is usable outside the transaction")
		require.Len(t, apps, 2)
		for _, a := range apps {
			require.Equal(t, *p.JournalEntryID, a.JournalEntryID)
		}
		events, err := b.invoice(t, full.ID).QueryEvents().Order(ent.Asc(invoiceevent.FieldAt), ent.Asc(invoiceevent.FieldID)).All(b.ctx)
		require.NoError(t, err)
		require.Equal(t, "paid", events[len(events)-1].ToStatus)
		b.requireARMatchesOpenInvoices(t)

		// Pays the rest of the partially paid invoice exactly.
		p2 := b.record(t, b.pay("200.00", apply(part, "200.00")))
		requirePayment(t, p2, "200.00", "0.00", "0.00", "0.00")
		require.Equal(t, []string{"1300 DR 200.00", "1200 CR 200.00"}, b.entryLines(t, *p2.JournalEntryID))
		requireInvoice(t, b.invoice(t, part.ID), invoice.StatusPaid, "0.00", "300.00")
		b.requireARMatchesOpenInvoices(t)

		// No application: all of it is customer credit.
		p3 := b.record(t, b.pay("75.00"))
		requirePayment(t, p3, "0.00", "75.00", "0.00", "0.00")
		require.Equal(t, []string{"1300 DR 75.00", "2100 CR 75.00"}, b.entryLines(t, *p3.JournalEntryID))

		// Payments in the minor units of the currency, with an explicit currency.
		in := b.pay("0.01")
		in.Currency = "USD"
		b.record(t, in)

		net := b.balances(t)
		require.Equal(t, "775.01", net["1300"].String())
		require.Equal(t, "-325.01", net["2100"].String())
		require.Equal(t, "0.00", net["1200"].String())
	})
}

func TestRecordPaymentRejects(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		small := b.approvedInvoice(t, "100.00")
		globex := b.approvedInvoiceFor(t, b.other.ID, "80.00")
		draft, err := billing.CreateInvoice(b.ctx, b.client, b.draftInput(b.customer.ID, "60.00"))
		require.NoError(t, err)
		paid := b.approvedInvoice(t, "10.00")
		b.record(t, b.pay("10.00", apply(paid, "10.00")))
		eur := b.newCustomer(t, "Euro GmbH", "EUR")

		tests := []struct {
			name string
			in   func() billing.PaymentInput
			code string
		}{
			{"payment smaller than its applications", func() billing.PaymentInput {
				return b.pay("100.00", apply(inv, "150.00"))
			}, apperr.OverApplication},
			{"applications sum above the payment", func() billing.PaymentInput {
				return b.pay("200.00", apply(inv, "150.00"), apply(small, "60.00"))
			}, apperr.OverApplication},
			{"invoice balance too small", func() billing.PaymentInput {
				return b.pay("200.00", apply(small, "150.00"))
			}, apperr.OverApplication},
			{"paid invoice", func() billing.PaymentInput { return b.pay("5.00", apply(paid, "5.00")) }, apperr.OverApplication},
			{"another customer's invoice", func() billing.PaymentInput {
				return b.pay("80.00", apply(globex, "80.00"))
			}, apperr.Validation},
			{"draft invoice", func() billing.PaymentInput { return b.pay("60.00", apply(draft, "60.00")) }, apperr.InvalidTransition},
			{"unknown invoice", func() billing.PaymentInput {
				return b.pay("60.00", billing.Application{InvoiceID: "inv_nope", Amount: amt("60.00")})
			}, apperr.NotFound},
			{"same invoice twice", func() billing.PaymentInput {
				return b.pay("100.00", apply(inv, "50.00"), apply(inv, "50.00"))
			}, apperr.Validation},
			{"zero application", func() billing.PaymentInput { return b.pay("100.00", apply(inv, "0.00")) }, apperr.InvalidAmount},
			{"zero amount", func() billing.PaymentInput { return b.pay("0.00") }, apperr.InvalidAmount},
			{"negative amount", func() billing.PaymentInput { return b.pay("-5.00") }, apperr.InvalidAmount},
			{"fractions of a cent", func() billing.PaymentInput { return b.pay("10.005") }, apperr.InvalidAmount},
			{"application in fractions of a cent", func() billing.PaymentInput {
				return b.pay("100.00", apply(inv, "10.001"))
			}, apperr.InvalidAmount},
			{"unknown customer", func() billing.PaymentInput {
				in := b.pay("10.00")
				in.CustomerID = "cus_nope"
				return in
			}, apperr.UnknownCustomer},
			{"unknown entity", func() billing.PaymentInput {
				in := b.pay("10.00")
				in.EntityID = "le_nope"
				return in
			}, apperr.UnknownEntity},
			{"currency other than the customer's", func() billing.PaymentInput {
				in := b.pay("10.00")
				in.Currency = "EUR"
				return in
			}, apperr.CurrencyMismatch},
			{"customer in another currency than the entity", func() billing.PaymentInput {
				in := b.pay("10.00")
				in.CustomerID = eur.ID
				return in
			}, apperr.CurrencyMismatch},
			{"no received date", func() billing.PaymentInput {
				in := b.pay("10.00")
				in.ReceivedDate = caldate.Date{}
				return in
			}, apperr.Validation},
			{"unknown method", func() billing.PaymentInput {
				in := b.pay("10.00")
				in.Method = "barter"
				return in
			}, apperr.Validation},
		}
		for _, tt := range tests {
			b.requireRejected(t, tt.code, func() error {
				_, err := billing.RecordPayment(b.ctx, b.client, tt.in())
				return err
			})
		}
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusApproved, "150.00", "0.00")
	})
}

func TestProcessorPaymentRecordedOnce(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		in := b.pay("150.00", apply(inv, "150.00"))
		in.Method, in.Processor, in.ExternalRef = payment.MethodCard, payment.ProcessorStripe, "ch_123"
		first := b.record(t, in)
		require.Equal(t, "ch_123", first.ExternalRef)

		b.requireRejected(t, apperr.Conflict, func() error {
			_, err := billing.RecordPayment(b.ctx, b.client, in)
			return err
		})
		again := in
		again.Applications = nil
		b.requireRejected(t, apperr.Conflict, func() error {
			_, err := billing.RecordPayment(b.ctx, b.client, again)
			return err
		})

		// The same reference from another processor is another payment; manual payments
		// without a reference never collide.
		other := again
		other.Processor = payment.ProcessorQbo
		b.record(t, other)
		b.record(t, b.pay("1.00"))
		b.record(t, b.pay("1.00"))
		n, err := b.client.Payment.Query().Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 4, n)

		// The same processor payment delivered concurrently (a webhook retried) is recorded once.
		racing := b.pay("5.00")
		racing.Processor, racing.ExternalRef = payment.ProcessorStripe, "ch_race"
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = billing.RecordPayment(b.ctx, b.client, racing) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			requireCode(t, err, apperr.Conflict)
		}
		require.Equal(t, 1, ok)
		n, err = b.client.Payment.Query().Where(payment.ExternalRef("ch_race")).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestApplyAndUnapply(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		sent := b.approvedInvoice(t, "300.00")
		sent, err := billing.SendInvoice(b.ctx, b.client, sent.ID)
		require.NoError(t, err)

		p := b.record(t, b.pay("400.00"))
		p, err = billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(inv, "150.00"), apply(sent, "100.00")})
		require.NoError(t, err)
		requirePayment(t, p, "250.00", "150.00", "0.00", "0.00")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")
		requireInvoice(t, b.invoice(t, sent.ID), invoice.StatusPartiallyPaid, "200.00", "100.00")
		apps := b.activeApplications(t, p.ID)
		require.Len(t, apps, 2)
		require.Equal(t, apps[0].JournalEntryID, apps[1].JournalEntryID, "one entry per call")
		require.Equal(t, []string{"2100 DR 250.00", "1200 CR 150.00", "1200 CR 100.00"}, b.entryLines(t, apps[0].JournalEntryID))
		je, err := b.client.JournalEntry.Get(b.ctx, apps[0].JournalEntryID)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(je.SourceRef, "papply:papp_"), je.SourceRef)
		b.requireARMatchesOpenInvoices(t)

		// More than the payment's unapplied credit, or than the invoice's balance.
		b.requireRejected(t, apperr.OverApplication, func() error {
			_, err := billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(sent, "151.00")})
			return err
		})
		b.requireRejected(t, apperr.OverApplication, func() error {
			_, err := billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(inv, "1.00")})
			return err
		})
		b.requireRejected(t, apperr.NotFound, func() error {
			_, err := billing.ApplyPayment(b.ctx, b.client, "pay_nope", []billing.Application{apply(sent, "1.00")})
			return err
		})
		b.requireRejected(t, apperr.Validation, func() error {
			_, err := billing.ApplyPayment(b.ctx, b.client, p.ID, nil)
			return err
		})

		// Unapplying re-opens the invoice: back to approved, and to sent for a sent one.
		appInv, appSent := apps[0], apps[1]
		if appInv.InvoiceID != inv.ID {
			appInv, appSent = appSent, appInv
		}
		p, err = billing.UnapplyPayment(b.ctx, b.client, appInv.ID)
		require.NoError(t, err)
		requirePayment(t, p, "100.00", "300.00", "0.00", "0.00")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusApproved, "150.00", "0.00")
		un, err := b.client.PaymentApplication.Get(b.ctx, appInv.ID)
		require.NoError(t, err)
		require.NotNil(t, un.UnappliedAt)
		require.Equal(t, []string{"1200 DR 150.00", "2100 CR 150.00"}, b.entryLines(t, *un.UnapplyEntryID))
		je, err = b.client.JournalEntry.Get(b.ctx, *un.UnapplyEntryID)
		require.NoError(t, err)
		require.Equal(t, "unapply:"+appInv.ID, je.SourceRef)
		b.requireARMatchesOpenInvoices(t)

		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.UnapplyPayment(b.ctx, b.client, appInv.ID)
			return err
		})
		b.requireRejected(t, apperr.NotFound, func() error {
			_, err := billing.UnapplyPayment(b.ctx, b.client, "papp_nope")
			return err
		})

		p, err = billing.UnapplyPayment(b.ctx, b.client, appSent.ID)
		require.NoError(t, err)
		requirePayment(t, p, "0.00", "400.00", "0.00", "0.00")
		requireInvoice(t, b.invoice(t, sent.ID), invoice.StatusSent, "300.00", "0.00")
		b.requireARMatchesOpenInvoices(t)

		// Two payments on one invoice: unapplying one leaves it partially paid.
		p2 := b.record(t, b.pay("100.00", apply(sent, "100.00")))
		_, err = billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(sent, "200.00")})
		require.NoError(t, err)
		requireInvoice(t, b.invoice(t, sent.ID), invoice.StatusPaid, "0.00", "300.00")
		_, err = billing.UnapplyPayment(b.ctx, b.client, b.activeApplications(t, p2.ID)[0].ID)
		require.NoError(t, err)
		requireInvoice(t, b.invoice(t, sent.ID), invoice.StatusPartiallyPaid, "100.00", "200.00")
	})
}

func TestRefund(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		p := b.record(t, b.pay("200.00", apply(inv, "150.00")))

		// Unapplied money only: the invoice stays paid.
		r, err := billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{
			PaymentID: p.ID, Amount: amt("30.00"), Date: date("2026-11-12"), Reason: "overpaid", ExternalRef: "re_1"})
		require.NoError(t, err)
		require.Equal(t, "30.00", r.Amount.String())
		require.Equal(t, b.entity.ID, r.EntityID)
		require.Equal(t, "alice", r.CreatedBy)
		require.Equal(t, []string{"2100 DR 30.00", "1300 CR 30.00"}, b.entryLines(t, *r.JournalEntryID))
		je, err := b.client.JournalEntry.Get(b.ctx, *r.JournalEntryID)
		require.NoError(t, err)
		require.Equal(t, "refund:"+r.ID, je.SourceRef)
		require.Equal(t, date("2026-11-12"), je.Date)
		requirePayment(t, b.payment(t, p.ID), "150.00", "20.00", "30.00", "0.00")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")
		b.requireARMatchesOpenInvoices(t)

		// 20.00 of unapplied money and 80.00 that had paid the invoice, which re-opens.
		_, err = billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("100.00")})
		require.NoError(t, err)
		requirePayment(t, b.payment(t, p.ID), "70.00", "0.00", "130.00", "0.00")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPartiallyPaid, "80.00", "70.00")
		require.Len(t, b.activeApplications(t, p.ID), 1)
		require.Equal(t, "70.00", b.activeApplications(t, p.ID)[0].Amount.String())
		net := b.balances(t)
		require.Equal(t, "80.00", net["1200"].String())
		require.Equal(t, "70.00", net["1300"].String())
		b.requireARMatchesOpenInvoices(t)

		// More than is left, and bad input.
		for _, in := range []billing.CashReturnInput{
			{PaymentID: p.ID, Amount: amt("70.01")},
			{PaymentID: p.ID, Amount: amt("200.00")},
		} {
			b.requireRejected(t, apperr.OverRefund, func() error {
				_, err := billing.RefundPayment(b.ctx, b.client, in)
				return err
			})
		}
		for code, in := range map[string]billing.CashReturnInput{
			apperr.InvalidAmount: {PaymentID: p.ID, Amount: amt("-1.00")},
			apperr.NotFound:      {PaymentID: "pay_nope", Amount: amt("1.00")},
			apperr.Validation:    {PaymentID: p.ID, Amount: amt("1.00"), Date: date("2026-11-01")},
		} {
			b.requireRejected(t, code, func() error {
				_, err := billing.RefundPayment(b.ctx, b.client, in)
				return err
			})
		}

		// The rest: the invoice is back to approved with its whole balance.
		_, err = billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("70.00")})
		require.NoError(t, err)
		requirePayment(t, b.payment(t, p.ID), "0.00", "0.00", "200.00", "0.00")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusApproved, "150.00", "0.00")
		b.requireRejected(t, apperr.OverRefund, func() error {
			_, err := billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("0.01")})
			return err
		})
	})
}

func TestRefundAcrossInvoices(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		older := b.approvedInvoice(t, "100.00")
		newer := b.approvedInvoice(t, "100.00")
		p := b.record(t, b.pay("200.00", apply(older, "100.00")))
		_, err := billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(newer, "100.00")})
		require.NoError(t, err)

		// The newest application goes first: the newer invoice re-opens wholly, the older in part.
		_, err = billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("150.00")})
		require.NoError(t, err)
		requireInvoice(t, b.invoice(t, newer.ID), invoice.StatusApproved, "100.00", "0.00")
		requireInvoice(t, b.invoice(t, older.ID), invoice.StatusPartiallyPaid, "50.00", "50.00")
		requirePayment(t, b.payment(t, p.ID), "50.00", "0.00", "150.00", "0.00")
	})
}

func TestChargeReversal(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		inv, err := billing.SendInvoice(b.ctx, b.client, inv.ID)
		require.NoError(t, err)
		in := b.pay("150.00", apply(inv, "150.00"))
		in.Method, in.Processor, in.ExternalRef = payment.MethodCard, payment.ProcessorStripe, "ch_9"
		p := b.record(t, in)
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")

		cr, err := billing.ReverseCharge(b.ctx, b.client, billing.CashReturnInput{
			PaymentID: p.ID, Amount: amt("150.00"), Reason: "dispute lost", ExternalRef: "dp_1"})
		require.NoError(t, err)
		require.Equal(t, p.ID, cr.PaymentID)
		require.Equal(t, "dispute lost", cr.Reason)
		require.Equal(t, []string{"2100 DR 150.00", "1300 CR 150.00"}, b.entryLines(t, cr.JournalEntryID))
		je, err := b.client.JournalEntry.Get(b.ctx, cr.JournalEntryID)
		require.NoError(t, err)
		require.Equal(t, "chargeback:"+cr.ID, je.SourceRef)
		requirePayment(t, b.payment(t, p.ID), "0.00", "0.00", "0.00", "150.00")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusSent, "150.00", "0.00")
		net := b.balances(t)
		require.Equal(t, "150.00", net["1200"].String(), "the receivable is open again")
		require.True(t, net["1300"].IsZero())
		b.requireARMatchesOpenInvoices(t)

		b.requireRejected(t, apperr.OverRefund, func() error {
			_, err := billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("1.00")})
			return err
		})
		b.requireRejected(t, apperr.OverRefund, func() error {
			_, err := billing.ReverseCharge(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("1.00")})
			return err
		})
	})
}

func TestCreditMemo(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		inv2 := b.approvedInvoice(t, "40.00")

		cm, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{
			EntityID: b.entity.ID, CustomerID: b.customer.ID, Date: date("2026-11-15"), Amount: amt("80.00"),
			Reason: "goodwill", Applications: []billing.Application{apply(inv, "50.00")}})
		require.NoError(t, err)
		require.Equal(t, "50.00", cm.Applied.String())
		require.Equal(t, "30.00", cm.Remaining.String())
		require.Equal(t, "USD", cm.Currency)
		require.Equal(t, b.accountID(t, b.entity.ID, "4000"), cm.AccountID, "the entity's revenue mapping")
		require.Equal(t, []string{"4000 DR 80.00", "2100 CR 80.00"}, b.entryLines(t, cm.JournalEntryID))
		capps, err := cm.QueryApplications().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, capps, 1)
		require.Equal(t, []string{"2100 DR 50.00", "1200 CR 50.00"}, b.entryLines(t, capps[0].JournalEntryID))
		je, err := b.client.JournalEntry.Get(b.ctx, capps[0].JournalEntryID)
		require.NoError(t, err)
		require.Equal(t, "capp:"+capps[0].ID, je.SourceRef)
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPartiallyPaid, "100.00", "50.00")
		b.requireARMatchesOpenInvoices(t)

		b.requireRejected(t, apperr.OverApplication, func() error {
			_, err := billing.ApplyCreditMemo(b.ctx, b.client, cm.ID, []billing.Application{apply(inv2, "30.01")})
			return err
		})
		cm, err = billing.ApplyCreditMemo(b.ctx, b.client, cm.ID, []billing.Application{apply(inv2, "30.00")})
		require.NoError(t, err)
		require.Equal(t, "80.00", cm.Applied.String())
		require.True(t, cm.Remaining.IsZero())
		requireInvoice(t, b.invoice(t, inv2.ID), invoice.StatusPartiallyPaid, "10.00", "30.00")
		b.requireRejected(t, apperr.OverApplication, func() error {
			_, err := billing.ApplyCreditMemo(b.ctx, b.client, cm.ID, []billing.Application{apply(inv2, "0.01")})
			return err
		})
		b.requireARMatchesOpenInvoices(t)

		// A named revenue account and class; a payment pays the rest.
		cm2, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{
			EntityID: b.entity.ID, CustomerID: b.customer.ID, Amount: amt("10.00"),
			AccountID: b.accountID(t, b.entity.ID, "4100"), ClassID: b.class.ID,
			Applications: []billing.Application{apply(inv2, "10.00")}})
		require.NoError(t, err)
		require.Equal(t, []string{"4100 DR 10.00", "2100 CR 10.00"}, b.entryLines(t, cm2.JournalEntryID))
		require.Equal(t, b.class.ID, *cm2.ClassID)
		requireInvoice(t, b.invoice(t, inv2.ID), invoice.StatusPaid, "0.00", "40.00")
		b.record(t, b.pay("100.00", apply(inv, "100.00")))
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")

		memo := func(edit func(*billing.CreditMemoInput)) func() error {
			return func() error {
				in := billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: b.customer.ID, Amount: amt("10.00")}
				edit(&in)
				_, err := billing.IssueCreditMemo(b.ctx, b.client, in)
				return err
			}
		}
		b.requireRejected(t, apperr.InvalidAmount, memo(func(in *billing.CreditMemoInput) { in.Amount = amt("0.00") }))
		b.requireRejected(t, apperr.InvalidAmount, memo(func(in *billing.CreditMemoInput) { in.Amount = amt("1.234") }))
		b.requireRejected(t, apperr.UnknownCustomer, memo(func(in *billing.CreditMemoInput) { in.CustomerID = "cus_nope" }))
		b.requireRejected(t, apperr.Validation, memo(func(in *billing.CreditMemoInput) {
			in.AccountID = b.accountID(t, b.entity.ID, "1200")
		}))
		b.requireRejected(t, apperr.UnknownAccount, memo(func(in *billing.CreditMemoInput) { in.AccountID = "acct_nope" }))
		b.requireRejected(t, apperr.UnknownClass, memo(func(in *billing.CreditMemoInput) { in.ClassID = "cls_nope" }))
		b.requireRejected(t, apperr.OverApplication, memo(func(in *billing.CreditMemoInput) {
			in.Applications = []billing.Application{apply(inv, "5.00")} // paid
		}))
		b.requireRejected(t, apperr.OverApplication, memo(func(in *billing.CreditMemoInput) {
			in.Applications = []billing.Application{apply(inv, "10.01")}
		}))
		eur := b.newCustomer(t, "Euro GmbH", "EUR")
		b.requireRejected(t, apperr.CurrencyMismatch, memo(func(in *billing.CreditMemoInput) { in.CustomerID = eur.ID }))
	})
}

func TestWriteOff(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "300.00")
		p := b.record(t, b.pay("100.00", apply(inv, "100.00")))
		wo, err := billing.WriteOffInvoice(b.ctx, b.client, billing.WriteOffInput{InvoiceID: inv.ID, Reason: "uncollectible"})
		require.NoError(t, err)
		require.Equal(t, "200.00", wo.Amount.String())
		require.Equal(t, []string{"6100 DR 200.00", "1200 CR 200.00"}, b.entryLines(t, wo.JournalEntryID))
		got := b.invoice(t, inv.ID)
		requireInvoice(t, got, invoice.StatusWrittenOff, "0.00", "100.00")
		require.Equal(t, "200.00", got.WrittenOff.String())
		require.Equal(t, "200.00", b.balances(t)["6100"].String())
		b.requireARMatchesOpenInvoices(t)

		// The receivable is closed: nothing re-opens it or applies to it.
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.UnapplyPayment(b.ctx, b.client, b.activeApplications(t, p.ID)[0].ID)
			return err
		})
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("10.00")})
			return err
		})
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.RecordPayment(b.ctx, b.client, b.pay("10.00", apply(inv, "10.00")))
			return err
		})
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.WriteOffInvoice(b.ctx, b.client, billing.WriteOffInput{InvoiceID: inv.ID})
			return err
		})
	})
}

func TestVoid(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		p := b.record(t, b.pay("50.00", apply(inv, "50.00")))
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.VoidInvoice(b.ctx, b.client, inv.ID, "mistake")
			requireUnapplyFirst(t, err)
			return err
		})
		_, err := billing.UnapplyPayment(b.ctx, b.client, b.activeApplications(t, p.ID)[0].ID)
		require.NoError(t, err)
		voided, err := billing.VoidInvoice(b.ctx, b.client, inv.ID, "mistake")
		require.NoError(t, err)
		requireInvoice(t, voided, invoice.StatusVoid, "0.00", "0.00")
		require.Equal(t, "INV-00001", *voided.Number, "a void invoice keeps its number")
		rev := b.entry(t, *voided.VoidEntryID)
		require.Equal(t, b.today(t), rev.Date, "a void is dated today")
		require.Equal(t, *inv.JournalEntryID, *rev.ReversalOfID)
		require.Equal(t, journalentry.StatusReversed, b.entry(t, *inv.JournalEntryID).Status)
		requireDocument(t, rev, "invoice", inv.ID)
		require.Equal(t, []string{"1200 CR 150.00", "4000 DR 150.00"}, b.entryLines(t, rev.ID))
		require.True(t, b.balances(t)["1200"].IsZero())
		b.requireARMatchesOpenInvoices(t)

		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(inv, "50.00")})
			return err
		})
	})
}

func TestInvoiceLifecycleRejects(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		draft, err := billing.CreateInvoice(b.ctx, b.client, b.draftInput(b.customer.ID, "100.00"))
		require.NoError(t, err)
		require.Equal(t, invoice.StatusDraft, draft.Status)
		require.Nil(t, draft.Number)
		approved := b.approvedInvoice(t, "100.00")

		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.ApproveInvoice(b.bob, b.client, draft.ID)
			return err
		})
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.SubmitInvoice(b.ctx, b.client, approved.ID)
			return err
		})
		b.requireRejected(t, apperr.NotEditable, func() error {
			_, err := billing.UpdateInvoice(b.ctx, b.client, approved.ID, b.draftInput(b.customer.ID, "120.00"))
			return err
		})
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.ApproveInvoice(b.bob, b.client, approved.ID)
			return err
		})

		// Approval by the submitter.
		_, err = billing.SubmitInvoice(b.ctx, b.client, draft.ID)
		require.NoError(t, err)
		b.requireRejected(t, apperr.SelfApproval, func() error {
			_, err := billing.ApproveInvoice(b.ctx, b.client, draft.ID)
			return err
		})
		got, err := billing.ApproveInvoice(b.bob, b.client, draft.ID)
		require.NoError(t, err)
		require.Equal(t, "bob", got.ApprovedBy)
		require.Equal(t, []string{"1200 DR 100.00", "4000 CR 100.00"}, b.entryLines(t, *got.JournalEntryID))
	})
}

func TestInvoiceNumbering(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		var numbers []string
		for range 3 {
			numbers = append(numbers, *b.approvedInvoice(t, "10.00").Number)
		}
		require.Equal(t, []string{"INV-00001", "INV-00002", "INV-00003"}, numbers)

		// A failed approval takes no number.
		inv, err := billing.CreateInvoice(b.ctx, b.client, b.draftInput(b.customer.ID, "10.00"))
		require.NoError(t, err)
		_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
		require.NoError(t, err)
		b.requireRejected(t, apperr.SelfApproval, func() error {
			_, err := billing.ApproveInvoice(b.ctx, b.client, inv.ID)
			return err
		})
		got, err := billing.ApproveInvoice(b.bob, b.client, inv.ID)
		require.NoError(t, err)
		require.Equal(t, "INV-00004", *got.Number)

		// Numbers are per entity.
		ca, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: "US2", Name: "US Two", BaseCurrency: "USD"})
		require.NoError(t, err)
		it := b.newItem(t, ca.ID)
		in := b.draftInput(b.customer.ID, "10.00")
		in.EntityID = ca.ID
		in.Lines[0].ItemID = it.ID
		other, err := billing.CreateInvoice(b.ctx, b.client, in)
		require.NoError(t, err)
		require.Equal(t, "INV-00001", *b.approve(t, other.ID).Number)
	})
}

func TestInvoiceAmounts(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		p1, p2 := amt("0.333"), amt("33.335")
		in := b.draftInput(b.customer.ID, "1.00")
		in.Lines = []billing.LineInput{
			{ItemID: b.item.ID, Quantity: qty("1.5"), UnitPrice: &p1},
			{ItemID: b.item.ID, Quantity: qty("3"), UnitPrice: &p2},
			{ItemID: b.item.ID, Quantity: qty("2")}, // the item's default rate
		}
		inv, err := billing.CreateInvoice(b.ctx, b.client, in)
		require.NoError(t, err)
		lines, err := inv.QueryLines().All(b.ctx)
		require.NoError(t, err)
		sort.Slice(lines, func(i, j int) bool { return lines[i].LineNo < lines[j].LineNo })
		require.Equal(t, "0.50", lines[0].Amount.String(), "1.5 × 0.333 = 0.4995 rounds half-up to 0.50")
		require.Equal(t, "100.01", lines[1].Amount.String(), "3 × 33.335 = 100.005 rounds half-up to 100.01")
		require.Equal(t, "300.00", lines[2].Amount.String())
		require.Equal(t, "400.51", inv.Total.String())
		inv = b.approve(t, inv.ID)
		require.Equal(t, "400.51", b.balances(t)["1200"].String())

		bad := b.draftInput(b.customer.ID, "1.00")
		bad.DueDate = date("2026-10-31")
		b.requireRejected(t, apperr.Validation, func() error {
			_, err := billing.CreateInvoice(b.ctx, b.client, bad)
			return err
		})
		eur := b.newCustomer(t, "Euro GmbH", "EUR")
		b.requireRejected(t, apperr.CurrencyMismatch, func() error {
			_, err := billing.CreateInvoice(b.ctx, b.client, b.draftInput(eur.ID, "1.00"))
			return err
		})
	})
}

func TestConcurrentPaymentsOnOneInvoice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = billing.RecordPayment(b.ctx, b.client, b.pay("150.00", apply(inv, "150.00")))
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			requireCode(t, err, apperr.OverApplication)
		}
		require.Equal(t, 1, ok, "exactly one payment applies to the balance")
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")
		count, err := b.client.Payment.Query().Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, count)
	})
}

// today is today in the test entity's time zone.
func (b *testBundle) today(t *testing.T) caldate.Date {
	t.Helper()
	loc, err := time.LoadLocation(b.entity.TimeZone)
	require.NoError(t, err)
	return caldate.Today(loc)
}

func (b *testBundle) entry(t *testing.T, id string) *ent.JournalEntry {
	t.Helper()
	je, err := b.client.JournalEntry.Get(b.ctx, id)
	require.NoError(t, err)
	return je
}

// requireDocument requires je to belong to the document (docType, docID).
func requireDocument(t *testing.T, je *ent.JournalEntry, docType, docID string) {
	t.Helper()
	require.NotNil(t, je.DocumentType, "entry %s (%s) has no document", je.ID, je.SourceRef)
	require.NotNil(t, je.DocumentID, "entry %s (%s) has no document id", je.ID, je.SourceRef)
	require.Equal(t, docType+" "+docID, *je.DocumentType+" "+*je.DocumentID, "document of entry %s (%s)", je.ID, je.SourceRef)
}

// requireUnapplyFirst requires err to refuse a void because money is applied to the
// invoice, naming the mutations that take it back.
func requireUnapplyFirst(t *testing.T, err error) {
	t.Helper()
	requireCode(t, err, apperr.InvalidTransition)
	require.Contains(t, err.Error(), "unapplyPayment")
	require.Contains(t, err.Error(), "unapplyCredit")
}

// creditApplications returns a credit memo's applications, oldest first.
func (b *testBundle) creditApplications(t *testing.T, creditMemoID string) []*ent.CreditApplication {
	t.Helper()
	apps, err := b.client.CreditApplication.Query().Where(creditapplication.CreditMemoID(creditMemoID)).
		Order(ent.Asc(creditapplication.FieldID)).All(b.ctx)
	require.NoError(t, err)
	return apps
}

func (b *testBundle) creditMemo(t *testing.T, amount string, apps ...billing.Application) *ent.CreditMemo {
	t.Helper()
	cm, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{
		EntityID: b.entity.ID, CustomerID: b.customer.ID, Date: date("2026-11-15"), Amount: amt(amount), Applications: apps})
	require.NoError(t, err)
	return cm
}

func TestUnapplyCredit(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		cm := b.creditMemo(t, "80.00", apply(inv, "50.00"))
		b.record(t, b.pay("100.00", apply(inv, "100.00")))
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")
		capps := b.creditApplications(t, cm.ID)
		require.Len(t, capps, 1)
		app := capps[0]
		require.Nil(t, app.UnappliedAt)

		// The credit comes off the invoice, which re-opens by its amount, and is the memo's
		// remaining credit again: DR AR, CR Customer Credits.
		cm, err := billing.UnapplyCredit(b.ctx, b.client, app.ID)
		require.NoError(t, err)
		require.Equal(t, "0.00", cm.Applied.String())
		require.Equal(t, "80.00", cm.Remaining.String())
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPartiallyPaid, "50.00", "100.00")
		un, err := b.client.CreditApplication.Get(b.ctx, app.ID)
		require.NoError(t, err)
		require.NotNil(t, un.UnappliedAt)
		require.NotNil(t, un.UnapplyEntryID)
		require.Equal(t, []string{"1200 DR 50.00", "2100 CR 50.00"}, b.entryLines(t, *un.UnapplyEntryID))
		je := b.entry(t, *un.UnapplyEntryID)
		require.Equal(t, "cunapply:"+app.ID, je.SourceRef)
		requireDocument(t, je, "credit_application", app.ID)
		require.Equal(t, b.today(t), je.Date, "dated today: later than the memo's date")
		events, err := b.invoice(t, inv.ID).QueryEvents().Order(ent.Asc(invoiceevent.FieldAt), ent.Asc(invoiceevent.FieldID)).All(b.ctx)
		require.NoError(t, err)
		last := events[len(events)-1]
		require.Equal(t, "paid>partially_paid", last.FromStatus+">"+last.ToStatus)
		require.Contains(t, last.Note, cm.ID)
		b.requireARMatchesOpenInvoices(t)

		// An application is unapplied once; unknown ones are not found.
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.UnapplyCredit(b.ctx, b.client, app.ID)
			return err
		})
		b.requireRejected(t, apperr.NotFound, func() error {
			_, err := billing.UnapplyCredit(b.ctx, b.client, "capp_nope")
			return err
		})

		// The credit can be applied again, to the same invoice or another.
		inv2 := b.approvedInvoice(t, "100.00")
		cm, err = billing.ApplyCreditMemo(b.ctx, b.client, cm.ID, []billing.Application{apply(inv, "50.00"), apply(inv2, "30.00")})
		require.NoError(t, err)
		require.True(t, cm.Remaining.IsZero())
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusPaid, "0.00", "150.00")
		requireInvoice(t, b.invoice(t, inv2.ID), invoice.StatusPartiallyPaid, "70.00", "30.00")
		b.requireARMatchesOpenInvoices(t)

		// A written-off invoice's receivable is closed: its credit stays applied.
		_, err = billing.WriteOffInvoice(b.ctx, b.client, billing.WriteOffInput{InvoiceID: inv2.ID, Reason: "gone"})
		require.NoError(t, err)
		var onInv2 *ent.CreditApplication
		for _, a := range b.creditApplications(t, cm.ID) {
			if a.InvoiceID == inv2.ID {
				onInv2 = a
			}
		}
		require.NotNil(t, onInv2)
		b.requireRejected(t, apperr.InvalidTransition, func() error {
			_, err := billing.UnapplyCredit(b.ctx, b.client, onInv2.ID)
			return err
		})
	})
}

func TestVoidAfterUnapplyCredit(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		paid := b.approvedInvoice(t, "150.00")
		part := b.approvedInvoice(t, "100.00")
		cm := b.creditMemo(t, "190.00", apply(paid, "150.00"), apply(part, "40.00"))
		requireInvoice(t, b.invoice(t, paid.ID), invoice.StatusPaid, "0.00", "150.00")
		requireInvoice(t, b.invoice(t, part.ID), invoice.StatusPartiallyPaid, "60.00", "40.00")

		// Credited invoices, paid in full or in part, are not voided; the refusal names the
		// way out.
		for _, inv := range []*ent.Invoice{paid, part} {
			b.requireRejected(t, apperr.InvalidTransition, func() error {
				_, err := billing.VoidInvoice(b.bob, b.client, inv.ID, "mistake")
				requireUnapplyFirst(t, err)
				return err
			})
		}

		for _, app := range b.creditApplications(t, cm.ID) {
			if app.InvoiceID == paid.ID {
				_, err := billing.UnapplyCredit(b.ctx, b.client, app.ID)
				require.NoError(t, err)
			}
		}
		requireInvoice(t, b.invoice(t, paid.ID), invoice.StatusApproved, "150.00", "0.00")
		voided, err := billing.VoidInvoice(b.bob, b.client, paid.ID, "mistake")
		require.NoError(t, err)
		requireInvoice(t, voided, invoice.StatusVoid, "0.00", "0.00")
		require.Equal(t, []string{"1200 CR 150.00", "4000 DR 150.00"}, b.entryLines(t, *voided.VoidEntryID))
		requireDocument(t, b.entry(t, *voided.VoidEntryID), "invoice", paid.ID)
		net := b.balances(t)
		require.Equal(t, "60.00", net["1200"].String(), "only the partly credited invoice is open")
		require.Equal(t, "-150.00", net["2100"].String(), "the unapplied credit is the customer's again")
	})
}

func TestVoidDating(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// issue returns the invoice's issue date from today.
		issue       func(today caldate.Date) caldate.Date
		closeToday  bool
		wantDate    func(today, issue caldate.Date) caldate.Date
		wantDocDate func(today, issue caldate.Date) *caldate.Date
	}{
		{
			name:        "today",
			issue:       func(today caldate.Date) caldate.Date { return today.FirstOfMonth() },
			wantDate:    func(today, _ caldate.Date) caldate.Date { return today },
			wantDocDate: func(_, _ caldate.Date) *caldate.Date { return nil },
		},
		{
			// The current month is closed: the void moves to the first day of the next open
			// period and keeps today as its document date, instead of failing PERIOD_CLOSED.
			name:        "current month closed",
			issue:       func(today caldate.Date) caldate.Date { return today.FirstOfMonth() },
			closeToday:  true,
			wantDate:    func(today, _ caldate.Date) caldate.Date { return today.FirstOfMonth().AddMonths(1) },
			wantDocDate: func(today, _ caldate.Date) *caldate.Date { return &today },
		},
		{
			// Never before the original: an invoice dated ahead is voided on its own date.
			name:     "invoice dated ahead",
			issue:    func(today caldate.Date) caldate.Date { return today.AddDays(40) },
			wantDate: func(_, issue caldate.Date) caldate.Date { return issue },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachDialect(t, func(t *testing.T, b *testBundle) {
				today := b.today(t)
				in := b.draftInput(b.customer.ID, "150.00")
				in.IssueDate = tt.issue(today)
				in.DueDate = in.IssueDate.AddDays(30)
				draft, err := billing.CreateInvoice(b.ctx, b.client, in)
				require.NoError(t, err)
				inv := b.approve(t, draft.ID)
				require.Equal(t, in.IssueDate, b.entry(t, *inv.JournalEntryID).Date)
				if tt.closeToday {
					p, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, ledger.PeriodName(today))
					require.NoError(t, err)
					_, err = ledger.ClosePeriod(b.ctx, b.client, p.ID, "bob")
					require.NoError(t, err)
				}

				voided, err := billing.VoidInvoice(b.bob, b.client, inv.ID, "mistake")
				require.NoError(t, err)
				requireInvoice(t, voided, invoice.StatusVoid, "0.00", "0.00")
				rev := b.entry(t, *voided.VoidEntryID)
				require.Equal(t, tt.wantDate(today, in.IssueDate), rev.Date)
				if tt.wantDocDate != nil {
					require.Equal(t, tt.wantDocDate(today, in.IssueDate), rev.DocumentDate)
				}
				require.False(t, rev.Date.Before(b.entry(t, *inv.JournalEntryID).Date), "never before the original")
				requireDocument(t, rev, "invoice", inv.ID)
				require.True(t, b.balances(t)["1200"].IsZero())
			})
		})
	}
}

// TestEntriesBelongToDocuments runs every billing posting and checks each entry names the
// document that posted it, and each Accounts Receivable and Customer Credits line the
// document's customer.
func TestEntriesBelongToDocuments(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "300.00")
		globexInv := b.approvedInvoiceFor(t, b.other.ID, "100.00")
		toVoid := b.approvedInvoice(t, "10.00")
		_, err := billing.VoidInvoice(b.bob, b.client, toVoid.ID, "duplicate")
		require.NoError(t, err)

		p := b.record(t, b.pay("200.00", apply(inv, "100.00")))
		p, err = billing.ApplyPayment(b.ctx, b.client, p.ID, []billing.Application{apply(inv, "50.00")})
		require.NoError(t, err)
		later := b.activeApplications(t, p.ID)
		_, err = billing.UnapplyPayment(b.ctx, b.client, later[len(later)-1].ID)
		require.NoError(t, err)
		cm := b.creditMemo(t, "30.00", apply(inv, "30.00"))
		_, err = billing.UnapplyCredit(b.ctx, b.client, b.creditApplications(t, cm.ID)[0].ID)
		require.NoError(t, err)
		// 100.00 of unapplied money and 50.00 of the 100.00 applied: unapplied, and 50.00
		// applied again.
		_, err = billing.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: amt("150.00")})
		require.NoError(t, err)
		gin := b.pay("100.00", apply(globexInv, "100.00"))
		gin.CustomerID = b.other.ID
		gp := b.record(t, gin)
		_, err = billing.ReverseCharge(b.ctx, b.client, billing.CashReturnInput{PaymentID: gp.ID, Amount: amt("100.00")})
		require.NoError(t, err)
		_, err = billing.WriteOffInvoice(b.ctx, b.client, billing.WriteOffInput{InvoiceID: inv.ID})
		require.NoError(t, err)

		// The customer of each document.
		customerOf := func(t *testing.T, docType, docID string) string {
			t.Helper()
			ctx := b.ctx
			switch docType {
			case "invoice":
				return b.invoice(t, docID).CustomerID
			case "write_off":
				wo, err := b.client.WriteOff.Get(ctx, docID)
				require.NoError(t, err)
				return b.invoice(t, wo.InvoiceID).CustomerID
			case "payment":
				return b.payment(t, docID).CustomerID
			case "payment_application":
				a, err := b.client.PaymentApplication.Get(ctx, docID)
				require.NoError(t, err)
				return b.payment(t, a.PaymentID).CustomerID
			case "credit_memo":
				m, err := b.client.CreditMemo.Get(ctx, docID)
				require.NoError(t, err)
				return m.CustomerID
			case "credit_application":
				a, err := b.client.CreditApplication.Get(ctx, docID)
				require.NoError(t, err)
				m, err := b.client.CreditMemo.Get(ctx, a.CreditMemoID)
				require.NoError(t, err)
				return m.CustomerID
			case "refund":
				r, err := b.client.Refund.Get(ctx, docID)
				require.NoError(t, err)
				return b.payment(t, r.PaymentID).CustomerID
			case "charge_reversal":
				r, err := b.client.ChargeReversal.Get(ctx, docID)
				require.NoError(t, err)
				return b.payment(t, r.PaymentID).CustomerID
			}
			t.Fatalf("unknown document type %q", docType)
			return ""
		}
		// The document each source reference implies.
		docOf := map[string]string{
			"invoice": "invoice", "writeoff": "write_off", "payment": "payment", "papply": "payment_application",
			"unapply": "payment_application", "cm": "credit_memo", "capp": "credit_application",
			"cunapply": "credit_application", "refund": "refund", "chargeback": "charge_reversal",
		}

		entries, err := b.client.JournalEntry.Query().Where(journalentry.EntityID(b.entity.ID)).
			WithLines(func(q *ent.JournalLineQuery) { q.WithAccount() }).All(b.ctx)
		require.NoError(t, err)
		seen := map[string]int{}
		for _, je := range entries {
			kind, id, ok := strings.Cut(je.SourceRef, ":")
			require.True(t, ok, "entry %s has source ref %q", je.ID, je.SourceRef)
			wantType := docOf[kind]
			if kind == "reversal" {
				// A void: the invoice whose approval entry it reverses.
				inv, err := b.client.Invoice.Query().Where(invoice.JournalEntryID(id)).Only(b.ctx)
				require.NoError(t, err)
				wantType, id = "invoice", inv.ID
				require.Equal(t, je.ID, *inv.VoidEntryID)
			}
			require.NotEmpty(t, wantType, "entry %s has source ref %q", je.ID, je.SourceRef)
			requireDocument(t, je, wantType, id)
			seen[kind]++
			cus := customerOf(t, wantType, id)
			for _, l := range je.Edges.Lines {
				switch l.Edges.Account.Subtype {
				case account.SubtypeAccountsReceivable, account.SubtypeCustomerCredit:
					require.NotNil(t, l.CustomerID, "%s line of entry %s (%s) names no customer", l.Edges.Account.Code, je.ID, je.SourceRef)
					require.Equal(t, cus, *l.CustomerID, "%s line of entry %s (%s)", l.Edges.Account.Code, je.ID, je.SourceRef)
				}
			}
		}
		require.Equal(t, map[string]int{
			"invoice": 3, "reversal": 1, "payment": 2, "papply": 2, "unapply": 3, "cm": 1, "capp": 1, "cunapply": 1,
			"refund": 1, "chargeback": 1, "writeoff": 1,
		}, seen, "every kind of billing entry was checked")
	})
}

// TestControlAccountMappings: billing's COA mappings are configurable per entity, but a
// mapping that would move the control accounts away from the documents behind them is
// refused at posting, and nothing is written.
func TestControlAccountMappings(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		open := b.approvedInvoice(t, "100.00")
		scheduled := b.draftInput(b.customer.ID, "50.00")
		scheduled.Lines[0].Scheduled = true
		submitted := func(t *testing.T, in billing.InvoiceInput) string {
			t.Helper()
			inv, err := billing.CreateInvoice(b.ctx, b.client, in)
			require.NoError(t, err)
			_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
			require.NoError(t, err)
			return inv.ID
		}
		approve := func(in billing.InvoiceInput) func(t *testing.T) error {
			return func(t *testing.T) error {
				id := submitted(t, in)
				return b.rejectedAfter(t, func() error { _, err := billing.ApproveInvoice(b.bob, b.client, id); return err })
			}
		}
		tests := []struct {
			name, code, account string
			call                func(t *testing.T) error
		}{
			{"ar on undeposited funds", "ar", "1300", approve(b.draftInput(b.customer.ID, "10.00"))},
			{"ar on customer credits", "ar", "2100", approve(b.draftInput(b.customer.ID, "10.00"))},
			{"deferred revenue on AR", "deferred_revenue", "1200", approve(scheduled)},
			{"customer credits on AR", "customer_credit", "1200", func(t *testing.T) error {
				return b.rejectedAfter(t, func() error { _, err := billing.RecordPayment(b.ctx, b.client, b.pay("10.00")); return err })
			}},
			{"undeposited funds on customer credits", "undeposited_funds", "2100", func(t *testing.T) error {
				return b.rejectedAfter(t, func() error {
					_, err := billing.RecordPayment(b.ctx, b.client, b.pay("10.00", apply(open, "10.00")))
					return err
				})
			}},
			{"bad debt on customer credits", "bad_debt", "2100", func(t *testing.T) error {
				return b.rejectedAfter(t, func() error {
					_, err := billing.WriteOffInvoice(b.ctx, b.client, billing.WriteOffInput{InvoiceID: open.ID})
					return err
				})
			}},
		}
		for _, tt := range tests {
			restore := b.remap(t, tt.code, b.accountID(t, b.entity.ID, tt.account))
			err := tt.call(t)
			requireCode(t, err, apperr.ControlAccount)
			require.Contains(t, err.Error(), tt.code, tt.name)
			restore()
		}

		// Another Accounts Receivable account is fine: AR is every account of the subtype.
		ar2, err := ledger.CreateAccount(b.ctx, b.client, ent.CreateAccountInput{EntityID: b.entity.ID, Code: "1210",
			Name: "Accounts Receivable 2", Type: account.TypeAsset, Subtype: account.SubtypeAccountsReceivable})
		require.NoError(t, err)
		restore := b.remap(t, "ar", ar2.ID)
		inv, err := billing.ApproveInvoice(b.bob, b.client, submitted(t, b.draftInput(b.customer.ID, "10.00")))
		require.NoError(t, err)
		require.Equal(t, []string{"1210 DR 10.00", "4000 CR 10.00"}, b.entryLines(t, *inv.JournalEntryID))
		restore()
		_, err = billing.VoidInvoice(b.bob, b.client, inv.ID, "test")
		require.NoError(t, err)
		require.True(t, b.balances(t)["1210"].IsZero())
	})
}

// rejectedAfter runs call, which must change nothing, and returns its error.
func (b *testBundle) rejectedAfter(t *testing.T, call func() error) error {
	t.Helper()
	before := b.snapshot(t)
	err := call()
	require.Equal(t, before, b.snapshot(t), "a rejected call changes nothing")
	return err
}

// remap points the entity's books mapping of code at accountID and returns the undo.
func (b *testBundle) remap(t *testing.T, code, accountID string) func() {
	t.Helper()
	m, err := b.client.COAMapping.Query().Where(coamapping.EntityID(b.entity.ID),
		coamapping.SourceSystemEQ(source.Books), coamapping.SourceCode(code)).Only(b.ctx)
	require.NoError(t, err)
	_, err = ledger.UpdateMapping(b.ctx, b.client, m.ID, ent.UpdateCOAMappingInput{AccountID: &accountID})
	require.NoError(t, err)
	return func() {
		_, err := ledger.UpdateMapping(b.ctx, b.client, m.ID, ent.UpdateCOAMappingInput{AccountID: &m.AccountID})
		require.NoError(t, err)
	}
}

// TestUnapplyInClosedMonth: an unapplication is dated today, and when today's month is
// closed it moves to the first day of the next open month, keeping today as its document
// date, instead of failing PERIOD_CLOSED.
func TestUnapplyInClosedMonth(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, "150.00")
		p := b.record(t, b.pay("50.00", apply(inv, "50.00")))
		cm := b.creditMemo(t, "40.00", apply(inv, "40.00"))
		today := b.today(t)
		period, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, ledger.PeriodName(today))
		require.NoError(t, err)
		_, err = ledger.ClosePeriod(b.ctx, b.client, period.ID, "bob")
		require.NoError(t, err)

		_, err = billing.UnapplyPayment(b.ctx, b.client, b.activeApplications(t, p.ID)[0].ID)
		require.NoError(t, err)
		capp := b.creditApplications(t, cm.ID)[0]
		_, err = billing.UnapplyCredit(b.ctx, b.client, capp.ID)
		require.NoError(t, err)
		requireInvoice(t, b.invoice(t, inv.ID), invoice.StatusApproved, "150.00", "0.00")

		papp, err := b.client.PaymentApplication.Query().Where(paymentapplication.PaymentID(p.ID)).Only(b.ctx)
		require.NoError(t, err)
		capp, err = b.client.CreditApplication.Get(b.ctx, capp.ID)
		require.NoError(t, err)
		for _, id := range []string{*papp.UnapplyEntryID, *capp.UnapplyEntryID} {
			je := b.entry(t, id)
			require.Equal(t, today.FirstOfMonth().AddMonths(1), je.Date, je.SourceRef)
			require.NotNil(t, je.DocumentDate, je.SourceRef)
			require.Equal(t, today, *je.DocumentDate, je.SourceRef)
		}
	})
}
