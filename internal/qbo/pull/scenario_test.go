package pull_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/qbo/pull"
	"books/internal/qbo/qbotest"
)

// TestQuickBooksUserScenario is the scenario: 100 invoices pushed; in QuickBooks a
// user records 80 full and 15 partial payments and 5 payments for no known invoice, voids 3
// payments and deletes 2 invoices, while the emulator drops 30% of webhooks and duplicates
// 10%. After the next polling pass Books matches QuickBooks exactly (every payment once,
// every balance to the cent) and the queue holds exactly the 5 unmatched payments and the 2
// remote deletes.
func TestQuickBooksUserScenario(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d, qbotest.WebhookBatch(10, 20*time.Millisecond))
		var customers []*ent.Customer
		for i := range 10 {
			customers = append(customers, b.newCustomer(t, fmt.Sprintf("Client %02d", i)))
		}
		var invs []*ent.Invoice
		for i := range 100 {
			invs = append(invs, b.approvedInvoice(t, customers[i%10], fmt.Sprintf("%d.%02d", 100+i*7, i%100)))
		}
		b.pushAll(t, invs)
		b.settle(t)
		require.Empty(t, b.openItems(t), "Books' own pushes raise nothing")

		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultDropWebhook, Probability: 0.3, Seed: 11}))
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultDuplicateWebhook, Probability: 0.1, Seed: 12}))

		cusQBO := map[string]string{}
		for _, c := range customers {
			cusQBO[c.ID] = b.qboID(t, qbolink.RecordTypeCustomer, c.ID)
		}
		invQBO := map[string]string{}
		for _, inv := range invs {
			invQBO[inv.ID] = b.qboID(t, qbolink.RecordTypeInvoice, inv.ID)
		}
		var full []map[string]any
		for _, inv := range invs[:80] {
			full = append(full, b.qboPay(t, cusQBO[inv.CustomerID], inv.Total.String(), "",
				map[string]string{invQBO[inv.ID]: inv.Total.String()}))
		}
		for _, inv := range invs[80:95] {
			half := inv.Total.Units() / 2 / 100 * 100
			amt := fmt.Sprintf("%d.%02d", half/10000, half%10000/100)
			b.qboPay(t, cusQBO[inv.CustomerID], amt, "PARTIAL-"+inv.ID, map[string]string{invQBO[inv.ID]: amt})
		}
		var unmatched []map[string]any
		for i := range 5 {
			unmatched = append(unmatched, b.qboPay(t, cusQBO[customers[i].ID], fmt.Sprintf("%d.00", 40+i), fmt.Sprintf("CHK-%d", i), nil))
		}
		// Void three payments Books has already recorded (their webhooks got through), so the
		// void reverses a recorded payment; the others were voided before Books saw them.
		b.settle(t)
		var toVoid []map[string]any
		for _, p := range full {
			if len(toVoid) == 3 {
				break
			}
			n, err := b.client.Payment.Query().Where(payment.ExternalRef(pull.ExternalRef(b.realm.ID(), p["Id"].(string)))).Count(b.ctx)
			require.NoError(t, err)
			if n == 1 {
				toVoid = append(toVoid, p)
			}
		}
		require.Len(t, toVoid, 3)
		for _, p := range toVoid {
			b.qboVoid(t, "Payment", p)
		}
		deleted := []*ent.Invoice{invs[95], invs[96]}
		for _, inv := range deleted {
			b.qboDelete(t, "Invoice", invQBO[inv.ID])
		}

		b.settle(t)
		stats := b.srv.WebhookStats()
		require.Positive(t, stats.Dropped, "the emulator dropped webhooks")
		require.Greater(t, stats.Queued, stats.Dropped, "and duplicated some")
		b.poll(t)

		// Every QuickBooks payment is one Books payment; the voided ones are voided in Books.
		voided := map[string]bool{}
		for _, p := range toVoid {
			voided[p["Id"].(string)] = true
		}
		booksPays, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorQbo)).All(b.ctx)
		require.NoError(t, err)
		byRef := map[string]*ent.Payment{}
		for _, p := range booksPays {
			id, ok := strings.CutPrefix(p.ExternalRef, b.realm.ID()+":")
			require.True(t, ok, "external reference %q names the company", p.ExternalRef)
			require.Nil(t, byRef[id], "QuickBooks payment %s recorded twice", id)
			byRef[id] = p
		}
		for _, qp := range b.realm.Payments() {
			id := qp["Id"].(string)
			p := byRef[id]
			switch {
			case voided[id]:
				require.NotNil(t, p, "payment %s was recorded before its void", id)
				require.NotNil(t, p.VoidedAt, "payment %s voided in QuickBooks is voided in Books", id)
				require.True(t, p.Applied.IsZero())
				require.True(t, p.Unapplied.IsZero())
			case len(lines(qp)) == 0:
				require.Nil(t, p, "unmatched QuickBooks payment %s is not recorded", id)
			default:
				require.NotNil(t, p, "QuickBooks payment %s is recorded", id)
				require.Nil(t, p.VoidedAt)
				require.Equal(t, cents(t, qp["TotalAmt"]), p.Amount.Units()/100, "payment %s amount", id)
			}
		}
		live := 0
		for _, p := range booksPays {
			if p.VoidedAt == nil {
				live++
			}
		}
		require.Equal(t, 92, live, "80 full and 15 partial payments, less the 3 voided")

		// Every invoice QuickBooks still has carries the same balance in Books.
		for _, inv := range invs {
			cur, err := b.client.Invoice.Get(b.ctx, inv.ID)
			require.NoError(t, err)
			q, ok := b.realm.Get("Invoice", invQBO[inv.ID])
			if !ok {
				require.Contains(t, deleted, inv)
				require.Equal(t, invoice.StatusApproved, cur.Status)
				continue
			}
			require.Equal(t, cents(t, q["Balance"]), cur.Balance.Units()/100, "invoice %s balance", inv.ID)
			switch {
			case cur.Balance.IsZero():
				require.Equal(t, invoice.StatusPaid, cur.Status)
			case cur.AmountPaid.IsPositive():
				require.Equal(t, invoice.StatusPartiallyPaid, cur.Status)
			}
		}

		// The queue: the 5 unmatched payments and the 2 remote deletes, nothing else.
		items := b.openItems(t)
		kinds := map[reconciliationitem.Kind][]string{}
		for _, it := range items {
			kinds[it.Kind] = append(kinds[it.Kind], it.QboID)
		}
		require.Len(t, items, 7, "open items: %v", kinds)
		var wantUnmatched []string
		for _, p := range unmatched {
			wantUnmatched = append(wantUnmatched, p["Id"].(string))
		}
		require.ElementsMatch(t, wantUnmatched, kinds[reconciliationitem.KindUnmatchedPayment])
		require.ElementsMatch(t, []string{invQBO[deleted[0].ID], invQBO[deleted[1].ID]}, kinds[reconciliationitem.KindRemoteDelete])
		for _, inv := range deleted {
			l, err := b.client.QBOLink.Query().Where(qbolink.RecordID(inv.ID)).Only(b.ctx)
			require.NoError(t, err)
			require.Equal(t, qbolink.StatusDeletedRemotely, l.Status)
		}
	})
}

func lines(o map[string]any) []any {
	l, _ := o["Line"].([]any)
	return l
}
