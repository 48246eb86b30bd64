package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"books/ent"
	"books/graph"
	"books/internal/adminq"
	"books/internal/database"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/internal/qbo/connect"
	"books/internal/qbo/pull"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
	"books/jobs"
)

// qboFlags configure the QuickBooks Online integration; flags default to BOOKS_QBO_*
// variables. Without a client id the integration is off (serve --demo runs the emulator and
// needs none). The client secret has no flag: it would show in the process list.
type qboFlags struct {
	clientID    string
	redirectURL string
	afterURL    string
	apiBaseURL  string
	authURL     string
	tokenURL    string
	revokeURL   string
	// requestTimeout bounds one call to QuickBooks (it times requests out at 120 s).
	requestTimeout time.Duration
	// webhookVerifier is the Intuit app's webhook verifier token (a secret); see verifier.
	webhookVerifier string
}

func (q *qboFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.clientID, "qbo-client-id", os.Getenv("BOOKS_QBO_CLIENT_ID"), "Intuit app client id (the secret is read from BOOKS_QBO_CLIENT_SECRET); QuickBooks is off without it")
	fs.StringVar(&q.redirectURL, "qbo-redirect-url", os.Getenv("BOOKS_QBO_REDIRECT_URL"), "this server's /oauth/qbo/callback URL as registered with the Intuit app")
	fs.StringVar(&q.afterURL, "qbo-after-url", os.Getenv("BOOKS_QBO_AFTER_URL"), "the SPA page the callback redirects to with qbo=connected or qbo=error&code=…")
	fs.StringVar(&q.apiBaseURL, "qbo-api-base-url", env("BOOKS_QBO_API_BASE_URL", qbo.ProductionBaseURL), "Accounting API base URL (the sandbox's, or an emulator's)")
	fs.StringVar(&q.authURL, "qbo-auth-url", env("BOOKS_QBO_AUTH_URL", conn.IntuitAuthURL), "Intuit authorize endpoint")
	fs.StringVar(&q.tokenURL, "qbo-token-url", env("BOOKS_QBO_TOKEN_URL", conn.IntuitTokenURL), "Intuit token endpoint")
	fs.StringVar(&q.revokeURL, "qbo-revoke-url", env("BOOKS_QBO_REVOKE_URL", conn.IntuitRevokeURL), "Intuit revoke endpoint")
	fs.DurationVar(&q.requestTimeout, "qbo-request-timeout", 60*time.Second, "how long one call to QuickBooks may take")
	// The default is read after parsing (verifier), so that -h does not print the secret.
	fs.StringVar(&q.webhookVerifier, "qbo-webhook-verifier", "", "the Intuit app's webhook verifier token, which turns on POST /webhooks/qbo (default $BOOKS_QBO_WEBHOOK_VERIFIER; prefer the variable: a flag shows in the process list)")
}

// verifier returns the webhook verifier token: the flag, else BOOKS_QBO_WEBHOOK_VERIFIER;
// empty when webhooks are off.
func (q *qboFlags) verifier() string {
	if q.webhookVerifier != "" {
		return q.webhookVerifier
	}
	return os.Getenv("BOOKS_QBO_WEBHOOK_VERIFIER")
}

// app returns the configured Intuit app; ok is false when QuickBooks is not configured.
func (q *qboFlags) app() (conn.App, bool, error) {
	if q.clientID == "" {
		return conn.App{}, false, nil
	}
	secret := os.Getenv("BOOKS_QBO_CLIENT_SECRET")
	if secret == "" {
		return conn.App{}, false, errors.New("BOOKS_QBO_CLIENT_SECRET is required with --qbo-client-id")
	}
	return conn.App{ClientID: q.clientID, ClientSecret: secret, AuthURL: q.authURL, TokenURL: q.tokenURL,
		RevokeURL: q.revokeURL, RedirectURL: q.redirectURL, APIBaseURL: q.apiBaseURL}, true, nil
}

// quickBooks is the process's QuickBooks integration: the token refresher, the push engine,
// the puller (QuickBooks' changes back into Books) and, in servers, the connect flow.
type quickBooks struct {
	store     *conn.Store
	refresher *conn.Refresher
	engine    *push.Engine
	puller    *pull.Puller
	flow      *connect.Flow
}

// newQuickBooks wires the integration for app. The push engine's and the puller's Runner
// are set once the runner exists (the runner is built from the kinds registerJobs adds).
func newQuickBooks(c *common, db *database.DB, app conn.App, queue *adminq.Queue, log *slog.Logger, timeout time.Duration, afterURL string) (*quickBooks, error) {
	box, err := c.secretBox(log)
	if err != nil {
		return nil, err
	}
	store := conn.NewStore(box)
	refresher := &conn.Refresher{Store: store, DB: db, App: app, Issues: queue}
	engine := &push.Engine{Store: store, App: app, Limiter: qbo.NewLimiter(qbo.DefaultLimits()), Issues: queue, Logger: log,
		HTTPClient: func(ctx context.Context, row *ent.QBOConnection) (*http.Client, error) {
			hc := refresher.HTTPClient(ctx, row.ID)
			hc.Timeout = timeout
			return hc, nil
		},
		Unauthorized: func(ctx context.Context, row *ent.QBOConnection) error { return refresher.Rejected(ctx, row.ID) },
	}
	// The reconciliation queue announces on the admin queue's broker, the process's one.
	puller := &pull.Puller{Engine: engine, Queue: &recon.Queue{Broker: queue.Broker}, Logger: log}
	if db.Dialect == dialect.Postgres {
		engine.Lease = push.PostgresLease(db.SQL)
		// The same advisory locks, keyed apart from the drain's (Process asks for
		// "pull:<connection>"): a connection's inbox is worked by one process at a time,
		// while its drain may run.
		puller.Lease = push.PostgresLease(db.SQL)
	}
	key, err := stateKey(c, log)
	if err != nil {
		return nil, err
	}
	engine.RemoteDeleteSettled = puller.RemoteDeleteSettled
	flow := &connect.Flow{Store: store, App: app, StateKey: key, AfterURL: afterURL, Logger: log, Issues: queue,
		OnConnected: func(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
			if err := engine.Resume(ctx, c, row); err != nil {
				return err
			}
			return puller.Resume(ctx, c, row)
		}}
	return &quickBooks{store: store, refresher: refresher, engine: engine, puller: puller, flow: flow}, nil
}

// setRunner gives the push engine and the puller the job runner they enqueue with.
func (q *quickBooks) setRunner(r *jobs.Runner) {
	q.engine.Runner = r
	q.puller.Runner = r
}

// intake returns the webhook intake for verifier, or nil (POST /webhooks/qbo answers 404)
// when there is no integration or no verifier token.
func (q *quickBooks) intake(client *ent.Client, verifier string) *pull.Intake {
	if q == nil || verifier == "" {
		return nil
	}
	return &pull.Intake{Puller: q.puller, Client: client, Verifier: verifier}
}

// stateKey derives the key that signs OAuth states from the encryption key's file or
// variable, so it needs no setting of its own and is the same on every instance.
func stateKey(c *common, log *slog.Logger) ([]byte, error) {
	box, err := c.secretBox(log)
	if err != nil {
		return nil, err
	}
	seed := os.Getenv("BOOKS_ENCRYPTION_KEY")
	if seed == "" {
		b, err := os.ReadFile(c.dataDir + "/encryption-key")
		if err != nil {
			return nil, fmt.Errorf("read the encryption key for the OAuth state key: %w", err)
		}
		seed = strings.TrimSpace(string(b))
	}
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte("books qbo oauth state " + box.KeyID()))
	return m.Sum(nil), nil
}

// registerJobs adds the integration's job kinds and periodic jobs.
func (q *quickBooks) registerJobs(kinds *jobs.Kinds, client *ent.Client) []jobs.Periodic {
	jobs.Register(kinds, &push.SyncWorker{Engine: q.engine, Client: client})
	jobs.Register(kinds, &push.SweepWorker{Engine: q.engine, Client: client})
	jobs.Register(kinds, &push.RetryWorker{Engine: q.engine, Client: client})
	jobs.Register(kinds, &conn.RefreshWorker{Refresher: q.refresher})
	jobs.Register(kinds, &connect.PurgeWorker{Client: client})
	jobs.Register(kinds, &pull.InboxWorker{Puller: q.puller, Client: client})
	jobs.Register(kinds, &pull.PollWorker{Puller: q.puller, Client: client})
	jobs.Register(kinds, &pull.PollConnectionWorker{Puller: q.puller, Client: client})
	return []jobs.Periodic{push.SweepPeriodic(), conn.RefreshPeriodic, connect.PurgePeriodic, pull.PollPeriodic()}
}

// graph returns what the GraphQL resolvers use.
func (q *quickBooks) graph() *graph.QuickBooks {
	if q == nil {
		return nil
	}
	return &graph.QuickBooks{Engine: q.engine, Flow: q.flow, Puller: q.puller, Recon: q.puller.Queue}
}
