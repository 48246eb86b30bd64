package jobs

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

type metrics struct {
	queued    *prometheus.GaugeVec
	running   *prometheus.GaugeVec
	succeeded *prometheus.CounterVec
	retried   *prometheus.CounterVec
	failed    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	wait      *prometheus.HistogramVec

	// queuedSeen are the (kind, state) pairs the queued gauge has reported, so a pair that
	// empties reads 0 instead of vanishing.
	queuedSeen map[[2]string]bool
}

// queuedStates are the states of a job waiting to run.
var queuedStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable}

func newMetrics(kinds []string) *metrics {
	buckets := prometheus.ExponentialBuckets(0.005, 2, 16) // 5 ms … ~2.7 min
	m := &metrics{
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "books_jobs_queued", Help: "Jobs waiting to run, by kind and state (available, scheduled, retryable), read from the jobs table.",
		}, []string{"kind", "state"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "books_jobs_running", Help: "Jobs this process is working now, by kind.",
		}, []string{"kind"}),
		succeeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "books_jobs_succeeded_total", Help: "Jobs completed, by kind.",
		}, []string{"kind"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "books_jobs_retried_total", Help: "Job attempts that failed and will be retried, by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "books_jobs_failed_total", Help: "Jobs that failed for good, by kind and reason (discarded after the last attempt, cancelled).",
		}, []string{"kind", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "books_jobs_duration_seconds", Help: "Time a job attempt ran, by kind.", Buckets: buckets,
		}, []string{"kind"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "books_jobs_wait_seconds", Help: "Time from a job being due to its attempt starting, by kind.", Buckets: buckets,
		}, []string{"kind"}),
		queuedSeen: map[[2]string]bool{},
	}
	for _, k := range kinds { // every registered kind shows up at 0 from the start
		m.running.WithLabelValues(k)
		m.succeeded.WithLabelValues(k)
		m.retried.WithLabelValues(k)
		m.failed.WithLabelValues(k, "discarded")
		m.failed.WithLabelValues(k, "cancelled")
		for _, s := range queuedStates {
			m.queued.WithLabelValues(k, string(s))
			m.queuedSeen[[2]string{k, string(s)}] = true
		}
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queued, m.running, m.succeeded, m.retried, m.failed, m.duration, m.wait}
}

// observe counts one River event.
func (m *metrics) observe(ev *river.Event) {
	if ev.Job == nil {
		return
	}
	kind := ev.Job.Kind
	switch ev.Kind {
	case river.EventKindJobCompleted:
		m.succeeded.WithLabelValues(kind).Inc()
	case river.EventKindJobFailed:
		if ev.Job.State == rivertype.JobStateDiscarded {
			m.failed.WithLabelValues(kind, "discarded").Inc()
		} else {
			m.retried.WithLabelValues(kind).Inc()
		}
	case river.EventKindJobCancelled:
		m.failed.WithLabelValues(kind, "cancelled").Inc()
	default:
		return
	}
	if ev.JobStats != nil {
		m.duration.WithLabelValues(kind).Observe(ev.JobStats.RunDuration.Seconds())
		m.wait.WithLabelValues(kind).Observe(ev.JobStats.QueueWaitDuration.Seconds())
	}
}

// refreshQueued reads how many jobs of each kind wait in each state.
func (m *metrics) refreshQueued(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable') GROUP BY kind, state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	now := map[[2]string]float64{}
	for rows.Next() {
		var kind, state string
		var n int64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return err
		}
		now[[2]string{kind, state}] = float64(n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for k := range now {
		m.queuedSeen[k] = true
	}
	for k := range m.queuedSeen {
		m.queued.WithLabelValues(k[0], k[1]).Set(now[k])
	}
	return nil
}
