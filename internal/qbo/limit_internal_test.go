package qbo

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The bucket is driven with explicit times, so this checks the arithmetic
// (burst + refill never exceed n in any window) without a clock.
func TestPerWindowNeverExceedsLimitInAnyWindow(t *testing.T) {
	t.Parallel()

	for _, n := range []int{1, 2, 10, 40, 500, 5000} {
		w := time.Minute
		lim := perWindow(n, w)
		start := time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC)
		step := w / time.Duration(8*n) // try far more often than allowed
		var admitted []time.Time
		for at := start; at.Before(start.Add(3 * w)); at = at.Add(step) {
			if lim.AllowN(at, 1) {
				admitted = append(admitted, at)
			}
		}
		// QuickBooks (and the emulator) count requests in (now-w, now].
		first := 0
		for i, at := range admitted {
			for !admitted[first].After(at.Add(-w)) {
				first++
			}
			require.LessOrEqual(t, i-first+1, n, "n=%d: %d requests in the window ending %s", n, i-first+1, at.Sub(start))
		}
		// It is a limit, not a stop: over three windows it admits most of
		// 3n (the burst is given up from each window after the first).
		require.GreaterOrEqual(t, len(admitted), 3*n/2, "n=%d", n)
	}
}

func TestObserveBacksOffExponentiallyAndResets(t *testing.T) {
	t.Parallel()

	l := NewLimiter(Limits{BackoffMin: time.Second, BackoffMax: 4 * time.Second})
	r := l.realm("1")
	throttle := &Fault{Status: http.StatusTooManyRequests, Code: CodeThrottled}
	// A throttle after the pause ended: clear the pause to stand for it.
	throttleAfterPause := func() time.Duration {
		t.Helper()
		r.mu.Lock()
		r.pausedUntil = time.Time{}
		r.mu.Unlock()
		before := time.Now()
		l.observe(r, throttle)
		d := l.PausedUntil("1").Sub(before)
		return d
	}
	requireWithin := func(d, backoff time.Duration) {
		t.Helper()
		// Equal jitter: between half and all of the backoff (plus the
		// little time observe takes).
		require.GreaterOrEqual(t, d, backoff/2)
		require.LessOrEqual(t, d, backoff+time.Second/2)
	}

	requireWithin(throttleAfterPause(), time.Second)
	requireWithin(throttleAfterPause(), 2*time.Second)
	requireWithin(throttleAfterPause(), 4*time.Second)
	requireWithin(throttleAfterPause(), 4*time.Second) // capped

	// A throttle while paused was sent before the pause: no escalation.
	until := l.PausedUntil("1")
	l.observe(r, throttle)
	require.Equal(t, until, l.PausedUntil("1"))

	// A request error is no answer: the backoff stays.
	l.observe(r, &RequestError{Method: "GET", Path: "query", Err: errors.New("reset")})
	requireWithin(throttleAfterPause(), 4*time.Second)

	// Any answer that is not a throttle resets it.
	l.observe(r, &Fault{Status: http.StatusBadRequest, Code: CodeStaleObject})
	requireWithin(throttleAfterPause(), time.Second)
	l.observe(r, nil)
	requireWithin(throttleAfterPause(), time.Second)

	// Retry-After wins over the backoff, exactly, and extends a pause.
	r.mu.Lock()
	r.pausedUntil = time.Time{}
	r.mu.Unlock()
	before := time.Now()
	l.observe(r, &Fault{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second})
	require.GreaterOrEqual(t, l.PausedUntil("1").Sub(before), 30*time.Second)

	// Pause never shortens.
	until = l.PausedUntil("1")
	l.Pause("1", time.Millisecond)
	require.Equal(t, until, l.PausedUntil("1"))
	require.ErrorIs(t, func() error {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return l.Wait(ctx, "1")
	}(), context.Canceled)
}
