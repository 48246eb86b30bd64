package stripefake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// call is one API request being served.
type call struct {
	*tx
	form        url.Values
	id          string // the {id} of the path
	publishable bool   // authenticated by the publishable key
}

type apiFunc func(c *call) (json.RawMessage, *Error)

// idemEntry is the answer kept under an idempotency key.
type idemEntry struct {
	fingerprint string // method, path and parameters of the first request
	status      int
	body        []byte
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn apiFunc) { mux.Handle(pattern, s.api(fn, false)) }
	handle("POST /v1/payment_intents", s.createPaymentIntent)
	handle("GET /v1/payment_intents/{id}", s.getter("payment_intent"))
	handle("POST /v1/payment_intents/{id}", s.updatePaymentIntent)
	handle("POST /v1/payment_intents/{id}/cancel", s.cancelPaymentIntent)
	mux.Handle("POST /v1/payment_intents/{id}/confirm", s.api(s.confirmPaymentIntent, true))
	handle("GET /v1/charges", s.listCharges)
	handle("GET /v1/charges/{id}", s.getter("charge"))
	handle("POST /v1/refunds", s.createRefund)
	handle("GET /v1/refunds", s.listRefunds)
	handle("GET /v1/refunds/{id}", s.getter("refund"))
	handle("GET /v1/disputes/{id}", s.getter("dispute"))
	handle("GET /v1/invoices/{id}", s.getter("invoice"))
	handle("GET /v1/balance_transactions/{id}", s.getter("balance_transaction"))
	handle("GET /v1/events", s.listEvents)
	handle("GET /v1/events/{id}", s.getter("event"))
	// Stripe answers an unknown path or method with a 404, after checking
	// the key.
	mux.Handle("/", s.api(nil, false))
	return mux
}

// api wraps fn with what every Stripe endpoint does: authentication, the
// version check, idempotency, and JSON answers with a Request-Id.
func (s *Server) api(fn apiFunc, publishableOK bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := "req_" + randString(14)
		h := w.Header()
		h.Set("Request-Id", reqID)
		h.Set("Stripe-Version", APIVersion)
		h.Set("Content-Type", "application/json")
		status, body := s.serve(r, reqID, fn, publishableOK, h)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

func (s *Server) serve(r *http.Request, reqID string, fn apiFunc, publishableOK bool, h http.Header) (int, []byte) {
	key := apiKey(r)
	if key == "" {
		return errorBody(&Error{Status: http.StatusUnauthorized, Type: typeInvalidRequest,
			Message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."})
	}
	// Read the body before locking: it may be slow to arrive.
	parseErr := r.ParseForm()

	s.mu.Lock()
	defer s.mu.Unlock()
	acct, publishable := s.bySecret[key], false
	if acct == nil {
		if a, ok := s.byPublishable[key]; ok {
			acct, publishable = a, true
		}
	}
	if acct == nil {
		return errorBody(&Error{Status: http.StatusUnauthorized, Type: typeInvalidRequest,
			Message: "Invalid API Key provided: " + maskKey(key)})
	}
	if fn == nil {
		return errorBody(&Error{Status: http.StatusNotFound, Type: typeInvalidRequest,
			Message: "Unrecognized request URL (" + r.Method + ": " + r.URL.Path + ")."})
	}
	if publishable && !publishableOK {
		return errorBody(&Error{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: "secret_key_required",
			Message: "This API call cannot be made with a publishable API key. Please use a secret API key."})
	}
	if v := r.Header.Get("Stripe-Version"); v != "" && v != APIVersion {
		return errorBody(badParam("", "", "This fake speaks Stripe API version %s only, not %s.", APIVersion, v))
	}
	if parseErr != nil {
		return errorBody(badParam("", "", "Invalid request body: %v", parseErr))
	}

	c := &call{tx: s.begin(acct), form: r.Form, id: r.PathValue("id"), publishable: publishable}
	c.reqID = reqID
	var fingerprint string
	if r.Method == http.MethodPost {
		c.idemKey = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	}
	if c.idemKey != "" {
		fingerprint = r.Method + " " + r.URL.Path + "\n" + r.Form.Encode()
		if e, ok := acct.idem[c.idemKey]; ok {
			if e.fingerprint != fingerprint {
				return errorBody(&Error{Status: http.StatusBadRequest, Type: typeIdempotency,
					Message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '" +
						c.idemKey + "' if you meant to execute a different request."})
			}
			h.Set("Idempotent-Replayed", "true")
			return e.status, e.body
		}
	}

	out, apiErr := fn(c)
	status, body := http.StatusOK, []byte(out)
	if apiErr != nil {
		status, body = errorBody(apiErr)
	}
	// Events go out even when the call fails: a declined card is a 402
	// that still emits payment_intent.payment_failed.
	c.commit()
	if c.idemKey != "" && (apiErr == nil || !apiErr.validation) {
		acct.idem[c.idemKey] = &idemEntry{fingerprint: fingerprint, status: status, body: body}
	}
	return status, body
}

func errorBody(e *Error) (int, []byte) {
	return e.Status, mustJSON(struct {
		Error wireError `json:"error"`
	}{e.wire()})
}

// apiKey reads the key as stripe-go sends it (Bearer) or as curl -u does
// (Basic, key as the user name).
func apiKey(r *http.Request) string {
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	return ""
}

// maskKey hides all but the last four characters, so a key pasted into the
// wrong place does not end up whole in logs.
func maskKey(k string) string {
	if len(k) <= 4 {
		return strings.Repeat("*", len(k))
	}
	return strings.Repeat("*", len(k)-4) + k[len(k)-4:]
}

// getter serves GET /v1/<kind>s/{id} for any stored record.
func (s *Server) getter(kind string) apiFunc {
	return func(c *call) (json.RawMessage, *Error) {
		rec := s.lookup(c.acct, c.id)
		if rec == nil || kindOf(c.id) != kind {
			return nil, noSuch(http.StatusNotFound, kind, c.id, "id")
		}
		return s.render(c.acct, rec, formList(c.form, "expand"))
	}
}

// kindOf names the object type an id's prefix stands for.
func kindOf(id string) string {
	prefix, _, _ := strings.Cut(id, "_")
	switch prefix {
	case "pi":
		return "payment_intent"
	case "ch", "py":
		return "charge"
	case "re":
		return "refund"
	case "dp":
		return "dispute"
	case "in":
		return "invoice"
	case "txn":
		return "balance_transaction"
	case "evt":
		return "event"
	}
	return ""
}

// lookup finds a record of acct by id; records of other accounts do not
// exist for it, as at Stripe.
func (s *Server) lookup(acct *account, id string) record {
	var rec record
	switch kindOf(id) {
	case "payment_intent":
		if v, ok := s.pis[id]; ok {
			rec = v
		}
	case "charge":
		if v, ok := s.charges[id]; ok {
			rec = v
		}
	case "refund":
		if v, ok := s.refunds[id]; ok {
			rec = v
		}
	case "dispute":
		if v, ok := s.disputes[id]; ok {
			rec = v
		}
	case "invoice":
		if v, ok := s.invoices[id]; ok {
			rec = v
		}
	case "balance_transaction":
		if v, ok := s.txns[id]; ok {
			rec = v
		}
	case "event":
		if v, ok := s.events[id]; ok {
			rec = v
		}
	}
	if rec == nil || rec.owner().acct != acct {
		return nil
	}
	return rec
}

// expandable lists, per object type, the fields expand[] may name.
var expandable = map[string]map[string]bool{
	"payment_intent": {"latest_charge": true, "invoice": true},
	"charge":         {"refunds": true, "balance_transaction": true, "payment_intent": true, "invoice": true},
	"refund":         {"charge": true, "payment_intent": true, "balance_transaction": true},
	"dispute":        {"charge": true, "payment_intent": true},
	"invoice":        {"charge": true, "payment_intent": true},
}

// render marshals rec with the expansions asked for.
func (s *Server) render(acct *account, rec any, expand []string) (json.RawMessage, *Error) {
	b := mustJSON(rec)
	if len(expand) == 0 {
		return b, nil
	}
	m := decodeObject(b)
	for _, path := range expand {
		if err := s.expand(acct, m, strings.Split(path, "."), path); err != nil {
			return nil, err
		}
	}
	return mustJSON(m), nil
}

func (s *Server) expand(acct *account, m map[string]any, parts []string, path string) *Error {
	typ, _ := m["object"].(string)
	field := parts[0]
	if typ == "list" && field == "data" && len(parts) > 1 {
		items, _ := m["data"].([]any)
		for _, it := range items {
			if obj, ok := it.(map[string]any); ok {
				if err := s.expand(acct, obj, parts[1:], path); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !expandable[typ][field] {
		return badParam("", "expand", "This property cannot be expanded (%s).", path)
	}
	var v map[string]any
	switch cur := m[field].(type) {
	case string:
		rec := s.lookup(acct, cur)
		if rec == nil {
			return nil
		}
		v = decodeObject(mustJSON(rec))
	case map[string]any:
		v = cur // expanded by an earlier path
	case nil:
		id, _ := m["id"].(string)
		ch, ok := s.charges[id]
		if typ != "charge" || field != "refunds" || !ok {
			return nil
		}
		// API 2023-10-16 dropped refunds from the charge; expanding brings
		// back the list as it was: the newest ten.
		v = decodeObject(s.chargeRefunds(ch))
	default:
		return nil
	}
	if len(parts) > 1 {
		if err := s.expand(acct, v, parts[1:], path); err != nil {
			return err
		}
	}
	m[field] = v
	return nil
}

func decodeObject(b []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // keeps amounts exact through the round trip
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic("stripefake: decode own JSON: " + err.Error())
	}
	return m
}

// pageQuery is the paging of a list request.
type pageQuery struct {
	limit         int
	startingAfter int64 // sequence of the cursor record; 0 for none
	endingBefore  int64
	expand        []string // for each item, "data." removed
}

func (s *Server) parsePage(c *call, kind string) (pageQuery, *Error) {
	q := pageQuery{limit: 10}
	if v := c.form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return q, badParam("parameter_invalid_integer", "limit", "Invalid integer: %s", v)
		}
		if n < 1 || n > 100 {
			return q, badParam("parameter_invalid_integer", "limit", "Invalid limit: must be between 1 and 100")
		}
		q.limit = n
	}
	after, before := c.form.Get("starting_after"), c.form.Get("ending_before")
	if after != "" && before != "" {
		return q, badParam("parameters_exclusive", "ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	for _, p := range []struct {
		param, id string
		seq       *int64
	}{{"starting_after", after, &q.startingAfter}, {"ending_before", before, &q.endingBefore}} {
		if p.id == "" {
			continue
		}
		rec := s.lookup(c.acct, p.id)
		if rec == nil || kindOf(p.id) != kind {
			return q, noSuch(http.StatusBadRequest, kind, p.id, p.param)
		}
		*p.seq = rec.owner().seq
	}
	for _, e := range formList(c.form, "expand") {
		rest, ok := strings.CutPrefix(e, "data.")
		if !ok {
			return q, badParam("", "expand", "This property cannot be expanded (%s).", e)
		}
		q.expand = append(q.expand, rest)
	}
	return q, nil
}

// renderPage renders the page q picks from items (oldest first) as a list,
// newest first. The cursor is placed by creation sequence, so a cursor that
// the filters left out still pages correctly.
func renderPage[T record](s *Server, acct *account, url string, items []T, q pageQuery) (json.RawMessage, *Error) {
	var cand []T // newest first
	for i := len(items) - 1; i >= 0; i-- {
		seq := items[i].owner().seq
		if q.startingAfter != 0 && seq >= q.startingAfter {
			continue
		}
		if q.endingBefore != 0 && seq <= q.endingBefore {
			continue
		}
		cand = append(cand, items[i])
	}
	hasMore := len(cand) > q.limit
	if hasMore {
		if q.endingBefore != 0 {
			cand = cand[len(cand)-q.limit:] // the page right before the cursor
		} else {
			cand = cand[:q.limit]
		}
	}
	list := listObject{Object: "list", Data: []json.RawMessage{}, HasMore: hasMore, URL: url}
	for _, it := range cand {
		b, err := s.render(acct, it, q.expand)
		if err != nil {
			return nil, err
		}
		list.Data = append(list.Data, b)
	}
	return mustJSON(list), nil
}

// formList reads an array parameter as stripe-go encodes it (name[0],
// name[1], ...); name[] and a bare name are accepted too.
func formList(f url.Values, name string) []string {
	type item struct {
		i int
		v string
	}
	var indexed []item
	var plain []string
	for k, vs := range f {
		switch {
		case k == name || k == name+"[]":
			plain = append(plain, vs...)
		case strings.HasPrefix(k, name+"[") && strings.HasSuffix(k, "]"):
			i, err := strconv.Atoi(k[len(name)+1 : len(k)-1])
			if err != nil {
				continue
			}
			for _, v := range vs {
				indexed = append(indexed, item{i, v})
			}
		}
	}
	sort.SliceStable(indexed, func(a, b int) bool { return indexed[a].i < indexed[b].i })
	var out []string
	for _, it := range indexed {
		out = append(out, it.v)
	}
	for _, v := range plain {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// formMap reads a hash parameter (metadata[key]=value).
func formMap(f url.Values, name string) map[string]string {
	out := map[string]string{}
	for k, vs := range f {
		if key, ok := strings.CutPrefix(k, name+"["); ok && strings.HasSuffix(key, "]") && len(vs) > 0 {
			out[strings.TrimSuffix(key, "]")] = vs[0]
		}
	}
	return out
}

// formInt reads an integer parameter; ok is false when it is absent.
func formInt(f url.Values, name string) (v int64, ok bool, err *Error) {
	raw := f.Get(name)
	if raw == "" {
		return 0, false, nil
	}
	n, perr := strconv.ParseInt(raw, 10, 64)
	if perr != nil {
		return 0, false, badParam("parameter_invalid_integer", name, "Invalid integer: %s", raw)
	}
	return n, true, nil
}

// parseMetadata validates metadata as Stripe limits it: 50 keys, keys of 40
// characters, values of 500.
func parseMetadata(f url.Values) (map[string]string, *Error) {
	md := formMap(f, "metadata")
	if len(md) > 50 {
		return nil, badParam("", "metadata", "Invalid metadata: metadata cannot have more than 50 keys.")
	}
	for k, v := range md {
		if k == "" || len(k) > 40 {
			return nil, badParam("", "metadata", "Invalid metadata: keys must be 1 to 40 characters, not '%s'.", k)
		}
		if len(v) > 500 {
			return nil, badParam("", "metadata["+k+"]", "Invalid metadata: values can be at most 500 characters.")
		}
	}
	return md, nil
}

// mergeMetadata applies an update as Stripe does: keys given are set, a
// key given empty is removed, and "metadata=" alone clears them all.
func mergeMetadata(cur map[string]string, f url.Values) (map[string]string, *Error) {
	upd, err := parseMetadata(f)
	if err != nil {
		return nil, err
	}
	out := copyMetadata(cur)
	if _, ok := f["metadata"]; ok && f.Get("metadata") == "" {
		out = map[string]string{}
	}
	for k, v := range upd {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	if len(out) > 50 {
		return nil, badParam("", "metadata", "Invalid metadata: metadata cannot have more than 50 keys.")
	}
	return out, nil
}
