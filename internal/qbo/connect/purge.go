package connect

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"books/ent"
	"books/jobs"
)

// PurgeArgs are the args of the periodic qbo_purge_states job.
type PurgeArgs struct{}

// Kind is the job kind.
func (PurgeArgs) Kind() string { return "qbo_purge_states" }

// IdempotencyKey is constant: purging twice deletes nothing more.
func (PurgeArgs) IdempotencyKey() string { return "qbo_purge_states" }

// InsertOpts: a failed purge waits for the next hour.
func (PurgeArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// PurgeWorker deletes OAuth states expired for a day.
type PurgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	Client *ent.Client
}

// Work purges.
func (w *PurgeWorker) Work(ctx context.Context, _ *river.Job[PurgeArgs]) error {
	_, err := PurgeStates(ctx, w.Client, time.Now().Add(-24*time.Hour))
	return err
}

// PurgePeriodic is the purge's schedule.
var PurgePeriodic = jobs.Periodic{Every: time.Hour, Args: func() jobs.Args { return PurgeArgs{} }}
