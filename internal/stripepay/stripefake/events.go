package stripefake

import (
	"encoding/json"
	"strings"
)

// tx is one operation: an API call or a helper. It collects the events the
// operation emits so that they are queued together, as one batch (the unit
// Faults.Reorder shuffles).
type tx struct {
	s       *Server
	acct    *account
	reqID   string // the API request behind the events; "" for helpers
	idemKey string
	events  []*event
}

func (s *Server) begin(acct *account) *tx { return &tx{s: s, acct: acct} }

// emit records an event whose data.object is a snapshot of obj now.
func (t *tx) emit(typ string, obj any, previous map[string]any) {
	s := t.s
	ev := &event{
		owned:     owned{acct: t.acct, seq: s.nextSeq()},
		id:        newID("evt_"),
		typ:       typ,
		created:   s.unixNow(),
		object:    mustJSON(obj),
		previous:  previous,
		requestID: t.reqID,
		idemKey:   t.idemKey,
	}
	if t.acct.hook != nil {
		ev.pending = 1
	}
	s.events[ev.id] = ev
	t.acct.events = append(t.acct.events, ev)
	t.events = append(t.events, ev)
}

// commit queues the operation's events for delivery.
func (t *tx) commit() {
	t.s.enqueue(t.acct, t.events)
	t.events = nil
}

type event struct {
	owned
	id        string
	typ       string
	created   int64
	object    json.RawMessage
	previous  map[string]any
	requestID string
	idemKey   string
	pending   int // webhook endpoints still to answer 2xx: 0 or 1
}

// MarshalJSON renders the event as Stripe sends and lists it.
func (e *event) MarshalJSON() ([]byte, error) {
	type data struct {
		Object             json.RawMessage `json:"object"`
		PreviousAttributes map[string]any  `json:"previous_attributes,omitempty"`
	}
	type request struct {
		ID             *string `json:"id"`
		IdempotencyKey *string `json:"idempotency_key"`
	}
	return json.Marshal(struct {
		ID              string  `json:"id"`
		Object          string  `json:"object"`
		APIVersion      string  `json:"api_version"`
		Created         int64   `json:"created"`
		Data            data    `json:"data"`
		Livemode        bool    `json:"livemode"`
		PendingWebhooks int     `json:"pending_webhooks"`
		Request         request `json:"request"`
		Type            string  `json:"type"`
	}{
		ID:              e.id,
		Object:          "event",
		APIVersion:      APIVersion,
		Created:         e.created,
		Data:            data{Object: e.object, PreviousAttributes: e.previous},
		PendingWebhooks: e.pending,
		Request:         request{ID: optString(e.requestID), IdempotencyKey: optString(e.idemKey)},
		Type:            e.typ,
	})
}

// listEvents serves GET /v1/events.
func (s *Server) listEvents(c *call) (json.RawMessage, *Error) {
	q, err := s.parsePage(c, "event")
	if err != nil {
		return nil, err
	}
	created, err := parseCreated(c)
	if err != nil {
		return nil, err
	}
	typ, types := c.form.Get("type"), formList(c.form, "types")
	if typ != "" && len(types) > 0 {
		return nil, badParam("parameters_exclusive", "types", "You may only specify one of these parameters: type, types.")
	}
	if len(types) > 20 {
		return nil, badParam("", "types", "You may pass at most 20 types.")
	}
	if typ != "" {
		types = []string{typ}
	}
	var match []*event
	for _, ev := range c.acct.events {
		if created.match(ev.created) && typeMatch(types, ev.typ) {
			match = append(match, ev)
		}
	}
	return renderPage(s, c.acct, "/v1/events", match, q)
}

// createdRange is the created filter of a list: created=, created[gt]= ...
type createdRange struct {
	gt, gte, lt, lte *int64
}

func (r createdRange) match(t int64) bool {
	return (r.gt == nil || t > *r.gt) && (r.gte == nil || t >= *r.gte) &&
		(r.lt == nil || t < *r.lt) && (r.lte == nil || t <= *r.lte)
}

func parseCreated(c *call) (createdRange, *Error) {
	var r createdRange
	exact, ok, err := formInt(c.form, "created")
	if err != nil {
		return r, err
	}
	if ok {
		r.gte, r.lte = &exact, &exact
	}
	for _, b := range []struct {
		op  string
		dst **int64
	}{{"gt", &r.gt}, {"gte", &r.gte}, {"lt", &r.lt}, {"lte", &r.lte}} {
		v, ok, err := formInt(c.form, "created["+b.op+"]")
		if err != nil {
			return r, err
		}
		if ok {
			*b.dst = &v
		}
	}
	return r, nil
}

// typeMatch reports whether typ is one of types, where "*" matches any
// rest of a name, as in "charge.*" or "charge.dispute.*". No types match all.
func typeMatch(types []string, typ string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if prefix, ok := strings.CutSuffix(t, "*"); ok {
			if strings.HasPrefix(typ, prefix) {
				return true
			}
		} else if t == typ {
			return true
		}
	}
	return false
}

// Events returns every event of the account, oldest first, as the API
// renders them now (pending_webhooks is current). Unknown keys have none.
func (s *Server) Events(secretKey string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.bySecret[secretKey]
	if !ok {
		return nil
	}
	out := make([]json.RawMessage, 0, len(a.events))
	for _, ev := range a.events {
		out = append(out, mustJSON(ev))
	}
	return out
}
