package qbotest

import (
	"net/http"
	"strings"
	"time"
)

// Change Data Capture (qbo-api.md §7).
const (
	cdcLookBack   = 30 * 24 * time.Hour
	cdcMaxObjects = 1000
)

// parseChangedSince accepts RFC 3339 (with or without fraction) and a bare
// date (midnight in the company time zone).
func (s *Server) parseChangedSince(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", v, s.cfg.loc); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02", v, s.cfg.loc); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// handleCDC serves GET /cdc?entities=A,B&changedSince=<time>.
func (s *Server) handleCDC(w http.ResponseWriter, r *http.Request, realm *Realm) {
	if r.Method != http.MethodGet {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path)))
		return
	}
	q := r.URL.Query()
	ents, since := q.Get("entities"), q.Get("changedSince")
	if strings.TrimSpace(ents) == "" {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, required("entities")))
		return
	}
	if since == "" {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, required("changedSince")))
		return
	}
	t, ok := s.parseChangedSince(since)
	if !ok {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty("changedSince (not a date-time: "+since+")")))
		return
	}
	if t.Before(s.now().Add(-cdcLookBack)) {
		// Wording as reported from production (Wish-Org/QuickBooksSharp#19).
		s.writeResponse(w, s.faultBody(http.StatusBadRequest,
			unsupportedOp("cdc with changedSince date "+since+" which is older than fixed days")))
		return
	}
	var kinds []*kind
	seen := map[string]bool{}
	for _, name := range strings.Split(ents, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		k := kindByName(name)
		if k == nil {
			s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty("entities (unknown entity "+name+")")))
			return
		}
		if !seen[k.name] {
			seen[k.name] = true
			kinds = append(kinds, k)
		}
	}

	changes := realm.ChangesSince(t)

	// One entry per object, at its latest change; objects are taken in the
	// order of their latest change and the first cdcMaxObjects are sent.
	type key struct{ entity, id string }
	last := map[key]int{}
	for i, c := range changes {
		if seen[c.Entity] {
			last[key{c.Entity, c.ID}] = i
		}
	}
	picked := make([]int, 0, len(last))
	for i, c := range changes {
		if last[key{c.Entity, c.ID}] == i && seen[c.Entity] {
			picked = append(picked, i)
		}
	}
	if len(picked) > cdcMaxObjects {
		picked = picked[:cdcMaxObjects]
	}

	byEntity := map[string][]any{}
	realm.mu.Lock()
	for _, i := range picked {
		c := changes[i]
		k := kindByName(c.Entity)
		if o, ok := realm.objs[c.Entity][c.ID]; ok {
			byEntity[c.Entity] = append(byEntity[c.Entity], realm.render(k, o))
		} else {
			byEntity[c.Entity] = append(byEntity[c.Entity], obj{
				"domain": "QBO", "status": "Deleted", "Id": c.ID,
				"MetaData": obj{"LastUpdatedTime": s.metaTime(c.At)},
			})
		}
	}
	realm.mu.Unlock()

	// One QueryResponse per requested entity, in the order of entities; an
	// entity without changes gets an empty one (as cdc-response-empty.json
	// shows for one entity). No totalCount: QuickBooks does not always send
	// it in CDC blocks, so a client must not rely on it.
	entries := make([]any, 0, len(kinds))
	for _, k := range kinds {
		objs := byEntity[k.name]
		if len(objs) == 0 {
			entries = append(entries, obj{})
			continue
		}
		entries = append(entries, obj{k.name: objs, "startPosition": 1, "maxResults": len(objs)})
	}
	s.writeResponse(w, s.jsonBody(obj{
		"CDCResponse": []any{obj{"QueryResponse": entries}},
		"time":        s.envelopeTime(),
	}))
}
