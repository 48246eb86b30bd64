package qbotest

import (
	"slices"
	"sort"
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

// recentFirstLocked returns k's objects (as listLocked renders them) most
// recently written first: the order QuickBooks answers a query without
// ORDERBY in (MetaData.LastUpdatedTime descending). The change feed gives the
// write order, so two writes in the same second still come out newest first.
// Objects never written since the realm was seeded (the chart of accounts)
// have no change and come last; ties among them go by Id descending. Caller
// holds r.mu.
func (r *Realm) recentFirstLocked(k *kind) []obj {
	rows := r.listLocked(k) // ascending Id
	seq := make(map[string]int, len(rows))
	for i, c := range r.changes {
		if c.Entity == k.name {
			seq[c.ID] = i + 1
		}
	}
	slices.Reverse(rows) // Id descending breaks ties
	sort.SliceStable(rows, func(i, j int) bool {
		return seq[rows[i]["Id"].(string)] > seq[rows[j]["Id"].(string)]
	})
	return rows
}

// recentFirst is recentFirstLocked for callers that do not hold r.mu.
func (r *Realm) recentFirst(k *kind) []obj {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recentFirstLocked(k)
}
