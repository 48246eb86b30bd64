package stripepay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/apperr"
	"books/internal/stripepay"
	"books/internal/tenant"
)

// Forged, replayed, expired and cross-account deliveries: a clear code, nothing stored.
func TestAttackWebhookSignatures(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		ctx := context.Background()
		us, eu := b.ents[0], b.ents[1]
		body := eventJSON(t, "charge.succeeded", map[string]any{"id": "ch_x", "object": "charge", "amount": 100,
			"currency": "usd", "metadata": map[string]string{}}, false)
		before := b.countEvents(t)

		// signed with US's secret, posted to EU's URL
		_, err := b.svc.Receive(ctx, eu.acct.ID, body, sign(body, us.webhookSecret, time.Now()))
		require.Equal(t, apperr.Unauthenticated, apperr.Code(err), "%v", err)
		// missing
		_, err = b.svc.Receive(ctx, us.acct.ID, body, "")
		require.Equal(t, apperr.Unauthenticated, apperr.Code(err), "%v", err)
		// garbage header
		_, err = b.svc.Receive(ctx, us.acct.ID, body, "t=abc,v1=zz")
		require.Equal(t, apperr.Unauthenticated, apperr.Code(err), "%v", err)
		// expired
		_, err = b.svc.Receive(ctx, us.acct.ID, body, sign(body, us.webhookSecret, time.Now().Add(-10*time.Minute)))
		require.Equal(t, apperr.Unauthenticated, apperr.Code(err), "%v", err)
		// body altered after signing
		sig := sign(body, us.webhookSecret, time.Now())
		_, err = b.svc.Receive(ctx, us.acct.ID, append(append([]byte(nil), body[:len(body)-1]...), ' ', '}'), sig)
		require.Equal(t, apperr.Unauthenticated, apperr.Code(err), "%v", err)
		// unknown account
		_, err = b.svc.Receive(ctx, "sac_nope", body, sig)
		require.Equal(t, apperr.NotFound, apperr.Code(err), "%v", err)
		// livemode mismatch
		live := eventJSON(t, "charge.succeeded", map[string]any{"id": "ch_y", "object": "charge"}, true)
		_, err = b.svc.Receive(ctx, us.acct.ID, live, sign(live, us.webhookSecret, time.Now()))
		require.Equal(t, apperr.Validation, apperr.Code(err), "%v", err)
		// a huge (8 MiB) signed body: refused or stored, but no crash
		require.Equal(t, before, b.countEvents(t), "a refused delivery was stored")
		huge := eventJSON(t, "customer.updated", map[string]any{"id": "cus_x", "pad": strings.Repeat("A", 8<<20)}, false)
		_, _ = b.svc.Receive(ctx, us.acct.ID, huge, sign(huge, us.webhookSecret, time.Now()))
		require.LessOrEqual(t, b.countEvents(t)-before, 1)
		for _, s := range []string{us.webhookSecret, eu.webhookSecret, us.secretKey, eu.secretKey} {
			require.NotContains(t, b.logs.String(), s)
		}

		// replay: acknowledged, one row
		dup, err := b.svc.Receive(ctx, us.acct.ID, body, sig)
		require.NoError(t, err)
		require.False(t, dup)
		dup, err = b.svc.Receive(ctx, us.acct.ID, body, sig)
		require.NoError(t, err)
		require.True(t, dup)
	})
}

// Rotation: both secrets verify; a sealed secret copied by SQL to another account's row does
// not open there (and does not leak in the error).
func TestAttackSealedSecretCopied(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		ctx := context.Background()
		us, eu := b.ents[0], b.ents[1]
		second := "whsec_" + strings.Repeat("b", 30)
		sec := []string{us.webhookSecret, second}
		_, err := b.svc.UpdateAccount(b.ctx, b.client, us.acct.ID, stripepay.AccountPatch{WebhookSecrets: &sec})
		require.NoError(t, err)
		body := eventJSON(t, "customer.updated", map[string]any{"id": "cus_1"}, false)
		_, err = b.svc.Receive(ctx, us.acct.ID, body, sign(body, second, time.Now()))
		require.NoError(t, err)

		// copy US's sealed webhook secrets and secret key into EU's row
		row, err := b.client.StripeAccount.Get(tenant.System(ctx), us.acct.ID)
		require.NoError(t, err)
		b.exec(t, `UPDATE stripe_accounts SET webhook_secrets_sealed = $1, secret_key_sealed = $2 WHERE id = $3`,
			row.WebhookSecretsSealed, row.SecretKeySealed, eu.acct.ID)
		body2 := eventJSON(t, "customer.updated", map[string]any{"id": "cus_2"}, false)
		_, err = b.svc.Receive(ctx, eu.acct.ID, body2, sign(body2, us.webhookSecret, time.Now()))
		require.Error(t, err, "a sealed secret copied to another row opened there")
		for _, s := range []string{us.webhookSecret, second, us.secretKey} {
			require.NotContains(t, err.Error(), s)
		}
		_, err = b.svc.Backstop(ctx, eu.acct.ID)
		require.Error(t, err, "a sealed secret key copied to another row opened there")
		require.NotContains(t, err.Error(), us.secretKey)
		// restore, so the cleanup's integrity check has a sane world
		b.exec(t, `UPDATE stripe_accounts SET webhook_secrets_sealed = $1, secret_key_sealed = $2 WHERE id = $3`,
			eu.acct.WebhookSecretsSealed, eu.acct.SecretKeySealed, eu.acct.ID)
	})
}
