package server

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"books/internal/apperr"
	"books/internal/qbo/pull"
)

// Outcomes of books_qbo_webhook_notifications_total.
const (
	webhookNew          = "new"
	webhookDuplicate    = "duplicate"
	webhookUnknownRealm = "unknown_realm"
	webhookRejected     = "rejected"
)

func newWebhookMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "books_qbo_webhook_notifications_total",
		Help: `QuickBooks webhook notifications received, by outcome: "new" stored for a known company, ` +
			`"duplicate" already in the inbox, "unknown_realm" stored for a company no connection holds, ` +
			`"rejected" deliveries refused (signature, body), counted once per request.`,
	}, []string{"outcome"})
	reg.MustRegister(c)
	for _, o := range []string{webhookNew, webhookDuplicate, webhookUnknownRealm, webhookRejected} {
		c.WithLabelValues(o)
	}
	return c
}

// countStored is the intake's OnStore: what one store did, by outcome.
func (s *Server) countStored(st pull.Stored) {
	s.webhookNotes.WithLabelValues(webhookNew).Add(float64(st.New - st.UnknownRealm))
	s.webhookNotes.WithLabelValues(webhookUnknownRealm).Add(float64(st.UnknownRealm))
	s.webhookNotes.WithLabelValues(webhookDuplicate).Add(float64(st.Duplicates))
}

// webhookAnswer is the body of a 200 to a webhook delivery.
type webhookAnswer struct {
	// Received counts the delivery's notifications, all now in the inbox (new or already
	// there; the metrics tell which).
	Received int `json:"received"`
}

// qboWebhook serves POST /webhooks/qbo: Intuit's change notifications. The intake verifies
// the signature over the exact body, parses and stores; nothing is stored unless all of
// that succeeds. 401 for a bad signature, 400 for a signed body that is not a webhook body,
// 503 when the database is down (Intuit retries), 200 once stored.
func (s *Server) qboWebhook(w http.ResponseWriter, r *http.Request) {
	// limitBody has capped the body at MaxBodyBytes; a cut body fails the signature anyway.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.webhookNotes.WithLabelValues(webhookRejected).Inc()
		bodyReadError(w, r, err, s.cfg.MaxBodyBytes)
		return
	}
	n, err := s.cfg.QBOWebhook.Receive(r.Context(), body, r.Header.Get(pull.SignatureHeader))
	switch apperr.Code(err) {
	case "":
		writeJSON(w, http.StatusOK, webhookAnswer{Received: n})
	case apperr.Unauthenticated:
		s.webhookNotes.WithLabelValues(webhookRejected).Inc()
		s.fail(w, r, err)
	case apperr.Validation:
		s.webhookNotes.WithLabelValues(webhookRejected).Inc()
		s.failStatus(w, r, http.StatusBadRequest, err)
	default:
		// An outage is 503 UNAVAILABLE with Retry-After (see failStatus); Intuit retries.
		s.fail(w, r, err)
	}
}
