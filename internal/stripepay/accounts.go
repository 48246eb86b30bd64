package stripepay

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"books/ent"
	"books/ent/billingprofile"
	"books/ent/legalentity"
	"books/ent/stripeaccount"
	"books/internal/apperr"
	"books/internal/ids"
	"books/internal/ledger"
)

// Columns the sealed values are bound to (the associated data), so a value copied into
// another row or column does not open.
const (
	secretKeyColumn      = "secret_key_sealed"
	webhookSecretsColumn = "webhook_secrets_sealed"
	maxWebhookSecrets    = 5
)

func aad(id, column string) []byte { return []byte("stripe_accounts:" + id + ":" + column) }

// AccountInput is a Stripe account to add. The secret key and signing secrets are sealed at
// once and never returned.
type AccountInput struct {
	Name, PublishableKey, SecretKey string
	// WebhookSecrets are the endpoint's signing secrets (whsec_…): one, or two during a
	// rotation; none refuses webhooks until one is set.
	WebhookSecrets []string
	// IsDefault makes it the organization's default account; the first account is the
	// default whatever this says.
	IsDefault bool
}

// AccountPatch changes an account; a nil field keeps its value.
type AccountPatch struct {
	Name, PublishableKey, SecretKey *string
	// WebhookSecrets replaces the signing secrets (add the new one beside the old during a
	// rotation, then drop the old).
	WebhookSecrets *[]string
	// IsDefault true makes the account the default (the old default stops being it); false
	// is refused for the default account: make another the default instead.
	IsDefault *bool
}

// CreateAccount adds a Stripe account to the organization of ctx.
func (s *Service) CreateAccount(ctx context.Context, client *ent.Client, in AccountInput) (*ent.StripeAccount, error) {
	name := strings.TrimSpace(in.Name)
	if err := checkName(name); err != nil {
		return nil, err
	}
	live, err := checkKeys(in.PublishableKey, in.SecretKey)
	if err != nil {
		return nil, err
	}
	if err := checkWebhookSecrets(in.WebhookSecrets); err != nil {
		return nil, err
	}
	var out *ent.StripeAccount
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		if err := nameFree(ctx, c, name, ""); err != nil {
			return err
		}
		any, err := c.StripeAccount.Query().Exist(ctx)
		if err != nil {
			return err
		}
		def := in.IsDefault || !any
		if def {
			if err := c.StripeAccount.Update().Where(stripeaccount.IsDefault(true)).SetIsDefault(false).Exec(ctx); err != nil {
				return err
			}
		}
		id := ids.New(ids.StripeAccount)
		sealedKey, err := s.Box.Seal([]byte(in.SecretKey), aad(id, secretKeyColumn))
		if err != nil {
			return err
		}
		create := c.StripeAccount.Create().SetID(id).SetName(name).SetPublishableKey(in.PublishableKey).
			SetSecretKeySealed(sealedKey).SetSecretKeyHint(hint(in.SecretKey)).SetLivemode(live).SetIsDefault(def)
		if len(in.WebhookSecrets) > 0 {
			sealed, err := s.sealSecrets(id, in.WebhookSecrets)
			if err != nil {
				return err
			}
			create.SetWebhookSecretsSealed(sealed).SetWebhookSecretCount(len(in.WebhookSecrets))
		}
		out, err = create.Save(ctx)
		return err
	})
	return finish(out, owned, err)
}

// UpdateAccount changes an account of the organization of ctx.
func (s *Service) UpdateAccount(ctx context.Context, client *ent.Client, id string, p AccountPatch) (*ent.StripeAccount, error) {
	var out *ent.StripeAccount
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		acct, err := c.StripeAccount.Get(ctx, id)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "Stripe account %q not found", id)
		}
		if err != nil {
			return err
		}
		u := c.StripeAccount.UpdateOne(acct)
		if p.Name != nil {
			name := strings.TrimSpace(*p.Name)
			if err := checkName(name); err != nil {
				return err
			}
			if err := nameFree(ctx, c, name, acct.ID); err != nil {
				return err
			}
			u.SetName(name)
		}
		if p.PublishableKey != nil || p.SecretKey != nil {
			pk := acct.PublishableKey
			if p.PublishableKey != nil {
				pk = *p.PublishableKey
			}
			if p.SecretKey != nil {
				live, err := checkKeys(pk, *p.SecretKey)
				if err != nil {
					return err
				}
				sealed, err := s.Box.Seal([]byte(*p.SecretKey), aad(acct.ID, secretKeyColumn))
				if err != nil {
					return err
				}
				u.SetSecretKeySealed(sealed).SetSecretKeyHint(hint(*p.SecretKey)).SetLivemode(live)
			} else if err := checkPublishable(pk, acct.Livemode); err != nil {
				return err
			}
			u.SetPublishableKey(pk)
		}
		if p.WebhookSecrets != nil {
			if err := checkWebhookSecrets(*p.WebhookSecrets); err != nil {
				return err
			}
			if len(*p.WebhookSecrets) == 0 {
				u.ClearWebhookSecretsSealed().SetWebhookSecretCount(0)
			} else {
				sealed, err := s.sealSecrets(acct.ID, *p.WebhookSecrets)
				if err != nil {
					return err
				}
				u.SetWebhookSecretsSealed(sealed).SetWebhookSecretCount(len(*p.WebhookSecrets))
			}
		}
		if p.IsDefault != nil {
			switch {
			case *p.IsDefault && !acct.IsDefault:
				if err := c.StripeAccount.Update().Where(stripeaccount.IsDefault(true)).SetIsDefault(false).Exec(ctx); err != nil {
					return err
				}
				u.SetIsDefault(true)
			case !*p.IsDefault && acct.IsDefault:
				return apperr.New(apperr.Validation, "the default account stays the default until another account is made the default").WithField("isDefault")
			}
		}
		out, err = u.Save(ctx)
		return err
	})
	return finish(out, owned, err)
}

// SetBillingProfile makes entityID take payments through accountID (creating or changing the
// entity's profile); isDefault makes the entity the organization's default entity for
// events no entity or single profile claims.
func SetBillingProfile(ctx context.Context, client *ent.Client, entityID, accountID string, isDefault bool) (*ent.BillingProfile, error) {
	var out *ent.BillingProfile
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		ok, err := c.LegalEntity.Query().Where(legalentity.ID(entityID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.New(apperr.UnknownEntity, "legal entity %q not found", entityID).WithField("entityId")
		}
		ok, err = c.StripeAccount.Query().Where(stripeaccount.ID(accountID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.New(apperr.NotFound, "Stripe account %q not found", accountID).WithField("stripeAccountId")
		}
		if isDefault {
			if err := c.BillingProfile.Update().Where(billingprofile.IsDefault(true), billingprofile.EntityIDNEQ(entityID)).
				SetIsDefault(false).Exec(ctx); err != nil {
				return err
			}
		}
		cur, err := c.BillingProfile.Query().Where(billingprofile.EntityID(entityID)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			out, err = c.BillingProfile.Create().SetEntityID(entityID).SetStripeAccountID(accountID).SetIsDefault(isDefault).Save(ctx)
		case err == nil:
			out, err = c.BillingProfile.UpdateOne(cur).SetStripeAccountID(accountID).SetIsDefault(isDefault).Save(ctx)
		}
		return err
	})
	return finish(out, owned, err)
}

// RemoveBillingProfile removes an entity's profile: its invoices are paid through the default
// account again. It returns the id removed, or "" when the entity had none.
func RemoveBillingProfile(ctx context.Context, c *ent.Client, entityID string) (string, error) {
	cur, err := c.BillingProfile.Query().Where(billingprofile.EntityID(entityID)).Only(ctx)
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return cur.ID, c.BillingProfile.DeleteOne(cur).Exec(ctx)
}

// AccountFor returns the Stripe account an entity takes payments through: its billing
// profile's, else the organization's default. STRIPE_NOT_CONFIGURED when there is neither.
func AccountFor(ctx context.Context, c *ent.Client, entityID string) (*ent.StripeAccount, error) {
	bp, err := c.BillingProfile.Query().Where(billingprofile.EntityID(entityID)).Only(ctx)
	switch {
	case err == nil:
		return c.StripeAccount.Get(ctx, bp.StripeAccountID)
	case !ent.IsNotFound(err):
		return nil, err
	}
	acct, err := c.StripeAccount.Query().Where(stripeaccount.IsDefault(true)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.StripeNotConfigured, "no Stripe account takes payments for this entity: add one, or a billing profile")
	}
	return acct, err
}

// secretKey opens an account's secret key.
func (s *Service) secretKey(acct *ent.StripeAccount) (string, error) {
	b, err := s.Box.Open(acct.SecretKeySealed, aad(acct.ID, secretKeyColumn))
	if err != nil {
		return "", fmt.Errorf("stripepay: the secret key of account %s does not open: %w", acct.ID, err)
	}
	return string(b), nil
}

// webhookSecrets opens an account's signing secrets.
func (s *Service) webhookSecrets(acct *ent.StripeAccount) ([]string, error) {
	if acct.WebhookSecretsSealed == "" {
		return nil, nil
	}
	b, err := s.Box.Open(acct.WebhookSecretsSealed, aad(acct.ID, webhookSecretsColumn))
	if err != nil {
		return nil, fmt.Errorf("stripepay: the webhook secrets of account %s do not open: %w", acct.ID, err)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("stripepay: the webhook secrets of account %s are not a list", acct.ID)
	}
	return out, nil
}

func (s *Service) sealSecrets(id string, secrets []string) (string, error) {
	b, err := json.Marshal(secrets)
	if err != nil {
		return "", err
	}
	return s.Box.Seal(b, aad(id, webhookSecretsColumn))
}

func checkName(name string) error {
	if name == "" || len(name) > 200 {
		return apperr.New(apperr.Validation, "a name of 1 to 200 characters is required").WithField("name")
	}
	return nil
}

func nameFree(ctx context.Context, c *ent.Client, name, self string) error {
	q := c.StripeAccount.Query().Where(stripeaccount.Name(name))
	if self != "" {
		q = q.Where(stripeaccount.IDNEQ(self))
	}
	taken, err := q.Exist(ctx)
	if err != nil {
		return err
	}
	if taken {
		return apperr.New(apperr.DuplicateName, "a Stripe account named %q already exists", name).WithField("name")
	}
	return nil
}

// checkKeys checks the keys' shapes without echoing them, and that both are of one mode;
// it reports whether they are live keys.
func checkKeys(publishable, secret string) (bool, error) {
	var live bool
	switch {
	case strings.HasPrefix(secret, "sk_test_"), strings.HasPrefix(secret, "rk_test_"):
	case strings.HasPrefix(secret, "sk_live_"), strings.HasPrefix(secret, "rk_live_"):
		live = true
	default:
		return false, apperr.New(apperr.Validation, "the secret key must be a Stripe secret or restricted key (sk_test_, sk_live_, rk_test_ or rk_live_)").WithField("secretKey")
	}
	if len(secret) < 16 || len(secret) > 255 || strings.ContainsAny(secret, " \t\r\n") {
		return false, apperr.New(apperr.Validation, "the secret key is not a Stripe key").WithField("secretKey")
	}
	return live, checkPublishable(publishable, live)
}

func checkPublishable(pk string, live bool) error {
	want := "pk_test_"
	if live {
		want = "pk_live_"
	}
	if !strings.HasPrefix(pk, want) || len(pk) > 255 || strings.ContainsAny(pk, " \t\r\n") {
		return apperr.New(apperr.Validation, "the publishable key must be a %s key of the same mode as the secret key", want).WithField("publishableKey")
	}
	return nil
}

func checkWebhookSecrets(secrets []string) error {
	if len(secrets) > maxWebhookSecrets {
		return apperr.New(apperr.Validation, "at most %d webhook signing secrets (two during a rotation)", maxWebhookSecrets).WithField("webhookSecrets")
	}
	for i, w := range secrets {
		if !strings.HasPrefix(w, "whsec_") || len(w) < 12 || len(w) > 255 || strings.ContainsAny(w, " \t\r\n") {
			return apperr.New(apperr.Validation, "webhook secret %d is not a Stripe signing secret (whsec_…)", i+1).WithField(fmt.Sprintf("webhookSecrets[%d]", i))
		}
	}
	return nil
}

// hint is a key's mode prefix and last four characters: enough to tell keys apart, useless
// to anyone who would misuse it.
func hint(key string) string {
	prefix, _, _ := strings.Cut(key, "_")
	mode := "test"
	if strings.Contains(key, "_live_") {
		mode = "live"
	}
	return fmt.Sprintf("%s_%s_…%s", prefix, mode, key[len(key)-4:])
}

// finish unwraps v when its transaction was the call's own, and codes ent's errors.
func finish[T interface{ Unwrap() T }](v T, owned bool, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, inputError(err)
	}
	if owned {
		v = v.Unwrap()
	}
	return v, nil
}

// inputError turns ent's validation and constraint errors into coded ones.
func inputError(err error) error {
	if _, ok := apperr.As(err); ok {
		return err
	}
	if ent.IsValidationError(err) {
		return apperr.Wrap(apperr.Validation, err, err.Error())
	}
	if ent.IsConstraintError(err) {
		return apperr.Wrap(apperr.Conflict, err, "the change conflicts with an existing record; try again")
	}
	return err
}
