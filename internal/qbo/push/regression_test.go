package push_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qbolink"
	"books/internal/apperr"
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

// The drain looks a group up while the group before it is still being recorded. A create
// whose look-up finds a record that group just created must see that group's claim: the
// second customer with a first one's email is a person's decision (QBO_AMBIGUOUS_MATCH, as
// when both were pushed one drain apart), never a constraint error or a second link to it.
func TestMatchWaitsForTheGroupBeforeToBeRecorded(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		before := len(b.realm.Customers())
		var first []string
		for i := 0; i < 30; i++ {
			email := fmt.Sprintf("ap%02d@example.com", i)
			cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: fmt.Sprintf("First %02d", i),
				DisplayName: fmt.Sprintf("First %02d", i), Currency: "USD", Email: &email})
			require.NoError(t, err)
			first = append(first, cus.ID)
		}
		b.push(t, qbolink.RecordTypeCustomer, first...)
		time.Sleep(2 * time.Millisecond) // the second group's link id sorts after the first's
		email := "ap17@example.com"
		second, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: "Second", DisplayName: "Second",
			Currency: "USD", Email: &email})
		require.NoError(t, err)
		b.push(t, qbolink.RecordTypeCustomer, second.ID)

		require.NoError(t, b.drain(t))
		for _, id := range first {
			require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeCustomer, id, 0).Status)
		}
		l := b.link(t, qbolink.RecordTypeCustomer, second.ID, 0)
		require.Equal(t, qbolink.StatusError, l.Status)
		require.Equal(t, apperr.QBOAmbiguousMatch, l.LastErrorCode, l.LastError)
		require.Contains(t, l.LastError, "already linked")
		require.Len(t, b.realm.Customers(), before+30, "the first thirty; nothing created for the second")
	})
}
