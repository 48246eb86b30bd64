package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/organization"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/tenant"
	"books/jobs"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// ---------------------------------------------------------------------------------------
// Test-only job kinds.

// noteArgs is a job whose worker reports its note on a channel.
type noteArgs struct {
	jobs.Tenant
	Note string `json:"note"`
}

func (noteArgs) Kind() string             { return "test_note" }
func (a noteArgs) IdempotencyKey() string { return "test_note:" + a.Note }

type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	seen chan string
}

func (w *noteWorker) Work(ctx context.Context, job *river.Job[noteArgs]) error {
	select {
	case w.seen <- job.Args.Note:
	default:
	}
	return nil
}

// flakyArgs is a job whose worker panics on its first attempt and succeeds after.
type flakyArgs struct {
	jobs.Tenant
	jobs.Subject
}

func (flakyArgs) Kind() string             { return "test_flaky" }
func (a flakyArgs) IdempotencyKey() string { return "test_flaky:" + a.SubjectID }
func (flakyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3}
}

type flakyWorker struct {
	river.WorkerDefaults[flakyArgs]
	attempts atomic.Int32
}

func (w *flakyWorker) Work(ctx context.Context, job *river.Job[flakyArgs]) error {
	w.attempts.Add(1)
	if job.Attempt == 1 {
		panic("flaky worker blew up")
	}
	return nil
}

// poisonArgs is a job whose worker always fails, or cancels when Cancel is set.
type poisonArgs struct {
	jobs.Tenant
	jobs.Subject
	Cancel bool `json:"cancel,omitempty"`
}

func (poisonArgs) Kind() string             { return "test_poison" }
func (a poisonArgs) IdempotencyKey() string { return "test_poison:" + a.SubjectID }
func (poisonArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3}
}

type poisonWorker struct {
	river.WorkerDefaults[poisonArgs]
	attempts atomic.Int32
}

func (w *poisonWorker) Work(ctx context.Context, job *river.Job[poisonArgs]) error {
	w.attempts.Add(1)
	if job.Args.Cancel {
		return river.JobCancel(apperr.New("MISSING_EMAIL", "customer %s has no email address", job.Args.SubjectID))
	}
	return apperr.New("QBO_REJECTED", "QuickBooks rejected invoice %s (attempt %d)", job.Args.SubjectID, job.Attempt)
}

// slowArgs is a job that runs for Millis unless its context ends first.
type slowArgs struct {
	jobs.Tenant
	Name   string `json:"name"`
	Millis int    `json:"millis"`
}

func (slowArgs) Kind() string             { return "test_slow" }
func (a slowArgs) IdempotencyKey() string { return "test_slow:" + a.Name }

type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	started  chan string
	finished sync.Map // name → "done" or "cancelled"
}

func (w *slowWorker) Work(ctx context.Context, job *river.Job[slowArgs]) error {
	w.started <- job.Args.Name
	select {
	case <-time.After(time.Duration(job.Args.Millis) * time.Millisecond):
		w.finished.Store(job.Args.Name, "done")
		return nil
	case <-ctx.Done():
		w.finished.Store(job.Args.Name, "cancelled")
		return ctx.Err()
	}
}

// tickArgs is the periodic kind of the periodic-job test.
type tickArgs struct{ jobs.Tenant }

func (tickArgs) Kind() string             { return "test_tick" }
func (a tickArgs) IdempotencyKey() string { return "test_tick" }

type tickWorker struct {
	river.WorkerDefaults[tickArgs]
	runs atomic.Int32
}

func (w *tickWorker) Work(ctx context.Context, job *river.Job[tickArgs]) error {
	w.runs.Add(1)
	return nil
}

// ---------------------------------------------------------------------------------------
// The admin queue as the tests see it.

type raised struct {
	JobID   int64
	Kind    string
	Attempt int
	Err     error
}

// testIssues implements jobs.IssueRaiser the way the admin queue does: one AdminIssue per
// organization, kind, subject and error code, whose count grows when it recurs.
type testIssues struct {
	client *ent.Client
	mu     sync.Mutex
	calls  []raised
}

func (r *testIssues) RaiseJobFailure(ctx context.Context, job *rivertype.JobRow, err error) error {
	r.mu.Lock()
	r.calls = append(r.calls, raised{JobID: job.ID, Kind: job.Kind, Attempt: job.Attempt, Err: err})
	r.mu.Unlock()

	org := jobs.TenantOf(job).OrganizationID
	if org == "" {
		return errors.New("job args carry no organization")
	}
	var subject struct {
		SubjectID string `json:"subject_id"`
	}
	_ = json.Unmarshal(job.EncodedArgs, &subject)
	code := apperr.Internal
	if ae, ok := apperr.As(err); ok {
		code = ae.Code
	}
	ctx = tenant.System(ctx)
	now := time.Now().UTC()
	existing, qerr := r.client.AdminIssue.Query().Where(
		adminissue.OrganizationID(org), adminissue.Kind(job.Kind),
		adminissue.SubjectID(subject.SubjectID), adminissue.ErrorCode(code),
	).Only(ctx)
	switch {
	case ent.IsNotFound(qerr):
		return r.client.AdminIssue.Create().SetOrganizationID(org).SetKind(job.Kind).
			SetSubjectID(subject.SubjectID).SetErrorCode(code).SetErrorMessage(err.Error()).
			SetFirstSeenAt(now).SetLastSeenAt(now).
			SetJobKind(job.Kind).SetJobArgs(string(job.EncodedArgs)).Exec(ctx)
	case qerr != nil:
		return qerr
	}
	return existing.Update().AddOccurrences(1).SetLastSeenAt(now).SetErrorMessage(err.Error()).Exec(ctx)
}

func (r *testIssues) raised() []raised {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]raised(nil), r.calls...)
}

// ---------------------------------------------------------------------------------------
// Setup.

type testBundle struct {
	db     *database.DB
	client *ent.Client
	issues *testIssues
	reg    *prometheus.Registry
	runner *jobs.Runner
	org    string
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// setup migrates a database of dialect d, makes an organization and starts a Runner for
// the kinds register adds, with test timings; edit may change the config first.
func setup(t *testing.T, d string, register func(*jobs.Kinds), edit func(*testBundle, *jobs.Config)) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := dbtest.OpenJobs(t, d)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Jobs test").Save(tenant.System(ctx))
	require.NoError(t, err)
	b := &testBundle{db: db, client: client, issues: &testIssues{client: client}, reg: prometheus.NewRegistry(), org: org.ID}
	kinds := jobs.NewKinds()
	register(kinds)
	cfg := jobs.Config{
		Kinds:         kinds,
		Issues:        b.issues,
		Registerer:    b.reg,
		Logger:        testLogger(t),
		Retry:         jobs.RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		QueuedRefresh: 50 * time.Millisecond,
		StopGrace:     5 * time.Second,
	}
	if edit != nil {
		edit(b, &cfg)
	}
	b.runner, err = jobs.New(db, cfg)
	require.NoError(t, err)
	require.NoError(t, b.runner.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, b.runner.Stop(ctx))
	})
	return b
}

// waitJob waits until the job reaches a final state and returns it.
func waitJob(t *testing.T, r *jobs.Runner, id int64, want rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	var job *rivertype.JobRow
	require.Eventually(t, func() bool {
		var err error
		job, err = r.Client().JobGet(context.Background(), id)
		require.NoError(t, err)
		return job.State == want
	}, 30*time.Second, 20*time.Millisecond, "job %d never reached %s", id, want)
	return job
}

func jobsOfKind(t *testing.T, r *jobs.Runner, kind string) []*rivertype.JobRow {
	t.Helper()
	res, err := r.Client().JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(1000))
	require.NoError(t, err)
	return res.Jobs
}

// metric returns the value of the counter or gauge name with labels, or a histogram's
// sample count.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// ---------------------------------------------------------------------------------------
// Tests.

func TestInsertTxCommitsWithTheDomainWrite(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 10)
			b := setup(t, d, func(k *jobs.Kinds) { jobs.Register(k, &noteWorker{seen: seen}) }, nil)
			ctx := tenant.System(context.Background())

			// Rolled back: neither the organization nor the job exists.
			tx, err := b.client.Tx(ctx)
			require.NoError(t, err)
			org, err := tx.Organization.Create().SetName("Rolled back").Save(ctx)
			require.NoError(t, err)
			require.NoError(t, b.runner.InsertTx(ctx, tx.Client(), noteArgs{Tenant: jobs.Tenant{OrganizationID: org.ID}, Note: "rolled-back"}, nil))
			require.NoError(t, tx.Rollback())
			n, err := b.client.Organization.Query().Where(organization.ID(org.ID)).Count(ctx)
			require.NoError(t, err)
			require.Zero(t, n)
			require.Empty(t, jobsOfKind(t, b.runner, noteArgs{}.Kind()))

			// A client outside a transaction is refused.
			err = b.runner.InsertTx(ctx, b.client, noteArgs{Note: "no-tx"}, nil)
			require.ErrorIs(t, err, jobs.ErrNotInTx)

			// Committed, the way a GraphQL mutation does it: the transactional client in ctx
			// (entgql.Transactioner), a domain function joining it (ledger.WithTx).
			tx, err = b.client.Tx(ctx)
			require.NoError(t, err)
			mctx := ent.NewContext(ctx, tx.Client())
			var committed string
			require.NoError(t, ledger.WithTx(mctx, ent.FromContext(mctx), func(c *ent.Client) error {
				org, err := c.Organization.Create().SetName("Committed").Save(mctx)
				if err != nil {
					return err
				}
				committed = org.ID
				return b.runner.InsertTx(mctx, c, noteArgs{Tenant: jobs.Tenant{OrganizationID: org.ID}, Note: "committed"}, nil)
			}))
			// Nothing runs before the commit.
			select {
			case note := <-seen:
				t.Fatalf("job %q ran before its transaction committed", note)
			case <-time.After(200 * time.Millisecond):
			}
			require.NoError(t, tx.Commit())
			select {
			case note := <-seen:
				require.Equal(t, "committed", note)
			case <-time.After(30 * time.Second):
				t.Fatal("the committed job did not run")
			}
			n, err = b.client.Organization.Query().Where(organization.ID(committed)).Count(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			list := jobsOfKind(t, b.runner, noteArgs{}.Kind())
			require.Len(t, list, 1)
			job := waitJob(t, b.runner, list[0].ID, rivertype.JobStateCompleted)
			require.Equal(t, committed, jobs.TenantOf(job).OrganizationID)
			require.Eventually(t, func() bool {
				return metric(t, b.reg, "books_jobs_succeeded_total", map[string]string{"kind": "test_note"}) == 1
			}, 10*time.Second, 10*time.Millisecond)
			require.Equal(t, 1.0, metric(t, b.reg, "books_jobs_duration_seconds", map[string]string{"kind": "test_note"}))
			require.Empty(t, b.issues.raised())
		})
	}
}

func TestPanicIsRecoveredAndRetried(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			w := &flakyWorker{}
			b := setup(t, d, func(k *jobs.Kinds) { jobs.Register(k, w) }, nil)
			res, err := b.runner.Insert(context.Background(), flakyArgs{Tenant: jobs.Tenant{OrganizationID: b.org}, Subject: jobs.Subject{SubjectType: "invoice", SubjectID: "inv_1"}}, nil)
			require.NoError(t, err)
			job := waitJob(t, b.runner, res.Job.ID, rivertype.JobStateCompleted)
			require.Equal(t, 2, job.Attempt)
			require.Equal(t, int32(2), w.attempts.Load())
			require.Len(t, job.Errors, 1)
			require.Contains(t, job.Errors[0].Error, "flaky worker blew up")
			require.NotEmpty(t, job.Errors[0].Trace, "the panic's stack is kept with the attempt")
			require.Empty(t, b.issues.raised(), "a panic that a retry fixed needs nobody")
			require.Eventually(t, func() bool {
				return metric(t, b.reg, "books_jobs_retried_total", map[string]string{"kind": "test_flaky"}) == 1 &&
					metric(t, b.reg, "books_jobs_succeeded_total", map[string]string{"kind": "test_flaky"}) == 1
			}, 10*time.Second, 10*time.Millisecond)
		})
	}
}

func TestPoisonedJobIsDiscardedAndRaisedOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			w := &poisonWorker{}
			b := setup(t, d, func(k *jobs.Kinds) { jobs.Register(k, w) }, nil)
			ctx := context.Background()
			res, err := b.runner.Insert(ctx, poisonArgs{Tenant: jobs.Tenant{OrganizationID: b.org}, Subject: jobs.Subject{SubjectType: "invoice", SubjectID: "inv_poison"}}, nil)
			require.NoError(t, err)
			job := waitJob(t, b.runner, res.Job.ID, rivertype.JobStateDiscarded)
			require.Equal(t, 3, job.Attempt, "MaxAttempts comes from the kind's InsertOpts")
			require.Equal(t, int32(3), w.attempts.Load())
			require.Len(t, job.Errors, 3)

			calls := b.issues.raised()
			require.Len(t, calls, 1, "raised once, on the last attempt")
			require.Equal(t, res.Job.ID, calls[0].JobID)
			require.Equal(t, 3, calls[0].Attempt)
			ae, ok := apperr.As(calls[0].Err)
			require.True(t, ok)
			require.Equal(t, "QBO_REJECTED", ae.Code)
			require.Contains(t, calls[0].Err.Error(), "attempt 3")

			issue, err := b.client.AdminIssue.Query().Only(tenant.WithOrg(ctx, b.org))
			require.NoError(t, err)
			require.Equal(t, "test_poison", issue.Kind)
			require.Equal(t, "inv_poison", issue.SubjectID)
			require.Equal(t, "QBO_REJECTED", issue.ErrorCode)
			require.Equal(t, 1, issue.Occurrences)
			require.Equal(t, adminissue.StatusOpen, issue.Status)
			require.Equal(t, "test_poison", issue.JobKind)
			require.JSONEq(t, string(job.EncodedArgs), issue.JobArgs, "the issue keeps what it takes to enqueue the job again")

			require.Eventually(t, func() bool {
				return metric(t, b.reg, "books_jobs_failed_total", map[string]string{"kind": "test_poison", "reason": "discarded"}) == 1 &&
					metric(t, b.reg, "books_jobs_retried_total", map[string]string{"kind": "test_poison"}) == 2
			}, 10*time.Second, 10*time.Millisecond)
		})
	}
}

func TestCancelledJobRaisesAnIssue(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			w := &poisonWorker{}
			b := setup(t, d, func(k *jobs.Kinds) { jobs.Register(k, w) }, nil)
			ctx := context.Background()
			res, err := b.runner.Insert(ctx, poisonArgs{Tenant: jobs.Tenant{OrganizationID: b.org}, Subject: jobs.Subject{SubjectType: "customer", SubjectID: "cus_1"}, Cancel: true}, nil)
			require.NoError(t, err)
			job := waitJob(t, b.runner, res.Job.ID, rivertype.JobStateCancelled)
			require.Equal(t, 1, job.Attempt, "a cancelled job is not retried")

			calls := b.issues.raised()
			require.Len(t, calls, 1)
			ae, ok := apperr.As(calls[0].Err)
			require.True(t, ok, "the raiser gets the worker's own error, not River's wrapper")
			require.Equal(t, "MISSING_EMAIL", ae.Code)
			require.Equal(t, "customer cus_1 has no email address", calls[0].Err.Error())

			issue, err := b.client.AdminIssue.Query().Only(tenant.WithOrg(ctx, b.org))
			require.NoError(t, err)
			require.Equal(t, "MISSING_EMAIL", issue.ErrorCode)
			require.Equal(t, "cus_1", issue.SubjectID)

			// The same problem again is the same issue, counted twice.
			res, err = b.runner.Insert(ctx, poisonArgs{Tenant: jobs.Tenant{OrganizationID: b.org}, Subject: jobs.Subject{SubjectType: "customer", SubjectID: "cus_1"}, Cancel: true}, nil)
			require.NoError(t, err)
			waitJob(t, b.runner, res.Job.ID, rivertype.JobStateCancelled)
			issue, err = b.client.AdminIssue.Query().Only(tenant.WithOrg(ctx, b.org))
			require.NoError(t, err)
			require.Equal(t, 2, issue.Occurrences)
			require.Eventually(t, func() bool {
				return metric(t, b.reg, "books_jobs_failed_total", map[string]string{"kind": "test_poison", "reason": "cancelled"}) == 2
			}, 10*time.Second, 10*time.Millisecond)
		})
	}
}

// TestAdminQueueRaisesAndRetriesJobs runs the admin queue (adminq.Queue) as the runner's
// IssueRaiser, and retries an issue's job through Runner.Enqueue.
func TestAdminQueueRaisesAndRetriesJobs(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			w := &poisonWorker{}
			queue := &adminq.Queue{}
			b := setup(t, d, func(k *jobs.Kinds) { jobs.Register(k, w) }, func(b *testBundle, c *jobs.Config) {
				queue.Client = b.client
				c.Issues = queue
			})
			queue.Enqueue = b.runner.Enqueue
			ctx := context.Background()
			octx := tenant.WithOrg(ctx, b.org)
			args := poisonArgs{Tenant: jobs.Tenant{OrganizationID: b.org}, Subject: jobs.Subject{SubjectType: "customer", SubjectID: "cus_7"}, Cancel: true}
			res, err := b.runner.Insert(ctx, args, nil)
			require.NoError(t, err)
			waitJob(t, b.runner, res.Job.ID, rivertype.JobStateCancelled)

			var issue *ent.AdminIssue
			require.Eventually(t, func() bool {
				issue, err = b.client.AdminIssue.Query().Only(octx)
				return err == nil
			}, 10*time.Second, 10*time.Millisecond)
			require.Equal(t, "test_poison", issue.Kind)
			require.Equal(t, "customer", issue.SubjectType)
			require.Equal(t, "cus_7", issue.SubjectID)
			require.Equal(t, "MISSING_EMAIL", issue.ErrorCode)
			require.Equal(t, "customer cus_7 has no email address", issue.ErrorMessage)

			// Retrying the issue enqueues the same job again, with its kind's MaxAttempts; it
			// fails the same way and re-opens the issue.
			issue, err = queue.Retry(octx, b.client, issue.ID)
			require.NoError(t, err)
			require.Equal(t, adminissue.StatusResolved, issue.Status)
			require.Eventually(t, func() bool {
				list := jobsOfKind(t, b.runner, "test_poison")
				return len(list) == 2 && list[1].State == rivertype.JobStateCancelled
			}, 30*time.Second, 20*time.Millisecond)
			list := jobsOfKind(t, b.runner, "test_poison")
			require.JSONEq(t, string(list[0].EncodedArgs), string(list[1].EncodedArgs))
			require.Equal(t, 3, list[1].MaxAttempts)
			require.Eventually(t, func() bool {
				issue, err = b.client.AdminIssue.Get(octx, issue.ID)
				return err == nil && issue.Occurrences == 2
			}, 10*time.Second, 10*time.Millisecond)
			require.Equal(t, adminissue.StatusOpen, issue.Status)

			// Only registered kinds, with object args, can be enqueued this way.
			require.Error(t, b.runner.Enqueue(ctx, b.client, "no_such_kind", `{}`))
			require.Error(t, b.runner.Enqueue(ctx, b.client, "test_poison", `[1]`))
		})
	}
}

func TestStopLetsRunningJobsFinishWithinTheGrace(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			w := &slowWorker{started: make(chan string, 2)}
			db := dbtest.OpenJobs(t, d)
			kinds := jobs.NewKinds()
			jobs.Register(kinds, w)
			r, err := jobs.New(db, jobs.Config{Kinds: kinds, Logger: testLogger(t), StopGrace: 500 * time.Millisecond,
				Retry: jobs.RetryPolicy{Base: time.Hour}})
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, r.Start(ctx))
			quick, err := r.Insert(ctx, slowArgs{Name: "quick", Millis: 200}, nil)
			require.NoError(t, err)
			long, err := r.Insert(ctx, slowArgs{Name: "long", Millis: 60_000}, nil)
			require.NoError(t, err)
			for range 2 {
				select {
				case <-w.started:
				case <-time.After(30 * time.Second):
					t.Fatal("jobs did not start")
				}
			}
			began := time.Now()
			require.NoError(t, r.Stop(ctx))
			took := time.Since(began)
			require.GreaterOrEqual(t, took, 400*time.Millisecond, "Stop waits for the grace period")
			require.Less(t, took, 10*time.Second)

			v, _ := w.finished.Load("quick")
			require.Equal(t, "done", v, "a job shorter than the grace finishes")
			v, _ = w.finished.Load("long")
			require.Equal(t, "cancelled", v, "a job longer than the grace is cancelled")

			// Read the jobs with a runner that does not work them.
			reader, err := jobs.New(db, jobs.Config{Kinds: kinds, InsertOnly: true, Logger: testLogger(t)})
			require.NoError(t, err)
			job, err := reader.Client().JobGet(ctx, quick.Job.ID)
			require.NoError(t, err)
			require.Equal(t, rivertype.JobStateCompleted, job.State)
			job, err = reader.Client().JobGet(ctx, long.Job.ID)
			require.NoError(t, err)
			require.Equal(t, rivertype.JobStateRetryable, job.State, "the cancelled job goes back to the queue")
		})
	}
}

func TestPeriodicJobRunsOncePerPeriodAcrossLeaders(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := dbtest.OpenJobs(t, d)
			ctx := context.Background()
			w := &tickWorker{}
			kinds := jobs.NewKinds()
			jobs.Register(kinds, w)
			periodic := []jobs.Periodic{{Every: time.Hour, RunOnStart: true, Args: func() jobs.Args { return tickArgs{} }}}
			newRunner := func() *jobs.Runner {
				r, err := jobs.New(db, jobs.Config{Kinds: kinds, Periodic: periodic, Logger: testLogger(t)})
				require.NoError(t, err)
				return r
			}

			// The first leader runs the job on start.
			first := newRunner()
			require.NoError(t, first.Start(ctx))
			require.Eventually(t, func() bool { return w.runs.Load() == 1 }, 30*time.Second, 20*time.Millisecond)
			require.NoError(t, first.Stop(ctx)) // resigns leadership

			// A new leader in the same hour inserts it again; uniqueness per period skips it.
			second := newRunner()
			require.NoError(t, second.Start(ctx))
			t.Cleanup(func() { _ = second.Stop(context.Background()) })
			require.Eventually(t, func() bool {
				var leader string
				err := db.SQL.QueryRowContext(ctx, `SELECT leader_id FROM river_leader`).Scan(&leader)
				return err == nil && leader == second.Client().ID()
			}, 30*time.Second, 50*time.Millisecond, "the second runner becomes leader")
			time.Sleep(2 * time.Second) // the new leader's periodic enqueuer starts within a second
			require.Equal(t, int32(1), w.runs.Load())
			require.Len(t, jobsOfKind(t, second, tickArgs{}.Kind()), 1)
		})
	}
}

func TestMetricsQueuedGauge(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 10)
			b := setup(t, d, func(k *jobs.Kinds) { jobs.Register(k, &noteWorker{seen: seen}) }, nil)
			ctx := context.Background()
			for i := range 3 {
				_, err := b.runner.Insert(ctx, noteArgs{Note: fmt.Sprint("later-", i)}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
				require.NoError(t, err)
			}
			labels := map[string]string{"kind": "test_note", "state": "scheduled"}
			require.Eventually(t, func() bool { return metric(t, b.reg, "books_jobs_queued", labels) == 3 }, 10*time.Second, 20*time.Millisecond)
			require.Zero(t, metric(t, b.reg, "books_jobs_running", map[string]string{"kind": "test_note"}))

			// Registered kinds show from the start, at zero.
			require.Len(t, b.runner.Collectors(), 7)
			names := map[string]bool{}
			mfs, err := b.reg.Gather()
			require.NoError(t, err)
			for _, mf := range mfs {
				names[mf.GetName()] = true
			}
			for _, n := range []string{"books_jobs_queued", "books_jobs_running", "books_jobs_succeeded_total", "books_jobs_retried_total", "books_jobs_failed_total"} {
				require.True(t, names[n], n)
			}
		})
	}
}

func TestMigrateLeavesTheEntSchemaInStep(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := dbtest.Open(t, d)
			applied, err := jobs.Migrate(ctx, db)
			require.NoError(t, err)
			require.NotEmpty(t, applied)
			require.Contains(t, applied[0], "river 001_")
			again, err := jobs.Migrate(ctx, db)
			require.NoError(t, err)
			require.Empty(t, again, "migrating twice applies nothing")
			diff, err := db.SchemaDiff(ctx)
			require.NoError(t, err)
			require.Empty(t, diff, "River's tables must not show in ent's schema diff")
		})
	}
}

func TestRetryPolicyBacksOffExponentiallyWithJitter(t *testing.T) {
	t.Parallel()
	p := jobs.RetryPolicy{Base: time.Second, Max: time.Minute}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 40: time.Minute} {
		lo, hi := time.Duration(float64(want)*0.75), time.Duration(float64(want)*1.25)
		distinct := map[time.Duration]bool{}
		for range 50 {
			d := p.Delay(attempt)
			require.GreaterOrEqual(t, d, lo, "attempt %d", attempt)
			require.LessOrEqual(t, d, hi, "attempt %d", attempt)
			distinct[d] = true
		}
		require.Greater(t, len(distinct), 10, "attempt %d: delays are jittered", attempt)
	}
	job := &rivertype.JobRow{Errors: make([]rivertype.AttemptError, 2)}
	next := time.Until(p.NextRetry(job))
	require.InDelta(t, float64(4*time.Second), float64(next), float64(time.Second)+float64(50*time.Millisecond))
}
