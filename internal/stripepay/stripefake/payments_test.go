package stripefake_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"books/internal/stripepay/stripefake"
)

func TestAPIVersionMatchesStripeGo(t *testing.T) {
	t.Parallel()
	require.Equal(t, stripe.APIVersion, stripefake.APIVersion)
}

func TestCardPayment(t *testing.T) {
	t.Parallel()
	b := setup(t)

	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(12_345),
		Currency:           stripe.String("usd"),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Description:        stripe.String("Invoice INV-1"),
	}
	params.AddMetadata("entity_id", "ent_1")
	params.AddMetadata("invoice_id", "inv_1")
	params.SetIdempotencyKey("invoice-inv_1-attempt-1")
	pi, err := b.sc.PaymentIntents.New(params)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(pi.ID, "pi_"))
	require.Len(t, pi.ID, 3+24)
	require.Equal(t, stripe.PaymentIntentStatusRequiresPaymentMethod, pi.Status)
	require.True(t, strings.HasPrefix(pi.ClientSecret, pi.ID+"_secret_"))
	require.Equal(t, map[string]string{"entity_id": "ent_1", "invoice_id": "inv_1"}, pi.Metadata)
	require.Equal(t, []string{"card"}, pi.PaymentMethodTypes)

	t.Run("SameKeySameParams", func(t *testing.T) {
		again, err := b.sc.PaymentIntents.New(params)
		require.NoError(t, err)
		require.Equal(t, pi.ID, again.ID)
		require.Equal(t, pi.ClientSecret, again.ClientSecret)
		require.Equal(t, "true", again.LastResponse.Header.Get("Idempotent-Replayed"))
	})
	t.Run("SameKeyOtherParams", func(t *testing.T) {
		other := &stripe.PaymentIntentParams{Amount: stripe.Int64(999), Currency: stripe.String("usd")}
		other.SetIdempotencyKey("invoice-inv_1-attempt-1")
		_, err := b.sc.PaymentIntents.New(other)
		se := stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeIdempotency, "")
		var ie *stripe.IdempotencyError
		require.ErrorAs(t, se.Err, &ie)
	})

	pi, err = b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	require.NoError(t, err)
	require.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)
	require.Equal(t, int64(12_345), pi.AmountReceived)
	require.True(t, strings.HasPrefix(pi.LatestCharge.ID, "ch_"))
	require.True(t, strings.HasPrefix(pi.PaymentMethod.ID, "pm_"))

	b.flush(t)
	got := b.hook.received()
	require.Equal(t, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}, types(got))
	for _, ev := range got {
		require.Equal(t, stripe.APIVersion, ev.APIVersion)
		require.False(t, ev.Livemode)
		require.Equal(t, int64(1), ev.PendingWebhooks)
	}

	ch := decode[stripe.Charge](t, got[1].Data.Raw)
	require.Equal(t, pi.LatestCharge.ID, ch.ID)
	require.Equal(t, stripe.ChargeStatusSucceeded, ch.Status)
	require.True(t, ch.Paid)
	require.True(t, ch.Captured)
	require.Equal(t, int64(12_345), ch.Amount)
	require.Equal(t, int64(12_345), ch.AmountCaptured)
	require.Zero(t, ch.AmountRefunded)
	require.False(t, ch.Refunded)
	require.Equal(t, stripe.CurrencyUSD, ch.Currency)
	require.Equal(t, pi.ID, ch.PaymentIntent.ID)
	require.Empty(t, ch.Metadata, "Stripe does not copy PaymentIntent metadata to the charge")
	require.NotNil(t, ch.Metadata)
	require.Nil(t, ch.Invoice)
	require.Nil(t, ch.Refunds, "API 2023-10-16 does not embed refunds")
	require.Equal(t, stripe.ChargePaymentMethodDetailsType("card"), ch.PaymentMethodDetails.Type)
	require.Equal(t, "4242", ch.PaymentMethodDetails.Card.Last4)
	require.True(t, strings.HasPrefix(ch.BalanceTransaction.ID, "txn_"))
	require.Equal(t, "Invoice INV-1", ch.Description)

	evPI := decode[stripe.PaymentIntent](t, got[2].Data.Raw)
	require.Equal(t, stripe.PaymentIntentStatusSucceeded, evPI.Status)
	require.Equal(t, ch.ID, evPI.LatestCharge.ID)
	require.Equal(t, "ent_1", evPI.Metadata["entity_id"])

	// The event holds a snapshot: payment_intent.created still shows the
	// PaymentIntent as it was.
	created := decode[stripe.PaymentIntent](t, got[0].Data.Raw)
	require.Equal(t, stripe.PaymentIntentStatusRequiresPaymentMethod, created.Status)
	require.Nil(t, created.LatestCharge)

	t.Run("ChargeWithBalanceTransaction", func(t *testing.T) {
		p := &stripe.ChargeParams{}
		p.AddExpand("balance_transaction")
		c, err := b.sc.Charges.Get(ch.ID, p)
		require.NoError(t, err)
		txn := c.BalanceTransaction
		require.Equal(t, int64(12_345), txn.Amount)
		require.Equal(t, int64(358+30), txn.Fee) // 2.9% of 123.45 rounds to 3.58
		require.Equal(t, txn.Amount-txn.Fee, txn.Net)
		require.Equal(t, ch.ID, txn.Source.ID)
		require.Equal(t, stripe.BalanceTransactionStatusPending, txn.Status)
	})
	t.Run("ExpandLatestCharge", func(t *testing.T) {
		p := &stripe.PaymentIntentParams{}
		p.AddExpand("latest_charge.balance_transaction")
		got, err := b.sc.PaymentIntents.Get(pi.ID, p)
		require.NoError(t, err)
		require.Equal(t, int64(12_345), got.LatestCharge.Amount)
		require.Equal(t, int64(388), got.LatestCharge.BalanceTransaction.Fee)
	})
	t.Run("ConfirmAgain", func(t *testing.T) {
		_, err := b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentUnexpectedState)
	})
	t.Run("GoHelperView", func(t *testing.T) {
		raw, ok := b.fake.PaymentIntent(pi.ID)
		require.True(t, ok)
		require.Equal(t, stripe.PaymentIntentStatusSucceeded, decode[stripe.PaymentIntent](t, raw).Status)
		_, ok = b.fake.PaymentIntent("pi_missing")
		require.False(t, ok)
	})
}

func TestDeclinedCard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pi := b.newPI(t, 5_000)

	_, err := b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_chargeDeclined")})
	se := stripeErr(t, err, http.StatusPaymentRequired, stripe.ErrorTypeCard, stripe.ErrorCodeCardDeclined)
	require.Equal(t, "Your card was declined.", se.Msg)
	require.Equal(t, stripe.DeclineCodeGenericDecline, se.DeclineCode)
	require.Equal(t, pi.ID, se.PaymentIntent.ID)
	require.Equal(t, stripe.PaymentIntentStatusRequiresPaymentMethod, se.PaymentIntent.Status)
	require.True(t, strings.HasPrefix(se.ChargeID, "ch_"))

	b.flush(t)
	got := b.hook.received()
	require.Equal(t, []string{"payment_intent.created", "charge.failed", "payment_intent.payment_failed"}, types(got))
	failed := decode[stripe.PaymentIntent](t, got[2].Data.Raw)
	require.Equal(t, stripe.PaymentIntentStatusRequiresPaymentMethod, failed.Status)
	require.Equal(t, stripe.ErrorCodeCardDeclined, failed.LastPaymentError.Code)
	require.Equal(t, "Your card was declined.", failed.LastPaymentError.Msg)
	require.Equal(t, stripe.PaymentMethodTypeCard, failed.LastPaymentError.PaymentMethod.Type)
	ch := decode[stripe.Charge](t, got[1].Data.Raw)
	require.Equal(t, stripe.ChargeStatusFailed, ch.Status)
	require.False(t, ch.Paid)
	require.Equal(t, "card_declined", ch.FailureCode)

	// The customer tries another card.
	pi, err = b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	require.NoError(t, err)
	require.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)
	require.Nil(t, pi.LastPaymentError)
}

func TestACHPayment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		finish     func(f *stripefake.Server, piID string) error
		wantEvents []string
		wantStatus stripe.PaymentIntentStatus
	}{
		{
			name:       "Settled",
			finish:     func(f *stripefake.Server, id string) error { return f.SettleACH(id) },
			wantEvents: []string{"charge.succeeded", "payment_intent.succeeded"},
			wantStatus: stripe.PaymentIntentStatusSucceeded,
		},
		{
			name: "Failed",
			finish: func(f *stripefake.Server, id string) error {
				return f.FailACH(id, "The account has insufficient funds.")
			},
			wantEvents: []string{"charge.failed", "payment_intent.payment_failed"},
			wantStatus: stripe.PaymentIntentStatusRequiresPaymentMethod,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			pi := b.newPI(t, 80_000, "card", "us_bank_account")
			require.NoError(t, b.fake.Confirm(pi.ID, "pm_usBankAccount"))

			pi, err := b.sc.PaymentIntents.Get(pi.ID, nil)
			require.NoError(t, err)
			require.Equal(t, stripe.PaymentIntentStatusProcessing, pi.Status)
			require.True(t, strings.HasPrefix(pi.LatestCharge.ID, "py_"))
			ch, err := b.sc.Charges.Get(pi.LatestCharge.ID, nil)
			require.NoError(t, err)
			require.Equal(t, stripe.ChargeStatusPending, ch.Status)
			require.Equal(t, stripe.ChargePaymentMethodDetailsType("us_bank_account"), ch.PaymentMethodDetails.Type)

			// Processing cannot be canceled or confirmed again.
			_, err = b.sc.PaymentIntents.Cancel(pi.ID, nil)
			stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentUnexpectedState)

			require.NoError(t, tt.finish(b.fake, pi.ID))
			b.flush(t)
			want := append([]string{"payment_intent.created", "charge.pending", "payment_intent.processing"}, tt.wantEvents...)
			got := b.hook.received()
			require.Equal(t, want, types(got))
			last := decode[stripe.PaymentIntent](t, got[len(got)-1].Data.Raw)
			require.Equal(t, tt.wantStatus, last.Status)

			// Finishing twice is refused.
			var fe *stripefake.Error
			require.ErrorAs(t, tt.finish(b.fake, pi.ID), &fe)
			require.Equal(t, "payment_intent_unexpected_state", fe.Code)
		})
	}

	t.Run("NotAllowed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		pi := b.newPI(t, 1_000) // card only
		_, err := b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_usBankAccount")})
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentIncompatiblePaymentMethod)
		require.Error(t, b.fake.SettleACH(pi.ID))
	})
}

func TestPublishableKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pi := b.newPI(t, 2_500)
	pk := newClient(b.url, publishableKey)

	t.Run("OtherEndpointsRefused", func(t *testing.T) {
		_, err := pk.PaymentIntents.Get(pi.ID, nil)
		stripeErr(t, err, http.StatusUnauthorized, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeSecretKeyRequired)
		_, err = pk.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(100), Currency: stripe.String("usd")})
		stripeErr(t, err, http.StatusUnauthorized, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeSecretKeyRequired)
		_, err = pk.Events.Get("evt_x", nil)
		stripeErr(t, err, http.StatusUnauthorized, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeSecretKeyRequired)
	})

	confirm := func(secret string) (*stripe.PaymentIntent, error) {
		p := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")}
		if secret != "" {
			p.AddExtra("client_secret", secret)
		}
		return pk.PaymentIntents.Confirm(pi.ID, p)
	}
	t.Run("ConfirmNeedsClientSecret", func(t *testing.T) {
		_, err := confirm("")
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeParameterMissing)
		_, err = confirm(pi.ID + "_secret_wrong")
		se := stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, "")
		require.Equal(t, "client_secret", se.Param)
	})
	t.Run("Confirm", func(t *testing.T) {
		got, err := confirm(pi.ClientSecret)
		require.NoError(t, err)
		require.Equal(t, stripe.PaymentIntentStatusSucceeded, got.Status)
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name        string
		key         string
		wantMessage string
	}{
		{name: "Missing", key: "", wantMessage: "You did not provide an API key"},
		{name: "Unknown", key: "sk_test_unknownkey9876", wantMessage: "Invalid API Key provided: " + strings.Repeat("*", 18) + "9876"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := b.raw(t, http.MethodGet, "/v1/events", tt.key, nil)
			require.Equal(t, http.StatusUnauthorized, status)
			e := body["error"].(map[string]any)
			require.Equal(t, "invalid_request_error", e["type"])
			require.Contains(t, e["message"], tt.wantMessage)
			if tt.key != "" {
				require.NotContains(t, e["message"], tt.key)
			}
		})
	}

	t.Run("BasicAuth", func(t *testing.T) {
		t.Parallel()
		req, err := http.NewRequest(http.MethodGet, b.url+"/v1/events", nil)
		require.NoError(t, err)
		req.SetBasicAuth(secretKey, "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("OtherAccountsObjects", func(t *testing.T) {
		t.Parallel()
		other := "sk_test_other_account"
		b.fake.AddAccount(other, "")
		pi := b.newPI(t, 100)
		_, err := newClient(b.url, other).PaymentIntents.Get(pi.ID, nil)
		stripeErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeResourceMissing)
	})
	t.Run("UnknownRoute", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/v1/customers", "/v2/core/events"} {
			status, body := b.raw(t, http.MethodGet, path, secretKey, nil)
			require.Equal(t, http.StatusNotFound, status)
			require.Equal(t, "invalid_request_error", body["error"].(map[string]any)["type"])
		}
		// A known path with the wrong method is unknown too.
		status, _ := b.raw(t, http.MethodDelete, "/v1/payment_intents", secretKey, nil)
		require.Equal(t, http.StatusNotFound, status)
	})
	t.Run("OtherAPIVersion", func(t *testing.T) {
		t.Parallel()
		req, err := http.NewRequest(http.MethodGet, b.url+"/v1/events", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+secretKey)
		req.Header.Set("Stripe-Version", "2024-06-20")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
}

func TestCreatePaymentIntentValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name      string
		form      url.Values
		wantCode  string
		wantParam string
	}{
		{"NoAmount", url.Values{"currency": {"usd"}}, "parameter_missing", "amount"},
		{"ZeroAmount", url.Values{"amount": {"0"}, "currency": {"usd"}}, "parameter_invalid_integer", "amount"},
		{"NotAnInteger", url.Values{"amount": {"12.50"}, "currency": {"usd"}}, "parameter_invalid_integer", "amount"},
		{"NoCurrency", url.Values{"amount": {"100"}}, "parameter_missing", "currency"},
		{"BadCurrency", url.Values{"amount": {"100"}, "currency": {"dollars"}}, "", "currency"},
		{"UnknownMethodType", url.Values{"amount": {"100"}, "currency": {"usd"}, "payment_method_types[0]": {"sepa_debit"}}, "payment_intent_invalid_parameter", "payment_method_types"},
		{"BankDebitInEuros", url.Values{"amount": {"100"}, "currency": {"eur"}, "payment_method_types[0]": {"us_bank_account"}}, "payment_intent_invalid_parameter", "currency"},
		{"LongMetadataKey", url.Values{"amount": {"100"}, "currency": {"usd"}, "metadata[" + strings.Repeat("k", 41) + "]": {"v"}}, "", "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := b.raw(t, http.MethodPost, "/v1/payment_intents", secretKey, tt.form)
			require.Equal(t, http.StatusBadRequest, status)
			e := body["error"].(map[string]any)
			require.Equal(t, "invalid_request_error", e["type"])
			if tt.wantCode != "" {
				require.Equal(t, tt.wantCode, e["code"])
			}
			require.Equal(t, tt.wantParam, e["param"])
		})
	}

	t.Run("UppercaseCurrency", func(t *testing.T) {
		t.Parallel()
		status, body := b.raw(t, http.MethodPost, "/v1/payment_intents", secretKey, url.Values{"amount": {"100"}, "currency": {"USD"}})
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "usd", body["currency"])
	})
	t.Run("ValidationErrorsAreNotKept", func(t *testing.T) {
		t.Parallel()
		// As at Stripe, a request refused by validation does not bind its
		// idempotency key, so the corrected request may reuse it.
		bad := &stripe.PaymentIntentParams{Amount: stripe.Int64(0), Currency: stripe.String("usd")}
		bad.SetIdempotencyKey("retry-me")
		_, err := b.sc.PaymentIntents.New(bad)
		stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeParameterInvalidInteger)
		good := &stripe.PaymentIntentParams{Amount: stripe.Int64(100), Currency: stripe.String("usd")}
		good.SetIdempotencyKey("retry-me")
		_, err = b.sc.PaymentIntents.New(good)
		require.NoError(t, err)
	})
}

func TestUpdateAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)

	pi := b.newPI(t, 1_000)
	upd := &stripe.PaymentIntentParams{Amount: stripe.Int64(1_500), Description: stripe.String("changed")}
	upd.AddMetadata("invoice_id", "inv_2")
	upd.AddMetadata("entity_id", "") // an empty value removes the key
	pi, err := b.sc.PaymentIntents.Update(pi.ID, upd)
	require.NoError(t, err)
	require.Equal(t, int64(1_500), pi.Amount)
	require.Equal(t, "changed", pi.Description)
	require.Equal(t, map[string]string{"invoice_id": "inv_2"}, pi.Metadata)

	_, err = b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	require.NoError(t, err)

	_, err = b.sc.PaymentIntents.Update(pi.ID, &stripe.PaymentIntentParams{Amount: stripe.Int64(2_000)})
	stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentUnexpectedState)
	// Metadata stays editable after the payment, as at Stripe.
	md := &stripe.PaymentIntentParams{}
	md.AddMetadata("books_payment", "pay_1")
	pi, err = b.sc.PaymentIntents.Update(pi.ID, md)
	require.NoError(t, err)
	require.Equal(t, "pay_1", pi.Metadata["books_payment"])

	_, err = b.sc.PaymentIntents.Cancel(pi.ID, nil)
	stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentUnexpectedState)

	open := b.newPI(t, 700)
	canceled, err := b.sc.PaymentIntents.Cancel(open.ID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("abandoned")})
	require.NoError(t, err)
	require.Equal(t, stripe.PaymentIntentStatusCanceled, canceled.Status)
	require.Equal(t, stripe.PaymentIntentCancellationReasonAbandoned, canceled.CancellationReason)
	require.NotZero(t, canceled.CanceledAt)
	_, err = b.sc.PaymentIntents.Update(open.ID, md)
	stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentUnexpectedState)
	_, err = b.sc.PaymentIntents.Confirm(open.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	stripeErr(t, err, http.StatusBadRequest, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodePaymentIntentUnexpectedState)

	b.flush(t)
	canceledEvents := ofType(b.hook.received(), "payment_intent.canceled")
	require.Len(t, canceledEvents, 1)
	require.Equal(t, open.ID, decode[stripe.PaymentIntent](t, canceledEvents[0].Data.Raw).ID)

	_, err = b.sc.PaymentIntents.Get("pi_doesnotexist", nil)
	stripeErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeResourceMissing)
}

func TestCreateAndConfirmAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pi, err := b.sc.PaymentIntents.New(&stripe.PaymentIntentParams{
		Amount:        stripe.Int64(4_200),
		Currency:      stripe.String("usd"),
		PaymentMethod: stripe.String("pm_card_visa"),
		Confirm:       stripe.Bool(true),
	})
	require.NoError(t, err)
	require.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)
}

func TestChargeHelper(t *testing.T) {
	t.Parallel()
	b := setup(t)
	chID, err := b.fake.Charge(secretKey, 5_000, "USD", map[string]string{"note": "walk-in"})
	require.NoError(t, err)

	ch, err := b.sc.Charges.Get(chID, nil)
	require.NoError(t, err)
	require.Equal(t, stripe.ChargeStatusSucceeded, ch.Status)
	require.Equal(t, stripe.CurrencyUSD, ch.Currency)
	require.Empty(t, ch.Metadata)
	require.Nil(t, ch.Invoice)
	pi, err := b.sc.PaymentIntents.Get(ch.PaymentIntent.ID, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"note": "walk-in"}, pi.Metadata)

	b.flush(t)
	require.Equal(t, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}, types(b.hook.received()))
	for _, ev := range b.hook.received() {
		// A dashboard action is no API request of Books'.
		require.Empty(t, ev.Request.ID)
		require.Empty(t, ev.Request.IdempotencyKey)
	}

	_, err = b.fake.Charge("sk_test_nobody", 5_000, "usd", nil)
	require.Error(t, err)
	_, err = b.fake.Charge(secretKey, 0, "usd", nil)
	require.Error(t, err)
}

func TestPayStripeInvoice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	inID, err := b.fake.PayStripeInvoice(secretKey, 2_900, "usd", start, end)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(inID, "in_"))

	b.flush(t)
	got := b.hook.received()
	require.Equal(t, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded"}, types(got))
	in := decode[stripe.Invoice](t, got[3].Data.Raw)
	require.Equal(t, inID, in.ID)
	require.Equal(t, stripe.InvoiceStatusPaid, in.Status)
	require.True(t, in.Paid)
	require.Equal(t, int64(2_900), in.AmountPaid)
	require.Equal(t, start.Unix(), in.PeriodStart)
	require.Equal(t, end.Unix(), in.PeriodEnd)
	require.True(t, strings.HasPrefix(in.Customer.ID, "cus_fake"))
	require.Len(t, in.Lines.Data, 1)
	require.Equal(t, start.Unix(), in.Lines.Data[0].Period.Start)
	require.Equal(t, end.Unix(), in.Lines.Data[0].Period.End)
	require.Equal(t, "Subscription", in.Lines.Data[0].Description)

	ch := decode[stripe.Charge](t, got[1].Data.Raw)
	require.Equal(t, inID, ch.Invoice.ID)
	require.Equal(t, in.Charge.ID, ch.ID)
	require.Equal(t, in.Customer.ID, ch.Customer.ID)
	pi := decode[stripe.PaymentIntent](t, got[2].Data.Raw)
	require.Equal(t, inID, pi.Invoice.ID)
	require.Equal(t, in.PaymentIntent.ID, pi.ID)

	p := &stripe.InvoiceParams{}
	p.AddExpand("charge")
	fetched, err := b.sc.Invoices.Get(inID, p)
	require.NoError(t, err)
	require.Equal(t, int64(2_900), fetched.Charge.Amount)

	// Same subscriber for every invoice of the account.
	in2, err := b.fake.PayStripeInvoice(secretKey, 2_900, "usd", end, end.AddDate(0, 1, 0))
	require.NoError(t, err)
	second, err := b.sc.Invoices.Get(in2, nil)
	require.NoError(t, err)
	require.Equal(t, in.Customer.ID, second.Customer.ID)
	require.NotEqual(t, in.Number, second.Number)
}
