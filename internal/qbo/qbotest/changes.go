package qbotest

import "time"

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
