package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"books/internal/adminq"
	"books/internal/database"
	"books/internal/integrity"
	"books/internal/stripepay"
	"books/jobs"
	"books/server"
)

// jobKinds returns the job kinds this binary works. Each kind that lands (QuickBooks push,
// Stripe, email) registers its worker here, so `books serve` and `books worker` work the same
// kinds.
func jobKinds() *jobs.Kinds {
	return jobs.NewKinds()
}

// migrateAll applies our migrations, then River's.
func migrateAll(ctx context.Context, db *database.DB) ([]string, error) {
	applied, err := db.Migrate(ctx)
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	river, err := jobs.Migrate(ctx, db)
	if err != nil {
		return applied, fmt.Errorf("migrate jobs: %w", err)
	}
	return append(applied, river...), nil
}

// newRunner builds the process's job runner; jobs that fail for good are raised in queue,
// whose Enqueue becomes the runner's (an admin issue's retry enqueues its job again).
func newRunner(db *database.DB, log *slog.Logger, reg prometheus.Registerer, queue *adminq.Queue, qb *quickBooks, sp *stripepay.Service,
	insertOnly bool, concurrency int, grace time.Duration) (*jobs.Runner, error) {
	kinds := jobKinds()
	integrity.RegisterJobs(kinds, db.Client(), queue)
	periodic := integrity.PeriodicJobs(integrity.SealEvery, integrity.VerifyEvery)
	if qb != nil {
		periodic = append(periodic, qb.registerJobs(kinds, db.Client())...)
	}
	if sp != nil {
		periodic = append(periodic, registerStripeJobs(kinds, sp)...)
	}
	r, err := jobs.New(db, jobs.Config{
		Kinds:      kinds,
		Periodic:   periodic,
		Issues:     queue,
		InsertOnly: insertOnly,
		Queues:     map[string]int{"default": concurrency},
		Registerer: reg,
		Logger:     log,
		StopGrace:  grace,
	})
	if err != nil {
		return nil, err
	}
	queue.Enqueue = r.Enqueue
	if qb != nil {
		qb.setRunner(r)
	}
	if sp != nil {
		sp.Runner = r
	}
	return r, nil
}

// worker runs job workers without the HTTP server until SIGTERM, then stops gracefully:
// running jobs get --shutdown-grace to finish before their contexts are cancelled.
func worker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var c common
	c.register(fs)
	concurrency := fs.Int("concurrency", 20, "jobs worked at once by this process")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long SIGTERM lets running jobs finish before cancelling them")
	metricsAddr := fs.String("metrics-addr", env("BOOKS_WORKER_METRICS_ADDR", ""), "serve Prometheus metrics at http://<addr>/metrics (off when empty)")
	var qf qboFlags
	qf.register(fs)
	var sf stripeFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger()
	db, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrateAll(ctx, db)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}

	reg := server.NewRegistry()
	if err := server.RegisterDBStats(reg, db.SQL); err != nil {
		return err
	}
	// Issues raised here reach subscribers of every server on PostgreSQL through its broker.
	broker, closeBroker, err := newBroker(ctx, &c, db, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	queue := &adminq.Queue{Client: db.Client(), Broker: broker}
	app, qboOn, err := qf.app()
	if err != nil {
		return err
	}
	var qb *quickBooks
	if qboOn {
		if qb, err = newQuickBooks(&c, db, app, queue, log, qf.requestTimeout, qf.afterURL); err != nil {
			return err
		}
	}
	sp, err := newStripe(&c, db, queue, qb, sf.apiURL, log)
	if err != nil {
		return err
	}
	runner, err := newRunner(db, log, reg, queue, qb, sp, false, *concurrency, *grace)
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics listener stopped", "err", err)
			}
		}()
		defer hs.Close()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	if err := runner.Start(ctx); err != nil {
		return err
	}
	log.Info("worker running", "dialect", db.Dialect, "kinds", jobKinds().Names(), "concurrency", *concurrency)
	<-ctx.Done()
	log.Info("shutting down: letting running jobs finish", "grace", grace.String())
	// The grace is the soft stop; the extra minute bounds waiting for cancelled jobs.
	sctx, cancel := context.WithTimeout(context.Background(), *grace+time.Minute)
	defer cancel()
	if err := runner.Stop(sctx); err != nil {
		return err
	}
	log.Info("worker stopped")
	return nil
}
