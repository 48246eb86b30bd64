package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/demo"
	"books/internal/realtime"
	"books/server"

	"entgo.io/ent/dialect"
)

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	var oidc oidcFlags
	oidc.register(fs)
	addr := fs.String("addr", env("BOOKS_ADDR", "127.0.0.1:8080"), "listen address")
	withDemo := fs.Bool("demo", false, "seed a demo organization and write <data-dir>/demo.json")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long SIGTERM waits for in-flight requests, and then for running jobs")
	workers := fs.Bool("workers", true, "work background jobs in this process too (false when `books worker` processes do)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger()
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return err
	}
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
	tokens, err := c.tokens(log)
	if err != nil {
		return err
	}
	client := db.Client()
	authn := auth.NewService(tokens, client)
	if err := oidc.configure(ctx, authn, log); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/graphql"
	if *withDemo {
		info, err := demo.Seed(ctx, client, tokens, c.dataDir, url)
		if err != nil {
			ln.Close()
			return fmt.Errorf("seed demo: %w", err)
		}
		out, _ := json.MarshalIndent(info, "", "  ")
		fmt.Println(string(out))
	}
	if pp := os.Getenv("BOOKS_PPROF_ADDR"); pp != "" {
		// Profiling stays off the public listener; bind it to a private address.
		go func() { log.Warn("pprof listener stopped", "err", http.ListenAndServe(pp, pprofMux())) }()
	}
	// One broker and one admin queue for the server and the job runner, so a job that gives
	// up announces its issue to subscribers on every instance; one registry for /metrics.
	broker, closeBroker, err := newBroker(ctx, &c, db, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeBroker()
	queue := &adminq.Queue{Client: client, Broker: broker}
	reg := server.NewRegistry()
	runner, err := newRunner(db, log, reg, queue, !*workers, 20, *grace)
	if err != nil {
		ln.Close()
		return err
	}
	if err := runner.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "graphql", url, "dialect", db.Dialect)
	srv := server.New(server.Config{DB: db, Client: client, Auth: authn, Logger: log, Broker: broker, Queue: queue, Registry: reg})
	serveErr := srv.Serve(ctx, ln, *grace)
	// Requests have finished (they may have enqueued jobs); now the jobs get their grace.
	sctx, cancel := context.WithTimeout(context.Background(), *grace+time.Minute)
	defer cancel()
	return errors.Join(serveErr, runner.Stop(sctx))
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

// newBroker returns the realtime broker for db: PostgreSQL LISTEN/NOTIFY, which reaches every
// server process on the database, or an in-process one for SQLite.
func newBroker(ctx context.Context, c *common, db *database.DB, log *slog.Logger) (realtime.Broker, func(), error) {
	if db.Dialect != dialect.Postgres {
		return realtime.NewLocal(), func() {}, nil
	}
	pb, err := realtime.NewPostgres(ctx, c.dbURL(), log, realtime.WithDB(db.SQL))
	if err != nil {
		return nil, nil, fmt.Errorf("realtime broker: %w", err)
	}
	return pb, func() { pb.Close() }, nil
}
