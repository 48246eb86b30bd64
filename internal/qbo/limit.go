package qbo

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the per-realm throttles a Limiter keeps under. A zero field
// takes the DefaultLimits value.
type Limits struct {
	// PerMinute bounds requests per realm in any minute (QuickBooks: 500).
	PerMinute int
	// Concurrent bounds requests per realm in flight at once (10).
	Concurrent int
	// BatchPerMinute bounds batch requests per realm in any minute (40).
	BatchPerMinute int
	// Window is the span PerMinute and BatchPerMinute count over: a minute,
	// unless a test or benchmark runs the emulator's clock faster.
	Window time.Duration
	// BackoffMin and BackoffMax bound the pause after a throttle that came
	// without Retry-After: it starts at BackoffMin, doubles on each further
	// throttle and is reset by the next answer that is not a throttle.
	BackoffMin, BackoffMax time.Duration
}

// DefaultLimits returns QuickBooks' documented per-realm limits (qbo-api.md
// §10) and a backoff of 1 s to 60 s.
func DefaultLimits() Limits {
	return Limits{PerMinute: 500, Concurrent: 10, BatchPerMinute: 40, Window: time.Minute,
		BackoffMin: time.Second, BackoffMax: time.Minute}
}

// CallKind says what a request does, which decides the limits it takes.
type CallKind int

const (
	// CallRead is a GET (read, query, CDC, CompanyInfo).
	CallRead CallKind = iota
	// CallWrite is a POST of one entity (create, update, delete, void).
	CallWrite
	// CallBatch is a POST to /batch. It counts as a write (its items may
	// write) and also against BatchPerMinute.
	CallBatch
)

// Limiter keeps every realm under QuickBooks' throttles: one token bucket of
// requests per minute, one of batch calls per minute, a cap on requests in
// flight, one write at a time, and a pause after a throttle. Use one Limiter
// per process, shared by every Client (Config.Limiter): the limits are per
// realm, not per client. It never retries; a throttled call fails and the
// caller (a River job) decides, but its next call waits out the pause.
//
// Acquire takes, in this order and waiting for each: the realm's write lock
// (writes only), the end of any pause, a batch token (batches only), a
// request token, and an in-flight slot. Only the write lock is held while
// waiting for the rest, and nothing waits for the write lock while holding
// a slot, so the order cannot deadlock; a call never holds an in-flight
// slot while it waits.
type Limiter struct {
	lim Limits

	mu     sync.Mutex
	realms map[string]*realmLimiter
}

// realmLimiter is the state of one realm.
type realmLimiter struct {
	reqs, batches *rate.Limiter
	inflight      chan struct{} // a semaphore of Concurrent slots
	write         chan struct{} // a lock that a waiter can give up on

	mu          sync.Mutex
	pausedUntil time.Time
	backoff     time.Duration // the last pause without Retry-After; 0 after an answer
}

// NewLimiter returns a Limiter for l; zero fields take DefaultLimits.
func NewLimiter(l Limits) *Limiter {
	d := DefaultLimits()
	if l.PerMinute <= 0 {
		l.PerMinute = d.PerMinute
	}
	if l.Concurrent <= 0 {
		l.Concurrent = d.Concurrent
	}
	if l.BatchPerMinute <= 0 {
		l.BatchPerMinute = d.BatchPerMinute
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.BackoffMin <= 0 {
		l.BackoffMin = d.BackoffMin
	}
	if l.BackoffMax < l.BackoffMin {
		l.BackoffMax = max(d.BackoffMax, l.BackoffMin)
	}
	return &Limiter{lim: l, realms: map[string]*realmLimiter{}}
}

// Limits returns the limits in force (defaults filled in).
func (l *Limiter) Limits() Limits { return l.lim }

func (l *Limiter) realm(id string) *realmLimiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.realms[id]
	if r == nil {
		r = &realmLimiter{
			reqs:     perWindow(l.lim.PerMinute, l.lim.Window),
			batches:  perWindow(l.lim.BatchPerMinute, l.lim.Window),
			inflight: make(chan struct{}, l.lim.Concurrent),
			write:    make(chan struct{}, 1),
		}
		l.realms[id] = r
	}
	return r
}

// perWindow returns a token bucket that never admits more than n requests
// in any span of w (QuickBooks counts over a sliding minute). A bucket of
// burst b refilled at r per w admits at most b + r in any w, so r is n - b.
// The burst is a fiftieth of n (10 of 500): enough that a sync starts at
// once, small enough that the refill rate stays close to n.
func perWindow(n int, w time.Duration) *rate.Limiter {
	if n == 1 {
		return rate.NewLimiter(rate.Every(w), 1)
	}
	b := min(max(n/50, 1), n-1)
	return rate.NewLimiter(rate.Limit(float64(n-b)/w.Seconds()), b)
}

// Acquire waits until realm may send a call of kind and returns done, which
// the caller must call once with the call's outcome (after reading the
// answer): it frees the slot and the write lock, and a throttle pauses the
// realm. It fails only with ctx.Err(), holding nothing.
func (l *Limiter) Acquire(ctx context.Context, realm string, kind CallKind) (done func(error), err error) {
	r := l.realm(realm)
	write := kind == CallWrite || kind == CallBatch
	if write {
		select {
		case r.write <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	fail := func(err error) (func(error), error) {
		if write {
			<-r.write
		}
		return nil, err
	}
	if err := r.waitPause(ctx); err != nil {
		return fail(err)
	}
	if kind == CallBatch {
		if err := waitToken(ctx, r.batches); err != nil {
			return fail(err)
		}
	}
	if err := waitToken(ctx, r.reqs); err != nil {
		return fail(err)
	}
	for {
		select {
		case r.inflight <- struct{}{}:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		// A throttle may have paused the realm while this call waited for
		// a slot: give the slot back rather than hold it through the pause.
		if !r.paused(time.Now()) {
			break
		}
		<-r.inflight
		if err := r.waitPause(ctx); err != nil {
			return fail(err)
		}
	}
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			<-r.inflight
			if write {
				<-r.write
			}
			l.observe(r, err)
		})
	}, nil
}

// Wait returns when realm is not paused, or with ctx.Err().
func (l *Limiter) Wait(ctx context.Context, realm string) error {
	return l.realm(realm).waitPause(ctx)
}

// Pause stops realm's calls for d from now; every call waiting or arriving
// meanwhile waits. A pause is only ever extended, never shortened.
func (l *Limiter) Pause(realm string, d time.Duration) {
	l.realm(realm).pause(time.Now().Add(d))
}

// PausedUntil returns when realm's pause ends (zero or past: not paused).
func (l *Limiter) PausedUntil(realm string) time.Time {
	r := l.realm(realm)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pausedUntil
}

// observe pauses the realm after a throttle: for Retry-After when
// QuickBooks sent one, else for the next exponential backoff with jitter.
// Throttles that arrive while the realm is already paused were sent before
// the pause and do not lengthen it. Any other answer resets the backoff; a
// request error (no answer) says nothing about the throttle and changes
// nothing.
func (l *Limiter) observe(r *realmLimiter, err error) {
	_, answered := asFault(err)
	if err != nil && !answered {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !IsThrottled(err) {
		r.backoff = 0
		return
	}
	if ra := RetryAfter(err); ra > 0 {
		r.pausedUntil = later(r.pausedUntil, now.Add(ra))
		return
	}
	if now.Before(r.pausedUntil) {
		return
	}
	r.backoff = min(max(2*r.backoff, l.lim.BackoffMin), l.lim.BackoffMax)
	// Equal jitter: between half and all of the backoff, so that realms
	// (and processes) throttled together do not all come back together.
	half := r.backoff / 2
	r.pausedUntil = now.Add(half + rand.N(r.backoff-half+1))
}

func (r *realmLimiter) pause(until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pausedUntil = later(r.pausedUntil, until)
}

func (r *realmLimiter) paused(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return now.Before(r.pausedUntil)
}

// waitPause waits until the realm is not paused; the pause may be extended
// while it waits, so it looks again after each wait.
func (r *realmLimiter) waitPause(ctx context.Context) error {
	for {
		r.mu.Lock()
		d := time.Until(r.pausedUntil)
		r.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// waitToken takes a token from b, waiting for it. Unlike rate.Limiter.Wait
// it fails only with ctx.Err(), never early because the deadline is near.
func waitToken(ctx context.Context, b *rate.Limiter) error {
	res := b.Reserve()
	if err := sleep(ctx, res.Delay()); err != nil {
		res.Cancel()
		return err
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
