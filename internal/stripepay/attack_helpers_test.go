package stripepay_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent/stripeevent"
	"books/internal/tenant"
)

// quiesce delivers everything, lists every account's events and applies every inbox until no
// event is pending, or until cond (when given) holds and nothing new is pending. Process
// returns at once while a job holds the account, so it polls.
func (b *testBundle) quiesce(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, b.fake.Flush(ctx))
	for _, e := range b.ents {
		_, err := b.svc.Backstop(ctx, e.acct.ID)
		require.NoError(t, err)
	}
	for {
		for _, e := range b.ents {
			_ = b.svc.Process(ctx, e.acct.ID)
		}
		n, err := b.client.StripeEvent.Query().Where(stripeevent.StatusEQ(stripeevent.StatusPending),
			stripeevent.AttemptsLT(1)).Count(tenant.System(ctx))
		require.NoError(t, err)
		if n == 0 {
			// a job may still be finishing a transaction: let it go
			time.Sleep(150 * time.Millisecond)
			n, err = b.client.StripeEvent.Query().Where(stripeevent.StatusEQ(stripeevent.StatusPending),
				stripeevent.AttemptsLT(1)).Count(tenant.System(ctx))
			require.NoError(t, err)
			if n == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("inbox did not drain: %d pending", n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// eventJSON builds a Stripe event of the pinned API version about obj.
func eventJSON(t testing.TB, typ string, obj any, live bool) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	ev := map[string]any{"id": "evt_" + rand.Text(), "object": "event", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "livemode": live, "type": typ, "pending_webhooks": 1,
		"data": map[string]any{"object": json.RawMessage(raw)}}
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

func sign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

func (b *testBundle) countEvents(t testing.TB) int {
	t.Helper()
	n, err := b.client.StripeEvent.Query().Count(tenant.System(context.Background()))
	require.NoError(t, err)
	return n
}

// sqlf rewrites $n placeholders to ? on SQLite.
func (b *testBundle) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if b.dialect != dialect.Postgres {
		for i := len(args); i >= 1; i-- {
			q = replaceAll(q, fmt.Sprintf("$%d", i), "?")
		}
	}
	_, err := b.db.SQL.Exec(q, args...)
	require.NoError(t, err)
}

func replaceAll(s, old, new string) string {
	out := ""
	for {
		i := indexOf(s, old)
		if i < 0 {
			return out + s
		}
		out += s[:i] + new
		s = s[i+len(old):]
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
