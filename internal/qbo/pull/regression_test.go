package pull_test

// Regressions found by attacking the QuickBooks payment sync: each test states what broke.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/qboconnection"
	"books/ent/qboinboxevent"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/money"
	"books/internal/qbo/pull"
	"books/internal/qbo/qbotest"
	"books/internal/tenant"
)

// quiet is a puller on the bundle's engine and queue without a job runner: Store only
// stores, so the test drives Process itself.
func (b *testBundle) quiet() *pull.Puller {
	return &pull.Puller{Engine: b.engine, Queue: b.puller.Queue, Lease: b.puller.Lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (b *testBundle) qboCustomer(t *testing.T, name string) string {
	t.Helper()
	raw, err := b.api.Create(context.Background(), "Customer", map[string]any{"DisplayName": name}, "c-"+name)
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(raw, &c))
	return c["Id"].(string)
}

func (b *testBundle) match(t *testing.T, itemID string, apps []billing.Application) (*ent.ReconciliationItem, *ent.Payment, error) {
	t.Helper()
	tx, err := b.client.Tx(b.ctx)
	require.NoError(t, err)
	got, p, err := b.puller.Match(b.ctx, tx.Client(), itemID, apps, "")
	if err != nil {
		require.NoError(t, tx.Rollback())
		return nil, nil, err
	}
	require.NoError(t, tx.Commit())
	return got, p, nil
}

// A QuickBooks payment recorded from QuickBooks whose link a person removed (unlink) and that
// then changes in QuickBooks: follow runs with a nil link and panics on
// c.QBOLink.UpdateOne(nil) (payment.go follow, last statement). In a job the panic is
// retried 25 times and the notifications stay pending; nothing is raised.
func TestUnlinkedPaymentIsLinkedAgainWhenFollowed(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Unlinked", "100.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		qp := b.qboPay(t, cq, "100.00", "", map[string]string{b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID): "100.00"})
		id := qp["Id"].(string)
		b.settle(t)
		ps := b.qboPayments(t, id)
		require.Len(t, ps, 1)

		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.engine.Unlink(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypePayment, ps[0].ID)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())

		require.NoError(t, b.srv.InjectFault(qbotestDropAll()))
		b.qboUpdate(t, "Payment", id, map[string]any{"PrivateNote": "memo edited"})
		p := b.quiet()
		_, err = p.Store(context.Background(), b.client, []pull.Notification{{Source: qboinboxevent.SourceLegacy,
			Key: pull.ChangeKey(b.realm.ID(), "Payment", id, "Update", "attack"), RealmID: b.realm.ID(),
			Entity: "Payment", ID: id, Operation: "Update"}})
		require.NoError(t, err)
		var perr error
		pctx, cancel := context.WithCancel(context.Background())
		func() {
			defer func() {
				if v := recover(); v != nil {
					perr = fmt.Errorf("panic: %v", v)
				}
			}()
			perr = p.Process(pctx, b.client, b.row.ID)
		}()
		cancel() // a panic leaves the payment's transaction open until its context ends
		time.Sleep(100 * time.Millisecond)
		require.NoError(t, perr, "processing a payment whose link was removed")
	})
}

// A qbo_inbox job that runs after its connection was disconnected (or for a connection
// disconnected while notifications wait): processAll returns nil without touching the
// pending rows, Process sees them still pending and loops again, forever (a hot loop of
// two queries until the job's 10-minute timeout, then again for each of 25 attempts).
func TestDisconnectedConnectionInboxWaits(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		sys := tenant.System(context.Background())
		_, err := b.client.QBOInboxEvent.Create().SetID("qbin_attack_disc").SetDedupeKey("attack-disc").
			SetRealmID(b.realm.ID()).SetOrganizationID(b.org).SetConnectionID(b.row.ID).
			SetSource(qboinboxevent.SourceLegacy).SetQboType("Payment").SetQboID("1").SetOperation("Create").Save(sys)
		require.NoError(t, err)
		_, err = b.engine.Store.Disconnect(b.ctx, b.client, b.row.ID)
		require.NoError(t, err)
		row, err := b.client.QBOConnection.Get(sys, b.row.ID)
		require.NoError(t, err)
		require.Equal(t, qboconnection.StatusDisconnected, row.Status)

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		err = b.quiet().Process(ctx, b.client, b.row.ID)
		took := time.Since(start)
		require.NoError(t, err, "a run for a disconnected connection returns (after %s)", took)
		require.Less(t, took, time.Second, "and does not spin")
	})
}

// The QuickBooks user moves a payment Books recorded to a customer Books does not know and
// takes its lines off. QuickBooks: the money is that other customer's unapplied payment.
// Books: the money silently becomes unapplied credit of the ORIGINAL customer (follow only
// compares customers when the new one is linked), and no reconciliation item is raised —
// money allocated to a guessed customer, which the docs say never happens.
func TestPaymentMovedToUnknownCustomerIsRaised(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Mover", "100.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		qp := b.qboPay(t, cq, "80.00", "", map[string]string{b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID): "80.00"})
		id := qp["Id"].(string)
		b.settle(t)
		require.Len(t, b.qboPayments(t, id), 1)

		stranger := b.qboCustomer(t, "Stranger In QuickBooks")
		b.qboUpdate(t, "Payment", id, map[string]any{"CustomerRef": map[string]any{"value": stranger}, "Line": []any{}})
		b.settle(t)

		var standing []*ent.Payment
		for _, p := range b.qboPayments(t, id) {
			if p.VoidedAt == nil {
				standing = append(standing, p)
			}
		}
		items, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.QboType("Payment"), reconciliationitem.QboID(id),
			reconciliationitem.StatusEQ(reconciliationitem.StatusOpen)).All(b.ctx)
		require.NoError(t, err)
		for _, p := range standing {
			require.NotEqual(t, cus.ID, p.CustomerID,
				"QuickBooks says the payment is %s's now; Books keeps %s unapplied as credit of %s (items raised: %d)",
				stranger, p.Unapplied, cus.DisplayName, len(items))
		}
		require.NotEmpty(t, items, "a payment whose customer Books cannot match is for a person")
	})
}

// A QuickBooks user records a new payment whose memo happens to read "Books pay_…" naming a
// Books payment pushed long ago (copied memo, a note for the bookkeeper). beingPushed treats
// it as Books' own push in flight and the payment is neither recorded nor raised: dropped.
func TestMemoNamingABooksPaymentIsNotTakenForItsPush(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Spoof", "100.00", "40.00")
		p, err := billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: cus.ID,
			Amount: money.MustParse("100.00"), ReceivedDate: caldate.MustParse("2026-11-10"), Method: payment.MethodAch,
			Applications: []billing.Application{{InvoiceID: invs[0].ID, Amount: money.MustParse("100.00")}}})
		require.NoError(t, err)
		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.engine.Push(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypePayment, []string{p.ID})
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.Eventually(t, func() bool {
			l, err := b.client.QBOLink.Query().Where(qbolink.RecordID(p.ID)).Only(b.ctx)
			return err == nil && l.Status == qbolink.StatusSynced
		}, 30*time.Second, 20*time.Millisecond)
		b.settle(t)

		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		i1 := b.qboID(t, qbolink.RecordTypeInvoice, invs[1].ID)
		raw, err := b.api.Create(context.Background(), "Payment", map[string]any{"CustomerRef": map[string]any{"value": cq},
			"TotalAmt": json.Number("40.00"), "TxnDate": "2026-11-21", "PrivateNote": "Books " + p.ID + " follow-up",
			"Line": []any{lineTo(i1, "40.00")}}, "spoof-1")
		require.NoError(t, err)
		var q2 map[string]any
		require.NoError(t, json.Unmarshal(raw, &q2))
		b.settle(t)
		b.poll(t)

		recorded := len(b.qboPayments(t, q2["Id"].(string)))
		raised, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.QboType("Payment"),
			reconciliationitem.QboID(q2["Id"].(string))).Exist(b.ctx)
		require.NoError(t, err)
		require.True(t, recorded == 1 || raised,
			"QuickBooks payment %s (40.00 on invoice %s) is neither recorded nor raised; QuickBooks shows the invoice paid, Books %s",
			q2["Id"], i1, b.invoice(t, invs[1].ID).Status)
	})
}

// A payment recorded from QuickBooks that later changes in a way Books does not follow
// (here: more than the Books balance, because a Books payment paid the rest meanwhile) is
// raised as AMOUNT_MISMATCH with the Books payment left standing. The person then matches
// the item — and cannot: Match records under the external reference the first Books payment
// already holds (CONFLICT), for every application the person could choose.
func TestMismatchOfARecordedPaymentCanBeMatched(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Stuck", "100.00", "200.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		i0 := b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID)
		qp := b.qboPay(t, cq, "50.00", "", map[string]string{i0: "50.00"})
		id := qp["Id"].(string)
		b.settle(t)
		require.Len(t, b.qboPayments(t, id), 1)

		// Books receives the other 50 itself (not pushed).
		_, err := billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: cus.ID,
			Amount: money.MustParse("50.00"), ReceivedDate: caldate.MustParse("2026-11-10"), Method: payment.MethodCheck,
			Applications: []billing.Application{{InvoiceID: invs[0].ID, Amount: money.MustParse("50.00")}}})
		require.NoError(t, err)
		// In QuickBooks the user corrects the payment to 80.
		b.qboUpdate(t, "Payment", id, map[string]any{"TotalAmt": json.Number("80.00"), "Line": []any{lineTo(i0, "80.00")}})
		b.settle(t)
		it := b.recItem(t, "Payment", id)
		require.Equal(t, reconciliationitem.KindAmountMismatch, it.Kind)
		require.Equal(t, reconciliationitem.StatusOpen, it.Status)

		// The person puts the 80 on the other invoice, as the queue invites.
		_, _, err = b.match(t, it.ID, []billing.Application{{InvoiceID: invs[1].ID, Amount: money.MustParse("80.00")}})
		require.NoError(t, err, "an open AMOUNT_MISMATCH item can be matched by a person")
	})
}

// More than 1,000 changes stamped with one LastUpdatedTime second (a bulk import, an
// automatic payment run; QuickBooks' times have whole seconds): the pass reads the first
// 1,000, follows "from its latest change", gets the same 1,000 again, stops because the
// latest did not move — and sets the watermark to the pass's start. Every change after those
// 1,000 (here five payments a second later) is never read by any later pass.
func TestPollerReadsPastTheCDCCapInOneSecond(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		var frozen atomic.Pointer[time.Time]
		clock := func() time.Time {
			if f := frozen.Load(); f != nil {
				return *f
			}
			return time.Now()
		}
		b := setupSrv(t, d, []qbotest.Option{qbotest.WithClock(clock)})
		require.NoError(t, b.srv.InjectFault(qbotestDropAll())) // every webhook lost: the poller is the backstop
		cq := b.qboCustomer(t, "Bulk")
		create := func(i int) {
			_, err := b.api.Create(context.Background(), "Payment", map[string]any{"CustomerRef": map[string]any{"value": cq},
				"TotalAmt": json.Number("1.00"), "TxnDate": "2026-11-20"}, fmt.Sprintf("bulk-%d", i))
			require.NoError(t, err)
		}
		at := time.Now().Add(2 * time.Second).Truncate(time.Second)
		frozen.Store(&at)
		for i := range 1000 {
			create(i)
		}
		later := at.Add(time.Second)
		frozen.Store(&later)
		for i := range 5 {
			create(1000 + i)
		}
		frozen.Store(nil)
		time.Sleep(time.Until(later.Add(time.Second)))

		p := b.quiet()
		require.NoError(t, p.Poll(context.Background(), b.client, b.row.ID))
		sys := tenant.System(context.Background())
		var ids []string
		require.NoError(t, b.client.QBOInboxEvent.Query().Where(qboinboxevent.ConnectionID(b.row.ID), qboinboxevent.QboType("Payment")).
			Unique(true).Select(qboinboxevent.FieldQboID).Scan(sys, &ids))
		row, err := b.client.QBOConnection.Get(sys, b.row.ID)
		require.NoError(t, err)
		if len(ids) == 1005 || (row.PolledThrough != nil && !row.PolledThrough.After(later)) {
			return
		}
		require.Len(t, ids, 1005, "every payment QuickBooks changed reaches the inbox, or the watermark stays behind it (watermark now %s, changes at %s and %s)",
			row.PolledThrough, at, later)
	})
}

// In QuickBooks the user applies a Books credit memo (pushed) to a Books invoice: QuickBooks
// records that as a Payment of 0.00 linking the invoice and the credit memo. The pass skips
// every zero payment ("no money moved"), so the invoice's balance in Books stays 30.00 above
// QuickBooks' and nothing is raised for a person.
func TestCreditAppliedInQuickBooksIsRaised(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Credit", "100.00")
		cm, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: cus.ID,
			Date: caldate.MustParse("2026-11-05"), Amount: money.MustParse("30.00"), Reason: "discount"})
		require.NoError(t, err)
		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.engine.Push(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypeCreditMemo, []string{cm.ID})
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.Eventually(t, func() bool {
			l, err := b.client.QBOLink.Query().Where(qbolink.RecordID(cm.ID)).Only(b.ctx)
			return err == nil && l.Status == qbolink.StatusSynced
		}, 30*time.Second, 20*time.Millisecond)
		b.settle(t)
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		i0 := b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID)
		cmq := b.qboID(t, qbolink.RecordTypeCreditMemo, cm.ID)
		raw, err := b.api.Create(context.Background(), "Payment", map[string]any{"CustomerRef": map[string]any{"value": cq},
			"TotalAmt": json.Number("0"), "TxnDate": "2026-11-21", "Line": []any{lineTo(i0, "30.00"),
				map[string]any{"Amount": json.Number("30.00"), "LinkedTxn": []any{map[string]any{"TxnId": cmq, "TxnType": "CreditMemo"}}}}},
			"apply-credit")
		require.NoError(t, err)
		var zp map[string]any
		require.NoError(t, json.Unmarshal(raw, &zp))
		b.settle(t)
		b.poll(t)
		qinv, ok := b.realm.Get("Invoice", i0)
		require.True(t, ok)
		raised, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.QboType("Payment"),
			reconciliationitem.QboID(zp["Id"].(string))).Exist(b.ctx)
		require.NoError(t, err)
		inv := b.invoice(t, invs[0].ID)
		require.True(t, raised || cents(t, qinv["Balance"]) == inv.Balance.Units()/100,
			"QuickBooks invoice balance %v, Books %s; item raised: %v", qinv["Balance"], inv.Balance, raised)
	})
}

// A payment Books recorded is re-pointed in QuickBooks to an invoice Books does not know: the
// money stays the customer's credit in Books, and a person is told (and may match it).
func TestPaymentMovedToAnUnknownInvoiceIsRaised(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Elsewhere", "100.00", "60.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		qp := b.qboPay(t, cq, "60.00", "", map[string]string{b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID): "60.00"})
		id := qp["Id"].(string)
		b.settle(t)
		raw, err := b.api.Create(context.Background(), "Invoice", map[string]any{"CustomerRef": map[string]any{"value": cq},
			"Line": []any{map[string]any{"DetailType": "SalesItemLineDetail", "Amount": json.Number("60.00"),
				"SalesItemLineDetail": map[string]any{"ItemRef": map[string]any{"value": "1"}}}}}, "qbo-only-elsewhere")
		require.NoError(t, err)
		var other map[string]any
		require.NoError(t, json.Unmarshal(raw, &other))
		b.qboUpdate(t, "Payment", id, map[string]any{"Line": []any{lineTo(other["Id"].(string), "60.00")}})
		b.settle(t)

		ps := b.qboPayments(t, id)
		require.Len(t, ps, 1)
		require.Equal(t, "60.00", ps[0].Unapplied.String(), "the money is the customer's credit")
		require.Equal(t, "100.00", b.invoice(t, invs[0].ID).Balance.String())
		it := b.recItem(t, "Payment", id)
		require.Equal(t, reconciliationitem.KindUnmatchedPayment, it.Kind)
		require.Equal(t, reconciliationitem.StatusOpen, it.Status)

		_, paid, err := b.match(t, it.ID, []billing.Application{{InvoiceID: invs[1].ID, Amount: money.MustParse("60.00")}})
		require.NoError(t, err)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, invs[1].ID).Status)
		live := 0
		for _, p := range b.qboPayments(t, id) {
			if p.VoidedAt == nil {
				live++
				require.Equal(t, paid.ID, p.ID)
			}
		}
		require.Equal(t, 1, live, "the person's match replaces the standing payment")
	})
}

// QuickBooks' clock an hour behind Books': the watermark is QuickBooks' own time, so a change
// written after a pass is read by the next, whatever Books' clock says.
func TestPollerWatermarkIsQuickBooksClock(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		behind := func() time.Time { return time.Now().Add(-time.Hour) }
		b := setupSrv(t, d, []qbotest.Option{qbotest.WithClock(behind)})
		cus, invs := b.pushed(t, "Skew", "100.00", "50.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		require.NoError(t, b.srv.InjectFault(qbotestDropAll()))
		b.poll(t)
		row, err := b.client.QBOConnection.Get(b.ctx, b.row.ID)
		require.NoError(t, err)
		require.WithinDuration(t, behind(), *row.PolledThrough, 5*time.Minute, "the watermark is QuickBooks' time")

		qp := b.qboPay(t, cq, "50.00", "", map[string]string{b.qboID(t, qbolink.RecordTypeInvoice, invs[1].ID): "50.00"})
		b.poll(t)
		require.Len(t, b.qboPayments(t, qp["Id"].(string)), 1, "the change after the first pass is read by the next")
	})
}

// A person matches an item while a pass records the same QuickBooks payment (it now names the
// invoice): one standing Books payment, whichever wins; the loser is refused or finds it done.
func TestPersonMatchRacingAPass(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Race", "10.00", "20.00", "30.00", "40.00", "50.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		require.NoError(t, b.srv.InjectFault(qbotestDropAll()))
		p := b.quiet()
		for i, inv := range invs {
			qp := b.qboPay(t, cq, inv.Total.String(), fmt.Sprintf("RACE-%d", i), nil)
			id := qp["Id"].(string)
			_, err := p.Store(context.Background(), b.client, []pull.Notification{{Source: qboinboxevent.SourceLegacy,
				Key: pull.ChangeKey(b.realm.ID(), "Payment", id, "Create", "race"), RealmID: b.realm.ID(),
				Entity: "Payment", ID: id, Operation: "Create"}})
			require.NoError(t, err)
			require.NoError(t, p.Process(context.Background(), b.client, b.row.ID))
			it := b.recItem(t, "Payment", id)
			require.Equal(t, reconciliationitem.KindUnmatchedPayment, it.Kind)

			b.qboUpdate(t, "Payment", id, map[string]any{"Line": []any{lineTo(b.qboID(t, qbolink.RecordTypeInvoice, inv.ID), inv.Total.String())}})
			_, err = p.Store(context.Background(), b.client, []pull.Notification{{Source: qboinboxevent.SourceLegacy,
				Key: pull.ChangeKey(b.realm.ID(), "Payment", id, "Update", "race"), RealmID: b.realm.ID(),
				Entity: "Payment", ID: id, Operation: "Update"}})
			require.NoError(t, err)
			errs := make(chan error, 2)
			go func() { errs <- p.Process(context.Background(), b.client, b.row.ID) }()
			go func() {
				tx, err := b.client.Tx(b.ctx)
				if err != nil {
					errs <- err
					return
				}
				_, _, err = b.puller.Match(b.ctx, tx.Client(), it.ID, []billing.Application{{InvoiceID: inv.ID, Amount: inv.Total}}, "")
				if err != nil {
					_ = tx.Rollback()
					errs <- err
					return
				}
				errs <- tx.Commit()
			}()
			for range 2 {
				if err := <-errs; err != nil {
					require.Contains(t, []string{"CONFLICT", ""}, apperrCode(err), "%v", err)
				}
			}
			// Whatever is left pending is processed by the next run.
			require.NoError(t, p.Process(context.Background(), b.client, b.row.ID))
			live := 0
			for _, bp := range b.qboPayments(t, id) {
				if bp.VoidedAt == nil {
					live++
				}
			}
			require.Equal(t, 1, live, "payment %d: one standing Books payment", i)
			require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		}
	})
}
