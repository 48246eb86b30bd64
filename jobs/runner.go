package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"books/ent"
	"books/internal/apperr"
	"books/internal/database"
)

// Config configures a Runner. Zero values take the defaults named on each field.
type Config struct {
	// Kinds are the job kinds this process knows: it works them, and enqueues only them (an
	// insert of an unknown kind fails). Without any, the Runner does not work jobs.
	Kinds *Kinds
	// InsertOnly makes a Runner that enqueues but never works jobs (books serve --workers=false,
	// when separate `books worker` processes work them).
	InsertOnly bool
	// Periodic are jobs inserted on a schedule by the elected leader.
	Periodic []Periodic
	// Queues maps each queue to work to its number of concurrent workers in this process;
	// {"default": 20} when nil.
	Queues map[string]int
	// Issues receives jobs that failed for good (see IssueRaiser); nil logs them only.
	Issues IssueRaiser
	// Registerer receives the job metrics; nil registers nothing (Collectors still returns
	// them).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// ID names this process among River's clients; River makes one up when empty.
	ID string

	// FetchPollInterval is how often an idle worker looks for new jobs: River has no
	// LISTEN/NOTIFY over database/sql. 50 ms.
	FetchPollInterval time.Duration
	// JobTimeout cancels a job's context after this long (a worker's Timeout overrides it
	// per kind). 1 min.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is when River's rescuer treats a running job as abandoned by a
	// dead worker and schedules it again; it must exceed JobTimeout. 1 h, or JobTimeout + 1 h.
	RescueStuckJobsAfter time.Duration
	// MaxAttempts is the default for kinds whose InsertOpts set none. 10.
	MaxAttempts int
	// Retry spaces the attempts (see RetryPolicy).
	Retry RetryPolicy
	// StopGrace is how long Stop lets running jobs finish before cancelling them. 30 s.
	StopGrace time.Duration
	// QueuedRefresh is how often the queued gauge is read from the jobs table. 10 s.
	QueuedRefresh time.Duration
}

// Runner is the process's job queue: River on the shared *sql.DB.
type Runner struct {
	cfg     Config
	db      *database.DB
	log     *slog.Logger
	client  *river.Client[*sql.Tx]
	metrics *metrics
	working bool

	mu      sync.Mutex
	started bool
	stop    chan struct{}
	loops   sync.WaitGroup
	unsub   func()
}

// ErrNotInTx is returned by InsertTx for a client that is not transactional.
var ErrNotInTx = errors.New("jobs: InsertTx needs a transactional ent client (tx.Client() or ent.FromContext inside a mutation)")

// Driver returns River's driver for db: riverdatabasesql on PostgreSQL, riversqlite on SQLite.
func Driver(db *database.DB) (riverdriver.Driver[*sql.Tx], error) {
	switch db.Dialect {
	case dialect.Postgres:
		return riverdatabasesql.New(db.SQL), nil
	case dialect.SQLite:
		return riversqlite.New(db.SQL), nil
	}
	return nil, fmt.Errorf("jobs: unsupported dialect %q", db.Dialect)
}

// New returns a Runner over db. It does not start working; see Start.
func New(db *database.DB, cfg Config) (*Runner, error) {
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = time.Minute
	}
	if cfg.RescueStuckJobsAfter == 0 {
		cfg.RescueStuckJobsAfter = time.Hour + max(cfg.JobTimeout, 0)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 30 * time.Second
	}
	if cfg.QueuedRefresh <= 0 {
		cfg.QueuedRefresh = 10 * time.Second
	}
	if cfg.Queues == nil {
		cfg.Queues = map[string]int{river.QueueDefault: 20}
	}
	drv, err := Driver(db)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, db: db, log: defaultLogger(cfg.Logger).With("component", "jobs")}
	r.metrics = newMetrics(cfg.Kinds.Names())
	if cfg.Registerer != nil {
		for _, c := range r.metrics.collectors() {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("jobs: register metrics: %w", err)
			}
		}
	}

	workers := river.NewWorkers()
	if cfg.Kinds != nil {
		workers = cfg.Kinds.workers
	}
	r.working = len(cfg.Kinds.Names()) > 0 && !cfg.InsertOnly
	rc := &river.Config{
		ID:                   cfg.ID,
		Logger:               r.log,
		Workers:              workers,
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        min(cfg.FetchPollInterval, 10*time.Millisecond),
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		MaxAttempts:          cfg.MaxAttempts,
		RetryPolicy:          cfg.Retry,
		ErrorHandler:         errorHandler{r},
		Middleware:           []rivertype.Middleware{&workMiddleware{r: r}},
	}
	if r.working {
		rc.Queues = map[string]river.QueueConfig{}
		for q, n := range cfg.Queues {
			rc.Queues[q] = river.QueueConfig{MaxWorkers: n}
		}
		for _, p := range cfg.Periodic {
			rc.PeriodicJobs = append(rc.PeriodicJobs, p.river())
		}
	}
	r.client, err = river.NewClient(drv, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return r, nil
}

// Client returns the River client, for what the Runner does not wrap (JobList, JobCancel,
// JobRetry, queue pauses).
func (r *Runner) Client() *river.Client[*sql.Tx] { return r.client }

// Collectors returns the job metrics, for a registry other than Config.Registerer.
func (r *Runner) Collectors() []prometheus.Collector { return r.metrics.collectors() }

// Working reports whether Start will work jobs: some kinds are registered and the Runner is
// not InsertOnly.
func (r *Runner) Working() bool { return r.working }

// Start starts working jobs in the background and returns. The Runner works until Stop;
// ctx only bounds the start itself. Without registered kinds it does nothing.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("jobs: runner already started")
	}
	if !r.working {
		r.log.Info("this process enqueues jobs but does not work them", "kinds", r.cfg.Kinds.Names(), "insert_only", r.cfg.InsertOnly)
		return nil
	}
	events, unsub := r.client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 10_000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	if err := ctx.Err(); err != nil {
		unsub()
		return err
	}
	if err := r.client.Start(context.WithoutCancel(ctx)); err != nil {
		unsub()
		return fmt.Errorf("jobs: start: %w", err)
	}
	r.started, r.unsub, r.stop = true, unsub, make(chan struct{})
	r.loops.Add(2)
	go func() {
		defer r.loops.Done()
		for ev := range events {
			r.metrics.observe(ev)
		}
	}()
	go func() {
		defer r.loops.Done()
		r.refreshLoop()
	}()
	r.log.Info("working jobs", "kinds", r.cfg.Kinds.Names(), "queues", r.cfg.Queues)
	return nil
}

func (r *Runner) refreshLoop() {
	t := time.NewTicker(r.cfg.QueuedRefresh)
	defer t.Stop()
	for {
		if err := r.metrics.refreshQueued(context.Background(), r.db.SQL); err != nil {
			r.log.Warn("refresh queued jobs gauge", "error", err.Error())
		}
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

// Stop stops fetching jobs and waits up to Config.StopGrace for running ones to finish, then
// cancels the contexts of those still running and waits for them to return (River's
// StopAndCancel). A job whose worker ignores its context is left running in the database
// and rescued later (see the package doc). ctx bounds the whole stop.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return nil
	}
	r.started = false
	defer func() {
		close(r.stop)
		r.unsub()
		r.loops.Wait()
	}()
	soft, cancel := context.WithTimeout(ctx, r.cfg.StopGrace)
	err := r.client.Stop(soft)
	cancel()
	if err == nil {
		r.log.Info("stopped working jobs")
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("jobs: stop: %w", ctx.Err())
	}
	r.log.Warn("jobs still running after the stop grace period: cancelling them", "grace", r.cfg.StopGrace.String())
	if err := r.client.StopAndCancel(ctx); err != nil {
		return fmt.Errorf("jobs: stop and cancel: %w", err)
	}
	r.log.Info("stopped working jobs")
	return nil
}

// InsertTx enqueues a job in c's transaction, so it commits or rolls back with the domain
// writes made through c. c must be transactional (ErrNotInTx otherwise). A job of a unique
// kind that duplicates a pending one is skipped without error.
func (r *Runner) InsertTx(ctx context.Context, c *ent.Client, args river.JobArgs, opts *river.InsertOpts) error {
	tx, ok := c.SQLTx()
	if !ok {
		return ErrNotInTx
	}
	if _, err := r.client.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("enqueue %s job: %w", args.Kind(), err)
	}
	return nil
}

// Enqueue enqueues a job of a registered kind from its kind and JSON args as stored (an
// admin issue's job_kind and job_args), with the kind's own InsertOpts: in c's transaction
// when c is transactional, else on its own. It is the admin queue's Enqueue for retrying
// an issue's job.
func (r *Runner) Enqueue(ctx context.Context, c *ent.Client, kind, args string) error {
	var opts river.InsertOpts
	ok := false
	if r.cfg.Kinds != nil {
		opts, ok = r.cfg.Kinds.opts[kind]
	}
	if !ok {
		return apperr.New(apperr.Validation, "unknown job kind %q", kind)
	}
	if !json.Valid([]byte(args)) || !strings.HasPrefix(strings.TrimSpace(args), "{") {
		return apperr.New(apperr.Validation, "job args of %s are not a JSON object", kind)
	}
	raw := rawArgs{kind: kind, args: json.RawMessage(args)}
	if c != nil {
		if tx, ok := c.SQLTx(); ok {
			if _, err := r.client.InsertTx(ctx, tx, raw, &opts); err != nil {
				return fmt.Errorf("enqueue %s job: %w", kind, err)
			}
			return nil
		}
	}
	_, err := r.Insert(ctx, raw, &opts)
	return err
}

// rawArgs are job args already encoded.
type rawArgs struct {
	kind string
	args json.RawMessage
}

func (a rawArgs) Kind() string                 { return a.kind }
func (a rawArgs) MarshalJSON() ([]byte, error) { return a.args, nil }

// Insert enqueues a job outside any transaction: only for jobs that no database write
// implies (an operator's retry, a benchmark).
func (r *Runner) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := r.client.Insert(ctx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s job: %w", args.Kind(), err)
	}
	return res, nil
}
