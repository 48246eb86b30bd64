package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// IssueRaiser puts a job failure a person must look at into the admin queue. The admin-issue
// domain (internal/adminq) implements it with adminq.Raise: one issue per organization
// (TenantOf(job)), job kind, subject and error code, whose count grows when it recurs, with
// job.Kind and job.EncodedArgs kept so that the issue can enqueue the job again.
//
// The Runner calls it when a job fails its last attempt (err is that attempt's error, or a
// *PanicError) and when a worker cancels a job with river.JobCancel (err is the error the
// worker gave, unwrapped from the cancellation). It is called from the worker's goroutine
// with a context that outlives the job's own; its error is logged.
type IssueRaiser interface {
	RaiseJobFailure(ctx context.Context, job *rivertype.JobRow, err error) error
}

// PanicError is the error raised for a job whose last attempt panicked.
type PanicError struct {
	Value any
	Trace string
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// raiseTimeout bounds one call to the IssueRaiser.
const raiseTimeout = 10 * time.Second

func (r *Runner) raise(ctx context.Context, job *rivertype.JobRow, err error) {
	log := r.log.With("job_id", job.ID, "job_kind", job.Kind, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "error", err.Error())
	if r.cfg.Issues == nil {
		log.Error("job failed for good and no admin queue is configured")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), raiseTimeout)
	defer cancel()
	if rerr := r.cfg.Issues.RaiseJobFailure(ctx, job, err); rerr != nil {
		log.Error("raise admin issue for failed job", "raise_error", rerr.Error())
		return
	}
	log.Warn("job failed for good; raised an admin issue")
}

// errorHandler is River's ErrorHandler: it logs panics and raises an admin issue when a
// job's last attempt failed. Cancellations never reach it (River skips the handler for
// river.JobCancel); issueMiddleware raises those.
type errorHandler struct{ r *Runner }

func (h errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if job.Attempt >= job.MaxAttempts {
		h.r.raise(ctx, job, err)
	}
	return nil
}

func (h errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.r.log.Error("job panicked", "job_id", job.ID, "job_kind", job.Kind, "attempt", job.Attempt,
		"panic", fmt.Sprint(panicVal), "trace", trace)
	if job.Attempt >= job.MaxAttempts {
		h.r.raise(ctx, job, &PanicError{Value: panicVal, Trace: trace})
	}
	return nil
}

// workMiddleware wraps every worker: it keeps the running gauge and raises an admin issue
// when the worker cancels its job.
type workMiddleware struct {
	river.MiddlewareDefaults
	r *Runner
}

func (m *workMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if m.r.metrics != nil {
		g := m.r.metrics.running.WithLabelValues(job.Kind)
		g.Inc()
		defer g.Dec()
	}
	err := doInner(ctx)
	var cancelErr *rivertype.JobCancelError
	// A job cancelled from outside (Client.JobCancel) was cancelled by a person already.
	remote := context.Cause(ctx) == rivertype.ErrJobCancelledRemotely
	if errors.As(err, &cancelErr) && !remote && error(cancelErr) != rivertype.ErrJobCancelledRemotely {
		cause := errors.Unwrap(cancelErr)
		if cause == nil {
			cause = cancelErr
		}
		m.r.raise(ctx, job, cause)
	}
	return err
}

var _ rivertype.WorkerMiddleware = (*workMiddleware)(nil)

// defaultLogger is l, or slog's default logger.
func defaultLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}
