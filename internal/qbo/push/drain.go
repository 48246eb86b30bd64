package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"books/ent"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/syncstate"
)

// maxPasses bounds one drain: each pass pushes every pending link once, in phase order, so
// a link waiting for another (a credit memo's application for the memo) goes in a later pass.
// What is left goes with the next drain (River's retry, the sweep).
const maxPasses = 8

// A group that fails transiently is tried again up to Engine.Retries times in a row (5 by
// default), pausing transientPause, then twice that, and so on (the limiter adds QuickBooks'
// own pause after a throttle).
const (
	defaultRetries = 5
	transientPause = 100 * time.Millisecond
)

func (e *Engine) retries() int {
	switch {
	case e.Retries < 0:
		return 0
	case e.Retries == 0:
		return defaultRetries
	}
	return e.Retries
}

func transient(err error) bool {
	return qbo.Retryable(err) || qbo.IsThrottled(err) || isDuplicateRequest(err)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Drain pushes the connection's pending links. c must not be transactional: every outcome is
// recorded in its own short transaction, and nothing is called in QuickBooks inside one. It
// returns nil when nothing is left to do now (paused connections included), and an error
// when something must be tried again later (throttling, 5xx, a lost answer, a link still
// waiting for another).
func (e *Engine) Drain(ctx context.Context, c *ent.Client, connectionID string) error {
	// One drain per connection at a time: within the process a lock (a second drain waits
	// for the first, then sees what it left); across processes the lease (a second drain
	// returns ErrDrainBusy and its job tries again shortly).
	unlock := lockDrain(connectionID)
	defer unlock()
	if e.Lease != nil {
		release, err := e.Lease(ctx, connectionID)
		if err != nil {
			return err
		}
		defer release()
	}
	err := e.drain(ctx, c, connectionID)
	if err == nil {
		return nil
	}
	if qbo.IsAuth(err) && e.Unauthorized != nil {
		if row, gerr := e.Store.Get(ctx, c, connectionID); gerr == nil {
			if uerr := e.Unauthorized(ctx, row); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}
	if apperr.Code(err) == apperr.QBONotConnected {
		// Paused: QuickBooks refused the connection; its links wait, pending, for a reconnect,
		// which enqueues the drain again.
		e.log().Warn("QuickBooks push paused: the connection needs to be connected again", "connection", connectionID)
		return nil
	}
	return err
}

func (e *Engine) drain(ctx context.Context, c *ent.Client, connectionID string) error {
	row, err := e.Store.Get(ctx, c, connectionID)
	if err != nil {
		return err
	}
	if row.Status != qboconnection.StatusConnected {
		return nil
	}
	api, err := e.api(ctx, row)
	if err != nil {
		return err
	}
	d := &drain{e: e, c: c, base: c, row: row, api: api, b: &builder{e: e, c: c, row: row, api: api, linked: map[string]string{}},
		linked: map[string]string{}, after: map[qbolink.RecordType]string{}}
	// Each pass reads every pending link once. Another pass picks up the links that waited
	// for a record pushed after them, and those asked again while their write was out.
	for pass := 0; pass < maxPasses; pass++ {
		d.after, d.waiting = map[qbolink.RecordType]string{}, nil
		read := 0
		for _, t := range phases {
			failures := 0
			for {
				n, err := d.phase(ctx, t)
				read += n
				if err == nil {
					break
				}
				// A throttle, a 5xx or a lost answer: the group is read again and sent
				// again (same requestids, and a lookup before any create) a few times
				// before the job gives up and River retries it later.
				if !transient(err) || failures >= d.e.retries() {
					return err
				}
				failures++
				if err := sleep(ctx, transientPause<<(failures-1)); err != nil {
					return err
				}
			}
		}
		if read == 0 {
			break
		}
	}
	if err := d.verifyInvoices(ctx); err != nil {
		return err
	}
	if len(d.waiting) > 0 {
		var what []string
		for _, w := range d.waiting {
			what = append(what, w)
		}
		return fmt.Errorf("QuickBooks push of connection %s: %d links still waiting (%s)", row.ID, len(what),
			truncate(strings.Join(what, "; "), 500))
	}
	return nil
}

func (e *Engine) api(ctx context.Context, row *ent.QBOConnection) (*qbo.Client, error) {
	if e.HTTPClient == nil {
		return nil, errors.New("push: Engine.HTTPClient is not set")
	}
	hc, err := e.HTTPClient(ctx, row)
	if err != nil {
		return nil, err
	}
	return qbo.New(qbo.Config{BaseURL: row.BaseURL, RealmID: row.RealmID, HTTPClient: hc, Limiter: e.Limiter})
}

type drain struct {
	e *Engine
	// c is the client outcomes are recorded with: base, or in a copy of the drain (inTx) a
	// group's transaction.
	c    *ent.Client
	base *ent.Client
	row  *ent.QBOConnection
	api  *qbo.Client
	b    *builder
	// after is, per record type, the last link id sent in this pass: links are read in id
	// order, each once per pass.
	after map[qbolink.RecordType]string
	// linked is the reading stage's cache of QuickBooks ids (builder.linked); only one reading
	// stage runs at a time. b, for the sending stage's few builds (a void's look-up), has its
	// own.
	linked map[string]string
	// waiting holds links set aside because a record they refer to is not in QuickBooks yet.
	waiting map[string]string
	// synced holds, inside inTx, the records whose sync status turns synced at its commit.
	synced map[qbolink.RecordType][]string
}

// pending reads the next thirty pending links of a type after the cursor, in id order.
func (d *drain) pending(ctx context.Context, t qbolink.RecordType, after string) ([]*ent.QBOLink, error) {
	q := d.base.QBOLink.Query().Where(qbolink.ConnectionID(d.row.ID), qbolink.RecordTypeEQ(t),
		qbolink.StatusEQ(qbolink.StatusPending))
	if after != "" {
		q = q.Where(qbolink.IDGT(after))
	}
	return q.Order(ent.Asc(qbolink.FieldID)).Limit(qbo.MaxBatchItems).All(ctx)
}

// prepared is a group read and built, ready to be sent.
type prepared struct {
	links                      []*ent.QBOLink
	from                       string // the cursor the group was read after
	creates, updates, removals []item
	// attempted holds the creates whose attempt the reading stage recorded.
	attempted map[*ent.QBOLink]bool
	waiting   map[string]string
	failed    []failure
	err       error
}

type failure struct {
	l         *ent.QBOLink
	code, msg string
}

// phase pushes the pending links of one type, as a pipeline of three stages so that
// QuickBooks' answering time and the database's work overlap instead of adding up:
//   - reading: the next group is read and built (with a builder of its own), and its first
//     attempts recorded, while the current one is sent;
//   - sending: a group's look-ups, its other attempts and its write;
//   - recording: the outcome of a group's creates is recorded (a batch's in one transaction)
//     while the next group is sent.
//
// QuickBooks still sees one write at a time, in order. A group that matched records in QuickBooks, or updates or removes any, waits for the group
// before it to be recorded before it decides or writes anything (see send). On an error the
// cursor is left before the first group not recorded, so it is read again: its links are
// looked up before anything is created again.
func (d *drain) phase(ctx context.Context, t qbolink.RecordType) (int, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := d.after[t]
	groups := make(chan prepared, 2)
	go func() {
		defer close(groups)
		b := &builder{e: d.e, c: d.base, row: d.row, api: d.api, linked: d.linked}
		cursor := start
		for {
			links, err := d.pending(pctx, t, cursor)
			if err != nil || len(links) == 0 {
				if err != nil {
					select {
					case groups <- prepared{err: err, from: cursor}:
					case <-pctx.Done():
					}
				}
				return
			}
			p := d.prepare(pctx, b, links)
			p.from = cursor
			cursor = links[len(links)-1].ID
			select {
			case groups <- p:
			case <-pctx.Done():
				return
			}
		}
	}()
	read := 0
	done := func(p prepared) {
		read += len(p.links)
		if len(p.links) > 0 {
			d.after[t] = p.links[len(p.links)-1].ID
		}
	}
	// recording holds the groups whose outcomes are being recorded, oldest first: one at a
	// time, or two for a type whose outcomes touch only their own rows (overlapping).
	type inFlight struct {
		p    prepared
		done chan error
	}
	var recording []inFlight
	// oldest waits for the oldest group being recorded.
	oldest := func() error {
		r := recording[0]
		recording = recording[1:]
		if err := <-r.done; err != nil {
			return earlier{from: r.p.from, err: err}
		}
		done(r.p)
		return nil
	}
	// wait waits for every group being recorded; on a failure the cursor goes back before
	// the oldest group that failed.
	wait := func() error {
		var first error
		for len(recording) > 0 {
			if err := oldest(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	fail := func(from string, err error) (int, error) {
		var e earlier
		if errors.As(err, &e) {
			from, err = e.from, e.err
		}
		d.after[t] = from
		cancel()
		for range groups { // let the reader finish before the next phase starts
		}
		return read, err
	}
	limit := 1
	if overlapping[t] {
		limit = 2
	}
	for p := range groups {
		err := p.err
		var finish func() error
		if err == nil {
			finish, err = d.send(ctx, p, wait)
		}
		if err != nil {
			if werr := wait(); werr != nil {
				err = werr
			}
			return fail(p.from, err)
		}
		if finish == nil {
			done(p)
			continue
		}
		for len(recording) >= limit || len(recording) > 0 && sharesRecord(recording[len(recording)-1].p, p) {
			if err := oldest(); err != nil {
				// A group before failed to record; this one's write is out, its answer in
				// hand: recorded all the same, so it is not looked up again for nothing.
				return fail(p.from, errors.Join(err, wait(), finish()))
			}
		}
		r := inFlight{p: p, done: make(chan error, 1)}
		recording = append(recording, r)
		go func() { r.done <- finish() }()
	}
	if err := wait(); err != nil {
		return fail("", err)
	}
	return read, nil
}

// sharesRecord tells whether two groups hold parts of one record (a split invoice's months
// may straddle two groups), whose outcomes touch the same rows.
func sharesRecord(a, b prepared) bool {
	ids := make(map[string]bool, len(a.links))
	for _, l := range a.links {
		ids[l.RecordID] = true
	}
	for _, l := range b.links {
		if ids[l.RecordID] {
			return true
		}
	}
	return false
}

// overlapping are the record types whose outcomes touch only their own rows (links, the
// record's sync status, its own admin issues): two groups of them that share no record may
// be recorded at once.
// A payment's or credit memo's outcome marks the invoices it applies to for verification,
// rows another group's may touch too, so those are recorded one group at a time.
var overlapping = map[qbolink.RecordType]bool{
	qbolink.RecordTypeCustomer: true, qbolink.RecordTypeVendor: true, qbolink.RecordTypeItem: true,
	qbolink.RecordTypeClass: true, qbolink.RecordTypeInvoice: true,
}

// earlier is the failure to record the group before the one being sent: the cursor goes
// back before that group.
type earlier struct {
	from string
	err  error
}

func (e earlier) Error() string { return e.err.Error() }
func (e earlier) Unwrap() error { return e.err }

// inTx records outcomes in one transaction: one commit for a batch of thirty, not sixty.
// fn records with t, a copy of d bound to the transaction, so d itself stays usable by the
// next group meanwhile. An error of the database rolls back; a QuickBooks error that asks for
// a retry (a throttled item) is returned after the rest is committed.
func (d *drain) inTx(ctx context.Context, fn func(t *drain) error) error {
	tx, err := d.base.Tx(ctx)
	if err != nil {
		return err
	}
	t := *d
	t.c, t.synced = tx.Client(), map[qbolink.RecordType][]string{}
	ferr := fn(&t)
	if ferr == nil || isRemote(ferr) {
		for rt, ids := range t.synced {
			if err := setRecordsStatus(ctx, t.c, rt, ids, syncstate.Synced); err != nil {
				ferr = err
				break
			}
		}
	}
	if ferr != nil && !isRemote(ferr) {
		_ = tx.Rollback()
		return ferr
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return ferr
}

// isRemote tells an error of QuickBooks (or of reaching it), after which what was recorded
// stands, from one of the database.
func isRemote(err error) bool {
	var f *qbo.Fault
	var r *qbo.RequestError
	return errors.As(err, &f) || errors.As(err, &r) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "reused requestid")
}

// item is one link on its way: its body and, once known, QuickBooks' record.
type item struct {
	l   *ent.QBOLink
	doc doc
}

// prepare reads what a group's bodies need and builds them, with b (the reading stage's
// builder), and records the attempts it can (see below).
func (d *drain) prepare(ctx context.Context, b *builder, links []*ent.QBOLink) prepared {
	p := prepared{links: links}
	if err := b.prefetch(ctx, links); err != nil {
		p.err = err
		return p
	}
	for _, l := range links {
		if l.Operation != qbolink.OperationUpsert {
			p.removals = append(p.removals, item{l: l})
			continue
		}
		doc, err := b.build(ctx, l)
		switch {
		case isWaiting(err):
			if p.waiting == nil {
				p.waiting = map[string]string{}
			}
			p.waiting[l.ID] = err.Error()
			continue
		case err != nil:
			if _, ok := apperr.As(err); ok {
				p.failed = append(p.failed, failure{l: l, code: apperr.Code(err), msg: err.Error()})
				continue
			}
			p.err = err
			return p
		}
		if l.QboID != nil {
			p.updates = append(p.updates, item{l: l, doc: doc})
		} else {
			p.creates = append(p.creates, item{l: l, doc: doc})
		}
	}
	// The attempts that forget nothing (a first attempt, or one with the keys of the last)
	// are recorded now, off the sending stage's path; the others only after the look-up
	// under their old keys (create). A create later matched instead, or a group never sent,
	// keeps an attempt with its own keys, which changes no look-up.
	var early []item
	for _, it := range p.creates {
		if forgetsNothing(it) {
			early = append(early, it)
		}
	}
	if err := d.recordAttempts(ctx, early); err != nil {
		p.err = err
		return p
	}
	p.attempted = map[*ent.QBOLink]bool{}
	for _, it := range early {
		p.attempted[it.l] = true
		it.l.Attempts++
		it.l.SentKey, it.l.SentEmail = it.doc.value, it.doc.email
	}
	return p
}

// send pushes a prepared group of up to thirty links of one type. It returns, when the
// group's last step is a create, the recording of its outcome for the caller to run, or nil
// when all is recorded.
//
// The group before may still be being recorded (wait waits for it). A group of fresh creates
// only writes its own links meanwhile; a group that matched records in QuickBooks waits
// first, since its claims must see that group's, and so does one with updates or removals,
// whose outcomes may touch the rows that group's do.
func (d *drain) send(ctx context.Context, p prepared, wait func() error) (func() error, error) {
	creates, updates, removals := p.creates, p.updates, p.removals
	var looked []lookedUp
	if len(creates) > 0 {
		var err error
		if looked, err = d.lookUp(ctx, creates); err != nil {
			return nil, err
		}
	}
	if len(updates) > 0 || len(removals) > 0 || anyFound(looked) {
		if err := wait(); err != nil {
			return nil, err
		}
	}
	for id, why := range p.waiting {
		if d.waiting == nil {
			d.waiting = map[string]string{}
		}
		d.waiting[id] = why
	}
	for _, f := range p.failed {
		if err := d.fail(ctx, f.l, f.code, f.msg); err != nil {
			return nil, err
		}
	}
	var finish func() error
	if len(creates) > 0 {
		matched, fresh, err := d.match(ctx, looked)
		if err != nil {
			return nil, err
		}
		updates = append(updates, matched...)
		if finish, err = d.create(ctx, fresh, p.attempted); err != nil {
			return nil, err
		}
	}
	if len(updates) == 0 && len(removals) == 0 {
		return finish, nil
	}
	if finish != nil {
		if err := finish(); err != nil {
			return nil, err
		}
	}
	if err := d.update(ctx, updates); err != nil {
		return nil, err
	}
	for _, it := range removals {
		if err := d.remove(ctx, it.l); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// lookedUp is what QuickBooks holds under the natural keys of a group's creates of one
// QuickBooks type and key, and under the emails of those found under none.
type lookedUp struct {
	creates, byEmail  []item
	found, foundEmail map[string][]obj
}

func anyFound(looked []lookedUp) bool {
	for _, lu := range looked {
		if len(lu.found) > 0 || len(lu.foundEmail) > 0 {
			return true
		}
	}
	return false
}

// lookUp looks each create up by its natural key (and a customer or vendor found under none
// by its email) before anything is created. It only reads QuickBooks.
func (d *drain) lookUp(ctx context.Context, creates []item) ([]lookedUp, error) {
	// A group of one record type may hold two QuickBooks types (a credit memo and the
	// payment applying another's credit; a refund's receipt and its journal entry): each is
	// looked up in its own entity by its own key.
	var order []string
	parts := map[string][]item{}
	for _, it := range creates {
		k := it.l.QboType + "/" + it.doc.key
		if _, ok := parts[k]; !ok {
			order = append(order, k)
		}
		parts[k] = append(parts[k], it)
	}
	out := make([]lookedUp, 0, len(order))
	for _, k := range order {
		its := parts[k]
		entity := its[0].l.QboType
		lu := lookedUp{creates: its}
		var err error
		if lu.found, err = d.lookup(ctx, entity, its[0].doc.key, allOf(its, keysOf)); err != nil {
			return nil, err
		}
		for _, it := range its {
			if len(pick(lu.found, keysOf(it))) == 0 && len(emailsOf(it)) > 0 {
				lu.byEmail = append(lu.byEmail, it)
			}
		}
		if len(lu.byEmail) > 0 {
			if lu.foundEmail, err = d.lookup(ctx, entity, "PrimaryEmailAddr", allOf(lu.byEmail, emailsOf)); err != nil {
				return nil, err
			}
		}
		out = append(out, lu)
	}
	return out, nil
}

// match decides each looked-up create: a single match is linked (and then updated to Books'
// values, unless this link created it); several matches are a person's decision; none, a
// create.
func (d *drain) match(ctx context.Context, looked []lookedUp) (matched, fresh []item, err error) {
	decide := func(it item, rows []obj, key, value string) error {
		switch len(rows) {
		case 0:
			fresh = append(fresh, it)
		case 1:
			ok, err := d.claim(ctx, it, rows[0])
			if err != nil {
				return err
			}
			if ok {
				matched = append(matched, it)
			}
		default:
			return d.ambiguous(ctx, it, key, value, rows)
		}
		return nil
	}
	for _, lu := range looked {
		for _, it := range lu.creates {
			rows := pick(lu.found, keysOf(it))
			if len(rows) == 0 && len(emailsOf(it)) > 0 {
				continue // decided by its email below
			}
			if err := decide(it, rows, it.doc.key, it.doc.value); err != nil {
				return nil, nil, err
			}
		}
		for _, it := range lu.byEmail {
			if err := decide(it, pick(lu.foundEmail, emailsOf(it)), "email", it.doc.email); err != nil {
				return nil, nil, err
			}
		}
	}
	return matched, fresh, nil
}

// keysOf is what a create is looked up by: its natural key now and, when an earlier create
// may have reached QuickBooks, the key that create was sent with (the Books record may have
// been renamed since).
func keysOf(it item) []string {
	out := []string{it.doc.value}
	if it.l.Attempts > 0 && it.l.SentKey != "" && !strings.EqualFold(it.l.SentKey, it.doc.value) {
		out = append(out, it.l.SentKey)
	}
	return out
}

// emailsOf is keysOf for a customer's or vendor's email.
func emailsOf(it item) []string {
	var out []string
	if it.doc.email != "" {
		out = append(out, it.doc.email)
	}
	if it.l.Attempts > 0 && it.l.SentEmail != "" && !strings.EqualFold(it.l.SentEmail, it.doc.email) {
		out = append(out, it.l.SentEmail)
	}
	return out
}

func allOf(items []item, f func(item) []string) []string {
	var out []string
	for _, it := range items {
		out = append(out, f(it)...)
	}
	return out
}

// pick returns the rows found under any of keys, each once.
func pick(found map[string][]obj, keys []string) []obj {
	var out []obj
	seen := map[string]bool{}
	for _, k := range keys {
		for _, o := range found[strings.ToLower(k)] {
			id, _ := o["Id"].(string)
			if !seen[id] {
				seen[id] = true
				out = append(out, o)
			}
		}
	}
	return out
}

// lookup queries entity rows whose key is one of vals, keyed by the lowercased value.
func (d *drain) lookup(ctx context.Context, entity, key string, vals []string) (map[string][]obj, error) {
	quoted := make([]string, 0, len(vals))
	seen := map[string]bool{}
	for _, v := range vals {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		quoted = append(quoted, qbo.Quote(v))
	}
	out := map[string][]obj{}
	if len(quoted) == 0 {
		return out, nil
	}
	where := fmt.Sprintf("%s IN (%s)", key, strings.Join(quoted, ", "))
	rows, err := d.api.QueryAll(ctx, entity, where)
	if err != nil {
		return nil, err
	}
	for _, raw := range rows {
		var o obj
		if err := decode(raw, &o); err != nil {
			return nil, err
		}
		v := keyValue(o, key)
		if v != "" && seen[v] || seen[matchCase(vals, v)] {
			lk := strings.ToLower(v)
			out[lk] = append(out[lk], o)
		}
	}
	return out, nil
}

func matchCase(vals []string, v string) string {
	for _, x := range vals {
		if strings.EqualFold(x, v) {
			return x
		}
	}
	return ""
}

func keyValue(o obj, key string) string {
	if key == "PrimaryEmailAddr" {
		if m, ok := o[key].(obj); ok {
			s, _ := m["Address"].(string)
			return s
		}
		return ""
	}
	s, _ := o[key].(string)
	return s
}

func decode(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	return dec.Decode(v)
}

// ambiguous fails a create that matches several QuickBooks records.
func (d *drain) ambiguous(ctx context.Context, it item, key, value string, rows []obj) error {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i], _ = r["Id"].(string)
	}
	return d.fail(ctx, it.l, apperr.QBOAmbiguousMatch, fmt.Sprintf("%d QuickBooks %s records have %s %q (ids %s); "+
		"link the right one instead of creating another", len(rows), it.l.QboType, key, value, strings.Join(ids, ", ")))
}

// claim links it to the QuickBooks record o. It returns false when the link failed (o is
// another record's).
func (d *drain) claim(ctx context.Context, it item, o obj) (bool, error) {
	id, _ := o["Id"].(string)
	token, _ := o["SyncToken"].(string)
	taken, err := d.c.QBOLink.Query().Where(qbolink.ConnectionID(d.row.ID), qbolink.QboType(it.l.QboType),
		qbolink.Claim(id), qbolink.IDNEQ(it.l.ID)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return false, err
	}
	if taken != nil {
		return false, d.fail(ctx, it.l, apperr.QBOAmbiguousMatch, fmt.Sprintf("QuickBooks %s %s (%s %q) is already "+
			"linked to Books %s %s; link another record or rename one", it.l.QboType, id, it.doc.key, it.doc.value,
			taken.RecordType, taken.RecordID))
	}
	// Linked and then updated even when this link may have created o on an earlier attempt:
	// the Books record may have changed since (a new generation), and an update of the same
	// generation carries the create's requestid, which QuickBooks answers without acting.
	err = d.c.QBOLink.UpdateOne(it.l).SetQboID(id).SetClaim(id).SetSyncToken(token).Exec(ctx)
	if err != nil {
		return false, err
	}
	it.l.QboID, it.l.SyncToken = &id, token
	return true, nil
}

// forgetsNothing tells that recording an attempt of it, with the keys it is sent with, loses
// no key an earlier attempt may have created a record under: such an attempt may be recorded
// before the look-up. Any other is recorded only once the look-up under its old keys found
// nothing (or found the record).
func forgetsNothing(it item) bool {
	return it.l.Attempts == 0 ||
		it.l.SentKey == truncate(it.doc.value, 200) && it.l.SentEmail == truncate(it.doc.email, 254)
}

// recordAttempts records, in one statement, an attempt of each create with the keys it is
// sent with. It leaves the links in memory as they are (the look-up reads their old keys).
func (d *drain) recordAttempts(ctx context.Context, items []item) error {
	if len(items) == 0 {
		return nil
	}
	rows := make([]*ent.QBOLinkCreate, len(items))
	for i, it := range items {
		rows[i] = d.linkRow(it.l).SetSentKey(truncate(it.doc.value, 200)).SetSentEmail(truncate(it.doc.email, 254))
	}
	return d.c.QBOLink.CreateBulk(rows...).OnConflict(sql.ConflictColumns(qbolink.FieldID)).
		Update(func(u *ent.QBOLinkUpsert) { u.AddAttempts(1).UpdateSentKey().UpdateSentEmail().UpdateUpdatedAt() }).Exec(ctx)
}

// create creates fresh records: one call for one, a batch for more. Attempts are recorded
// first (those not in attempted yet), so a create whose answer is lost is looked up next
// time. The outcome is returned to be recorded (finish).
func (d *drain) create(ctx context.Context, items []item, attempted map[*ent.QBOLink]bool) (finish func() error, err error) {
	if len(items) == 0 {
		return nil, nil
	}
	var late []item
	for _, it := range items {
		if !attempted[it.l] {
			late = append(late, it)
		}
	}
	if err := d.recordAttempts(ctx, late); err != nil {
		return nil, err
	}
	for _, it := range late {
		it.l.Attempts++
		it.l.SentKey, it.l.SentEmail = it.doc.value, it.doc.email
	}
	if len(items) == 1 {
		it := items[0]
		raw, err := d.api.Create(ctx, it.l.QboType, it.doc.body, requestID(it.l))
		return func() error { return d.outcome(ctx, it, raw, err) }, nil
	}
	batch := make([]qbo.BatchItem, len(items))
	links := make([]*ent.QBOLink, len(items))
	for i, it := range items {
		batch[i] = qbo.BatchItem{BID: fmt.Sprint(i), Entity: it.l.QboType, Operation: "create", Body: it.doc.body}
		links[i] = it.l
	}
	res, err := d.api.Batch(ctx, batch, batchRequestID(links))
	if err != nil {
		return nil, d.batchFailed(ctx, items, err)
	}
	return func() error { return d.batchOutcomes(ctx, items, res, true) }, nil
}

// update sends sparse updates with the last SyncToken seen.
func (d *drain) update(ctx context.Context, items []item) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		it.doc.body["Id"] = *it.l.QboID
		it.doc.body["SyncToken"] = it.l.SyncToken
	}
	if len(items) == 1 {
		it := items[0]
		raw, err := d.api.SparseUpdate(ctx, it.l.QboType, it.doc.body, requestID(it.l))
		if qbo.IsStaleObject(err) {
			return d.retryStale(ctx, it)
		}
		return d.outcome(ctx, it, raw, err)
	}
	batch := make([]qbo.BatchItem, len(items))
	links := make([]*ent.QBOLink, len(items))
	for i, it := range items {
		body := obj{"sparse": true}
		for k, v := range it.doc.body {
			body[k] = v
		}
		batch[i] = qbo.BatchItem{BID: fmt.Sprint(i), Entity: it.l.QboType, Operation: "update", Body: body}
		links[i] = it.l
	}
	res, err := d.api.Batch(ctx, batch, batchRequestID(links))
	if err != nil {
		return d.batchFailed(ctx, items, err)
	}
	for i, r := range res {
		if r.Fault != nil && qbo.IsStaleObject(r.Fault) {
			if err := d.retryStale(ctx, items[i]); err != nil {
				return err
			}
			res[i] = qbo.BatchResult{}
		}
	}
	return d.batchOutcomes(ctx, items, res, false)
}

// retryStale re-reads a record someone changed in QuickBooks (5010) and updates it again
// with its new SyncToken, once.
func (d *drain) retryStale(ctx context.Context, it item) error {
	raw, err := d.api.Read(ctx, it.l.QboType, *it.l.QboID)
	if err != nil {
		return d.outcome(ctx, it, nil, err)
	}
	var o obj
	if err := decode(raw, &o); err != nil {
		return err
	}
	token, _ := o["SyncToken"].(string)
	it.doc.body["SyncToken"] = token
	it.l.SyncToken = token
	// A new SyncToken makes a new request: the stale one must not be answered from memory.
	raw, err = d.api.SparseUpdate(ctx, it.l.QboType, it.doc.body, requestID(it.l)+":"+token)
	return d.outcome(ctx, it, raw, err)
}

// remove voids or deletes a record in QuickBooks.
func (d *drain) remove(ctx context.Context, l *ent.QBOLink) error {
	it := item{l: l}
	if l.QboID == nil {
		// Never confirmed in QuickBooks: find it by its number in case a create's answer was
		// lost; when nothing is there, nothing is left to void.
		doc, err := d.b.build(ctx, &ent.QBOLink{ID: l.ID, RecordType: l.RecordType, RecordID: l.RecordID, Part: l.Part,
			QboType: l.QboType, ConnectionID: l.ConnectionID})
		if err != nil || doc.key == "" {
			return d.settleRemoved(ctx, l)
		}
		found, err := d.lookup(ctx, l.QboType, doc.key, []string{doc.value})
		if err != nil {
			return err
		}
		rows := found[strings.ToLower(doc.value)]
		if len(rows) != 1 {
			return d.settleRemoved(ctx, l)
		}
		id, _ := rows[0]["Id"].(string)
		token, _ := rows[0]["SyncToken"].(string)
		l.QboID, l.SyncToken = &id, token
	}
	var raw json.RawMessage
	var err error
	if l.Operation == qbolink.OperationVoid {
		raw, err = d.api.Void(ctx, l.QboType, *l.QboID, l.SyncToken, requestID(l))
	} else {
		raw, err = d.api.Delete(ctx, l.QboType, *l.QboID, l.SyncToken, requestID(l))
	}
	if qbo.IsStaleObject(err) {
		if fresh, rerr := d.api.Read(ctx, l.QboType, *l.QboID); rerr == nil {
			var o obj
			if decode(fresh, &o) == nil {
				token, _ := o["SyncToken"].(string)
				l.SyncToken = token
				if l.Operation == qbolink.OperationVoid {
					raw, err = d.api.Void(ctx, l.QboType, *l.QboID, token, requestID(l)+":"+token)
				} else {
					raw, err = d.api.Delete(ctx, l.QboType, *l.QboID, token, requestID(l)+":"+token)
				}
			}
		}
	}
	if qbo.IsNotFound(err) && l.Operation == qbolink.OperationDelete {
		return d.settleRemoved(ctx, l)
	}
	return d.outcome(ctx, it, raw, err)
}

func (d *drain) settleRemoved(ctx context.Context, l *ent.QBOLink) error {
	_, err := d.c.QBOLink.Update().Where(qbolink.ID(l.ID), qbolink.Generation(l.Generation)).
		SetStatus(qbolink.StatusSynced).SetSyncedGeneration(l.Generation).SetSyncedAt(d.e.now()).
		SetLastError("").SetLastErrorCode("").Save(ctx)
	if err != nil && !ent.IsConstraintError(err) {
		return err
	}
	if l.QboID == nil {
		// Nothing reached QuickBooks: the link has nothing to hold.
		_, err = d.c.QBOLink.Delete().Where(qbolink.ID(l.ID), qbolink.Generation(l.Generation)).Exec(ctx)
	}
	return err
}

func (d *drain) batchFailed(ctx context.Context, items []item, err error) error {
	if isDuplicateRequest(err) {
		return d.renew(ctx, items, err)
	}
	return err
}

// batchOutcomes records a batch's answers; created says the batch created the records.
func (d *drain) batchOutcomes(ctx context.Context, items []item, res []qbo.BatchResult, created bool) error {
	return d.inTx(ctx, func(d *drain) error {
		var retry error
		var ok []item
		var objs []obj
		for i, r := range res {
			if r.Object == nil || r.Fault != nil {
				continue
			}
			var o obj
			if err := decode(r.Object, &o); err != nil {
				return err
			}
			ok, objs = append(ok, items[i]), append(objs, o)
		}
		if err := d.settleAll(ctx, ok, objs, created); err != nil {
			return err
		}
		for i, r := range res {
			if r.Fault == nil {
				continue
			}
			if e := d.outcome(ctx, items[i], nil, r.Fault); e != nil {
				if !isRemote(e) {
					return e
				}
				if retry == nil {
					retry = e
				}
			}
		}
		return retry
	})
}

// isDuplicateRequest: QuickBooks refused a requestid it saw with another body (600). The body
// changed between attempts (e.g. a sync date); the lookup before create protects the retry.
func isDuplicateRequest(err error) bool {
	var f *qbo.Fault
	return errors.As(err, &f) && f.Code == "600"
}

// renew gives the links a new generation (a new requestid) and fails the job so it retries.
func (d *drain) renew(ctx context.Context, items []item, cause error) error {
	for _, it := range items {
		if err := d.c.QBOLink.UpdateOne(it.l).AddGeneration(1).Exec(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("QuickBooks refused a reused requestid; retrying with a new one: %w", cause)
}

// outcome records the answer to one write: settled on success; failed (admin issue) on a
// fault a person must handle; returned for a retry otherwise.
func (d *drain) outcome(ctx context.Context, it item, raw json.RawMessage, err error) error {
	if err == nil {
		var o obj
		if derr := decode(raw, &o); derr != nil {
			return derr
		}
		return d.settle(ctx, it, o)
	}
	switch {
	case isDuplicateRequest(err):
		return d.renew(ctx, []item{it}, err)
	case qbo.Retryable(err), qbo.IsAuth(err), qbo.IsThrottled(err):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var f *qbo.Fault
	if errors.As(err, &f) {
		msg := fmt.Sprintf("QuickBooks refused the %s of %s %s: fault %s: %s", opName(it.l), it.l.QboType,
			describe(it), f.Code, f.Error())
		if qbo.IsDuplicateName(err) {
			msg += " (the name is taken in QuickBooks, perhaps by an inactive record or a record of another type; " +
				"rename one or link the record)"
		}
		return d.fail(ctx, it.l, apperr.QBOFault, msg)
	}
	return err
}

func opName(l *ent.QBOLink) string {
	switch {
	case l.Operation == qbolink.OperationVoid:
		return "void"
	case l.Operation == qbolink.OperationDelete:
		return "delete"
	case l.QboID != nil:
		return "update"
	}
	return "create"
}

func describe(it item) string {
	if it.doc.value != "" {
		return fmt.Sprintf("%q (Books %s)", it.doc.value, it.l.RecordID)
	}
	return "of Books " + it.l.RecordID
}

// answer is what a link keeps of QuickBooks' record.
type answer struct {
	id, token, number        string
	total, balance           money.Amount
	hasTotal, hasBalance     bool
	keepsTotal, keepsBalance bool
}

func answerOf(l *ent.QBOLink, o obj) answer {
	a := answer{}
	a.id, _ = o["Id"].(string)
	if a.id == "" && l.QboID != nil {
		a.id = *l.QboID
	}
	a.token, _ = o["SyncToken"].(string)
	for _, k := range []string{"DocNumber", "DisplayName", "Name", "PaymentRefNum"} {
		if a.number = keyValue(o, k); a.number != "" {
			break
		}
	}
	a.number = truncate(a.number, 40)
	a.total, a.hasTotal = amountOf(o, "TotalAmt")
	a.balance, a.hasBalance = amountOf(o, "Balance")
	a.keepsTotal = a.hasTotal && l.RecordType != qbolink.RecordTypeCustomer && l.RecordType != qbolink.RecordTypeVendor
	a.keepsBalance = a.hasBalance && l.RecordType == qbolink.RecordTypeInvoice
	return a
}

// settleAll settles the successful writes of a batch: one statement for all of them (an
// upsert that changes only the links whose generation is still the one written), then
// one by one the few that a newer request or another link's claim keeps from it.
//
// Records QuickBooks just created (created) have ids no link can hold yet, so their claims
// are not looked for first: a person who linked one in the moment between would make the
// claim's unique index refuse the statement, the transaction roll back, and the retry find
// the record by its key and raise the clash for a person, as the look-up does.
func (d *drain) settleAll(ctx context.Context, items []item, objs []obj, created bool) error {
	if len(items) == 0 {
		return nil
	}
	answers := make([]answer, len(items))
	claims := make([]string, len(items))
	for i, it := range items {
		answers[i] = answerOf(it.l, objs[i])
		claims[i] = answers[i].id
	}
	var others []*ent.QBOLink
	if !created {
		var err error
		others, err = d.c.QBOLink.Query().Where(qbolink.ConnectionID(d.row.ID), qbolink.QboType(items[0].l.QboType),
			qbolink.ClaimIn(claims...)).All(ctx)
		if err != nil {
			return err
		}
	}
	now := d.e.now()
	var bulk []*ent.QBOLinkCreate
	var bulkItems []int
	var single []int
	for i, it := range items {
		l, a := it.l, answers[i]
		clash := false
		for _, o := range others {
			if *o.Claim == a.id && o.ID != l.ID {
				clash = true
			}
		}
		if clash {
			single = append(single, i)
			continue
		}
		b := d.linkRow(l).SetQboID(a.id).SetClaim(a.id).SetSyncToken(a.token).SetDocNumber(a.number).
			SetStatus(qbolink.StatusSynced).SetSyncedGeneration(l.Generation).SetSyncedAt(now).
			SetLastError("").SetLastErrorCode("")
		if a.keepsTotal {
			b.SetQboTotal(a.total)
		} else if l.QboTotal != nil {
			b.SetQboTotal(*l.QboTotal)
		}
		if a.keepsBalance {
			b.SetQboBalance(a.balance)
		} else if l.QboBalance != nil {
			b.SetQboBalance(*l.QboBalance)
		}
		bulk, bulkItems = append(bulk, b), append(bulkItems, i)
	}
	if len(bulk) > 0 {
		err := d.c.QBOLink.CreateBulk(bulk...).
			OnConflict(sql.ConflictColumns(qbolink.FieldID),
				sql.UpdateWhere(sql.ExprP(qbolink.Table+"."+qbolink.FieldGeneration+" = excluded."+qbolink.FieldGeneration))).
			Update(func(u *ent.QBOLinkUpsert) {
				u.UpdateQboID().UpdateClaim().UpdateSyncToken().UpdateDocNumber().UpdateStatus().
					UpdateSyncedGeneration().UpdateSyncedAt().UpdateQboTotal().UpdateQboBalance().
					UpdateLastError().UpdateLastErrorCode().UpdateUpdatedAt()
			}).Exec(ctx)
		if err != nil {
			return err
		}
		ids := make([]string, len(bulkItems))
		for j, i := range bulkItems {
			ids[j] = items[i].l.ID
		}
		// A link asked again while its write was out kept its newer generation: settled one
		// by one, it keeps the QuickBooks id and stays pending.
		moved, err := d.c.QBOLink.Query().Where(qbolink.IDIn(ids...), qbolink.StatusNEQ(qbolink.StatusSynced)).IDs(ctx)
		if err != nil {
			return err
		}
		isMoved := map[string]bool{}
		for _, id := range moved {
			isMoved[id] = true
		}
		for _, i := range bulkItems {
			if isMoved[items[i].l.ID] {
				single = append(single, i)
				continue
			}
			if err := d.settled(ctx, items[i], answers[i]); err != nil {
				return err
			}
		}
	}
	for _, i := range single {
		if err := d.settle(ctx, items[i], objs[i]); err != nil {
			return err
		}
	}
	return nil
}

// linkRow is l as an insert, for upserts that change a few columns of existing links in one
// statement: the insert never happens (the id exists), its values only fill the NOT NULLs.
func (d *drain) linkRow(l *ent.QBOLink) *ent.QBOLinkCreate {
	return d.c.QBOLink.Create().SetID(l.ID).SetConnectionID(l.ConnectionID).SetEntityID(l.EntityID).
		SetRecordType(l.RecordType).SetRecordID(l.RecordID).SetPart(l.Part).SetQboType(l.QboType).
		SetOperation(l.Operation).SetGeneration(l.Generation).SetAttempts(l.Attempts).SetStatus(l.Status)
}

// settle records QuickBooks' record for a link: synced at the generation written, unless a
// newer write was asked meanwhile (then it stays pending, now knowing its QuickBooks id).
func (d *drain) settle(ctx context.Context, it item, o obj) error {
	l := it.l
	a := answerOf(l, o)
	now := d.e.now()
	apply := func(u *ent.QBOLinkUpdate) *ent.QBOLinkUpdate {
		u.SetQboID(a.id).SetClaim(a.id).SetSyncToken(a.token).SetDocNumber(a.number)
		if a.keepsTotal {
			u.SetQboTotal(a.total)
		}
		if a.keepsBalance {
			u.SetQboBalance(a.balance)
		}
		return u
	}
	n, err := apply(d.c.QBOLink.Update().Where(qbolink.ID(l.ID), qbolink.Generation(l.Generation))).
		SetStatus(qbolink.StatusSynced).SetSyncedGeneration(l.Generation).SetSyncedAt(now).
		SetLastError("").SetLastErrorCode("").Save(ctx)
	if ent.IsConstraintError(err) {
		return d.fail(ctx, l, apperr.QBOAmbiguousMatch, fmt.Sprintf("QuickBooks %s %s is already linked to another "+
			"Books record", l.QboType, a.id))
	}
	if err != nil {
		return err
	}
	if n == 0 {
		_, err := apply(d.c.QBOLink.Update().Where(qbolink.ID(l.ID))).Save(ctx)
		return err
	}
	return d.settled(ctx, it, a)
}

// settled follows a link that turned synced: the record's sync status, and the checks of
// what QuickBooks answered.
func (d *drain) settled(ctx context.Context, it item, a answer) error {
	l := it.l
	if d.synced != nil {
		d.synced[l.RecordType] = append(d.synced[l.RecordType], l.RecordID)
	} else if err := setRecordStatus(ctx, d.c, l, syncstate.Synced); err != nil {
		return err
	}
	switch l.RecordType {
	case qbolink.RecordTypeInvoice:
		if it.doc.expectTotal != nil && a.hasTotal && a.total.Cmp(*it.doc.expectTotal) != 0 {
			return d.mismatch(ctx, l, fmt.Sprintf("QuickBooks invoice %s totals %s; Books %s", a.id, a.total, *it.doc.expectTotal))
		}
		// The answer settles an invoice pushed whole whose balance already agrees; any other
		// is read again once its payments and credits are in (verifyInvoices).
		if l.Part != 0 || !a.hasBalance || it.doc.expectBalance == nil || a.balance.Cmp(*it.doc.expectBalance) != 0 {
			return d.unverify(ctx, []string{l.RecordID})
		}
	case qbolink.RecordTypePayment, qbolink.RecordTypeCreditMemo:
		if err := d.touchInvoicesOf(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

func amountOf(o obj, key string) (money.Amount, bool) {
	n, ok := o[key].(json.Number)
	if !ok {
		return money.Amount{}, false
	}
	a, err := money.Parse(normalize(n.String()))
	return a, err == nil
}

// normalize rewrites a JSON number the way money.Parse reads it (no exponent, at most four
// decimals, which QuickBooks amounts never exceed).
func normalize(s string) string {
	if strings.HasSuffix(s, ".0") {
		return strings.TrimSuffix(s, ".0")
	}
	return s
}

// fail marks a link failed and raises an admin issue a person settles; retrying the issue
// asks for the write again.
func (d *drain) fail(ctx context.Context, l *ent.QBOLink, code, msg string) error {
	msg = truncate(msg, 2000)
	if _, err := d.c.QBOLink.UpdateOne(l).SetStatus(qbolink.StatusError).SetLastErrorCode(code).SetLastError(msg).Save(ctx); err != nil {
		return err
	}
	if err := setRecordStatus(ctx, d.c, l, syncstate.Error); err != nil {
		return err
	}
	args, _ := json.Marshal(retryArgs(d.row, l))
	_, err := d.e.raise(ctx, d.c, adminq.Problem{
		EntityID:     d.row.EntityID,
		Kind:         "qbo_push_" + string(l.RecordType),
		SubjectType:  string(l.RecordType),
		SubjectID:    l.RecordID,
		ErrorCode:    code,
		ErrorMessage: msg,
		JobKind:      RetryArgs{}.Kind(),
		JobArgs:      string(args),
	})
	d.e.log().Warn("QuickBooks push failed", "connection", d.row.ID, "link", l.ID, "record", l.RecordID, "code", code)
	return err
}

// mismatch raises an admin issue for amounts that differ after a push; the link stays synced.
func (d *drain) mismatch(ctx context.Context, l *ent.QBOLink, msg string) error {
	_, err := d.e.raise(ctx, d.c, adminq.Problem{
		EntityID:     d.row.EntityID,
		Kind:         "qbo_amount_mismatch",
		SubjectType:  string(l.RecordType),
		SubjectID:    l.RecordID,
		ErrorCode:    apperr.QBOAmountMismatch,
		ErrorMessage: msg,
	})
	return err
}

func (e *Engine) raise(ctx context.Context, c *ent.Client, p adminq.Problem) (*ent.AdminIssue, error) {
	if e.Issues != nil {
		return e.Issues.Raise(ctx, c, p)
	}
	return adminq.Raise(ctx, c, p)
}
