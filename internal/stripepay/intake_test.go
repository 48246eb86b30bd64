package stripepay_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent/invoice"
	"books/ent/stripeevent"
	"books/internal/apperr"
	"books/internal/stripepay"
	"books/internal/tenant"
)

// The intake stores a delivery only when its signature is good for the account's secret,
// its timestamp recent and its event one Books can read; anything else is refused with a
// clear code and nothing stored.
func TestReceive(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		live := &entity{secretKey: "sk_live_" + rand.Text(), publishableKey: "pk_live_" + rand.Text(), webhookSecret: "whsec_" + rand.Text()}
		var err error
		live.acct, err = b.svc.CreateAccount(b.ctx, b.client, stripepay.AccountInput{Name: "Stripe live",
			PublishableKey: live.publishableKey, SecretKey: live.secretKey, WebhookSecrets: []string{live.webhookSecret}})
		require.NoError(t, err)

		// ignorable is an event Books stores and then ignores: only the intake is under test.
		ignorable := func(t *testing.T) []byte { return event(t, "customer.created", map[string]any{"id": newID("cus_")}) }
		cases := []struct {
			name string
			// deliver makes the delivery; it returns the account, body and header.
			deliver func(t *testing.T) (acct string, body []byte, header string)
			code    string
		}{
			{name: "wrong secret", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				body := ignorable(t)
				return e.acct.ID, body, signed(body, "whsec_"+rand.Text())
			}},
			{name: "another account's secret", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				body := ignorable(t)
				return e.acct.ID, body, signed(body, b.ents[1].webhookSecret)
			}},
			{name: "missing header", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				return e.acct.ID, ignorable(t), ""
			}},
			{name: "malformed header", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				return e.acct.ID, ignorable(t), "t=yesterday,v1=00"
			}},
			{name: "header without a signature", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				return e.acct.ID, ignorable(t), "t=1700000000"
			}},
			{name: "body changed after signing", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				body := ignorable(t)
				header := signed(body, e.webhookSecret)
				return e.acct.ID, ignorable(t), header
			}},
			{name: "expired timestamp", code: apperr.Unauthenticated, deliver: func(t *testing.T) (string, []byte, string) {
				body := ignorable(t)
				return e.acct.ID, body, webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body,
					Secret: e.webhookSecret, Timestamp: time.Now().Add(-time.Hour)}).Header
			}},
			{name: "unknown account", code: apperr.NotFound, deliver: func(t *testing.T) (string, []byte, string) {
				body := ignorable(t)
				return "sa_nobody", body, signed(body, e.webhookSecret)
			}},
			{name: "another API version", code: apperr.Validation, deliver: func(t *testing.T) (string, []byte, string) {
				body := eventWith(t, "customer.created", map[string]any{"id": newID("cus_")}, func(ev map[string]any) {
					ev["api_version"] = "2020-08-27"
				})
				return e.acct.ID, body, signed(body, e.webhookSecret)
			}},
			{name: "not an event", code: apperr.Validation, deliver: func(t *testing.T) (string, []byte, string) {
				body := []byte(`{"hello":`)
				return e.acct.ID, body, signed(body, e.webhookSecret)
			}},
			{name: "a test event to a live account", code: apperr.Validation, deliver: func(t *testing.T) (string, []byte, string) {
				body := ignorable(t)
				return live.acct.ID, body, signed(body, live.webhookSecret)
			}},
			{name: "a live event to a test account", code: apperr.Validation, deliver: func(t *testing.T) (string, []byte, string) {
				body := eventWith(t, "customer.created", map[string]any{"id": newID("cus_")}, func(ev map[string]any) {
					ev["livemode"] = true
				})
				return e.acct.ID, body, signed(body, e.webhookSecret)
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := len(b.inbox(t, ""))
				acct, body, header := tc.deliver(t)
				_, err := b.svc.Receive(context.Background(), acct, body, header)
				require.Error(t, err)
				require.Equal(t, tc.code, apperr.Code(err), err.Error())
				require.Len(t, b.inbox(t, ""), before, "nothing is stored")
			})
		}

		t.Run("valid, then replayed", func(t *testing.T) {
			body := ignorable(t)
			header := signed(body, e.webhookSecret)
			dup, err := b.svc.Receive(context.Background(), e.acct.ID, body, header)
			require.NoError(t, err)
			require.False(t, dup)
			// The delivery is answered once stored; the inbox job applies it, unasked.
			var id string
			for _, row := range b.inbox(t, e.acct.ID) {
				if row.Type == "customer.created" {
					id = row.EventID
				}
			}
			require.NotEmpty(t, id)
			eventually(t, "the inbox job to apply the event", func() bool {
				return b.inboxRow(t, id).Status == stripeevent.StatusIgnored
			})

			before := len(b.inbox(t, ""))
			dup, err = b.svc.Receive(context.Background(), e.acct.ID, body, header)
			require.NoError(t, err)
			require.True(t, dup, "a replay is acknowledged and ignored")
			require.Len(t, b.inbox(t, ""), before)
			require.Equal(t, stripeevent.StatusIgnored, b.inboxRow(t, id).Status)
		})
	})
}

// During a rotation both signing secrets are good; once the old one is dropped it is
// refused.
func TestReceiveRotation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.spareAccount(t, "Stripe rotated")
		old, next := e.webhookSecret, "whsec_"+rand.Text()
		receive := func(secret string) error {
			body := event(t, "customer.created", map[string]any{"id": newID("cus_")})
			_, err := b.svc.Receive(context.Background(), e.acct.ID, body, signed(body, secret))
			return err
		}
		require.NoError(t, receive(old))
		require.Equal(t, apperr.Unauthenticated, apperr.Code(receive(next)))

		acct, err := b.svc.UpdateAccount(b.ctx, b.client, e.acct.ID, stripepay.AccountPatch{WebhookSecrets: &[]string{old, next}})
		require.NoError(t, err)
		require.Equal(t, 2, acct.WebhookSecretCount)
		require.NoError(t, receive(old))
		require.NoError(t, receive(next))

		_, err = b.svc.UpdateAccount(b.ctx, b.client, e.acct.ID, stripepay.AccountPatch{WebhookSecrets: &[]string{next}})
		require.NoError(t, err)
		require.Equal(t, apperr.Unauthenticated, apperr.Code(receive(old)))
		require.NoError(t, receive(next))

		// No secret at all refuses every delivery.
		_, err = b.svc.UpdateAccount(b.ctx, b.client, e.acct.ID, stripepay.AccountPatch{WebhookSecrets: &[]string{}})
		require.NoError(t, err)
		require.Equal(t, apperr.Unauthenticated, apperr.Code(receive(next)))
		b.settle(t)
		b.requireInboxDone(t)
	})
}

// Many deliveries of the same events at once store each event once and record the payment
// once.
func TestReceiveConcurrent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[1]
		b.quiet(e)
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, e, cus, "640.00")
		pi := b.pay(t, inv, cus)
		evs := b.fakeEvents(t, e, pi, "charge.succeeded", "payment_intent.succeeded")
		require.Len(t, evs, 2)

		const copies = 12
		type result struct {
			dup bool
			err error
		}
		results := make([][]result, len(evs))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, ev := range evs {
			results[i] = make([]result, copies)
			for j := range copies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					dup, err := b.svc.Receive(context.Background(), e.acct.ID, ev.Raw, signed(ev.Raw, e.webhookSecret))
					results[i][j] = result{dup, err}
				}()
			}
		}
		close(start)
		wg.Wait()
		for i, ev := range evs {
			fresh := 0
			for _, r := range results[i] {
				require.NoError(t, r.err)
				if !r.dup {
					fresh++
				}
			}
			require.Equal(t, 1, fresh, "one delivery of %s stores it; the others are duplicates", ev.Type)
			n, err := b.client.StripeEvent.Query().Where(stripeevent.EventID(ev.ID)).Count(tenant.System(context.Background()))
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
		b.settle(t)
		b.paymentOf(t, pi)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		b.requireInboxDone(t)
	})
}
