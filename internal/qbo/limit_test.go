package qbo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo"
	"books/internal/qbo/qbotest"
)

// serverCall is one API request as the server saw it.
type serverCall struct {
	realm, method string
	start, end    time.Time
	status        int
}

// serverLog sits in front of the emulator and records what reaches it:
// requests in flight and writes in flight per realm (their maxima), and
// every call with its times. Its times are taken on the server side, so
// the tests compare server events, never the test's wall clock.
type serverLog struct {
	mu          sync.Mutex
	inflight    map[string]int
	maxInflight map[string]int
	writes      map[string]int
	maxWrites   map[string]int
	calls       []serverCall
	// jsonThrottles answers the next n API requests with a JSON 429 and
	// Retry-After: 1 (the emulator only sends QuickBooks' XML throttle).
	jsonThrottles int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (l *serverLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/v3/company/")
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		realm, _, _ := strings.Cut(rest, "/")
		write := r.Method == http.MethodPost
		c := serverCall{realm: realm, method: r.Method, start: time.Now()}
		l.mu.Lock()
		l.inflight[realm]++
		l.maxInflight[realm] = max(l.maxInflight[realm], l.inflight[realm])
		if write {
			l.writes[realm]++
			l.maxWrites[realm] = max(l.maxWrites[realm], l.writes[realm])
		}
		throttle := l.jsonThrottles > 0
		if throttle {
			l.jsonThrottles--
		}
		l.mu.Unlock()

		sw := &statusWriter{ResponseWriter: w}
		if throttle {
			sw.Header().Set("Content-Type", "application/json")
			sw.Header().Set("Retry-After", "1")
			sw.WriteHeader(http.StatusTooManyRequests)
			_, _ = sw.Write([]byte(`{"fault":{"error":[{"message":"message=ThrottleExceeded; errorCode=003001; statusCode=429","detail":"The request limit was reached.","code":"3001"}],"type":"SERVICE"},"time":1719000000000}`))
		} else {
			next.ServeHTTP(sw, r)
		}

		l.mu.Lock()
		defer l.mu.Unlock()
		l.inflight[realm]--
		if write {
			l.writes[realm]--
		}
		c.end, c.status = time.Now(), sw.status
		if c.status == 0 {
			c.status = http.StatusOK
		}
		l.calls = append(l.calls, c)
	})
}

func (l *serverLog) snapshot(realm string) (maxInflight, maxWrites int, calls []serverCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c.realm == realm {
			calls = append(calls, c)
		}
	}
	return l.maxInflight[realm], l.maxWrites[realm], calls
}

type limitBundle struct {
	srv *qbotest.Server
	url string
	log *serverLog
}

func setupLimit(t *testing.T, opts ...qbotest.Option) *limitBundle {
	t.Helper()
	srv := qbotest.New(opts...)
	log := &serverLog{inflight: map[string]int{}, maxInflight: map[string]int{}, writes: map[string]int{}, maxWrites: map[string]int{}}
	hs := httptest.NewServer(log.wrap(srv.Handler()))
	t.Cleanup(func() {
		_ = srv.Close() // ends requests held by faults first
		hs.Close()
	})
	return &limitBundle{srv: srv, url: hs.URL, log: log}
}

// client returns a client of realm paced by lim (nil: not paced).
func (b *limitBundle) client(t *testing.T, realm string, lim *qbo.Limiter) *qbo.Client {
	t.Helper()
	auth := &bearer{token: b.srv.IssueTokens(realm).AccessToken}
	c, err := qbo.New(qbo.Config{BaseURL: b.url, RealmID: realm, HTTPClient: &http.Client{Transport: auth}, Limiter: lim})
	require.NoError(t, err)
	return c
}

// mixedCall is call i of a burst: a query batch, a create or a read.
func mixedCall(ctx context.Context, c *qbo.Client, i int) error {
	switch i % 6 {
	case 0:
		_, err := c.Batch(ctx, []qbo.BatchItem{{BID: "1", Query: "SELECT * FROM Item"}}, "")
		return err
	case 1:
		_, err := c.Create(ctx, "Customer", map[string]any{"DisplayName": fmt.Sprintf("Burst %d", i)}, fmt.Sprintf("burst-%d", i))
		return err
	default:
		_, err := c.CompanyInfo(ctx)
		return err
	}
}

// fastClock runs the emulator's clock 100 times faster than real time, so
// its minute windows last 600 ms.
func fastClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(100 * time.Since(start)) }
}

// A burst against the emulator's throttles: with the limiter no request is
// throttled, requests in flight stay at the cap and writes never overlap;
// without it the same burst is throttled (so the burst does test the
// limits).
func TestLimiterKeepsBurstUnderEmulatorLimits(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		opts    []qbotest.Option
		limits  qbo.Limits
		n       int
		overlap bool // requests are slow enough that the cap is reached
	}{
		{
			name: "InFlight",
			// Every request takes 20 ms, so 200 at once overlap.
			opts: []qbotest.Option{
				qbotest.WithLimits(qbotest.Limits{Concurrent: 10}),
				qbotest.WithFaults(qbotest.Fault{Kind: qbotest.FaultLatency, LatencyMS: 20}),
			},
			limits:  qbo.Limits{Concurrent: 10, PerMinute: 1 << 30, BatchPerMinute: 1 << 30},
			n:       200,
			overlap: true,
		},
		{
			name: "PerMinute",
			// The emulator's minute lasts 600 ms. The limiter stays below
			// the emulator's counts rather than at them: the server sees a
			// request a little after the limiter let it go, and uneven
			// delays can bunch requests into one of the server's windows.
			opts: []qbotest.Option{
				qbotest.WithClock(fastClock()),
				qbotest.WithLimits(qbotest.Limits{PerMinute: 50, BatchPerMinute: 10}),
			},
			limits: qbo.Limits{PerMinute: 40, BatchPerMinute: 8, Window: 600 * time.Millisecond},
			n:      120,
		},
	}
	for _, tt := range tests {
		for _, limited := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/limited=%t", tt.name, limited), func(t *testing.T) {
				t.Parallel()

				b := setupLimit(t, tt.opts...)
				realm := b.srv.RealmIDs()[0]
				var lim *qbo.Limiter
				if limited {
					lim = qbo.NewLimiter(tt.limits)
				}
				c := b.client(t, realm, lim)

				errs := make([]error, tt.n)
				var wg sync.WaitGroup
				for i := range tt.n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = mixedCall(context.Background(), c, i)
					}()
				}
				wg.Wait()

				maxInflight, maxWrites, calls := b.log.snapshot(realm)
				require.Len(t, calls, tt.n)
				if !limited {
					throttled := 0
					for _, err := range errs {
						if qbo.IsThrottled(err) {
							throttled++
						}
					}
					require.Positive(t, throttled, "the burst must exceed the emulator's limits")
					return
				}
				for i, err := range errs {
					require.NoError(t, err, "call %d", i)
				}
				require.LessOrEqual(t, maxInflight, 10)
				require.Equal(t, 1, maxWrites, "writes to one realm overlapped")
				if tt.overlap {
					require.Greater(t, maxInflight, 1, "reads should run concurrently")
				}
			})
		}
	}
}

// After a throttle the realm waits: every later request reaches the server
// at least the pause after the throttled answer left it. The pause starts
// when the client has read that answer, so server times bound it from
// below whatever the machine's load.
func TestLimiterPausesRealmAfterThrottle(t *testing.T) {
	t.Parallel()

	const backoffMin = 200 * time.Millisecond
	tests := []struct {
		name    string
		prepare func(t *testing.T, b *limitBundle, realm string)
		minGap  time.Duration
	}{
		{
			name: "XML429",
			prepare: func(t *testing.T, b *limitBundle, realm string) {
				require.NoError(t, b.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultThrottle, Count: 1, Realm: realm}))
			},
			minGap: backoffMin / 2, // equal jitter: at least half the backoff
		},
		{
			name: "XML403Code3001",
			prepare: func(t *testing.T, b *limitBundle, realm string) {
				require.NoError(t, b.srv.SetThrottleStatus(realm, http.StatusForbidden))
				require.NoError(t, b.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultThrottle, Count: 1, Realm: realm}))
			},
			minGap: backoffMin / 2,
		},
		{
			name: "JSON429RetryAfter",
			prepare: func(t *testing.T, b *limitBundle, realm string) {
				b.log.mu.Lock()
				defer b.log.mu.Unlock()
				b.log.jsonThrottles = 1
			},
			minGap: time.Second, // Retry-After: 1, not the shorter backoff
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			b := setupLimit(t)
			realm := b.srv.RealmIDs()[0]
			lim := qbo.NewLimiter(qbo.Limits{BackoffMin: backoffMin, BackoffMax: time.Second})
			c := b.client(t, realm, lim)
			tt.prepare(t, b, realm)
			ctx := context.Background()

			_, err := c.CompanyInfo(ctx)
			require.True(t, qbo.IsThrottled(err), "%v", err)
			require.True(t, lim.PausedUntil(realm).After(time.Now()), "the realm should be paused")

			errs := make([]error, 5)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = mixedCall(ctx, c, i+1) // a write and reads
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}

			_, _, calls := b.log.snapshot(realm)
			require.Len(t, calls, 6)
			throttled := calls[0]
			require.NotEqual(t, http.StatusOK, throttled.status)
			for _, later := range calls[1:] {
				require.Equal(t, http.StatusOK, later.status)
				require.GreaterOrEqual(t, later.start.Sub(throttled.end), tt.minGap,
					"a request reached the throttled realm during its pause")
			}
		})
	}
}

// A call waiting for the limiter gives up with its context, holds nothing
// afterwards, and never reaches the server.
func TestLimiterWaitEndsWithContext(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		limits qbo.Limits
		// block makes the realm's next call wait and returns what undoes it
		// (nil: the wait ends only with time).
		block func(t *testing.T, lim *qbo.Limiter, realm string) func()
		call  func(ctx context.Context, c *qbo.Client) error
		// after checks the limiter is free again once block is undone.
		after qbo.CallKind
	}{
		{
			name: "Pause",
			block: func(t *testing.T, lim *qbo.Limiter, realm string) func() {
				lim.Pause(realm, time.Hour)
				return nil
			},
			call: func(ctx context.Context, c *qbo.Client) error { _, err := c.CompanyInfo(ctx); return err },
		},
		{
			name: "WriteLock",
			block: func(t *testing.T, lim *qbo.Limiter, realm string) func() {
				done, err := lim.Acquire(context.Background(), realm, qbo.CallWrite)
				require.NoError(t, err)
				return func() { done(nil) }
			},
			call: func(ctx context.Context, c *qbo.Client) error {
				_, err := c.Create(ctx, "Customer", map[string]any{"DisplayName": "Waiting"}, "wait-1")
				return err
			},
			after: qbo.CallWrite,
		},
		{
			name:   "InFlight",
			limits: qbo.Limits{PerMinute: 1 << 30},
			block: func(t *testing.T, lim *qbo.Limiter, realm string) func() {
				var dones []func(error)
				for range lim.Limits().Concurrent {
					done, err := lim.Acquire(context.Background(), realm, qbo.CallRead)
					require.NoError(t, err)
					dones = append(dones, done)
				}
				return func() {
					for _, done := range dones {
						done(nil)
					}
				}
			},
			call:  func(ctx context.Context, c *qbo.Client) error { _, err := c.CompanyInfo(ctx); return err },
			after: qbo.CallRead,
		},
		{
			name:   "PerMinute",
			limits: qbo.Limits{PerMinute: 2},
			block: func(t *testing.T, lim *qbo.Limiter, realm string) func() {
				done, err := lim.Acquire(context.Background(), realm, qbo.CallRead)
				require.NoError(t, err)
				done(nil)
				return nil // the next token comes in a minute
			},
			call: func(ctx context.Context, c *qbo.Client) error { _, err := c.CompanyInfo(ctx); return err },
		},
		{
			name:   "BatchPerMinute",
			limits: qbo.Limits{BatchPerMinute: 2},
			block: func(t *testing.T, lim *qbo.Limiter, realm string) func() {
				done, err := lim.Acquire(context.Background(), realm, qbo.CallBatch)
				require.NoError(t, err)
				done(nil)
				return nil
			},
			call: func(ctx context.Context, c *qbo.Client) error {
				_, err := c.Batch(ctx, []qbo.BatchItem{{BID: "1", Query: "SELECT * FROM Item"}}, "")
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			b := setupLimit(t)
			realm := b.srv.RealmIDs()[0]
			lim := qbo.NewLimiter(tt.limits)
			c := b.client(t, realm, lim)
			release := tt.block(t, lim, realm)

			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- tt.call(ctx, c) }()
			time.Sleep(20 * time.Millisecond) // most likely waiting by now; either way it must end
			cancel()
			var err error
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second): // the waits above last a minute or an hour
				t.Fatal("the call did not end with its context")
			}
			require.ErrorIs(t, err, context.Canceled)
			var re *qbo.RequestError
			require.ErrorAs(t, err, &re)
			require.False(t, qbo.Retryable(err))
			_, _, calls := b.log.snapshot(realm)
			require.Empty(t, calls, "a cancelled call reached the server")

			if release == nil {
				return
			}
			release()
			// The cancelled call left nothing held: the whole realm is free.
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for range lim.Limits().Concurrent {
				done, err := lim.Acquire(ctx, realm, tt.after)
				require.NoError(t, err)
				defer done(nil)
				if tt.after == qbo.CallWrite {
					break // one write at a time
				}
			}
		})
	}
}

// One realm paused, with its write lock and every slot taken, does not slow
// another realm.
func TestLimiterRealmsAreIndependent(t *testing.T) {
	t.Parallel()

	b := setupLimit(t, qbotest.WithRealms(2))
	busy, free := b.srv.RealmIDs()[0], b.srv.RealmIDs()[1]
	// Only the slots and the write lock are taken; no bucket slows the test.
	lim := qbo.NewLimiter(qbo.Limits{PerMinute: 1 << 30, BatchPerMinute: 1 << 30})
	bg := context.Background()
	wdone, err := lim.Acquire(bg, busy, qbo.CallWrite)
	require.NoError(t, err)
	defer wdone(nil)
	for range lim.Limits().Concurrent - 1 {
		done, err := lim.Acquire(bg, busy, qbo.CallRead)
		require.NoError(t, err)
		defer done(nil)
	}
	lim.Pause(busy, time.Hour)

	c := b.client(t, free, lim)
	ctx, cancel := context.WithTimeout(bg, 30*time.Second) // far less than the hour
	defer cancel()
	for i := range 12 {
		require.NoError(t, mixedCall(ctx, c, i), "call %d", i)
	}
	_, _, calls := b.log.snapshot(free)
	require.Len(t, calls, 12)

	// The busy realm really is blocked.
	ctx, cancel = context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	_, err = b.client(t, busy, lim).CompanyInfo(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
