package push_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qbolink"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/dbtest"
	"books/internal/money"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
)

// bearerEngine is setup's engine: a fixed access token, no limiter, no runner, and a drain
// that fails at its first transient fault, as one whose worker is killed there.
func bearerEngine(b *testBundle, token string) *push.Engine {
	return &push.Engine{Store: b.store, Retries: -1, HTTPClient: func(context.Context, *ent.QBOConnection) (*http.Client, error) {
		return &http.Client{Transport: bearer{token}, Timeout: 5 * time.Second}, nil
	}}
}

// A group of creates of one record type can hold two QuickBooks types: a credit memo's part
// 0 (CreditMemo) and another memo's part 1 (the Payment applying it). The lookup before
// create searches only the first create's type by the first create's key, so a create of the
// other type whose answer was lost is not found, and is created again.
func TestMixedCreditMemoGroupLostCreateFoundOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			tb := setupJobs(t, d)
			b := tb.testBundle
			tok := b.srv.IssueTokens(b.realm.ID())
			b.engine = bearerEngine(b, tok.AccessToken)
			cus := b.newCustomer(t, "Acme", true)
			inv := b.approvedInvoice(t, cus, "500.00")
			b.push(t, qbolink.RecordTypeInvoice, inv.ID)
			require.NoError(t, b.drain(t))
			memo := func(amount string) string {
				cm, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: cus.ID,
					Amount: money.MustParse(amount), Date: caldate.MustParse("2026-11-05"), Reason: "goodwill",
					Applications: []billing.Application{{InvoiceID: inv.ID, Amount: money.MustParse(amount)}}})
				require.NoError(t, err)
				return cm.ID
			}
			a, bm := memo("50.00"), memo("30.00")

			// Memo A goes; the Payment applying it fails with a 500 (nothing written).
			b.push(t, qbolink.RecordTypeCreditMemo, a)
			require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "payment", Kind: qbotest.FaultServerError, Count: 1}))
			require.Error(t, b.drain(t))
			require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeCreditMemo, a, 0).Status)
			require.Equal(t, qbolink.StatusPending, b.link(t, qbolink.RecordTypeCreditMemo, a, 1).Status)

			// Memo B is asked for: A's application (Payment) and B (CreditMemo) go in one batch,
			// which QuickBooks commits but whose answer is lost.
			b.push(t, qbolink.RecordTypeCreditMemo, bm)
			require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: 10}))
			require.Error(t, b.drain(t))
			require.Len(t, b.realm.List("CreditMemo"), 2, "the lost batch created memo B")

			for i := 0; i < 5; i++ {
				if err := b.drain(t); err == nil {
					break
				}
			}
			bl := b.link(t, qbolink.RecordTypeCreditMemo, bm, 0)
			require.Equal(t, qbolink.StatusSynced, bl.Status, "%s: %s", bl.LastErrorCode, bl.LastError)
			require.Len(t, b.realm.List("CreditMemo"), 2, "memo B is in QuickBooks once")
			require.Len(t, b.realm.List("Payment"), 2, "one credit application per memo")
		})
	}
}

// verifyInvoices checks the invoices a drain touched; the set lives in the drain's memory,
// so when the drain fails after settling a payment (here: the verification's own query
// fails once), the next drain finds nothing pending and no invoice is ever verified: the
// link keeps the balance QuickBooks had at creation, and a real difference would raise no
// QBO_AMOUNT_MISMATCH.
func TestVerificationSurvivesARetriedDrain(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			tb := setupJobs(t, d)
			b := tb.testBundle
			tok := b.srv.IssueTokens(b.realm.ID())
			b.engine = bearerEngine(b, tok.AccessToken)
			cus := b.newCustomer(t, "Acme", true)
			inv := b.approvedInvoice(t, cus, "1000.00", "250.50")
			b.pay(t, inv, "400.00")
			failed := false
			tb.calls.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				q := strings.ToLower(r.URL.Query().Get("query"))
				if !failed && strings.Contains(q, "from invoice where id in") {
					failed = true
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte(`{"Fault":{"Error":[{"Message":"An application error has occurred","Detail":"injected","code":"10000"}],"type":"SystemFault"}}`))
					return true
				}
				return false
			})
			b.push(t, qbolink.RecordTypeInvoice, inv.ID)
			require.Error(t, b.drain(t), "the verification's query failed")
			require.True(t, failed)
			require.NoError(t, b.drain(t))
			il := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
			q, ok := b.realm.Get("Invoice", *il.QboID)
			require.True(t, ok)
			requireAmount(t, "850.50", q["Balance"])
			require.NotNil(t, il.QboBalance)
			require.Equal(t, "850.50", il.QboBalance.String(), "the invoice was verified after the payment")
		})
	}
}
