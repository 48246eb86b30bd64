package stripepay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent"
	"books/ent/stripeevent"
	"books/internal/apperr"
	"books/internal/groupcommit"
	"books/internal/ids"
	"books/internal/tenant"
	"books/jobs"
)

// SignatureHeader is the header Stripe signs a webhook in.
const SignatureHeader = "Stripe-Signature"

// received is one event to store in an account's inbox.
type received struct {
	acct    *ent.StripeAccount
	via     stripeevent.ReceivedVia
	event   stripe.Event
	payload []byte
	fresh   *bool // set by the store: false when the event was already in the inbox
}

// Receive verifies a webhook delivery to accountID with the account's signing secrets (any
// of them, so a rotation loses nothing) and stores the event in the account's inbox, with a
// job to apply it, before it returns: an event acknowledged is an event kept. A replay of an
// event already stored is acknowledged and ignored (duplicate true). An unknown account is
// NOT_FOUND; a missing or wrong signature, or a timestamp outside the tolerance,
// UNAUTHENTICATED; a signed body that is not an event of the pinned API version (or of the
// other mode), VALIDATION. Nothing is stored on any error.
func (s *Service) Receive(ctx context.Context, accountID string, body []byte, signature string) (duplicate bool, err error) {
	sys := tenant.System(ctx)
	acct, err := s.Client.StripeAccount.Get(sys, accountID)
	if ent.IsNotFound(err) {
		return false, apperr.New(apperr.NotFound, "no Stripe account %q", accountID)
	}
	if err != nil {
		return false, err
	}
	if signature == "" {
		return false, apperr.New(apperr.Unauthenticated, "the %s header is missing", SignatureHeader)
	}
	secrets, err := s.webhookSecrets(acct)
	if err != nil {
		return false, err
	}
	if len(secrets) == 0 {
		return false, apperr.New(apperr.Unauthenticated, "the Stripe account has no webhook signing secret")
	}
	ev, err := s.verify(body, signature, secrets)
	if err != nil {
		return false, err
	}
	if ev.Livemode != acct.Livemode {
		return false, apperr.New(apperr.Validation, "a %s event sent to a %s account", mode(ev.Livemode), mode(acct.Livemode))
	}
	fresh := false
	r := received{acct: acct, via: stripeevent.ReceivedViaWebhook, event: ev, payload: body, fresh: &fresh}
	if err := s.batcher().Submit(ctx, []received{r}); err != nil {
		return false, err
	}
	return !fresh, nil
}

// verify checks the signature against each secret; the event must be of the API version
// Books reads (stripe.APIVersion), since objects of another version may decode wrongly.
func (s *Service) verify(body []byte, signature string, secrets []string) (stripe.Event, error) {
	opts := webhook.ConstructEventOptions{Tolerance: s.Tolerance, IgnoreAPIVersionMismatch: true}
	var last error
	for _, secret := range secrets {
		ev, err := webhook.ConstructEventWithOptions(body, signature, secret, opts)
		if err == nil {
			if ev.APIVersion != stripe.APIVersion {
				return ev, apperr.New(apperr.Validation, "event of Stripe API version %q; pin the webhook endpoint to %s", ev.APIVersion, stripe.APIVersion)
			}
			if ev.ID == "" || ev.Type == "" || ev.Data == nil {
				return ev, apperr.New(apperr.Validation, "the body is not a Stripe event")
			}
			return ev, nil
		}
		last = err
		if !errors.Is(err, webhook.ErrNoValidSignature) {
			break // the header or the timestamp is wrong whatever the secret
		}
	}
	switch {
	case errors.Is(last, webhook.ErrTooOld):
		return stripe.Event{}, apperr.New(apperr.Unauthenticated, "the %s timestamp is outside the tolerance", SignatureHeader)
	case errors.Is(last, webhook.ErrNotSigned), errors.Is(last, webhook.ErrInvalidHeader):
		return stripe.Event{}, apperr.New(apperr.Unauthenticated, "the %s header is malformed", SignatureHeader)
	case errors.Is(last, webhook.ErrNoValidSignature):
		return stripe.Event{}, apperr.New(apperr.Unauthenticated, "the %s header does not match the body", SignatureHeader)
	}
	return stripe.Event{}, apperr.New(apperr.Validation, "the body is not a Stripe event")
}

func mode(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

func (s *Service) batcher() *groupcommit.Batcher[received] {
	s.intakeOnce.Do(func() {
		s.intake.Store = s.store
		s.intake.OnPanic = func(v any, stack []byte) {
			s.log().Error("panic storing Stripe events", "panic", v, "stack", string(stack))
		}
	})
	return &s.intake
}

// store writes events to their accounts' inboxes (a duplicate collapsing into the row there)
// and enqueues one inbox job per account that got a new one, in one transaction.
func (s *Service) store(ctx context.Context, rs []received) error {
	sys := tenant.System(ctx)
	tx, err := s.Client.Tx(sys)
	if err != nil {
		return err
	}
	c := tx.Client()
	err = func() error {
		kick := map[string]*ent.StripeAccount{}
		for _, r := range rs {
			obj, _ := objectID(r.event)
			n, err := c.StripeEvent.Create().SetID(ids.New(ids.StripeEvent)).
				SetOrganizationID(r.acct.OrganizationID).SetStripeAccountID(r.acct.ID).
				SetEventID(r.event.ID).SetType(truncate(string(r.event.Type), 100)).SetObjectID(truncate(obj, 255)).
				SetStripeCreatedAt(time.Unix(r.event.Created, 0).UTC()).SetReceivedVia(r.via).
				SetPayload(string(r.payload)).
				OnConflictColumns(stripeevent.FieldStripeAccountID, stripeevent.FieldEventID).DoNothing().ID(sys)
			switch {
			case isNoRows(err):
				continue
			case err != nil:
				return err
			}
			_ = n
			if r.fresh != nil {
				*r.fresh = true
			}
			kick[r.acct.ID] = r.acct
		}
		for _, acct := range kick {
			if err := s.kick(sys, c, acct); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if s.OnStore != nil {
		fresh := 0
		for _, r := range rs {
			if r.fresh != nil && *r.fresh {
				fresh++
			}
		}
		s.OnStore(fresh, len(rs)-fresh)
	}
	return nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// truncate cuts s to at most n bytes on a rune boundary (Stripe's texts are not ours to
// bound).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// objectID is the id of the object an event is about.
func objectID(ev stripe.Event) (string, error) {
	if ev.Data == nil {
		return "", fmt.Errorf("stripepay: event %s has no data", ev.ID)
	}
	var o struct {
		ID string `json:"id"`
	}
	err := json.Unmarshal(ev.Data.Raw, &o)
	return o.ID, err
}

// InboxArgs are the args of the stripe_inbox job: apply an account's pending events.
type InboxArgs struct {
	jobs.Tenant
	jobs.Subject
	StripeAccountID string `json:"stripe_account_id"`
}

// Kind is the job kind.
func (InboxArgs) Kind() string { return "stripe_inbox" }

// IdempotencyKey names the account; every effect of an event is keyed by a Stripe id.
func (a InboxArgs) IdempotencyKey() string { return "stripe_inbox:" + a.StripeAccountID }

// InsertOpts: Stripe or the database down for a while only delays processing.
func (InboxArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// kick enqueues the processing of an account's inbox in c's transaction. Every store gets
// its own job: a job finishing may have read the inbox before this store committed.
func (s *Service) kick(ctx context.Context, c *ent.Client, acct *ent.StripeAccount) error {
	if s.Runner == nil {
		return nil
	}
	return s.Runner.InsertTx(ctx, c, InboxArgs{
		Tenant:          jobs.Tenant{OrganizationID: acct.OrganizationID},
		Subject:         jobs.Subject{SubjectType: "stripe_account", SubjectID: acct.ID},
		StripeAccountID: acct.ID,
	}, nil)
}

// WebhookPath is the path (on Books' public address) of an account's webhook endpoint.
func WebhookPath(accountID string) string { return "/webhooks/stripe/" + accountID }
