// Package stripepay takes payments through Stripe: the organization's Stripe accounts and the
// billing profiles that say which account each legal entity uses, PaymentIntents for portal
// clients paying invoices, the webhook intake and its durable inbox, the events' postings to
// the right entity's ledger, refunds, and the backstop that lists events a webhook lost.
//
// Money moves in Books only when Stripe's events say it moved: a PaymentIntent created for the
// portal posts nothing, and a refund asked of Stripe posts when charge.refunded confirms it.
// Every event is stored (unique per account and event id) before it is answered and applied
// in one transaction with its effects, and every effect is keyed by a Stripe id (a payment by
// its PaymentIntent, a refund by re_…, a charge reversal by dp_…), so deliveries that are
// duplicated, reordered or lost and listed later still apply once.
package stripepay

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"books/ent"
	"books/ent/qbolink"
	"books/internal/adminq"
	"books/internal/groupcommit"
	"books/internal/money"
	"books/internal/qbo/recon"
	"books/internal/secrets"
	"books/jobs"
)

// Service reaches Stripe for every account of the process.
type Service struct {
	// Box seals and opens the accounts' secret keys and webhook signing secrets.
	Box *secrets.Box
	// APIURL is the base URL of Stripe's API; empty is Stripe's own. The demo and the tests
	// point it at the in-repo fake (stripefake) or stripe-mock.
	APIURL string
	// HTTPClient calls Stripe; nil is a client with a 30-second timeout.
	HTTPClient *http.Client
	// Queue is the reconciliation queue money Books cannot place is raised on.
	Queue *recon.Queue
	// Issues raises what a person must see (a dispute opened, an event that keeps failing).
	Issues *adminq.Queue
	// Runner enqueues the inbox, refund and backstop jobs in the caller's transaction.
	Runner *jobs.Runner
	// Lease, when set, makes one process at a time work an account's inbox (PostgreSQL
	// advisory locks); an in-process lock always applies.
	Lease func(ctx context.Context, key string) (release func(), err error)
	// Tolerance is how old a webhook's signed timestamp may be; 0 is Stripe's default, five
	// minutes.
	Tolerance time.Duration
	// OnStore, when set, is told how many events each intake store kept new and duplicate.
	OnStore func(fresh, duplicate int)
	Logger  *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time

	// Changed, when set, is told of each record an event or a person's match created or
	// changed, in the same transaction (the QuickBooks push engine's automatic rules).
	Changed func(ctx context.Context, c *ent.Client, t qbolink.RecordType, id string) error
	// Client is the database the intake stores in and the jobs work on.
	Client *ent.Client

	intake     groupcommit.Batcher[received]
	intakeOnce sync.Once
}

// changed tells Changed of records, in c's transaction.
func (s *Service) changed(ctx context.Context, c *ent.Client, t qbolink.RecordType, ids ...string) error {
	if s.Changed == nil {
		return nil
	}
	for _, id := range ids {
		if err := s.Changed(ctx, c, t, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// api returns a Stripe client with the account's secret key. stripe-go's own logging is
// off: Books logs what it needs, and never a key.
func (s *Service) api(key string) *client.API {
	hc := s.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cfg := &stripe.BackendConfig{
		HTTPClient:        hc,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(2),
	}
	if s.APIURL != "" {
		cfg.URL = stripe.String(s.APIURL)
	}
	return client.New(key, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, cfg),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg),
	})
}

// minorUnits converts an amount to Stripe's integer amount in the currency's smallest unit;
// the ledger keeps every posting to whole minor units, so nothing is rounded.
func minorUnits(a money.Amount, cur money.Currency) int64 {
	return a.Units() / pow10(money.Scale-cur.MinorUnits())
}

// fromMinor is minorUnits' inverse.
func fromMinor(n int64, cur money.Currency) money.Amount {
	return money.FromUnits(n * pow10(money.Scale-cur.MinorUnits()))
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
