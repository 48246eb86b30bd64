package push_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverqueue/river"

	"books/ent"
	"books/ent/qbolink"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/qbo/settings"
	"books/jobs"
)

// Finding 1: two drains of one connection at once (an admin issue's retry, a second job, any
// second caller) created the same Books payment twice in QuickBooks: each read the pending
// links, found nothing in QuickBooks, and sent its own batch with its own requestid. Drains
// of a connection now run one at a time.
func TestAttackConcurrentDrainsCreateOnce(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, b.customer, "1000.00")
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))

		p1 := b.pay(t, inv, "10.00")
		p2 := b.pay(t, inv, "20.00")
		b.push(t, qbolink.RecordTypePayment, p1.ID, p2.ID)
		// The first batch is slow: QuickBooks takes 400 ms to answer it.
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultLatency, Count: 1, LatencyMS: 400}))

		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(1)
		go func() { defer wg.Done(); errs[0] = b.engine.Drain(b.ctx, b.client, b.row.ID) }()
		time.Sleep(150 * time.Millisecond)
		// A payment lands meanwhile and a second drain starts (e.g. an admin issue's retry job).
		p3 := b.pay(t, inv, "30.00")
		b.push(t, qbolink.RecordTypePayment, p3.ID)
		wg.Add(1)
		go func() { defer wg.Done(); errs[1] = b.engine.Drain(b.ctx, b.client, b.row.ID) }()
		wg.Wait()
		for i := 0; i < 3; i++ {
			if err := b.drain(t); err == nil {
				break
			}
		}
		require.Equal(t, 3, len(b.realm.List("Payment")), "one QuickBooks payment per Books payment (drain errors %v)", errs)
		qinv, _ := b.realm.Get("Invoice", *b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).QboID)
		requireAmount(t, "940", field(qinv, "Balance"))
	})
}

// Finding 1 as production reached it: an admin issue's retry drained the connection beside
// the running drain. A retry now only asks for the write again and enqueues a drain.
func TestAttackRetryJobDoesNotRaceRunningDrain(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, b.customer, "1000.00")
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		// A failed link with an admin issue: an invoice of a customer without email.
		nomail := b.newCustomer(t, "Nomail", false)
		bad := b.approvedInvoice(t, nomail, "5.00")
		b.push(t, qbolink.RecordTypeInvoice, bad.ID)
		require.NoError(t, b.drain(t))
		badLink := b.link(t, qbolink.RecordTypeInvoice, bad.ID, 0)
		require.Equal(t, qbolink.StatusError, badLink.Status)

		p1 := b.pay(t, inv, "10.00")
		p2 := b.pay(t, inv, "20.00")
		b.push(t, qbolink.RecordTypePayment, p1.ID, p2.ID)
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultLatency, Count: 1, LatencyMS: 400}))
		w := &push.SyncWorker{Engine: b.engine, Client: b.client}
		tenant := jobs.Tenant{OrganizationID: b.org, EntityID: b.entity.ID}
		job := func() *river.Job[push.SyncArgs] {
			return &river.Job[push.SyncArgs]{Args: push.SyncArgs{Tenant: tenant, ConnectionID: b.row.ID}}
		}
		retry := &push.RetryWorker{Engine: b.engine, Client: b.client}
		ctx := context.Background()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Work(ctx, job()) }()
		time.Sleep(150 * time.Millisecond)
		p3 := b.pay(t, inv, "30.00")
		b.push(t, qbolink.RecordTypePayment, p3.ID)
		// The person retries the issue while the drain runs.
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = retry.Work(ctx, &river.Job[push.RetryArgs]{Args: push.RetryArgs{Tenant: tenant, ConnectionID: b.row.ID, LinkID: badLink.ID}})
			_ = w.Work(ctx, job())
		}()
		wg.Wait()
		for i := 0; i < 3; i++ {
			if err := w.Work(ctx, job()); err == nil {
				break
			}
		}
		require.Equal(t, 3, len(b.realm.List("Payment")), "one QuickBooks payment per Books payment")
	})
}

// Finding 2: a create whose answer was lost (the customer exists in QuickBooks) followed by
// a rename in Books before the retry: the retry either creates a second customer (name and
// email both changed) or links the old one and marks the rename synced without sending it.
func TestAttackLostCreateThenRename(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.engine.Retries = -1 // the lost answer fails the drain, as a crash would
		b.push(t, qbolink.RecordTypeCustomer, b.customer.ID)
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: 10}))
		require.Error(t, b.drain(t))
		require.Len(t, b.realm.Customers(), 1, "the create reached QuickBooks")

		name := "Acme Renamed"
		_, err := billing.UpdateCustomer(b.ctx, b.client, b.customer.ID, ent.UpdateCustomerInput{DisplayName: &name})
		require.NoError(t, err)
		require.NoError(t, b.engine.Changed(b.ctx, b.client, qbolink.RecordTypeCustomer, b.customer.ID))
		for i := 0; i < 3; i++ {
			if err := b.drain(t); err == nil {
				break
			}
		}
		l := b.link(t, qbolink.RecordTypeCustomer, b.customer.ID, 0)
		require.Equal(t, qbolink.StatusSynced, l.Status, l.LastError)
		require.Len(t, b.realm.Customers(), 1, "one QuickBooks customer")
		q, _ := b.realm.Get("Customer", *l.QboID)
		require.Equal(t, name, q["DisplayName"], "the rename reached QuickBooks")
	})
}

func TestAttackLostCreateThenRenameAndNewEmail(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.engine.Retries = -1 // the lost answer fails the drain, as a crash would
		b.push(t, qbolink.RecordTypeCustomer, b.customer.ID)
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: 10}))
		require.Error(t, b.drain(t))
		name, email := "Acme Renamed", "billing@acme.example"
		_, err := billing.UpdateCustomer(b.ctx, b.client, b.customer.ID, ent.UpdateCustomerInput{DisplayName: &name, Email: &email})
		require.NoError(t, err)
		require.NoError(t, b.engine.Changed(b.ctx, b.client, qbolink.RecordTypeCustomer, b.customer.ID))
		for i := 0; i < 3; i++ {
			if err := b.drain(t); err == nil {
				break
			}
		}
		require.Len(t, b.realm.Customers(), 1, "one QuickBooks customer per Books customer")
	})
}

// Finding 5: a RefundReceipt alone books a payment's refund against income and leaves the
// refunded amount as the customer's unapplied credit in QuickBooks, where Books takes it back
// off the receivable and never touches revenue. The refund's second record, a JournalEntry
// DR Accounts Receivable (the customer) / CR the service item's income account, puts both
// back where Books has them.
func TestAttackRefundKeepsIncomeAndReceivable(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.setSettings(t, settings.Settings{ServiceItemID: "1", DefaultDepositAccountID: b.depositAccount(t)})
		inv := b.approvedInvoice(t, b.customer, "500.00")
		p := b.pay(t, inv, "100.00")
		rf, err := billing.RefundPayment(b.bob, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: money.MustParse("10.00"),
			Date: caldate.MustParse("2026-11-12"), Reason: "overcharge"})
		require.NoError(t, err)
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		b.push(t, qbolink.RecordTypeRefund, rf.ID)
		require.NoError(t, b.drain(t))

		receipt, ok := b.realm.Get("RefundReceipt", *b.link(t, qbolink.RecordTypeRefund, rf.ID, 0).QboID)
		require.True(t, ok)
		requireAmount(t, "10", field(receipt, "TotalAmt"))
		item, _ := b.realm.Get("Item", "1")
		income := field(item, "IncomeAccountRef", "value")
		ar, _ := b.realm.FindByName("Account", "Accounts Receivable (A/R)")
		je, ok := b.realm.Get("JournalEntry", *b.link(t, qbolink.RecordTypeRefund, rf.ID, 1).QboID)
		require.True(t, ok)
		var debitAR, creditIncome bool
		for _, l := range je["Line"].([]any) {
			d := l.(map[string]any)["JournalEntryLineDetail"].(map[string]any)
			acct := field(d, "AccountRef", "value")
			switch {
			case d["PostingType"] == "Debit" && acct == ar["Id"]:
				debitAR = field(d, "Entity", "EntityRef", "value") == *b.link(t, qbolink.RecordTypeCustomer, b.customer.ID, 0).QboID
			case d["PostingType"] == "Credit" && acct == income:
				creditIncome = true
			}
			requireAmount(t, "10", l.(map[string]any)["Amount"])
		}
		require.True(t, debitAR, "the refund goes back on the customer's receivable")
		require.True(t, creditIncome, "the RefundReceipt's debit to income is undone")
		// QuickBooks' customer balance: the invoice's 410 open, less the payment's 10
		// unapplied, plus the 10 back on the receivable = Books' 410.
		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		requireAmount(t, got.Balance.String(), field(mustGet(t, b, "Invoice", *b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).QboID), "Balance"))
	})
}

func mustGet(t *testing.T, b *testBundle, entity, id string) map[string]any {
	t.Helper()
	o, ok := b.realm.Get(entity, id)
	require.True(t, ok, "%s %s", entity, id)
	return o
}

// Finding 6: two transactions that ask for the same missing link at once (two approvals with
// auto-sync whose invoices share a customer or item not linked yet, two syncToQuickBooks
// calls) race on qbo_links' unique key: on PostgreSQL the second waits for the first and then
// fails with a constraint error, undoing its business write (the approval) with it.
func TestAttackConcurrentPushesOfOneDependency(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv1 := b.approvedInvoice(t, b.customer, "100.00")
		inv2 := b.approvedInvoice(t, b.customer, "200.00")
		tx1, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.engine.Push(b.ctx, tx1.Client(), b.entity.ID, qbolink.RecordTypeInvoice, []string{inv1.ID})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			tx2, err := b.client.Tx(b.ctx)
			if err != nil {
				done <- err
				return
			}
			if _, err := b.engine.Push(b.ctx, tx2.Client(), b.entity.ID, qbolink.RecordTypeInvoice, []string{inv2.ID}); err != nil {
				_ = tx2.Rollback()
				done <- err
				return
			}
			done <- tx2.Commit()
		}()
		time.Sleep(300 * time.Millisecond)
		require.NoError(t, tx1.Commit())
		require.NoError(t, <-done, "the second request waits and succeeds")
		require.NoError(t, b.drain(t))
		require.Len(t, b.realm.Invoices(), 2)
	})
}

// Natural keys with quotes, backslashes and percent signs are still found after a lost create.
func TestAttackLostCreateOddNames(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.engine.Retries = -1 // the lost answer fails the drain, as a crash would
		var ids []string
		for _, n := range []string{`O'Brien`, `Back\slash`, `100% Pure`, `Under_score`} {
			email := ""
			cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: n + " Co", DisplayName: n, Currency: "USD", Email: &email})
			require.NoError(t, err)
			ids = append(ids, cus.ID)
		}
		b.push(t, qbolink.RecordTypeCustomer, ids...)
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: 10}))
		require.Error(t, b.drain(t))
		for i := 0; i < 3; i++ {
			if err := b.drain(t); err == nil {
				break
			}
		}
		require.Len(t, b.realm.Customers(), 4)
		for _, id := range ids {
			l := b.link(t, qbolink.RecordTypeCustomer, id, 0)
			require.Equal(t, qbolink.StatusSynced, l.Status, l.LastError)
		}
	})
}

// Split by month with a credit memo and a payment spread over the parts: QuickBooks agrees
// with Books to the cent, no mismatch issue.
func TestAttackSplitCreditAndPayment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.setSettings(t, settings.Settings{ServiceItemID: "1", SplitInvoiceByMonth: true})
		inv := b.approvedInvoice(t, b.customer, "100.01", "200.02", "300.03")
		_, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: b.customer.ID,
			Amount: money.MustParse("150.50"), Date: caldate.MustParse("2026-11-05"), Reason: "goodwill",
			Applications: []billing.Application{{InvoiceID: inv.ID, Amount: money.MustParse("150.50")}}})
		require.NoError(t, err)
		b.pay(t, inv, "250.27")
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		// A second payment after the first push.
		p2 := b.pay(t, inv, "99.99")
		require.NoError(t, b.engine.Changed(b.ctx, b.client, qbolink.RecordTypePayment, p2.ID))
		require.NoError(t, b.drain(t))
		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		total := money.Amount{}
		for _, q := range b.realm.Invoices() {
			bal, err := money.Parse(field(q, "Balance").(interface{ String() string }).String())
			require.NoError(t, err)
			total = total.Add(bal)
		}
		require.Equal(t, got.Balance.String(), total.String())
		require.Empty(t, b.issues(t, "QBO_AMOUNT_MISMATCH"))
	})
}

// Finding 7: reversing a manual journal entry that never reached QuickBooks (posted before the
// company was connected, or through the REST journal-entry API, which applies no QuickBooks
// rule) pushes the reversal alone: QuickBooks books the mirror of an entry it never had.
func TestAttackReversalOfUnpushedEntry(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		res, err := ledger.Post(b.ctx, b.client, ledger.Entry{EntityID: b.entity.ID, Date: caldate.MustParse("2026-11-03"),
			Description: "accrual", Source: source.PSA, Lines: []ledger.Line{
				{AccountCode: "6000", Debit: money.MustParse("75.00"), ClassID: b.class.ID},
				{AccountCode: "1000", Credit: money.MustParse("75.00")},
			}})
		require.NoError(t, err)
		rev, err := ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res.Entry.ID, Date: caldate.MustParse("2026-11-04")})
		require.NoError(t, err)
		// What reverseJournalEntry does after reversing.
		require.NoError(t, b.engine.Changed(b.ctx, b.client, qbolink.RecordTypeJournalEntry, rev.ID))
		require.NoError(t, b.drain(t))
		n := len(b.realm.List("JournalEntry"))
		require.True(t, n == 0 || n == 2, "QuickBooks has the reversal without the entry it reverses (%d journal entries)", n)
	})
}
