package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"books/internal/auth"
	"books/internal/demo"
	"books/server"
)

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	addr := fs.String("addr", env("BOOKS_ADDR", "127.0.0.1:8080"), "listen address")
	withDemo := fs.Bool("demo", false, "seed a demo organization and write <data-dir>/demo.json")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long SIGTERM waits for in-flight requests")
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
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
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
	log.Info("listening", "addr", ln.Addr().String(), "graphql", url, "dialect", db.Dialect)
	srv := server.New(server.Config{DB: db, Client: client, Auth: authn, Logger: log})
	return srv.Serve(ctx, ln, *grace)
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}
