package qbotest

import (
	"sort"
	"strings"
	"time"
)

// Change is one write to a realm's data: what CDC reports and what webhooks announce.
type Change struct {
	RealmID   string
	Entity    string    // "Invoice"
	ID        string    // the object's Id
	Operation string    // Create, Update, Delete, Void (the webhook names)
	At        time.Time // the emulator clock's time of the write
}

// recordChange appends a change to the realm's feed and tells the server's listeners. Every
// write path (create, update, remove, void) calls it with r.mu held, so the feed is in
// write order.
func (r *Realm) recordChange(entity, id, op string) {
	c := Change{RealmID: r.id, Entity: entity, ID: id, Operation: op, At: r.s.now()}
	r.changes = append(r.changes, c)
	if r.written[entity] == nil {
		r.written[entity] = map[string]int{}
	}
	r.written[entity][id] = len(r.changes)
	r.indexDoc(entity, id)
	r.s.notifyChange(c)
}

// ChangesSince returns the realm's changes at or after t, oldest first.
func (r *Realm) ChangesSince(t time.Time) []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Change
	for _, c := range r.changes {
		if !c.At.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// OnChange registers fn to be called after every write of any realm (webhooks use it).
// fn runs with the realm locked: it must not call back into the realm; queue work instead.
func (s *Server) OnChange(fn func(Change)) {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	s.changeFns = append(s.changeFns, fn)
}

func (s *Server) notifyChange(c Change) {
	s.changeMu.Lock()
	fns := append([]func(Change){}, s.changeFns...)
	s.changeMu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}

// sortRecentFirst orders rendered rows of k most recently written first: the order
// QuickBooks answers a query without ORDERBY in (MetaData.LastUpdatedTime descending). The
// change feed gives the write order, so two writes in the same second still come out newest
// first. Objects never written since the realm was seeded (the chart of accounts) come last,
// by Id descending. Caller holds r.mu.
func (r *Realm) sortRecentFirst(k *kind, rows []obj) {
	seq := r.written[k.name]
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i]["Id"].(string), rows[j]["Id"].(string)
		if sa, sb := seq[a], seq[b]; sa != sb {
			return sa > sb
		}
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a > b
	})
}

// queryRowsLocked returns the rendered objects of k a query may match, most recently
// written first: the stored objects its WHERE matches (rendering every object of a large
// realm for each query made look-ups cost the realm's size), re-checked by execQuery on the
// rendered rows. A Customer's Balance is computed when rendered, so a query on it renders
// every customer first. Caller holds r.mu.
func (r *Realm) queryRowsLocked(k *kind, q *query) []obj {
	renderFirst := false
	for _, c := range q.where {
		if k.name == "Customer" && (strings.EqualFold(c.field, "Balance") || strings.EqualFold(c.field, "BalanceWithJobs")) {
			renderFirst = true
		}
	}
	var rows []obj
	for _, o := range r.candidates(k, q, renderFirst) {
		if !renderFirst && !q.matches(o) {
			continue
		}
		rows = append(rows, r.render(k, o))
	}
	r.sortRecentFirst(k, rows)
	return rows
}

// candidates returns the objects of k a query may match: for a query with DocNumber = or IN
// plain text, those the DocNumber index holds under the values (a look-up of thirty invoices
// in a realm of ten thousand reads thirty, not ten thousand); else all of them. The query's
// conditions are still checked on each.
func (r *Realm) candidates(k *kind, q *query, renderFirst bool) map[string]obj {
	all := r.objs[k.name]
	if renderFirst {
		return all
	}
	for _, c := range q.where {
		if !strings.EqualFold(c.field, "DocNumber") || (c.op != "IN" && c.op != "=") {
			continue
		}
		set := c.plain
		if c.op == "=" {
			set = plainSet(c.vals)
		}
		if set == nil {
			continue
		}
		out := map[string]obj{}
		for v := range set {
			for id := range r.docs[k.name][v] {
				out[id] = all[id]
			}
		}
		return out
	}
	return all
}

// queryRows is queryRowsLocked for callers that do not hold r.mu.
func (r *Realm) queryRows(k *kind, q *query) []obj {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queryRowsLocked(k, q)
}
