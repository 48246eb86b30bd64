package stripepay_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/stripeaccount"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/ledger"
	"books/internal/stripepay"
	"books/internal/tenant"
)

// CreateAccount refuses keys and secrets that are not Stripe's, of mixed modes, or a name
// taken, naming the field and never echoing a key.
func TestCreateAccountValidation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		sk, pk, wh := "sk_test_"+rand.Text(), "pk_test_"+rand.Text(), "whsec_"+rand.Text()
		cases := []struct {
			name  string
			in    stripepay.AccountInput
			code  string
			field string
		}{
			{"no name", stripepay.AccountInput{Name: "  ", PublishableKey: pk, SecretKey: sk}, apperr.Validation, "name"},
			{"publishable key as the secret key", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: "pk_test_" + rand.Text()}, apperr.Validation, "secretKey"},
			{"not a key", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: "hunter2hunter2hunter2"}, apperr.Validation, "secretKey"},
			{"key too short", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: "sk_test_abc"}, apperr.Validation, "secretKey"},
			{"key with a space", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: "sk_test_" + rand.Text() + " x"}, apperr.Validation, "secretKey"},
			{"secret key as the publishable key", stripepay.AccountInput{Name: "A", PublishableKey: "sk_test_" + rand.Text(), SecretKey: sk}, apperr.Validation, "publishableKey"},
			{"live secret, test publishable", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: "sk_live_" + rand.Text()}, apperr.Validation, "publishableKey"},
			{"test secret, live publishable", stripepay.AccountInput{Name: "A", PublishableKey: "pk_live_" + rand.Text(), SecretKey: sk}, apperr.Validation, "publishableKey"},
			{"not a signing secret", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: sk, WebhookSecrets: []string{sk}}, apperr.Validation, "webhookSecrets[0]"},
			{"signing secret too short", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: sk, WebhookSecrets: []string{wh, "whsec_x"}}, apperr.Validation, "webhookSecrets[1]"},
			{"too many signing secrets", stripepay.AccountInput{Name: "A", PublishableKey: pk, SecretKey: sk, WebhookSecrets: []string{wh, wh, wh, wh, wh, wh}}, apperr.Validation, "webhookSecrets"},
			{"name taken", stripepay.AccountInput{Name: b.ents[0].acct.Name, PublishableKey: pk, SecretKey: sk}, apperr.DuplicateName, "name"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.svc.CreateAccount(b.ctx, b.client, tc.in)
				require.Error(t, err)
				ae, ok := apperr.As(err)
				require.True(t, ok, "%v", err)
				require.Equal(t, tc.code, ae.Code, err.Error())
				require.Equal(t, tc.field, ae.Field)
				for _, secret := range append([]string{tc.in.SecretKey}, tc.in.WebhookSecrets...) {
					require.NotContains(t, err.Error(), secret, "an error never echoes a secret")
				}
			})
		}
		n, err := b.client.StripeAccount.Query().Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "nothing was added")

		t.Run("a live account", func(t *testing.T) {
			acct, err := b.svc.CreateAccount(b.ctx, b.client, stripepay.AccountInput{Name: "Live",
				PublishableKey: "pk_live_" + rand.Text(), SecretKey: "rk_live_" + rand.Text()})
			require.NoError(t, err)
			require.True(t, acct.Livemode)
			require.Zero(t, acct.WebhookSecretCount)
		})
	})
}

// The organization has one default account: the first, or the last made the default; the
// default cannot be unset, only replaced.
func TestDefaultAccount(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us, eu := b.ents[0].acct, b.ents[1].acct
		isDefault := func(t *testing.T, id string) bool {
			acct, err := b.client.StripeAccount.Get(b.ctx, id)
			require.NoError(t, err)
			return acct.IsDefault
		}
		require.True(t, isDefault(t, us.ID))
		require.False(t, isDefault(t, eu.ID))

		t.Run("the first account is the default", func(t *testing.T) {
			org, err := b.client.Organization.Create().SetName("New org").Save(tenant.System(context.Background()))
			require.NoError(t, err)
			acct, err := b.svc.CreateAccount(authAdmin(org.ID), b.client, stripepay.AccountInput{Name: "Only",
				PublishableKey: "pk_test_" + rand.Text(), SecretKey: "sk_test_" + rand.Text()})
			require.NoError(t, err)
			require.True(t, acct.IsDefault)
			require.True(t, isDefault(t, us.ID), "another organization's default is its own")
		})

		t.Run("making another the default", func(t *testing.T) {
			acct, err := b.svc.UpdateAccount(b.ctx, b.client, eu.ID, stripepay.AccountPatch{IsDefault: ptr(true)})
			require.NoError(t, err)
			require.True(t, acct.IsDefault)
			require.False(t, isDefault(t, us.ID))
		})

		t.Run("unsetting the default is refused", func(t *testing.T) {
			_, err := b.svc.UpdateAccount(b.ctx, b.client, eu.ID, stripepay.AccountPatch{IsDefault: ptr(false)})
			require.Equal(t, apperr.Validation, apperr.Code(err))
			require.True(t, isDefault(t, eu.ID))
		})

		t.Run("a new default account", func(t *testing.T) {
			acct, err := b.svc.CreateAccount(b.ctx, b.client, stripepay.AccountInput{Name: "Newest", IsDefault: true,
				PublishableKey: "pk_test_" + rand.Text(), SecretKey: "sk_test_" + rand.Text()})
			require.NoError(t, err)
			require.True(t, acct.IsDefault)
			require.False(t, isDefault(t, eu.ID))
			require.False(t, isDefault(t, us.ID))
		})

		t.Run("renaming onto a taken name", func(t *testing.T) {
			_, err := b.svc.UpdateAccount(b.ctx, b.client, eu.ID, stripepay.AccountPatch{Name: ptr(us.Name)})
			require.Equal(t, apperr.DuplicateName, apperr.Code(err))
			_, err = b.svc.UpdateAccount(b.ctx, b.client, eu.ID, stripepay.AccountPatch{Name: ptr(eu.Name)})
			require.NoError(t, err, "an account keeps its own name")
			_, err = b.svc.UpdateAccount(b.ctx, b.client, "sa_nobody", stripepay.AccountPatch{Name: ptr("X")})
			require.Equal(t, apperr.NotFound, apperr.Code(err))
		})

		t.Run("a key of the other mode", func(t *testing.T) {
			_, err := b.svc.UpdateAccount(b.ctx, b.client, eu.ID, stripepay.AccountPatch{SecretKey: ptr("sk_live_" + rand.Text())})
			require.Equal(t, apperr.Validation, apperr.Code(err))
			_, err = b.svc.UpdateAccount(b.ctx, b.client, eu.ID, stripepay.AccountPatch{PublishableKey: ptr("pk_live_" + rand.Text())})
			require.Equal(t, apperr.Validation, apperr.Code(err))
		})
	})
}

func ptr[T any](v T) *T { return &v }

// Secret keys and signing secrets are stored sealed, bound to their row: the database holds
// neither in the clear, and a sealed value copied to another row does not open there.
func TestSecretsSealed(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us, eu := b.ents[0], b.ents[1]

		type raw struct{ key, secrets, hint string }
		rows, err := b.db.SQL.QueryContext(context.Background(),
			`SELECT id, secret_key_sealed, COALESCE(webhook_secrets_sealed, ''), secret_key_hint FROM stripe_accounts`)
		require.NoError(t, err)
		stored := map[string]raw{}
		for rows.Next() {
			var id string
			var r raw
			require.NoError(t, rows.Scan(&id, &r.key, &r.secrets, &r.hint))
			stored[id] = r
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.Len(t, stored, 2)

		for _, e := range b.ents {
			r := stored[e.acct.ID]
			require.NotEmpty(t, r.key)
			require.NotEmpty(t, r.secrets)
			for _, col := range []string{r.key, r.secrets, r.hint} {
				for _, secret := range []string{e.secretKey, e.webhookSecret} {
					require.NotContains(t, col, secret)
					require.NotContains(t, col, secret[len(secret)-12:], "no part of a secret beyond its hint")
				}
			}
			require.Equal(t, "sk_test_…"+e.secretKey[len(e.secretKey)-4:], r.hint)
			require.Equal(t, r.hint, e.acct.SecretKeyHint)
			require.NotContains(t, e.acct.String(), r.key, "the sealed value stays out of the record's printing")

			// Bound to its own row and column.
			aad := func(id, column string) []byte { return []byte("stripe_accounts:" + id + ":" + column) }
			key, err := b.svc.Box.Open(r.key, aad(e.acct.ID, "secret_key_sealed"))
			require.NoError(t, err)
			require.Equal(t, e.secretKey, string(key))
			_, err = b.svc.Box.Open(r.key, aad(other(b, e).acct.ID, "secret_key_sealed"))
			require.Error(t, err)
			_, err = b.svc.Box.Open(r.key, aad(e.acct.ID, "webhook_secrets_sealed"))
			require.Error(t, err)
		}

		// US's signing secrets copied into EU's row do not open there: a delivery signed with
		// US's secret is not taken for EU's, and nothing is stored.
		require.NoError(t, b.client.StripeAccount.UpdateOneID(eu.acct.ID).SetWebhookSecretsSealed(stored[us.acct.ID].secrets).Exec(b.ctx))
		body := event(t, "customer.created", map[string]any{"id": newID("cus_")})
		before := len(b.inbox(t, ""))
		_, err = b.svc.Receive(context.Background(), eu.acct.ID, body, signed(body, us.webhookSecret))
		require.Error(t, err)
		require.NotContains(t, err.Error(), us.webhookSecret)
		require.Len(t, b.inbox(t, ""), before)
	})
}

func other(b *testBundle, e *entity) *entity {
	if b.ents[0] == e {
		return b.ents[1]
	}
	return b.ents[0]
}

// A billing profile says which account an entity's invoices are paid through; without one
// the default account takes them, and without either Stripe is not configured.
func TestBillingProfiles(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us, eu := b.ents[0], b.ents[1]
		ca, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: "CA", Name: "CA Inc", BaseCurrency: "USD"})
		require.NoError(t, err)
		accountFor := func(t *testing.T, entityID string) string {
			acct, err := stripepay.AccountFor(b.ctx, b.client, entityID)
			require.NoError(t, err)
			return acct.ID
		}
		require.Equal(t, us.acct.ID, accountFor(t, ca.ID), "no profile: the default account")

		bp, err := stripepay.SetBillingProfile(b.ctx, b.client, ca.ID, eu.acct.ID, false)
		require.NoError(t, err)
		require.Equal(t, eu.acct.ID, accountFor(t, ca.ID))
		again, err := stripepay.SetBillingProfile(b.ctx, b.client, ca.ID, us.acct.ID, true)
		require.NoError(t, err)
		require.Equal(t, bp.ID, again.ID, "an entity has one profile, changed in place")
		require.Equal(t, us.acct.ID, accountFor(t, ca.ID))
		profiles, err := b.client.BillingProfile.Query().All(b.ctx)
		require.NoError(t, err)
		for _, p := range profiles {
			require.Equal(t, p.EntityID == ca.ID, p.IsDefault, "one default entity: the last made it")
		}

		_, err = stripepay.SetBillingProfile(b.ctx, b.client, "le_nobody", eu.acct.ID, false)
		require.Equal(t, apperr.UnknownEntity, apperr.Code(err))
		_, err = stripepay.SetBillingProfile(b.ctx, b.client, ca.ID, "sa_nobody", false)
		require.Equal(t, apperr.NotFound, apperr.Code(err))

		removed, err := stripepay.RemoveBillingProfile(b.ctx, b.client, ca.ID)
		require.NoError(t, err)
		require.Equal(t, bp.ID, removed)
		removed, err = stripepay.RemoveBillingProfile(b.ctx, b.client, ca.ID)
		require.NoError(t, err)
		require.Empty(t, removed)
		require.Equal(t, us.acct.ID, accountFor(t, ca.ID))

		t.Run("no account at all", func(t *testing.T) {
			org, err := b.client.Organization.Create().SetName("Unconfigured org").Save(tenant.System(context.Background()))
			require.NoError(t, err)
			ctx := authAdmin(org.ID)
			le, err := ledger.CreateEntity(ctx, b.client, ent.CreateLegalEntityInput{Code: "NO", Name: "No Stripe Inc", BaseCurrency: "USD"})
			require.NoError(t, err)
			_, err = stripepay.AccountFor(ctx, b.client, le.ID)
			require.Equal(t, apperr.StripeNotConfigured, apperr.Code(err))
		})

		t.Run("no default account", func(t *testing.T) {
			// With only a profile's account, entities without a profile have no account.
			require.NoError(t, b.client.StripeAccount.Update().Where(stripeaccount.IsDefault(true)).SetIsDefault(false).Exec(b.ctx))
			_, err := stripepay.AccountFor(b.ctx, b.client, ca.ID)
			require.Equal(t, apperr.StripeNotConfigured, apperr.Code(err))
			require.Equal(t, eu.acct.ID, accountFor(t, eu.le.ID))
		})
	})
}

// Nothing the Service logs, through a flow that pays, refunds, disputes and fails, holds a
// secret key or a signing secret.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		pd := b.paid(t, e, "300.00")
		_, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(1000)})
		require.NoError(t, err)
		_, err = b.fake.Refund(pd.ch, 1000)
		require.NoError(t, err)
		disputed := b.paid(t, b.ents[1], "150.00")
		dp, err := b.fake.Dispute(disputed.ch)
		require.NoError(t, err)
		require.NoError(t, b.fake.CloseDispute(dp, false))
		cus := b.newCustomer(t, "Declined")
		inv := b.approvedInvoice(t, e, cus, "20.00")
		p, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, "card")
		require.NoError(t, err)
		require.Error(t, b.fake.Confirm(*p.Attempt.PaymentIntentID, "pm_card_chargeDeclined"))
		b.settle(t)

		// An account whose stored key Stripe refuses: applying its charge.refunded needs
		// Stripe, whose refusal (naming the key, masked) is logged.
		wrong := &entity{secretKey: "sk_test_" + rand.Text(), publishableKey: "pk_test_" + rand.Text(), webhookSecret: "whsec_" + rand.Text()}
		wrong.acct, err = b.svc.CreateAccount(b.ctx, b.client, stripepay.AccountInput{Name: "Stripe wrong key",
			PublishableKey: wrong.publishableKey, SecretKey: wrong.secretKey, WebhookSecrets: []string{wrong.webhookSecret}})
		require.NoError(t, err)
		b.deliver(t, wrong, event(t, "charge.refunded", map[string]any{"id": newID("ch_"), "object": "charge",
			"amount": 100, "amount_refunded": 100, "currency": "usd", "refunded": true}))
		require.Error(t, b.apply(t, wrong))

		logs := b.logs.String()
		require.Contains(t, logs, "could not be applied", "the check below is not vacuous")
		for _, x := range append(b.ents, wrong) {
			for _, secret := range []string{x.secretKey, x.webhookSecret} {
				require.NotContains(t, logs, secret)
				require.NotContains(t, logs, secret[8:], "not even the key's body")
			}
		}
		// The failing event is left to its retries; the money events all applied.
		for _, row := range b.inbox(t, e.acct.ID) {
			require.NotEqual(t, "failed", string(row.Status), row.EventID)
		}
	})
}
