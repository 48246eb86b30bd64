package jobs

import (
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// RetryPolicy backs off exponentially with jitter: the n-th retry of a job waits
// Base × 2^(n-1), at most Max, then ±25% at random so that jobs that failed together (an
// outage of the other side) do not retry together. With the defaults (10 s, 1 h) a job's
// retries wait about 10 s, 20 s, 40 s … 42 min, then an hour each.
//
// It implements river.ClientRetryPolicy. A worker that knows better (a 429 with
// Retry-After) returns river.JobSnooze instead of an error.
type RetryPolicy struct {
	Base time.Duration // 10 s when zero
	Max  time.Duration // 1 h when zero
}

// Delay returns the wait before the retry that follows the attempt-th failure (1-based).
func (p RetryPolicy) Delay(attempt int) time.Duration {
	base, ceiling := p.Base, p.Max
	if base <= 0 {
		base = 10 * time.Second
	}
	if ceiling <= 0 {
		ceiling = time.Hour
	}
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	jitter := (rand.Float64()*0.5 - 0.25) * float64(d)
	return d + time.Duration(jitter)
}

// NextRetry implements river.ClientRetryPolicy. A job's errors so far, plus the one being
// handled, count its failures; a job rescued after its worker died counts as failed too.
func (p RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().UTC().Add(p.Delay(len(job.Errors) + 1))
}
