package pull_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/qboinboxevent"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/money"
	"books/internal/qbo/pull"
	"books/internal/tenant"
)

// pushed creates a customer and approved invoices of the given amounts and pushes them.
func (b *testBundle) pushed(t *testing.T, name string, amounts ...string) (*ent.Customer, []*ent.Invoice) {
	t.Helper()
	cus := b.newCustomer(t, name)
	var invs []*ent.Invoice
	for _, a := range amounts {
		invs = append(invs, b.approvedInvoice(t, cus, a))
	}
	b.pushAll(t, invs)
	b.settle(t)
	return cus, invs
}

func (b *testBundle) invoice(t *testing.T, id string) *ent.Invoice {
	t.Helper()
	inv, err := b.client.Invoice.Get(b.ctx, id)
	require.NoError(t, err)
	return inv
}

func (b *testBundle) qboPayments(t *testing.T, qboID string) []*ent.Payment {
	t.Helper()
	ps, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorQbo)).All(b.ctx)
	require.NoError(t, err)
	var out []*ent.Payment
	for _, p := range ps {
		ref := pull.ExternalRef(b.realm.ID(), qboID)
		if p.ExternalRef == ref || strings.HasPrefix(p.ExternalRef, ref+"#") {
			out = append(out, p)
		}
	}
	return out
}

func (b *testBundle) recItem(t *testing.T, qboType, qboID string) *ent.ReconciliationItem {
	t.Helper()
	it, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.QboType(qboType), reconciliationitem.QboID(qboID)).Only(b.ctx)
	require.NoError(t, err)
	return it
}

// update writes a sparse update of a QuickBooks record as its user would.
func (b *testBundle) qboUpdate(t *testing.T, entity, id string, fields map[string]any) {
	t.Helper()
	cur, ok := b.realm.Get(entity, id)
	require.True(t, ok)
	body := map[string]any{"Id": id, "SyncToken": cur["SyncToken"]}
	for k, v := range fields {
		body[k] = v
	}
	_, err := b.api.SparseUpdate(context.Background(), entity, body, fmt.Sprintf("u-%d", time.Now().UnixNano()))
	require.NoError(t, err)
}

func lineTo(inv, amt string) map[string]any {
	return map[string]any{"Amount": json.Number(amt), "LinkedTxn": []any{map[string]any{"TxnId": inv, "TxnType": "Invoice"}}}
}

func TestPaymentFollowsQuickBooks(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Follow", "100.00", "60.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		i0, i1 := b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID), b.qboID(t, qbolink.RecordTypeInvoice, invs[1].ID)

		// A partial payment, then the user applies the same money to both invoices.
		qp := b.qboPay(t, cq, "80.00", "", map[string]string{i0: "80.00"})
		id := qp["Id"].(string)
		b.settle(t)
		require.Len(t, b.qboPayments(t, id), 1)
		require.Equal(t, invoice.StatusPartiallyPaid, b.invoice(t, invs[0].ID).Status)
		require.Equal(t, "20.00", b.invoice(t, invs[0].ID).Balance.String())

		b.qboUpdate(t, "Payment", id, map[string]any{"Line": []any{lineTo(i0, "50.00"), lineTo(i1, "30.00")}})
		b.settle(t)
		ps := b.qboPayments(t, id)
		require.Len(t, ps, 1, "an update changes the recorded payment, it records no other")
		require.Equal(t, "80.00", ps[0].Applied.String())
		require.Equal(t, "50.00", b.invoice(t, invs[0].ID).Balance.String())
		require.Equal(t, "30.00", b.invoice(t, invs[1].ID).Balance.String())

		// A new amount: the payment is voided and recorded anew, still once.
		b.qboUpdate(t, "Payment", id, map[string]any{"TotalAmt": json.Number("160.00"),
			"Line": []any{lineTo(i0, "100.00"), lineTo(i1, "60.00")}})
		b.settle(t)
		ps = b.qboPayments(t, id)
		require.Len(t, ps, 2)
		live := 0
		for _, p := range ps {
			if p.VoidedAt == nil {
				live++
				require.Equal(t, "160.00", p.Amount.String())
			}
		}
		require.Equal(t, 1, live, "one standing payment for the QuickBooks payment")
		require.Equal(t, invoice.StatusPaid, b.invoice(t, invs[0].ID).Status)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, invs[1].ID).Status)

		// Deleted in QuickBooks: voided in Books, the invoices open again.
		b.qboDelete(t, "Payment", id)
		b.settle(t)
		for _, p := range b.qboPayments(t, id) {
			require.NotNil(t, p.VoidedAt)
		}
		require.Equal(t, "100.00", b.invoice(t, invs[0].ID).Balance.String())
		require.Equal(t, invoice.StatusApproved, b.invoice(t, invs[1].ID).Status)
		require.Empty(t, b.openItems(t))
	})
}

func TestPaymentsThatDoNotFitAreRaised(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Fit", "100.00")
		other, _ := b.pushed(t, "Other", "10.00")
		cq, oq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID), b.qboID(t, qbolink.RecordTypeCustomer, other.ID)
		i0 := b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID)

		// An invoice made in QuickBooks only.
		raw, err := b.api.Create(context.Background(), "Invoice", map[string]any{"CustomerRef": map[string]any{"value": cq},
			"Line": []any{map[string]any{"DetailType": "SalesItemLineDetail", "Amount": json.Number("5.00"),
				"SalesItemLineDetail": map[string]any{"ItemRef": map[string]any{"value": "1"}}}}}, "qbo-only-invoice")
		require.NoError(t, err)
		var qboOnly map[string]any
		require.NoError(t, json.Unmarshal(raw, &qboOnly))

		cases := []struct {
			name string
			pay  func() map[string]any
			kind reconciliationitem.Kind
		}{
			{"no invoice", func() map[string]any { return b.qboPay(t, cq, "12.00", "CHK-1", nil) }, reconciliationitem.KindUnmatchedPayment},
			{"invoice unknown to Books", func() map[string]any {
				return b.qboPay(t, cq, "5.00", "", map[string]string{qboOnly["Id"].(string): "5.00"})
			}, reconciliationitem.KindUnmatchedPayment},
			{"another customer", func() map[string]any {
				// The user moved the invoice to another customer in QuickBooks and paid it there.
				b.qboUpdate(t, "Invoice", i0, map[string]any{"CustomerRef": map[string]any{"value": oq}})
				p := b.qboPay(t, oq, "10.00", "", map[string]string{i0: "10.00"})
				b.qboUpdate(t, "Invoice", i0, map[string]any{"CustomerRef": map[string]any{"value": cq}})
				return p
			}, reconciliationitem.KindCustomerMismatch},
		}
		for _, tc := range cases {
			qp := tc.pay()
			b.settle(t)
			it := b.recItem(t, "Payment", qp["Id"].(string))
			require.Equal(t, tc.kind, it.Kind, tc.name)
			require.Equal(t, reconciliationitem.StatusOpen, it.Status, tc.name)
			require.NotEmpty(t, it.Snapshot, tc.name)
			require.Empty(t, b.qboPayments(t, qp["Id"].(string)), "%s: nothing recorded", tc.name)
		}
		require.Equal(t, "100.00", b.invoice(t, invs[0].ID).Balance.String(), "no money applied by a guess")

		// More than the balance: a Books payment pays the invoice first (pushed), then
		// QuickBooks' user records the full amount again.
		_, err = billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: cus.ID,
			Amount: money.MustParse("70.00"), ReceivedDate: caldate.MustParse("2026-11-10"), Method: payment.MethodCheck,
			Applications: []billing.Application{{InvoiceID: invs[0].ID, Amount: money.MustParse("70.00")}}})
		require.NoError(t, err)
		over := b.qboPay(t, cq, "50.00", "", map[string]string{i0: "30.00"})
		b.settle(t)
		require.Len(t, b.qboPayments(t, over["Id"].(string)), 1, "30 fits the balance of 30")
		again := b.qboPay(t, cq, "40.00", "", map[string]string{i0: "0.01"})
		b.settle(t)
		require.Equal(t, reconciliationitem.KindAmountMismatch, b.recItem(t, "Payment", again["Id"].(string)).Kind)

		// Voided in QuickBooks while waiting: the item closes itself.
		b.qboVoid(t, "Payment", again)
		b.settle(t)
		it := b.recItem(t, "Payment", again["Id"].(string))
		require.Equal(t, reconciliationitem.StatusDismissed, it.Status)
		require.Equal(t, "system", it.ResolvedBy)
	})
}

func TestOwnPaymentsAreNotRecordedTwice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		_, invs := b.pushed(t, "Own", "100.00")
		p, err := billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: invs[0].CustomerID,
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
		b.poll(t)
		n, err := b.client.Payment.Query().Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "Books' own payment, announced back by QuickBooks, is not recorded again")
		require.Empty(t, b.openItems(t))

		// Voided in QuickBooks: Books keeps its payment and asks a person.
		qid := b.qboID(t, qbolink.RecordTypePayment, p.ID)
		cur, _ := b.realm.Get("Payment", qid)
		b.qboVoid(t, "Payment", cur)
		b.settle(t)
		it := b.recItem(t, "Payment", qid)
		require.Equal(t, reconciliationitem.KindRemoteChange, it.Kind)
		got, err := b.client.Payment.Get(b.ctx, p.ID)
		require.NoError(t, err)
		require.Nil(t, got.VoidedAt)
	})
}

func TestRemoteDeleteWaitsForAPerson(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		_, invs := b.pushed(t, "Gone", "100.00", "50.00", "25.00")
		q0, q1, q2 := b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID), b.qboID(t, qbolink.RecordTypeInvoice, invs[1].ID),
			b.qboID(t, qbolink.RecordTypeInvoice, invs[2].ID)
		b.qboDelete(t, "Invoice", q0)
		cur, _ := b.realm.Get("Invoice", q1)
		b.qboVoid(t, "Invoice", cur)
		// Books voids the third itself: QuickBooks' void is Books' own.
		_, err := billing.VoidInvoice(b.ctx, b.client, invs[2].ID, "duplicate")
		require.NoError(t, err)
		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		require.NoError(t, b.engine.Changed(b.ctx, tx.Client(), qbolink.RecordTypeInvoice, invs[2].ID))
		require.NoError(t, tx.Commit())
		require.Eventually(t, func() bool {
			v, _ := b.realm.Get("Invoice", q2)
			return v["PrivateNote"] == "Voided"
		}, 30*time.Second, 20*time.Millisecond)
		b.settle(t)

		items := b.openItems(t)
		require.Len(t, items, 2)
		for _, it := range items {
			require.Equal(t, reconciliationitem.KindRemoteDelete, it.Kind)
			require.Contains(t, []string{q0, q1}, it.QboID)
		}
		l0 := b.link(t, invs[0].ID)
		require.Equal(t, qbolink.StatusDeletedRemotely, l0.Status)

		// A change in Books does not bring it back on its own.
		tx, err = b.client.Tx(b.ctx)
		require.NoError(t, err)
		require.NoError(t, b.engine.Changed(b.ctx, tx.Client(), qbolink.RecordTypeInvoice, invs[0].ID))
		require.NoError(t, tx.Commit())
		require.Equal(t, qbolink.StatusDeletedRemotely, b.link(t, invs[0].ID).Status)

		// A person pushes one again (a new QuickBooks invoice) and unlinks the other.
		tx, err = b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.engine.Push(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypeInvoice, []string{invs[0].ID})
		require.NoError(t, err)
		_, err = b.engine.Unlink(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypeInvoice, invs[1].ID)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.Eventually(t, func() bool {
			l := b.link(t, invs[0].ID)
			return l.Status == qbolink.StatusSynced && *l.QboID != q0
		}, 30*time.Second, 20*time.Millisecond)
		b.settle(t)
		require.Empty(t, b.openItems(t))
		require.Equal(t, reconciliationitem.StatusDismissed, b.recItem(t, "Invoice", q0).Status)
		require.Equal(t, reconciliationitem.StatusDismissed, b.recItem(t, "Invoice", q1).Status)
	})
}

func (b *testBundle) link(t *testing.T, recordID string) *ent.QBOLink {
	t.Helper()
	l, err := b.client.QBOLink.Query().Where(qbolink.RecordID(recordID)).Only(b.ctx)
	require.NoError(t, err)
	return l
}

func TestPollerRecoversLostWebhooksAndOldWatermarks(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Poll", "100.00", "40.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		require.NoError(t, b.srv.InjectFault(qbotestDropAll()))
		p1 := b.qboPay(t, cq, "100.00", "", map[string]string{b.qboID(t, qbolink.RecordTypeInvoice, invs[0].ID): "100.00"})
		b.settle(t)
		require.Empty(t, b.qboPayments(t, p1["Id"].(string)), "the webhook was lost")
		b.poll(t)
		require.Len(t, b.qboPayments(t, p1["Id"].(string)), 1, "the pass recovers it")
		row, err := b.client.QBOConnection.Get(b.ctx, b.row.ID)
		require.NoError(t, err)
		require.NotNil(t, row.PolledThrough)
		b.poll(t)
		require.Len(t, b.qboPayments(t, p1["Id"].(string)), 1, "a second pass records nothing twice")

		// A watermark older than CDC's 30 days: the pass reads by LastUpdatedTime instead.
		p2 := b.qboPay(t, cq, "40.00", "", map[string]string{b.qboID(t, qbolink.RecordTypeInvoice, invs[1].ID): "40.00"})
		_, err = b.client.QBOConnection.UpdateOneID(b.row.ID).SetPolledThrough(time.Now().Add(-40 * 24 * time.Hour)).Save(b.ctx)
		require.NoError(t, err)
		b.poll(t)
		require.Len(t, b.qboPayments(t, p2["Id"].(string)), 1)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, invs[1].ID).Status)
	})
}

func TestUnknownRealmIsKeptThenAdopted(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		sys := tenant.System(context.Background())
		st, err := b.puller.Store(context.Background(), b.client, []pull.Notification{{
			Source: qboinboxevent.SourceLegacy, Key: pull.ChangeKey("999", "Payment", "1", "Create", "t"),
			RealmID: "999", Entity: "Payment", ID: "1", Operation: "Create"}})
		require.NoError(t, err)
		require.Equal(t, 1, st.UnknownRealm)
		ev, err := b.client.QBOInboxEvent.Query().Where(qboinboxevent.RealmID("999")).Only(sys)
		require.NoError(t, err)
		require.Equal(t, qboinboxevent.StatusUnknownRealm, ev.Status)
		require.Nil(t, ev.OrganizationID)

		// A notification kept for the test's company before it was connected is adopted by
		// the next pass and processed.
		ev, err = b.client.QBOInboxEvent.Create().SetID("qbin_early").SetDedupeKey("early").SetRealmID(b.realm.ID()).
			SetSource(qboinboxevent.SourceCloudevents).SetQboType("Payment").SetQboID("1").SetOperation("Create").
			SetStatus(qboinboxevent.StatusUnknownRealm).Save(sys)
		require.NoError(t, err)
		b.poll(t)
		ev, err = b.client.QBOInboxEvent.Get(sys, ev.ID)
		require.NoError(t, err)
		require.Equal(t, b.org, *ev.OrganizationID)
		require.Equal(t, qboinboxevent.StatusProcessed, ev.Status)
	})
}

func TestPersonMatchStandsAndDeferredItemsComeBack(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus, invs := b.pushed(t, "Match", "100.00", "20.00")
		cq := b.qboID(t, qbolink.RecordTypeCustomer, cus.ID)
		qp := b.qboPay(t, cq, "120.00", "CHK-77", nil)
		other := b.qboPay(t, cq, "9.00", "CHK-78", nil)
		b.settle(t)
		it := b.recItem(t, "Payment", qp["Id"].(string))
		require.Equal(t, reconciliationitem.KindUnmatchedPayment, it.Kind)

		match := func(apps []billing.Application) (*ent.ReconciliationItem, *ent.Payment, error) {
			tx, err := b.client.Tx(b.ctx)
			require.NoError(t, err)
			got, p, err := b.puller.Match(b.ctx, tx.Client(), it.ID, apps, "")
			if err != nil {
				require.NoError(t, tx.Rollback())
				return nil, nil, err
			}
			require.NoError(t, tx.Commit())
			return got, p, nil
		}
		apps := []billing.Application{{InvoiceID: invs[0].ID, Amount: money.MustParse("100.00")},
			{InvoiceID: invs[1].ID, Amount: money.MustParse("20.00")}}
		got, paid, err := match(apps)
		require.NoError(t, err)
		require.Equal(t, reconciliationitem.StatusMatched, got.Status)
		require.Equal(t, "alice", got.ResolvedBy)
		again, paid2, err := match(apps)
		require.NoError(t, err, "the same match again is a no-op")
		require.Equal(t, paid.ID, paid2.ID)
		require.Equal(t, got.ID, again.ID)
		_, _, err = match(apps[:1])
		require.Error(t, err, "another match of a matched item is refused")
		require.Len(t, b.qboPayments(t, qp["Id"].(string)), 1)

		// QuickBooks announces the payment again (a memo edit): the person's match stands.
		b.qboUpdate(t, "Payment", qp["Id"].(string), map[string]any{"PrivateNote": "seen by the bank"})
		b.settle(t)
		b.poll(t)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, invs[0].ID).Status)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, invs[1].ID).Status)
		require.Len(t, b.qboPayments(t, qp["Id"].(string)), 1)

		// Deferred: the next pass reads it again, and it opens again.
		oi := b.recItem(t, "Payment", other["Id"].(string))
		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.puller.Queue.Defer(b.ctx, tx.Client(), oi.ID, "ask the bank")
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.Equal(t, reconciliationitem.StatusDeferred, b.recItem(t, "Payment", other["Id"].(string)).Status)
		b.poll(t)
		require.Equal(t, reconciliationitem.StatusOpen, b.recItem(t, "Payment", other["Id"].(string)).Status)

		// A void of the matched payment in QuickBooks voids it in Books.
		b.qboVoid(t, "Payment", qp)
		b.settle(t)
		p, err := b.client.Payment.Get(b.ctx, paid.ID)
		require.NoError(t, err)
		require.NotNil(t, p.VoidedAt)
		require.Equal(t, "100.00", b.invoice(t, invs[0].ID).Balance.String())
	})
}
