package stripefake

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Delivery retries: Stripe retries for days; a fake compresses that into
// five attempts 50 ms, 100 ms, 200 ms and 400 ms apart (doubling, capped
// at 1 s), so that tests see retries without waiting.
const (
	maxAttempts  = 5
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = time.Second
)

// Faults are injected into webhook deliveries, each decided per delivery
// with the generator seeded by Options.Seed.
type Faults struct {
	// Drop is the probability that an event is never delivered. It stays
	// listable in /v1/events, as a delivery Stripe gave up on would.
	Drop float64
	// Duplicate is the probability that an event is delivered twice.
	Duplicate float64
	// Reorder shuffles the deliveries of each batch (the events of one API
	// call or helper) and the queue that Resume releases.
	Reorder bool
}

// WebhookStats counts webhook deliveries since the Server was made.
type WebhookStats struct {
	Queued     int // deliveries queued; a duplicated event counts twice
	Dropped    int // events not delivered because of Faults.Drop
	Duplicated int // events queued twice because of Faults.Duplicate
	Attempts   int // POSTs sent, retries included
	Delivered  int // deliveries answered 2xx
	GivenUp    int // deliveries abandoned after the last attempt, or by Close
	Pending    int // deliveries queued or in flight
}

// delivery is one event on its way to one endpoint.
type delivery struct {
	ev       *event
	url      string
	secret   string
	attempts int       // POSTs made so far
	due      time.Time // wall clock; a retry waits for it
}

// lane holds an account's deliveries. One goroutine per lane sends them,
// one at a time, while the lane has work, then exits, so an idle Server
// holds no goroutines.
type lane struct {
	queue   []*delivery
	running bool
	wake    chan struct{}
}

func (l *lane) wakeUp() {
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// SetFaults sets the faults injected from now on. Probabilities outside
// [0, 1] are clamped.
func (s *Server) SetFaults(f Faults) {
	f.Drop = min(max(f.Drop, 0), 1)
	f.Duplicate = min(max(f.Duplicate, 0), 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// WebhookStats reports delivery counters.
func (s *Server) WebhookStats() WebhookStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = s.outstanding
	return st
}

// Pause holds deliveries: events are still queued but not sent until
// Resume. A POST already in flight completes.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = true
}

// Resume releases held deliveries; with Faults.Reorder each account's
// released queue is shuffled first.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = false
	for _, l := range s.lanes {
		if s.faults.Reorder {
			s.rng.Shuffle(len(l.queue), func(i, j int) { l.queue[i], l.queue[j] = l.queue[j], l.queue[i] })
		}
		l.wakeUp()
	}
}

// Flush waits until every delivery queued so far is done: delivered, given
// up or dropped. While paused it waits for Resume. A webhook handler must
// not call it (it would wait for itself).
func (s *Server) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		n, changed := s.outstanding, s.changed
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("stripefake: flush: %d deliveries pending: %w", n, ctx.Err())
		}
	}
}

// enqueue queues the deliveries of a batch of events of acct, applying the
// faults. The caller holds s.mu.
func (s *Server) enqueue(acct *account, events []*event) {
	hook := acct.hook
	if hook == nil || s.closed || len(events) == 0 {
		return
	}
	var batch []*delivery
	for _, ev := range events {
		if s.rng.Float64() < s.faults.Drop {
			s.stats.Dropped++
			continue
		}
		n := 1
		if s.rng.Float64() < s.faults.Duplicate {
			n = 2
			s.stats.Duplicated++
		}
		for range n {
			batch = append(batch, &delivery{ev: ev, url: hook.url, secret: hook.secret})
		}
	}
	if s.faults.Reorder {
		s.rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	}
	if len(batch) == 0 {
		return
	}
	l, ok := s.lanes[acct]
	if !ok {
		l = &lane{wake: make(chan struct{}, 1)}
		s.lanes[acct] = l
	}
	l.queue = append(l.queue, batch...)
	s.outstanding += len(batch)
	s.stats.Queued += len(batch)
	if l.running {
		l.wakeUp()
		return
	}
	l.running = true
	s.wg.Add(1)
	go s.runLane(l)
}

// settle records that n deliveries are done and wakes Flush.
func (s *Server) settle(n int) {
	s.outstanding -= n
	close(s.changed)
	s.changed = make(chan struct{})
}

// runLane sends a lane's deliveries until its queue is empty or the Server
// closes. It holds s.mu only between POSTs, so an endpoint may call back
// into the fake while its delivery is in flight.
func (s *Server) runLane(l *lane) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.closed {
			s.stats.GivenUp += len(l.queue)
			s.settle(len(l.queue))
			l.queue, l.running = nil, false
			s.mu.Unlock()
			return
		}
		if len(l.queue) == 0 {
			l.running = false
			s.mu.Unlock()
			return
		}
		d, wait := s.next(l)
		var body []byte
		if d != nil {
			d.attempts++
			body = mustJSON(d.ev) // rendered now: pending_webhooks is current
		}
		s.mu.Unlock()

		if d == nil {
			s.sleep(l, wait)
			continue
		}
		err := s.post(d, body)

		s.mu.Lock()
		s.stats.Attempts++
		switch {
		case err == nil:
			d.ev.pending = 0
			s.stats.Delivered++
			s.settle(1)
		case d.attempts >= maxAttempts || s.closed:
			s.stats.GivenUp++
			s.settle(1)
		default:
			d.due = time.Now().Add(backoff(d.attempts))
			l.queue = append(l.queue, d)
		}
		s.mu.Unlock()
	}
}

// next takes the first delivery of the lane that is due. If none is, it
// returns how long to wait; -1 means until woken (paused).
func (s *Server) next(l *lane) (*delivery, time.Duration) {
	if s.paused {
		return nil, -1
	}
	now := time.Now()
	var wait time.Duration = -1
	for i, d := range l.queue {
		if !d.due.After(now) {
			l.queue = append(l.queue[:i:i], l.queue[i+1:]...)
			return d, 0
		}
		if w := d.due.Sub(now); wait < 0 || w < wait {
			wait = w
		}
	}
	return nil, wait
}

func (s *Server) sleep(l *lane, wait time.Duration) {
	var timeout <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-l.wake:
	case <-timeout:
	case <-s.ctx.Done():
	}
}

func backoff(attempts int) time.Duration {
	d := firstBackoff << (attempts - 1)
	return min(d, maxBackoff)
}

// post sends one delivery attempt. It signs with the wall clock at send
// time, as stripe-go's webhook.ConstructEvent checks the timestamp against
// time.Now, and a retry must carry a fresh one.
func (s *Server) post(d *delivery, body []byte) error {
	ts := time.Now()
	sig := webhook.ComputeSignature(ts, body, d.secret)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", fmt.Sprintf("t=%d,v1=%s", ts.Unix(), hex.EncodeToString(sig)))
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("stripefake: webhook %s answered %s", d.url, resp.Status)
	}
	return nil
}
