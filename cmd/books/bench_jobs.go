package main

// books bench jobs: the job queue's enqueue-and-complete throughput and enqueue-to-start
// latency on PostgreSQL, with a no-op job kind.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"books/internal/database"
	"books/jobs"
)

const benchJobsUsage = `usage: books bench jobs [--database-url postgres://…] [--count 20000] [--producers 8] [--batch 100] [--workers 100] [--rate 1000] [--paced-count 5000]`

// benchNoopArgs is the benchmark's job: no work, and the time it was enqueued.
type benchNoopArgs struct {
	Seq        int   `json:"seq"`
	EnqueuedAt int64 `json:"enqueued_at"` // Unix nanoseconds, taken just before the insert
}

func (benchNoopArgs) Kind() string             { return "bench_noop" }
func (a benchNoopArgs) IdempotencyKey() string { return "bench_noop:" + strconv.Itoa(a.Seq) }

// benchLatencies records each job's enqueue-to-start latency as its worker starts.
type benchLatencies struct {
	lat  []time.Duration
	n    atomic.Int64
	done chan struct{}
	once sync.Once
}

func newBenchLatencies(count int) *benchLatencies {
	return &benchLatencies{lat: make([]time.Duration, count), done: make(chan struct{})}
}

func (l *benchLatencies) add(d time.Duration) {
	i := l.n.Add(1) - 1
	if i < int64(len(l.lat)) {
		l.lat[i] = d
	}
	if i == int64(len(l.lat))-1 {
		l.once.Do(func() { close(l.done) })
	}
}

// percentiles returns p50, p99 and max in milliseconds.
func (l *benchLatencies) percentiles() (p50, p99, maxMS float64) {
	n := min(int(l.n.Load()), len(l.lat))
	if n == 0 {
		return 0, 0, 0
	}
	lat := slices.Clone(l.lat[:n])
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return round2(float64(d.Microseconds()) / 1000) }
	return ms(lat[n/2]), ms(lat[n*99/100]), ms(lat[n-1])
}

type benchNoopWorker struct {
	river.WorkerDefaults[benchNoopArgs]
	lat *benchLatencies
}

func (w *benchNoopWorker) Work(ctx context.Context, job *river.Job[benchNoopArgs]) error {
	w.lat.add(time.Since(time.Unix(0, job.Args.EnqueuedAt)))
	return nil
}

type jobsBenchOpts struct {
	count, producers, batch, workers int
	// rate paces the inserts at that many jobs per second; 0 inserts as fast as possible.
	rate float64
}

type jobsBenchPhase struct {
	Name          string  `json:"name"`
	Jobs          int     `json:"jobs"`
	Batch         int     `json:"batch"`
	Rate          float64 `json:"paced_rate,omitempty"`
	Seconds       float64 `json:"seconds"`
	JobsPerSecond float64 `json:"jobs_per_second"` // enqueued and completed (state in the database)
	InsertSeconds float64 `json:"insert_seconds"`
	P50ms         float64 `json:"enqueue_to_start_p50_ms"`
	P99ms         float64 `json:"enqueue_to_start_p99_ms"`
	Maxms         float64 `json:"enqueue_to_start_max_ms"`
}

func benchJobs(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench jobs", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("BOOKS_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/books_bench?sslmode=disable"),
		"PostgreSQL database to benchmark in; it is dropped and recreated")
	var o jobsBenchOpts
	fs.IntVar(&o.count, "count", 20000, "jobs per phase")
	fs.IntVar(&o.producers, "producers", 8, "goroutines inserting jobs")
	fs.IntVar(&o.batch, "batch", 100, "jobs per insert (one InsertMany, one transaction)")
	fs.IntVar(&o.workers, "workers", 100, "jobs worked at once")
	fs.Float64Var(&o.rate, "rate", 1000, "jobs per second of the paced phases, which measure latency below capacity")
	pacedCount := fs.Int("paced-count", 5000, "jobs per paced phase, inserted one per transaction")
	mode := fs.String("mode", "both", "both, or (internal) worker for the worker child process")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, benchJobsUsage)
	}
	if o.count < 1 || o.producers < 1 || o.batch < 1 || o.workers < 1 || o.rate <= 0 || *pacedCount < 1 {
		return errors.New(benchJobsUsage)
	}
	if *mode == "worker" {
		return benchJobsWorkerChild(ctx, *dbURL, o)
	}
	if err := recreateDatabase(*dbURL); err != nil {
		return err
	}
	db, err := database.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := migrateAll(ctx, db); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	burst := o
	burst.rate = 0
	paced := o
	paced.count, paced.batch = *pacedCount, 1
	var phases []jobsBenchPhase
	for _, ph := range []struct {
		o        jobsBenchOpts
		separate bool
	}{{burst, false}, {burst, true}, {paced, false}, {paced, true}} {
		var p jobsBenchPhase
		var err error
		if ph.separate {
			p, err = benchJobsSeparateWorker(ctx, db, self, *dbURL, ph.o)
		} else {
			p, err = benchJobsInProcess(ctx, db, ph.o)
		}
		if err != nil {
			return fmt.Errorf("phase %d: %w", len(phases)+1, err)
		}
		phases = append(phases, p)
		if _, err := db.SQL.ExecContext(ctx, `DELETE FROM river_job`); err != nil {
			return err
		}
	}
	out := map[string]any{
		"machine":   machine(),
		"producers": o.producers,
		"workers":   o.workers,
		"phases":    phases,
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
	return nil
}

func benchJobsLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// benchJobsInProcess inserts and works the jobs in one process, as `books serve` does.
func benchJobsInProcess(ctx context.Context, db *database.DB, o jobsBenchOpts) (jobsBenchPhase, error) {
	lat := newBenchLatencies(o.count)
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &benchNoopWorker{lat: lat})
	r, err := jobs.New(db, jobs.Config{Kinds: kinds, Queues: map[string]int{river.QueueDefault: o.workers}, Logger: benchJobsLogger()})
	if err != nil {
		return jobsBenchPhase{}, err
	}
	if err := r.Start(ctx); err != nil {
		return jobsBenchPhase{}, err
	}
	defer r.Stop(context.WithoutCancel(ctx))
	p, err := benchJobsDrive(ctx, db, r, o)
	if err != nil {
		return p, err
	}
	p.Name = "workers in the inserting process (books serve)"
	p.P50ms, p.P99ms, p.Maxms = lat.percentiles()
	return p, nil
}

// benchJobsSeparateWorker inserts here and works the jobs in a `books worker`-like child
// process, which learns of new jobs by polling (no LISTEN/NOTIFY over database/sql).
func benchJobsSeparateWorker(ctx context.Context, db *database.DB, self, dbURL string, o jobsBenchOpts) (jobsBenchPhase, error) {
	cmd := exec.CommandContext(ctx, self, "bench", "jobs", "--mode", "worker", "--database-url", dbURL,
		"--count", strconv.Itoa(o.count), "--workers", strconv.Itoa(o.workers))
	cmd.Stdin = nil
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return jobsBenchPhase{}, err
	}
	if err := cmd.Start(); err != nil {
		return jobsBenchPhase{}, err
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		return jobsBenchPhase{}, fmt.Errorf("worker child did not start: %q", lines.Text())
	}
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &benchNoopWorker{})
	r, err := jobs.New(db, jobs.Config{Kinds: kinds, InsertOnly: true, Logger: benchJobsLogger()})
	if err != nil {
		return jobsBenchPhase{}, err
	}
	p, err := benchJobsDrive(ctx, db, r, o)
	if err != nil {
		return p, err
	}
	if !lines.Scan() {
		return p, fmt.Errorf("worker child gave no result: %v", lines.Err())
	}
	var child jobsBenchPhase
	if err := json.Unmarshal(lines.Bytes(), &child); err != nil {
		return p, err
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return p, fmt.Errorf("worker child: %w", err)
	}
	p.Name = "workers in a separate process (books worker, polling every 50 ms)"
	p.P50ms, p.P99ms, p.Maxms = child.P50ms, child.P99ms, child.Maxms
	return p, nil
}

// benchJobsWorkerChild is the separate worker: it works count jobs, prints their latencies
// as JSON and exits.
func benchJobsWorkerChild(ctx context.Context, dbURL string, o jobsBenchOpts) error {
	db, err := database.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	lat := newBenchLatencies(o.count)
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &benchNoopWorker{lat: lat})
	r, err := jobs.New(db, jobs.Config{Kinds: kinds, Queues: map[string]int{river.QueueDefault: o.workers}, Logger: benchJobsLogger()})
	if err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	select {
	case <-lat.done:
	case <-ctx.Done():
	case <-time.After(10 * time.Minute):
	}
	if err := r.Stop(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	var p jobsBenchPhase
	p.P50ms, p.P99ms, p.Maxms = lat.percentiles()
	b, _ := json.Marshal(p)
	fmt.Println(string(b))
	return nil
}

// benchJobsDrive inserts o.count jobs from o.producers goroutines in batches of o.batch, and
// waits until the database shows them all completed.
func benchJobsDrive(ctx context.Context, db *database.DB, r *jobs.Runner, o jobsBenchOpts) (jobsBenchPhase, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, o.producers)
	start := time.Now()
	for range o.producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := int(next.Add(int64(o.batch))) - o.batch
				if first >= o.count {
					return
				}
				n := min(o.batch, o.count-first)
				if o.rate > 0 { // job i is due rate⁻¹·i seconds after the start
					time.Sleep(time.Until(start.Add(time.Duration(float64(first) / o.rate * float64(time.Second)))))
				}
				params := make([]river.InsertManyParams, n)
				now := time.Now().UnixNano()
				for i := range params {
					params[i] = river.InsertManyParams{Args: benchNoopArgs{Seq: first + i, EnqueuedAt: now}}
				}
				if _, err := r.Client().InsertMany(ctx, params); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	inserted := time.Since(start)
	select {
	case err := <-errc:
		return jobsBenchPhase{}, err
	default:
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var done int
		if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&done); err != nil {
			return jobsBenchPhase{}, err
		}
		if done == o.count {
			break
		}
		if time.Now().After(deadline) {
			return jobsBenchPhase{}, fmt.Errorf("only %d of %d jobs completed", done, o.count)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	return jobsBenchPhase{
		Jobs: o.count, Batch: o.batch, Rate: o.rate, Seconds: round2(elapsed.Seconds()), InsertSeconds: round2(inserted.Seconds()),
		JobsPerSecond: round2(float64(o.count) / elapsed.Seconds()),
	}, nil
}
