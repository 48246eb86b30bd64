package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter gives every caller its own token bucket. Buckets idle long enough to have
// refilled are dropped, since a new one is the same, so the map holds only callers seen
// lately.
type rateLimiter struct {
	limit     rate.Limit
	burst     int
	idleAfter time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxBuckets bounds the map between sweeps. Reaching it with every bucket still in use
// (a flood from that many addresses) starts everyone afresh: a brief leniency rather than
// unbounded memory.
const maxBuckets = 100_000

// newRateLimiter returns a limiter of perSecond requests with bursts of burst, or nil (no
// limit) when perSecond is not positive.
func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(2*perSecond))
	}
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &rateLimiter{
		limit: rate.Limit(perSecond), burst: burst,
		idleAfter: max(refill, time.Second),
		buckets:   map[string]*bucket{},
	}
}

// allow takes a request from key's bucket at now. When it is empty it takes nothing and
// says how long until a request would pass.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.nextSweep) || len(l.buckets) >= maxBuckets {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.idleAfter {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
	l.nextSweep = now.Add(max(l.idleAfter, 30*time.Second))
}

func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
