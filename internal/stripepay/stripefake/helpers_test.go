package stripefake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/internal/stripepay/stripefake"
)

const (
	secretKey      = "sk_test_books_4242secret"
	publishableKey = "pk_test_books_4242public"
	signingSecret  = "whsec_books_test"
)

type testBundle struct {
	fake *stripefake.Server
	url  string
	sc   *client.API // authenticated with secretKey
	hook *receiver
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWith(t, stripefake.Options{})
}

func setupWith(t *testing.T, opts stripefake.Options) *testBundle {
	t.Helper()
	hook := newReceiver(t)
	fake := stripefake.New(opts)
	url, err := fake.Start()
	require.NoError(t, err)
	require.Equal(t, url, fake.URL())
	// Registered after the receiver's cleanup, so it runs first: no
	// delivery is in flight when the receiver shuts down.
	t.Cleanup(fake.Close)
	fake.AddAccount(secretKey, publishableKey)
	fake.SetWebhook(secretKey, hook.URL, signingSecret)
	return &testBundle{fake: fake, url: url, sc: newClient(url, secretKey), hook: hook}
}

func newClient(url, key string) *client.API {
	return client.New(key, &stripe.Backends{API: stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(url),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(0),
	})})
}

// flush waits for every queued webhook delivery.
func (b *testBundle) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.fake.Flush(ctx))
}

// newPI creates a card PaymentIntent through stripe-go.
func (b *testBundle) newPI(t *testing.T, amount int64, types ...string) *stripe.PaymentIntent {
	t.Helper()
	if len(types) == 0 {
		types = []string{"card"}
	}
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(amount),
		Currency:           stripe.String("usd"),
		PaymentMethodTypes: stripe.StringSlice(types),
	}
	params.AddMetadata("entity_id", "ent_1")
	params.AddMetadata("invoice_id", "inv_1")
	pi, err := b.sc.PaymentIntents.New(params)
	require.NoError(t, err)
	return pi
}

// paidCharge makes a succeeded card payment and returns its charge id.
func (b *testBundle) paidCharge(t *testing.T, amount int64) string {
	t.Helper()
	pi := b.newPI(t, amount)
	pi, err := b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	require.NoError(t, err)
	require.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)
	return pi.LatestCharge.ID
}

// raw sends a request without stripe-go and decodes the JSON answer.
func (b *testBundle) raw(t *testing.T, method, path, key string, form url.Values) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url+path, body)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(resp.Header.Get("Request-Id"), "req_"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// stripeErr asserts that err is a Stripe API error of the given status,
// type and code.
func stripeErr(t *testing.T, err error, status int, typ stripe.ErrorType, code stripe.ErrorCode) *stripe.Error {
	t.Helper()
	require.Error(t, err)
	var se *stripe.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, status, se.HTTPStatusCode, se.Msg)
	require.Equal(t, typ, se.Type, se.Msg)
	require.Equal(t, code, se.Code, se.Msg)
	return se
}

// decode unmarshals raw JSON into a stripe-go type, as a webhook handler
// decodes data.object.
func decode[T any](t *testing.T, raw []byte) *T {
	t.Helper()
	v := new(T)
	require.NoError(t, json.Unmarshal(raw, v))
	return v
}

// receiver is a webhook endpoint that verifies each delivery as Books
// does (signature, default tolerance, API version) and keeps the events it
// answered 2xx, in arrival order.
type receiver struct {
	URL string

	mu       sync.Mutex
	events   []stripe.Event
	requests int
	answer   func(ev stripe.Event) int // status to answer; nil: 200
	problems []string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	hs := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		require.Empty(t, rc.problems, "webhook deliveries that failed verification")
	})
	rc.URL = hs.URL
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), signingSecret, webhook.ConstructEventOptions{})
	rc.mu.Lock()
	rc.requests++
	if err == nil && r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		err = fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	if err != nil {
		rc.problems = append(rc.problems, err.Error())
		rc.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	answer := rc.answer
	rc.mu.Unlock()

	status := http.StatusOK
	if answer != nil {
		status = answer(ev) // outside the lock: it may call back into the fake
	}
	if status/100 == 2 {
		rc.mu.Lock()
		rc.events = append(rc.events, ev)
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (rc *receiver) setAnswer(f func(ev stripe.Event) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

func (rc *receiver) received() []stripe.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]stripe.Event(nil), rc.events...)
}

func (rc *receiver) requestCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests
}

func types(events []stripe.Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = string(ev.Type)
	}
	return out
}

// ofType returns the received events of type typ.
func ofType(events []stripe.Event, typ string) []stripe.Event {
	var out []stripe.Event
	for _, ev := range events {
		if string(ev.Type) == typ {
			out = append(out, ev)
		}
	}
	return out
}
