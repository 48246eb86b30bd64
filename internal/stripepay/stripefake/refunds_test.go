package stripefake_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"books/internal/stripepay/stripefake"
)

func TestRefunds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	chID := b.paidCharge(t, 10_000)

	partial := &stripe.RefundParams{Charge: stripe.String(chID), Amount: stripe.Int64(3_000), Reason: stripe.String("requested_by_customer")}
	partial.AddMetadata("credit_note_id", "cn_1")
	partial.SetIdempotencyKey("refund-cn_1")
	re1, err := b.sc.Refunds.New(partial)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(re1.ID, "re_"))
	require.Equal(t, stripe.RefundStatusSucceeded, re1.Status)
	require.Equal(t, int64(3_000), re1.Amount)
	require.Equal(t, chID, re1.Charge.ID)
	require.Equal(t, "cn_1", re1.Metadata["credit_note_id"])
	require.Equal(t, stripe.RefundReasonRequestedByCustomer, re1.Reason)

	// A retry of the same refund does not refund twice.
	again, err := b.sc.Refunds.New(partial)
	require.NoError(t, err)
	require.Equal(t, re1.ID, again.ID)

	_, err = b.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID), Amount: stripe.Int64(8_000)})
	stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeAmountTooLarge)

	// The rest, by PaymentIntent.
	ch, err := b.sc.Charges.Get(chID, nil)
	require.NoError(t, err)
	re2, err := b.sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(ch.PaymentIntent.ID)})
	require.NoError(t, err)
	require.Equal(t, int64(7_000), re2.Amount)
	require.Equal(t, chID, re2.Charge.ID)

	_, err = b.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID), Amount: stripe.Int64(1)})
	stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeChargeAlreadyRefunded)

	b.flush(t)
	refunded := ofType(b.hook.received(), "charge.refunded")
	require.Len(t, refunded, 2)
	first := decode[stripe.Charge](t, refunded[0].Data.Raw)
	require.Equal(t, int64(3_000), first.AmountRefunded)
	require.False(t, first.Refunded)
	require.EqualValues(t, 0, refunded[0].Data.PreviousAttributes["amount_refunded"])
	require.NotContains(t, refunded[0].Data.PreviousAttributes, "refunded")
	second := decode[stripe.Charge](t, refunded[1].Data.Raw)
	require.Equal(t, int64(10_000), second.AmountRefunded)
	require.True(t, second.Refunded)
	require.EqualValues(t, 3_000, refunded[1].Data.PreviousAttributes["amount_refunded"])
	require.Equal(t, false, refunded[1].Data.PreviousAttributes["refunded"])
	created := ofType(b.hook.received(), "refund.created")
	require.Len(t, created, 2)
	require.Equal(t, re1.ID, decode[stripe.Refund](t, created[0].Data.Raw).ID)

	t.Run("List", func(t *testing.T) {
		var ids []string
		it := b.sc.Refunds.List(&stripe.RefundListParams{Charge: stripe.String(chID)})
		for it.Next() {
			ids = append(ids, it.Refund().ID)
		}
		require.NoError(t, it.Err())
		require.Equal(t, []string{re2.ID, re1.ID}, ids, "newest first")

		params := &stripe.RefundListParams{PaymentIntent: stripe.String(ch.PaymentIntent.ID)}
		params.Limit = stripe.Int64(1)
		page := b.sc.Refunds.List(params)
		require.True(t, page.Next())
		require.Equal(t, re2.ID, page.Refund().ID)
		require.True(t, page.RefundList().HasMore)
		require.Equal(t, "/v1/refunds", page.RefundList().URL)
	})
	t.Run("ExpandOnCharge", func(t *testing.T) {
		p := &stripe.ChargeParams{}
		p.AddExpand("refunds")
		got, err := b.sc.Charges.Get(chID, p)
		require.NoError(t, err)
		require.Len(t, got.Refunds.Data, 2)
		require.Equal(t, re2.ID, got.Refunds.Data[0].ID)
		require.True(t, got.Refunded)
	})
	t.Run("Validation", func(t *testing.T) {
		_, err := b.sc.Refunds.New(&stripe.RefundParams{})
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeParameterMissing)
		_, err = b.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String("ch_missing")})
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeResourceMissing)
		_, err = b.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID), Reason: stripe.String("changed_mind")})
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, "")
		unpaid := b.newPI(t, 100)
		_, err = b.sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(unpaid.ID)})
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeChargeNotRefundable)
	})
}

func TestDashboardRefund(t *testing.T) {
	t.Parallel()
	b := setup(t)
	chID := b.paidCharge(t, 6_000)

	reID, err := b.fake.Refund(chID, 1_000)
	require.NoError(t, err)
	rest, err := b.fake.Refund(chID, 0)
	require.NoError(t, err)
	_, err = b.fake.Refund(chID, 0)
	var fe *stripefake.Error
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "charge_already_refunded", fe.Code)
	_, err = b.fake.Refund("ch_missing", 0)
	require.Error(t, err)

	b.flush(t)
	created := ofType(b.hook.received(), "refund.created")
	require.Len(t, created, 2)
	re := decode[stripe.Refund](t, created[0].Data.Raw)
	require.Equal(t, reID, re.ID)
	require.Empty(t, re.Metadata)
	require.Empty(t, re.Reason)
	require.Equal(t, int64(5_000), decode[stripe.Refund](t, created[1].Data.Raw).Amount)
	require.Equal(t, rest, decode[stripe.Refund](t, created[1].Data.Raw).ID)

	p := &stripe.RefundParams{}
	p.AddExpand("balance_transaction")
	got, err := b.sc.Refunds.Get(reID, p)
	require.NoError(t, err)
	require.Equal(t, int64(-1_000), got.BalanceTransaction.Amount)
	require.Equal(t, stripe.BalanceTransactionTypeRefund, got.BalanceTransaction.Type)
}

func TestDisputes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		won        bool
		wantStatus stripe.DisputeStatus
		wantEvents []string
	}{
		{name: "Lost", won: false, wantStatus: stripe.DisputeStatusLost, wantEvents: []string{"charge.dispute.closed"}},
		{name: "Won", won: true, wantStatus: stripe.DisputeStatusWon, wantEvents: []string{"charge.dispute.closed", "charge.dispute.funds_reinstated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			chID := b.paidCharge(t, 25_000)
			dpID, err := b.fake.Dispute(chID)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(dpID, "dp_"))

			ch, err := b.sc.Charges.Get(chID, nil)
			require.NoError(t, err)
			require.True(t, ch.Disputed)
			_, err = b.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID)})
			stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeChargeDisputed)
			_, err = b.fake.Dispute(chID)
			require.Error(t, err)

			require.NoError(t, b.fake.CloseDispute(dpID, tt.won))
			require.Error(t, b.fake.CloseDispute(dpID, tt.won), "already closed")

			b.flush(t)
			got := ofType(b.hook.received(), "charge.dispute.created")
			require.Len(t, got, 1)
			opened := decode[stripe.Dispute](t, got[0].Data.Raw)
			require.Equal(t, dpID, opened.ID)
			require.Equal(t, stripe.DisputeStatusNeedsResponse, opened.Status)
			require.Equal(t, stripe.DisputeReasonFraudulent, opened.Reason)
			require.Equal(t, int64(25_000), opened.Amount)
			require.Equal(t, chID, opened.Charge.ID)
			require.Equal(t, ch.PaymentIntent.ID, opened.PaymentIntent.ID)
			require.Len(t, opened.BalanceTransactions, 1)
			require.Equal(t, int64(-25_000), opened.BalanceTransactions[0].Amount)
			require.Equal(t, int64(1_500), opened.BalanceTransactions[0].Fee)

			var tail []string
			for _, ev := range b.hook.received() {
				if strings.HasPrefix(string(ev.Type), "charge.dispute.") && ev.Type != "charge.dispute.created" && ev.Type != "charge.dispute.funds_withdrawn" {
					tail = append(tail, string(ev.Type))
				}
			}
			require.Equal(t, tt.wantEvents, tail)
			closed := decode[stripe.Dispute](t, ofType(b.hook.received(), "charge.dispute.closed")[0].Data.Raw)
			require.Equal(t, tt.wantStatus, closed.Status)

			fetched, err := b.sc.Disputes.Get(dpID, nil)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, fetched.Status)
		})
	}
}
