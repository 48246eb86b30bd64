package stripepay

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v76"

	"books/ent/stripeevent"
	"books/internal/tenant"
	"books/jobs"
)

// overlap is how far before its watermark the backstop lists again: an event may become
// listable a little after its created time, and listing one twice costs only a duplicate.
const overlap = 5 * time.Minute

// firstLook is how far before an account was added the first pass lists.
const firstLook = time.Hour

// handled are the event types Books acts on; the backstop lists only these.
var handled = []string{
	"charge.succeeded", "payment_intent.succeeded", "invoice.paid", "charge.refunded",
	"payment_intent.payment_failed", "payment_intent.processing", "payment_intent.canceled",
	"charge.dispute.created", "charge.dispute.closed",
}

// Backstop lists an account's events created since its watermark (less an overlap) and
// stores them in the inbox like webhooks, so an event whose webhook was lost is applied
// anyway. The watermark is Stripe's clock: the newest event's created time seen, so a skewed
// Books clock loses nothing. It returns how many events were new.
func (s *Service) Backstop(ctx context.Context, accountID string) (int, error) {
	sys := tenant.System(ctx)
	acct, err := s.Client.StripeAccount.Get(sys, accountID)
	if err != nil {
		return 0, err
	}
	key, err := s.secretKey(acct)
	if err != nil {
		return 0, err
	}
	since := acct.CreatedAt.Add(-firstLook)
	if acct.EventsThrough != nil {
		since = acct.EventsThrough.Add(-overlap)
	}
	params := &stripe.EventListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Types:        stripe.StringSlice(handled),
	}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := s.api(key).Events.List(params)
	var batch []received
	fresh, newest := 0, since
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		flags := make([]bool, len(batch))
		for i := range batch {
			batch[i].fresh = &flags[i]
		}
		if err := s.store(sys, batch); err != nil {
			return err
		}
		for _, f := range flags {
			if f {
				fresh++
			}
		}
		batch = batch[:0]
		return nil
	}
	for it.Next() {
		ev := it.Event()
		if ev.APIVersion != "" && ev.APIVersion != stripe.APIVersion {
			s.log().Warn("a Stripe event of another API version is not applied", "stripe_account", acct.ID,
				"event", ev.ID, "api_version", ev.APIVersion)
			continue
		}
		payload, err := eventJSON(ev)
		if err != nil {
			return fresh, err
		}
		batch = append(batch, received{acct: acct, via: stripeevent.ReceivedViaBackstop, event: *ev, payload: payload})
		if t := time.Unix(ev.Created, 0).UTC(); t.After(newest) {
			newest = t
		}
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return fresh, err
			}
		}
	}
	if err := it.Err(); err != nil {
		// What was listed is stored; the watermark stays, so the next pass lists it all again.
		return fresh, errors.Join(err, flush())
	}
	if err := flush(); err != nil {
		return fresh, err
	}
	return fresh, s.Client.StripeAccount.UpdateOne(acct).SetEventsThrough(newest).SetEventsPolledAt(s.now()).Exec(sys)
}

// BackstopArgs are the args of the periodic stripe_backstop job: one stripe_backstop_account
// job per account.
type BackstopArgs struct{}

// Kind is the job kind.
func (BackstopArgs) Kind() string { return "stripe_backstop" }

// IdempotencyKey: the job only enqueues.
func (BackstopArgs) IdempotencyKey() string { return "stripe_backstop" }

// InsertOpts: one pending pass.
func (BackstopArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// BackstopWorker works stripe_backstop jobs.
type BackstopWorker struct {
	river.WorkerDefaults[BackstopArgs]
	Service *Service
}

// Work enqueues each account's pass.
func (w *BackstopWorker) Work(ctx context.Context, _ *river.Job[BackstopArgs]) error {
	sys := tenant.System(ctx)
	accts, err := w.Service.Client.StripeAccount.Query().All(sys)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if _, err := w.Service.Runner.Insert(sys, BackstopAccountArgs{
			Tenant:          jobs.Tenant{OrganizationID: a.OrganizationID},
			Subject:         jobs.Subject{SubjectType: "stripe_account", SubjectID: a.ID},
			StripeAccountID: a.ID,
		}, nil); err != nil {
			return err
		}
	}
	return nil
}

// BackstopAccountArgs are the args of the stripe_backstop_account job.
type BackstopAccountArgs struct {
	jobs.Tenant
	jobs.Subject
	StripeAccountID string `json:"stripe_account_id"`
}

// Kind is the job kind.
func (BackstopAccountArgs) Kind() string { return "stripe_backstop_account" }

// InsertOpts: one pass per account at a time is enough.
func (BackstopAccountArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// IdempotencyKey names the account; a pass only reads Stripe.
func (a BackstopAccountArgs) IdempotencyKey() string {
	return "stripe_backstop_account:" + a.StripeAccountID
}

// BackstopAccountWorker works stripe_backstop_account jobs.
type BackstopAccountWorker struct {
	river.WorkerDefaults[BackstopAccountArgs]
	Service *Service
}

// Work lists the account's recent events into the inbox.
func (w *BackstopAccountWorker) Work(ctx context.Context, job *river.Job[BackstopAccountArgs]) error {
	_, err := w.Service.Backstop(ctx, job.Args.StripeAccountID)
	return err
}

// eventJSON is one listed event as a webhook would carry it, for the inbox's payload.
func eventJSON(ev *stripe.Event) ([]byte, error) {
	type data struct {
		Object             json.RawMessage        `json:"object"`
		PreviousAttributes map[string]interface{} `json:"previous_attributes,omitempty"`
	}
	out := struct {
		ID         string           `json:"id"`
		Object     string           `json:"object"`
		APIVersion string           `json:"api_version"`
		Created    int64            `json:"created"`
		Data       data             `json:"data"`
		Livemode   bool             `json:"livemode"`
		Type       stripe.EventType `json:"type"`
	}{ID: ev.ID, Object: "event", APIVersion: ev.APIVersion, Created: ev.Created, Livemode: ev.Livemode, Type: ev.Type}
	if ev.Data != nil {
		out.Data = data{Object: ev.Data.Raw, PreviousAttributes: ev.Data.PreviousAttributes}
	}
	return json.Marshal(out)
}

// BackstopEvery is how often the backstop lists each account's events.
const BackstopEvery = 5 * time.Minute

// BackstopPeriodic is the periodic job of the backstop.
func BackstopPeriodic() jobs.Periodic {
	return jobs.Periodic{Every: BackstopEvery, Args: func() jobs.Args { return BackstopArgs{} }, RunOnStart: true}
}
