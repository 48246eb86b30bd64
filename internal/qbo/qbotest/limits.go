package qbotest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits are the per-realm throttles of qbo-api.md §10. A zero (or
// negative) field disables that limit.
type Limits struct {
	PerMinute      int // requests per realm in any 60 s (500)
	Concurrent     int // requests per realm in flight at once (10)
	BatchPerMinute int // POST /v3/company/{realm}/batch per realm in any 60 s (40)
}

// DefaultLimits returns QBO's documented limits: 500 requests/minute and 10
// concurrent requests per realm, 40 batch requests/minute per realm+app.
func DefaultLimits() Limits { return Limits{PerMinute: 500, Concurrent: 10, BatchPerMinute: 40} }

// WithLimits replaces the default limits. The minute windows are sliding
// and use the injectable clock (WithClock), so tests can move time.
func WithLimits(l Limits) Option { return func(c *config) { c.limits = l } }

// WithoutLimits turns throttling off.
func WithoutLimits() Option { return func(c *config) { c.limits = Limits{} } }

type realmLimits struct {
	reqs     []time.Time // accepted requests within the last minute, oldest first
	batches  []time.Time
	inflight int
}

type limiter struct {
	mu     sync.Mutex
	lim    Limits
	realms map[string]*realmLimits
	status map[string]int // realm → throttle HTTP status when not 429
}

func newLimiter(l Limits) *limiter {
	return &limiter{lim: l, realms: map[string]*realmLimits{}, status: map[string]int{}}
}

func (l *limiter) throttleStatus(realm string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, ok := l.status[realm]; ok {
		return st
	}
	return http.StatusTooManyRequests
}

// SetThrottleStatus chooses how realmID is throttled: 429 (the default) or
// 403, the form older QuickBooks accounts get (the same XML fault, code
// 3001, with statusCode=403 in its message). It applies to the limits and
// to injected 429 faults on that realm; other statuses are refused.
func (s *Server) SetThrottleStatus(realmID string, status int) error {
	if s.realms[realmID] == nil {
		return fmt.Errorf("unknown realm %s", realmID)
	}
	if status != http.StatusTooManyRequests && status != http.StatusForbidden {
		return fmt.Errorf("throttle status %d: want 429 or 403", status)
	}
	s.limiter.mu.Lock()
	defer s.limiter.mu.Unlock()
	s.limiter.status[realmID] = status
	return nil
}

// ThrottleStatus returns the HTTP status realmID is throttled with.
func (s *Server) ThrottleStatus(realmID string) int { return s.limiter.throttleStatus(realmID) }

// prune drops times at or before now-1m.
func prune(ts []time.Time, now time.Time) []time.Time {
	cut := now.Add(-time.Minute)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	return ts[i:]
}

// acquire admits a request to realm at now, or reports false (throttled).
// A throttled request is not counted. An admitted one must be released.
func (l *limiter) acquire(realm string, batch bool, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rl := l.realms[realm]
	if rl == nil {
		rl = &realmLimits{}
		l.realms[realm] = rl
	}
	rl.reqs = prune(rl.reqs, now)
	rl.batches = prune(rl.batches, now)
	if l.lim.PerMinute > 0 && len(rl.reqs) >= l.lim.PerMinute {
		return false
	}
	if batch && l.lim.BatchPerMinute > 0 && len(rl.batches) >= l.lim.BatchPerMinute {
		return false
	}
	if l.lim.Concurrent > 0 && rl.inflight >= l.lim.Concurrent {
		return false
	}
	if l.lim.PerMinute > 0 {
		rl.reqs = append(rl.reqs, now)
	}
	if batch && l.lim.BatchPerMinute > 0 {
		rl.batches = append(rl.batches, now)
	}
	rl.inflight++
	return true
}

func (l *limiter) release(realm string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rl := l.realms[realm]; rl != nil && rl.inflight > 0 {
		rl.inflight--
	}
}

func (l *limiter) inFlight(realm string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rl := l.realms[realm]; rl != nil {
		return rl.inflight
	}
	return 0
}

// apiPath splits /v3/company/{realm}/{rest…} into realm and the first
// segment after it (lower-cased); ok is false for other paths.
func apiPath(path string) (realm, segment string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v3/company/")
	if !ok {
		return "", "", false
	}
	realm, rest, _ = strings.Cut(rest, "/")
	segment, _, _ = strings.Cut(rest, "/")
	return realm, strings.ToLower(segment), realm != ""
}

// withLimits throttles /v3/company/{realm}/… requests for hosted realms.
func (s *Server) withLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		realm, seg, ok := apiPath(r.URL.Path)
		if !ok || s.realms[realm] == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !s.limiter.acquire(realm, seg == "batch" && r.Method == http.MethodPost, s.now()) {
			s.writeThrottled(w, realm)
			return
		}
		defer s.limiter.release(realm)
		next.ServeHTTP(w, r)
	})
}

// throttleXML is the recorded 429 body (qbo-api.md §10; ruckus/quickbooks-ruby
// spec/fixtures/too_many_requests_error.xml), with the time and status
// filled in. QBO sends it as XML even when JSON was requested.
const throttleXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<IntuitResponse time="%TIME%" xmlns="http://schema.intuit.com/finance/v3">
  <Fault type="SERVICE">
    <Error code="3001">
      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=%STATUS%</Message>
      <Detail>The request limit was reached.  Try again later</Detail>
    </Error>
  </Fault>
</IntuitResponse>
`

// ThrottleBody returns the 429 body the emulator sends at time t (the
// envelope time is in company-local time with milliseconds).
func (s *Server) ThrottleBody(t time.Time) []byte {
	return s.throttleBody(t, http.StatusTooManyRequests)
}

func (s *Server) throttleBody(t time.Time, status int) []byte {
	return []byte(strings.NewReplacer(
		"%TIME%", t.In(s.cfg.loc).Format("2006-01-02T15:04:05.000-07:00"),
		"%STATUS%", strconv.Itoa(status),
	).Replace(throttleXML))
}

// writeThrottled answers a throttled request to realm ("" when the path
// has none) in the realm's throttle form.
func (s *Server) writeThrottled(w http.ResponseWriter, realm string) {
	status := s.limiter.throttleStatus(realm)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("intuit_tid", randToken("", 8))
	w.WriteHeader(status)
	_, _ = w.Write(s.throttleBody(s.now(), status))
}
