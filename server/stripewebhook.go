package server

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"books/internal/apperr"
	"books/internal/stripepay"
)

func newStripeMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "books_stripe_events_total",
		Help: `Stripe events received by webhook or listed by the backstop, by outcome: "new" stored, ` +
			`"duplicate" already in the inbox, "rejected" webhook deliveries refused (account, signature, body).`,
	}, []string{"outcome"})
	reg.MustRegister(c)
	for _, o := range []string{webhookNew, webhookDuplicate, webhookRejected} {
		c.WithLabelValues(o)
	}
	return c
}

// stripeWebhookAnswer is the body of a 200 to a Stripe delivery.
type stripeWebhookAnswer struct {
	Received  bool `json:"received"`
	Duplicate bool `json:"duplicate"`
}

// stripeWebhook serves POST /webhooks/stripe/{accountId}: the account's secrets verify the
// signature over the exact body, and the event is stored in the inbox before the answer; it
// is applied by a job. 404 for an unknown account, 401 for a missing, wrong or expired
// signature, 400 for a signed body that is not an event Books reads, 503 when the database
// is down (Stripe retries), 200 once stored (a replay too, marked duplicate).
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.stripeEvents.WithLabelValues(webhookRejected).Inc()
		bodyReadError(w, r, err, s.cfg.MaxBodyBytes)
		return
	}
	dup, err := s.cfg.Stripe.Receive(r.Context(), r.PathValue("accountId"), body, r.Header.Get(stripepay.SignatureHeader))
	switch apperr.Code(err) {
	case "":
		writeJSON(w, http.StatusOK, stripeWebhookAnswer{Received: true, Duplicate: dup})
	case apperr.NotFound, apperr.Unauthenticated:
		s.stripeEvents.WithLabelValues(webhookRejected).Inc()
		s.fail(w, r, err)
	case apperr.Validation:
		s.stripeEvents.WithLabelValues(webhookRejected).Inc()
		s.failStatus(w, r, http.StatusBadRequest, err)
	default:
		s.fail(w, r, err)
	}
}
