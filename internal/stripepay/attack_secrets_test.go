package stripepay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent/journalentry"
	"books/ent/stripeevent"
	"books/internal/ledger/source"
	"books/internal/stripepay"
	"books/internal/stripepay/stripefake"
	"books/internal/tenant"
)

// Secrets appear nowhere: audit detail, admin issues, stripe event errors, logs, the account
// as JSON — after an update, a key Stripe rejects, and an event that fails.
func TestAttackSecretsNowhere(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us := b.ents[0]
		// rotate to a key Stripe does not know: calls fail with Stripe's error text
		badKey := "sk_test_" + strings.Repeat("Z", 24)
		newHook := "whsec_" + strings.Repeat("Q", 24)
		hooks := []string{us.webhookSecret, newHook}
		_, err := b.svc.UpdateAccount(b.ctx, b.client, us.acct.ID, stripepay.AccountPatch{SecretKey: &badKey, WebhookSecrets: &hooks})
		require.NoError(t, err)
		_, err = b.svc.Backstop(context.Background(), us.acct.ID)
		require.Error(t, err)
		errs := []string{err.Error()}
		// an event whose prefetch (refund list) fails with the bad key, to its limit
		body := eventJSON(t, "charge.refunded", map[string]any{"id": "ch_zz", "object": "charge", "amount": 100,
			"currency": "usd", "payment_intent": "pi_zz"}, false)
		_, err = b.svc.Receive(context.Background(), us.acct.ID, body, sign(body, newHook, time.Now()))
		require.NoError(t, err)
		for range 4 {
			_ = b.svc.Process(context.Background(), us.acct.ID)
			time.Sleep(100 * time.Millisecond)
		}
		var all []string
		all = append(all, errs...)
		all = append(all, b.logs.String())
		evs, err := b.client.StripeEvent.Query().All(tenant.System(context.Background()))
		require.NoError(t, err)
		for _, e := range evs {
			all = append(all, e.LastError, e.Outcome)
		}
		iss, err := b.client.AdminIssue.Query().All(tenant.System(context.Background()))
		require.NoError(t, err)
		for _, i := range iss {
			all = append(all, fmt.Sprintf("%+v", *i))
		}
		aud, err := b.client.AuditEvent.Query().All(tenant.System(context.Background()))
		require.NoError(t, err)
		for _, a := range aud {
			all = append(all, fmt.Sprintf("%+v", *a))
		}
		acct, err := b.client.StripeAccount.Get(b.ctx, us.acct.ID)
		require.NoError(t, err)
		j, _ := json.Marshal(acct)
		all = append(all, string(j), acct.String())
		blob := strings.Join(all, "\n")
		for _, s := range []string{badKey, us.secretKey, us.webhookSecret, newHook, strings.Repeat("Z", 20), strings.Repeat("Q", 20)} {
			require.NotContains(t, blob, s)
		}
		_ = stripeevent.FieldID
	})
}

// Backstop: webhooks all lost, events in the same second as the watermark, several passes:
// every payment recorded once.
func TestAttackBackstopSameSecond(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us := b.ents[0]
		b.fake.SetFaults(stripefake.Faults{Drop: 1})
		for i := range 3 {
			_, err := b.fake.Charge(us.secretKey, int64(100+i), "usd", map[string]string{"entity_id": us.le.ID})
			require.NoError(t, err)
		}
		_, err := b.svc.Backstop(context.Background(), us.acct.ID)
		require.NoError(t, err)
		for i := range 3 {
			_, err := b.fake.Charge(us.secretKey, int64(200+i), "usd", map[string]string{"entity_id": us.le.ID})
			require.NoError(t, err)
		}
		b.quiesce(t)
		b.quiesce(t)
		n, err := b.client.JournalEntry.Query().Where(journalentry.SourceSystemEQ(source.Stripe)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 6, n)
	})
}
