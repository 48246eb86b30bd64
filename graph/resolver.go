// Package graph is the GraphQL API: hand-written *.graphqls schemas, thin resolvers that
// call domain packages, and the generated executor in graph/generated.
package graph

import (
	"database/sql"

	"books/ent"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/realtime"
	"books/internal/stripepay"
)

// Resolver holds what resolvers share. Resolvers read the (transactional) ent client from
// the request context; Client is only the fallback outside a request.
type Resolver struct {
	Client *ent.Client
	Auth   *auth.Service
	// Broker streams change events to subscriptions (adminIssues); Queue raises and
	// settles admin issues and announces them on it.
	Broker realtime.Broker
	Queue  *adminq.Queue
	// QuickBooks is the QuickBooks Online integration; nil when the server has none (its
	// mutations then answer QBO_NOT_CONNECTED).
	QuickBooks *QuickBooks
	// Stripe takes payments through Stripe; nil when the server has none (its mutations then
	// answer STRIPE_NOT_CONFIGURED).
	Stripe *stripepay.Service
	// SQL and Dialect (entgo.io/ent/dialect's names) read tables ent does not own: River's.
	SQL     *sql.DB
	Dialect string

	zones billing.Zones
}

// queue returns the admin issue queue: Queue, or one announcing on Broker whose retries
// fail for want of a job queue.
func (r *Resolver) queue() *adminq.Queue {
	if r.Queue != nil {
		return r.Queue
	}
	return &adminq.Queue{Broker: r.Broker, Client: r.Client}
}
