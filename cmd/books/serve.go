package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/demo"
	"books/internal/qbo/conn"
	"books/internal/qbo/qbotest"
	"books/internal/realtime"
	"books/internal/stripepay/stripefake"
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
	var qf qboFlags
	qf.register(fs)
	var sf stripeFlags
	sf.register(fs)
	var h httpSettings
	if err := h.register(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger()
	origins, err := server.ParseOrigins(h.corsOrigins)
	if err != nil {
		return fmt.Errorf("--cors-origins: %w", err)
	}
	if *withDemo {
		// The demo is for trying the API, from the SPA's dev server and GraphiQL too.
		origins = append(origins, demoOrigin)
		h.graphiql = true
	}
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
	// Read at start-up, so a bad BOOKS_ENCRYPTION_KEY stops the server at once and a
	// generated key is announced on the first run.
	if _, err := c.secretBox(log); err != nil {
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
	base := "http://" + ln.Addr().String()
	url := base + "/graphql"
	// QuickBooks: configured by flags, or in the demo the in-process emulator, with one
	// company per demo entity.
	app, qboOn, err := qf.app()
	if err != nil {
		ln.Close()
		return err
	}
	// The webhook verifier token: POST /webhooks/qbo is served only with one.
	verifier := qf.verifier()
	var emulator *qbotest.Server
	if *withDemo && !qboOn {
		// The emulator delivers its changes to this server's webhook, signed with a token
		// made for the run unless one is configured; demo.json holds it for trying by hand.
		if verifier == "" {
			verifier = rand.Text()
		}
		// Fresh company ids each run: the emulator keeps nothing, and a QuickBooks id of a new
		// company must not be taken for one of the last run's.
		emulator = qbotest.New(qbotest.WithRealms(2), qbotest.WithFirstRealmID(time.Now().UnixMilli()*10),
			qbotest.WithWebhook(base+"/webhooks/qbo", verifier))
		if err := emulator.Start("127.0.0.1:0"); err != nil {
			ln.Close()
			return fmt.Errorf("start the QuickBooks emulator: %w", err)
		}
		defer emulator.Close()
		app = conn.EmulatorApp(emulator.URL, qbotest.DefaultClientID, qbotest.DefaultClientSecret, base+"/oauth/qbo/callback")
		qf.afterURL, qboOn = base+"/", true
		log.Info("QuickBooks emulator running", "url", emulator.URL, "webhook", base+"/webhooks/qbo")
	}
	var demoInfo *demo.Info
	if *withDemo {
		info, err := demo.Seed(ctx, client, tokens, c.dataDir, url)
		if err != nil {
			ln.Close()
			return fmt.Errorf("seed demo: %w", err)
		}
		info.QBOWebhookVerifier = ""
		if emulator != nil {
			info.QBOWebhookVerifier = verifier
		}
		if err := demo.Save(c.dataDir, info); err != nil {
			ln.Close()
			return err
		}
		out, _ := json.MarshalIndent(info, "", "  ")
		fmt.Println(string(out))
		demoInfo = &info
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
	var qb *quickBooks
	if qboOn {
		if qb, err = newQuickBooks(&c, db, app, queue, log, qf.requestTimeout, qf.afterURL); err != nil {
			ln.Close()
			return err
		}
	}
	if verifier != "" && qb == nil {
		log.Warn("the QuickBooks webhook verifier is set but QuickBooks is not configured: POST /webhooks/qbo stays off")
	}
	// Stripe: accounts are data; in the demo, without a configured API, an offline fake.
	var fake *stripefake.Server
	if *withDemo && sf.apiURL == "" {
		fake = stripefake.New(stripefake.Options{})
		if sf.apiURL, err = fake.Start(); err != nil {
			ln.Close()
			return fmt.Errorf("start the Stripe fake: %w", err)
		}
		defer fake.Close()
		log.Info("Stripe fake running", "url", sf.apiURL)
	}
	sp, err := newStripe(&c, db, queue, qb, sf.apiURL, log)
	if err != nil {
		ln.Close()
		return err
	}
	reg := server.NewRegistry()
	runner, err := newRunner(db, log, reg, queue, qb, sp, !*workers, 20, *grace)
	if err != nil {
		ln.Close()
		return err
	}
	if err := runner.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	if emulator != nil && demoInfo != nil {
		dq := demo.QuickBooks{Emulator: emulator, Store: qb.store, Engine: qb.engine}
		if err := demo.ConnectQuickBooks(ctx, client, *demoInfo, dq); err != nil {
			log.Warn("the demo could not connect QuickBooks", "err", err)
		} else {
			// A QuickBooks user's payments come back by webhook once the push is through.
			go func() {
				if err := demo.QuickBooksActivity(ctx, client, *demoInfo, dq, 2*time.Minute); err != nil {
					log.Warn("the demo's QuickBooks activity failed", "err", err)
				}
			}()
		}
	}
	if fake != nil && demoInfo != nil {
		ds := demo.Stripe{Fake: fake, Service: sp, WebhookBase: base}
		if err := demo.ConnectStripe(ctx, client, demoInfo, ds); err != nil {
			log.Warn("the demo could not set up Stripe", "err", err)
		} else if err := demo.Save(c.dataDir, *demoInfo); err != nil {
			log.Warn("the demo could not save its Stripe accounts", "err", err)
		} else {
			go func() {
				if err := demo.StripeActivity(ctx, client, *demoInfo, ds); err != nil {
					log.Warn("the demo's Stripe payment failed", "err", err)
				}
			}()
		}
	}
	var callback http.Handler
	if qb != nil {
		callback = qb.flow.Handler(client)
	}
	log.Info("listening", "addr", ln.Addr().String(), "graphql", url, "dialect", db.Dialect)
	srv := server.New(server.Config{DB: db, Client: client, Auth: authn, Logger: log, Broker: broker, Queue: queue, Registry: reg,
		QBOCallback: callback, QuickBooks: qb.graph(), QBOWebhook: qb.intake(client, verifier), Stripe: sp,
		CORSOrigins: origins, GraphiQL: h.graphiql, RateLimit: h.rateLimit, RateBurst: h.rateBurst,
		ReadTimeout: h.readTimeout, WriteTimeout: h.writeTimeout, IdleTimeout: h.idleTimeout})
	serveErr := srv.Serve(ctx, ln, *grace)
	// Requests have finished (they may have enqueued jobs); now the jobs get their grace.
	sctx, cancel := context.WithTimeout(context.Background(), *grace+time.Minute)
	defer cancel()
	return errors.Join(serveErr, runner.Stop(sctx))
}

// demoOrigin is the SPA's development server, which `serve --demo` lets in.
const demoOrigin = "http://localhost:5173"

// httpSettings are serve's settings of the HTTP edge; flags default to BOOKS_* variables.
type httpSettings struct {
	corsOrigins                            string
	graphiql                               bool
	rateLimit                              float64
	rateBurst                              int
	readTimeout, writeTimeout, idleTimeout time.Duration
}

func (h *httpSettings) register(fs *flag.FlagSet) error {
	var errs []error
	fs.StringVar(&h.corsOrigins, "cors-origins", os.Getenv("BOOKS_CORS_ORIGINS"),
		"comma-separated browser origins (scheme://host[:port]) allowed to call /graphql and /api/v1/ and to open WebSockets; --demo adds "+demoOrigin)
	fs.BoolVar(&h.graphiql, "graphiql", envParse("BOOKS_GRAPHIQL", false, strconv.ParseBool, &errs),
		"serve GraphiQL at GET /graphql to browsers (on with --demo)")
	fs.Float64Var(&h.rateLimit, "rate-limit", envParse("BOOKS_RATE_LIMIT", 50.0, parseFloat, &errs),
		"requests per second each principal (unauthenticated: each client address) may make; 0 turns limiting off")
	fs.IntVar(&h.rateBurst, "rate-burst", envParse("BOOKS_RATE_BURST", 100, strconv.Atoi, &errs),
		"requests a caller may make at once before --rate-limit applies")
	fs.DurationVar(&h.readTimeout, "read-timeout", envParse("BOOKS_HTTP_READ_TIMEOUT", 30*time.Second, time.ParseDuration, &errs),
		"time to read a request, body included (WebSockets are exempt)")
	fs.DurationVar(&h.writeTimeout, "write-timeout", envParse("BOOKS_HTTP_WRITE_TIMEOUT", 60*time.Second, time.ParseDuration, &errs),
		"time to answer a request (WebSockets are exempt)")
	fs.DurationVar(&h.idleTimeout, "idle-timeout", envParse("BOOKS_HTTP_IDLE_TIMEOUT", 120*time.Second, time.ParseDuration, &errs),
		"time a keep-alive connection may wait for its next request")
	return errors.Join(errs...)
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

// envParse returns the variable key parsed, or def when it is unset; a value that does not
// parse is added to errs, so a typo stops start-up instead of being ignored.
func envParse[T any](key string, def T, parse func(string) (T, error), errs *[]error) T {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	out, err := parse(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s=%q: %w", key, v, err))
		return def
	}
	return out
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
