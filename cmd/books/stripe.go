package main

import (
	"flag"
	"log/slog"

	"entgo.io/ent/dialect"

	"books/internal/adminq"
	"books/internal/database"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
	"books/internal/stripepay"
	"books/jobs"
)

// stripeFlags are the settings of the Stripe integration. The accounts themselves (keys,
// webhook secrets) are data, added through the API.
type stripeFlags struct {
	apiURL string
}

func (f *stripeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.apiURL, "stripe-api-url", env("BOOKS_STRIPE_API_URL", ""),
		"base URL of Stripe's API (empty: Stripe's own); --demo points it at the in-process Stripe fake")
}

// newStripe wires the Stripe integration. It shares QuickBooks' reconciliation queue when
// there is one (one queue, one subscription) and tells the push engine of what Stripe's
// events record. Its Runner is set once the runner exists.
func newStripe(c *common, db *database.DB, queue *adminq.Queue, qb *quickBooks, apiURL string, log *slog.Logger) (*stripepay.Service, error) {
	box, err := c.secretBox(log)
	if err != nil {
		return nil, err
	}
	s := &stripepay.Service{Box: box, APIURL: apiURL, Issues: queue, Logger: log, Client: db.Client(),
		Queue: &recon.Queue{Broker: queue.Broker}}
	if qb != nil {
		s.Queue = qb.puller.Queue
		s.Changed = qb.engine.Changed
	}
	if db.Dialect == dialect.Postgres {
		// Keyed "stripe:<account>", apart from QuickBooks' locks.
		s.Lease = push.PostgresLease(db.SQL)
	}
	return s, nil
}

// registerStripeJobs adds the integration's job kinds and periodic jobs.
func registerStripeJobs(kinds *jobs.Kinds, s *stripepay.Service) []jobs.Periodic {
	jobs.Register(kinds, &stripepay.InboxWorker{Service: s})
	jobs.Register(kinds, &stripepay.RefundWorker{Service: s})
	jobs.Register(kinds, &stripepay.RetryWorker{Service: s})
	jobs.Register(kinds, &stripepay.BackstopWorker{Service: s})
	jobs.Register(kinds, &stripepay.BackstopAccountWorker{Service: s})
	return []jobs.Periodic{stripepay.BackstopPeriodic()}
}
