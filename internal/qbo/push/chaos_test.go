package push_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/jobs"
)

// The chaos test re-executes this test binary as the worker process (the standard helper
// process pattern): TestQBOChaosWorkerProcess runs the worker when chaosWorkerEnv is set.
const (
	chaosWorkerEnv   = "BOOKS_QBO_CHAOS_WORKER"
	chaosDBEnv       = "BOOKS_QBO_CHAOS_DATABASE_URL"
	chaosKeyEnv      = "BOOKS_QBO_CHAOS_KEY"
	chaosEmulatorEnv = "BOOKS_QBO_CHAOS_EMULATOR_URL"
)

// chaosRescueAfter is the workers' and the leader's RescueStuckJobsAfter.
const chaosRescueAfter = 2 * time.Second

// chaosSweep re-enqueues drains every 2 s instead of every minute: under this test's fault
// rate a drain can use up its 25 attempts, and the sweep is what starts the next one.
var chaosSweep = jobs.Periodic{Every: 2 * time.Second, RunOnStart: true, Args: func() jobs.Args { return push.SweepArgs{} }}

// chaosEngine is the push engine as cmd/books wires it (refresher token source, a 401 refreshes
// at once), with a short request timeout so a lost answer is given up on quickly, and a
// limiter whose throttle pause is short (the emulator runs without limits here; its 429s are
// injected).
func chaosEngine(store *conn.Store, refresher *conn.Refresher, app conn.App, log *slog.Logger) *push.Engine {
	return &push.Engine{Store: store, App: app, Logger: log,
		Limiter: qbo.NewLimiter(qbo.Limits{PerMinute: 50_000, Concurrent: 10, BatchPerMinute: 4_000, Window: time.Minute,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond}),
		HTTPClient: func(ctx context.Context, row *ent.QBOConnection) (*http.Client, error) {
			hc := refresher.HTTPClient(ctx, row.ID)
			hc.Timeout = 3 * time.Second
			return hc, nil
		},
		Unauthorized: func(ctx context.Context, row *ent.QBOConnection) error { return refresher.Rejected(ctx, row.ID) },
	}
}

func chaosApp(emulatorURL string) conn.App {
	return conn.EmulatorApp(emulatorURL, qbotest.DefaultClientID, qbotest.DefaultClientSecret, "http://books.test/oauth/qbo/callback")
}

// chaosRunnerConfig is the worker runner's configuration: production workers, fast polling and
// retries, and a rescuer that treats a running job as abandoned after chaosRescueAfter.
// Set the returned engine's Runner to the runner made from the configuration, as cmd/books
// does: the sweep enqueues drains through it.
func chaosRunnerConfig(db *database.DB, key, emulatorURL string, log *slog.Logger, periodic bool) (jobs.Config, *push.Engine, error) {
	box, err := secrets.ParseKeys(key)
	if err != nil {
		return jobs.Config{}, nil, err
	}
	store := conn.NewStore(box)
	app := chaosApp(emulatorURL)
	refresher := &conn.Refresher{Store: store, DB: db, App: app}
	engine := chaosEngine(store, refresher, app, log)
	client := db.Client()
	kinds := jobs.NewKinds()
	if db.Dialect == dialect.Postgres {
		engine.Lease = push.PostgresLease(db.SQL)
	}
	jobs.Register(kinds, &push.SyncWorker{Engine: engine, Client: client})
	jobs.Register(kinds, &push.SweepWorker{Engine: engine, Client: client})
	jobs.Register(kinds, &push.RetryWorker{Engine: engine, Client: client})
	jobs.Register(kinds, &conn.RefreshWorker{Refresher: refresher})
	cfg := jobs.Config{Kinds: kinds, Logger: log, FetchPollInterval: 20 * time.Millisecond,
		JobTimeout: -1, RescueStuckJobsAfter: chaosRescueAfter,
		Retry: jobs.RetryPolicy{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}, StopGrace: time.Millisecond}
	if periodic {
		cfg.Periodic = []jobs.Periodic{chaosSweep, conn.RefreshPeriodic}
	}
	return cfg, engine, nil
}

// TestQBOChaosWorkerProcess is the worker process of TestQBOChaos on PostgreSQL (as
// `books worker` runs): it works qbo_sync, qbo_sync_sweep and the token refresh against the
// database and emulator named in its environment until SIGTERM, or until SIGKILL.
func TestQBOChaosWorkerProcess(t *testing.T) {
	if os.Getenv(chaosWorkerEnv) != "1" {
		t.Skip("the worker process of TestQBOChaos")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := database.Open(ctx, os.Getenv(chaosDBEnv))
	require.NoError(t, err)
	defer db.Close()
	cfg, engine, err := chaosRunnerConfig(db, os.Getenv(chaosKeyEnv), os.Getenv(chaosEmulatorEnv), log, false)
	require.NoError(t, err)
	cfg.ID = fmt.Sprintf("chaos-worker-%d", os.Getpid())
	r, err := jobs.New(db, cfg)
	require.NoError(t, err)
	engine.Runner = r
	require.NoError(t, r.Start(ctx))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, r.Stop(sctx))
}

// workers starts, kills and stops the process that works the drain.
type workers interface {
	start(t *testing.T)
	// kill ends the worker without letting it finish; it reports whether a drain was running
	// then (and so had to be rescued or retried).
	kill(t *testing.T) bool
	stop(t *testing.T)
}

// processWorkers runs the worker as a separate OS process (PostgreSQL). River's leader, the
// process that runs the rescuer and schedules the sweep, is a River client in this test
// process that works no queue, standing in for `books serve`.
//
// River's rescuer runs once when a leader starts and then every 30 s (a fixed interval). So
// that a kill does not cost up to 30 s, the leader is restarted once the dead worker's job is
// older than RescueStuckJobsAfter, while no worker process is alive (so no worker can take
// the leadership): its rescuer's first pass rescues the job at once.
//
// The leader registers qbo_sync with no per-kind timeout: River's rescuer leaves a running
// job alone until the worker's Timeout has passed, and push.SyncWorker's is 15 minutes (see
// the report of this test's branch): with it no killed drain would be rescued within the test.
type processWorkers struct {
	tb     *jobsBundle
	leader *jobs.Runner
	cur    *exec.Cmd
	out    *bytes.Buffer
	mu     sync.Mutex
	all    []*exec.Cmd
}

// leaderSync is qbo_sync as the leader's rescuer sees it; the leader never works it.
type leaderSync struct {
	river.WorkerDefaults[push.SyncArgs]
}

func (leaderSync) Work(context.Context, *river.Job[push.SyncArgs]) error {
	return fmt.Errorf("the chaos leader works no drain")
}

func (w *processWorkers) startLeader(t *testing.T) {
	t.Helper()
	cfg, _, err := chaosRunnerConfig(w.tb.db, w.tb.key, w.tb.srv.URL, chaosLog(t), true)
	require.NoError(t, err)
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &leaderSync{})
	jobs.Register(kinds, &push.SweepWorker{})
	jobs.Register(kinds, &push.RetryWorker{})
	jobs.Register(kinds, &conn.RefreshWorker{})
	cfg.Kinds = kinds
	cfg.ID = "chaos-leader"
	cfg.Queues = map[string]int{"chaos_leader_works_nothing": 1}
	w.leader, err = jobs.New(w.tb.db, cfg)
	require.NoError(t, err)
	require.NoError(t, w.leader.Start(context.Background()))
	waitFor(t, 30*time.Second, "the test's River client to be elected leader", func() (bool, string) {
		var id string
		err := w.tb.db.SQL.QueryRow(`SELECT leader_id FROM river_leader`).Scan(&id)
		if err != nil {
			return false, err.Error()
		}
		return id == "chaos-leader", "leader is " + id
	})
}

func (w *processWorkers) start(t *testing.T) {
	t.Helper()
	if w.leader == nil {
		w.startLeader(t)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestQBOChaosWorkerProcess$")
	cmd.Env = append(os.Environ(), chaosWorkerEnv+"=1", chaosDBEnv+"="+w.tb.dbURL, chaosKeyEnv+"="+w.tb.key,
		chaosEmulatorEnv+"="+w.tb.srv.URL)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &w.mu, w: out}, &lockedWriter{mu: &w.mu, w: out}
	require.NoError(t, cmd.Start())
	w.cur, w.out = cmd, out
	w.all = append(w.all, cmd)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
		if t.Failed() {
			w.mu.Lock()
			t.Logf("worker process %d output:\n%s", cmd.Process.Pid, out.String())
			w.mu.Unlock()
		}
	})
}

func (w *processWorkers) kill(t *testing.T) bool {
	t.Helper()
	require.NoError(t, syscall.Kill(w.cur.Process.Pid, syscall.SIGKILL))
	killed := time.Now()
	_ = w.cur.Wait()
	var stuck []int64
	rows, err := w.tb.db.SQL.Query(`SELECT id FROM river_job WHERE kind = 'qbo_sync' AND state = 'running'`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		stuck = append(stuck, id)
	}
	require.NoError(t, rows.Close())
	if len(stuck) == 0 {
		return false
	}
	// The job was attempted before the kill: once RescueStuckJobsAfter has passed since the
	// kill, the rescuer takes it. A new leader's rescuer runs at once.
	time.Sleep(time.Until(killed.Add(chaosRescueAfter + 200*time.Millisecond)))
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.leader.Stop(sctx))
	w.startLeader(t)
	waitFor(t, 30*time.Second, "River's rescuer to take the dead worker's drain", func() (bool, string) {
		var n int
		require.NoError(t, w.tb.db.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'qbo_sync' AND state = 'running'`).Scan(&n))
		return n == 0, fmt.Sprintf("%d drains still running", n)
	})
	for _, id := range stuck {
		var errs sql.NullString
		require.NoError(t, w.tb.db.SQL.QueryRow(`SELECT errors::text FROM river_job WHERE id = $1`, id).Scan(&errs))
		require.Contains(t, errs.String, "rescued", "job %d was rescued by River's rescuer", id)
	}
	return true
}

func (w *processWorkers) stop(t *testing.T) {
	t.Helper()
	if w.cur != nil && w.cur.ProcessState == nil {
		require.NoError(t, w.cur.Process.Signal(syscall.SIGTERM))
		require.NoError(t, w.cur.Wait(), "the worker process stops gracefully on SIGTERM")
	}
	if w.leader != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, w.leader.Stop(sctx))
	}
}

// inProcessWorkers runs the worker's runner in this process (SQLite: one process owns the
// database file). A crash is simulated by stopping the runner abruptly: a stop grace of 1 ms
// cancels the running drain mid-call, its attempt ends in an error, and a new runner retries
// it. (The rescue of a job left running by a dead process is the PostgreSQL variant's.)
type inProcessWorkers struct {
	tb  *jobsBundle
	cur *jobs.Runner
}

func (w *inProcessWorkers) start(t *testing.T) {
	t.Helper()
	cfg, engine, err := chaosRunnerConfig(w.tb.db, w.tb.key, w.tb.srv.URL, chaosLog(t), true)
	require.NoError(t, err)
	w.cur, err = jobs.New(w.tb.db, cfg)
	require.NoError(t, err)
	engine.Runner = w.cur
	require.NoError(t, w.cur.Start(context.Background()))
}

func (w *inProcessWorkers) kill(t *testing.T) bool {
	t.Helper()
	var n int
	require.NoError(t, w.tb.db.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'qbo_sync' AND state = 'running'`).Scan(&n))
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.cur.Stop(sctx))
	w.cur = nil
	return n > 0
}

func (w *inProcessWorkers) stop(t *testing.T) {
	t.Helper()
	if w.cur != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, w.cur.Stop(sctx))
	}
}

// chaosLog logs errors to the test; BOOKS_CHAOS_LOG=debug|info|warn says more.
func chaosLog(t *testing.T) *slog.Logger {
	var level slog.Level = slog.LevelError
	if v := os.Getenv("BOOKS_CHAOS_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: level}))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// testWriter logs to the test while it runs and drops what comes after.
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		func() {
			defer func() { _ = recover() }() // the test ended
			w.t.Log(strings.TrimRight(string(p), "\n"))
		}()
	}
	return len(p), nil
}

// waitFor polls cond every 20 ms until it holds, failing the test with what cond last said
// when deadline passes.
func waitFor(t *testing.T, deadline time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s: %s", deadline, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// linkCounts counts the connection's links (accounts excluded) by status.
func linkCounts(t *testing.T, b *testBundle) map[qbolink.Status]int {
	t.Helper()
	var rows []struct {
		Status qbolink.Status `json:"status"`
		Count  int            `json:"count"`
	}
	require.NoError(t, b.client.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeNEQ(qbolink.RecordTypeAccount)).
		GroupBy(qbolink.FieldStatus).Aggregate(ent.Count()).Scan(b.ctx, &rows))
	out := map[qbolink.Status]int{}
	for _, r := range rows {
		out[r.Status] = r.Count
	}
	return out
}

func describeCounts(c map[qbolink.Status]int) string {
	return fmt.Sprintf("%d synced, %d pending, %d error, %d deleted remotely", c[qbolink.StatusSynced], c[qbolink.StatusPending],
		c[qbolink.StatusError], c[qbolink.StatusDeletedRemotely])
}

// waitSynced waits until at least frac of the links are synced while a drain is running.
func waitSynced(t *testing.T, b *jobsBundle, frac float64, what string) {
	t.Helper()
	waitFor(t, 3*time.Minute, what, func() (bool, string) {
		c := linkCounts(t, b.testBundle)
		total := c[qbolink.StatusSynced] + c[qbolink.StatusPending] + c[qbolink.StatusError]
		var running int
		require.NoError(t, b.db.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'qbo_sync' AND state = 'running'`).Scan(&running))
		done := float64(c[qbolink.StatusSynced]) >= frac*float64(total)
		return done && (running > 0 || c[qbolink.StatusPending] == 0), describeCounts(c) + "; jobs: " + jobStates(t, b)
	})
}

// TestQBOChaos syncs a generated book to the emulator while it fails requests (throttles as
// 429 and 403, 500s, answers lost after the write committed, connection resets), while the
// company's grant is revoked and the company connected again, and while the worker is killed
// twice; then it checks that QuickBooks holds exactly one record per Books record, each
// linked, with Books' amounts to the cent.
//
// CI runs a tenth of the issue's book (ciBook); BOOKS_CHAOS_FULL=1 runs the full book
// (fullBook, see BENCHMARKS.md).
func TestQBOChaos(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills and restarts workers; waits for River's rescuer")
	}
	size := ciBook
	if chaosFull() {
		size = fullBook
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			runChaos(t, d, size)
		})
	}
}

func runChaos(t *testing.T, d string, size bookSize) {
	began := time.Now()
	tb := setupJobs(t, d)
	b := tb.testBundle
	bk := generateBook(t, b, size, 20261201)
	generated := time.Now()

	// This process is `books serve`: it asks for pushes and enqueues drains, working none.
	inserter, err := jobs.New(tb.db, jobs.Config{Kinds: mustKinds(), InsertOnly: true,
		Logger: chaosLog(t)})
	require.NoError(t, err)
	app := chaosApp(b.srv.URL)
	refresher := &conn.Refresher{Store: b.store, DB: tb.db, App: app}
	serve := chaosEngine(b.store, refresher, app, nil)
	serve.Runner = inserter

	// Wave 1, before any worker runs: the customers and the invoices, which bring their
	// item, class, payments and credit memos along.
	pushAll(t, b, serve, qbolink.RecordTypeCustomer, idsOf(bk.customers, func(c *ent.Customer) string { return c.ID }))
	pushAll(t, b, serve, qbolink.RecordTypeInvoice, idsOf(bk.invoices, func(i *ent.Invoice) string { return i.ID }))

	realm := b.realm.ID()
	// The faults' generators are seeded: a run's faults depend only on its order of requests.
	// BOOKS_CHAOS_SEED picks other sequences (CI uses the default).
	seed := int64(1)
	if v := os.Getenv("BOOKS_CHAOS_SEED"); v != "" {
		_, err := fmt.Sscan(v, &seed)
		require.NoError(t, err, "BOOKS_CHAOS_SEED")
	}
	faults := []qbotest.Fault{
		{Kind: qbotest.FaultThrottle, Probability: 0.10, Seed: seed},
		{Kind: qbotest.FaultServerError, Probability: 0.05, Seed: seed + 1},
		{Kind: qbotest.FaultTimeoutAfterCommit, Probability: 0.05, Seed: seed + 2, LatencyMS: 50},
		{Kind: qbotest.FaultReset, Probability: 0.03, Seed: seed + 3},
		// Every other request takes 5 ms, as a network would: the drain runs long enough
		// for the kills to land in the middle of it.
		{Kind: qbotest.FaultLatency, LatencyMS: 5},
	}
	for _, f := range faults {
		require.NoError(t, b.srv.InjectFault(f))
	}

	var w workers
	if d == dialect.Postgres {
		w = &processWorkers{tb: tb}
	} else {
		w = &inProcessWorkers{tb: tb}
	}
	w.start(t)
	defer w.stop(t)

	// Kill 1, once a fifth of the links are synced.
	waitSynced(t, tb, 0.2, "a fifth of the links to be synced")
	rescued := 0
	if w.kill(t) {
		rescued++
	}
	t.Logf("kill 1 at %s", describeCounts(linkCounts(t, b)))
	// Older QuickBooks accounts are throttled with 403 (fault 3001).
	require.NoError(t, b.srv.SetThrottleStatus(realm, http.StatusForbidden))
	w.start(t)

	// The company's grant is revoked: the next call is refused (401), the refresh token too,
	// and the connection waits for re-authorization with its links pending.
	waitSynced(t, tb, 0.4, "two fifths of the links to be synced")
	b.srv.RevokeGrants(realm)
	// Wave 2 lands while the grant is revoked: vendors and refunds.
	pushAll(t, b, serve, qbolink.RecordTypeVendor, idsOf(bk.vendors, func(v *ent.Vendor) string { return v.ID }))
	pushAll(t, b, serve, qbolink.RecordTypeRefund, idsOf(bk.refunds, func(r *ent.Refund) string { return r.ID }))
	waitFor(t, time.Minute, "the connection to need re-authorization", func() (bool, string) {
		row, err := b.client.QBOConnection.Get(b.ctx, b.row.ID)
		require.NoError(t, err)
		return row.Status == qboconnection.StatusNeedsReauth, "status " + string(row.Status)
	})
	paused := linkCounts(t, b)
	t.Logf("paused at %s", describeCounts(paused))
	require.Positive(t, paused[qbolink.StatusPending], "links wait for the reconnect")
	require.Zero(t, paused[qbolink.StatusError], "nothing failed for the revoked grant")
	require.Len(t, openIssues(t, b, apperr.QBONotConnected), 1, "the admin queue says why the sync stopped")
	require.NoError(t, b.srv.SetThrottleStatus(realm, http.StatusTooManyRequests))

	// Reconnect: the company is authorized again (connect.Flow's callback saves the new
	// tokens on the same row and calls OnConnected, Engine.Resume).
	tok := b.srv.IssueTokens(realm)
	now := time.Now().UTC()
	tx, err := b.client.Tx(b.ctx)
	require.NoError(t, err)
	row, err := b.store.Save(b.ctx, tx.Client(), conn.Connect{EntityID: b.entity.ID, RealmID: realm, BaseURL: b.srv.URL,
		Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
			RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	require.Equal(t, b.row.ID, row.ID, "the same connection is revived")
	require.NoError(t, serve.Resume(b.ctx, tx.Client(), row))
	require.NoError(t, tx.Commit())

	// Kill 2, once seven tenths are synced.
	waitSynced(t, tb, 0.7, "seven tenths of the links to be synced")
	if w.kill(t) {
		rescued++
	}
	t.Logf("kill 2 at %s", describeCounts(linkCounts(t, b)))
	w.start(t)

	// Faults end; the sync must finish.
	waitSynced(t, tb, 0.85, "most links to be synced")
	b.srv.ClearFaults()
	deadline := 2 * time.Minute
	if chaosFull() {
		deadline = 15 * time.Minute
	}
	waitFor(t, deadline, "every link to be settled", func() (bool, string) {
		pending, err := b.client.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.StatusEQ(qbolink.StatusPending)).
			Limit(10).All(b.ctx)
		require.NoError(t, err)
		if len(pending) == 0 {
			return true, ""
		}
		var what []string
		for _, l := range pending {
			what = append(what, fmt.Sprintf("%s %s part %d (attempts %d, generation %d)", l.RecordType, l.RecordID, l.Part, l.Attempts, l.Generation))
		}
		return false, describeCounts(linkCounts(t, b)) + "; e.g. " + strings.Join(what, "; ") + "; jobs: " + jobStates(t, tb)
	})
	synced := time.Now()
	w.stop(t)

	checkChaosOutcome(t, b, bk)
	t.Logf("%s, fault seed %d: book of %+v generated in %s, synced in %s under faults (%d of 2 kills hit a running drain); %s; jobs: %s",
		d, seed, size, generated.Sub(began).Round(time.Millisecond), synced.Sub(generated).Round(time.Millisecond), rescued, tb.calls, jobStates(t, tb))
}

func mustKinds() *jobs.Kinds {
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &push.SyncWorker{})
	jobs.Register(kinds, &push.SweepWorker{})
	jobs.Register(kinds, &push.RetryWorker{})
	jobs.Register(kinds, &conn.RefreshWorker{})
	return kinds
}

func jobStates(t *testing.T, tb *jobsBundle) string {
	t.Helper()
	rows, err := tb.db.SQL.Query(`SELECT kind, state, count(*), max(attempt) FROM river_job GROUP BY kind, state ORDER BY kind, state`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, state string
		var n, attempts int
		require.NoError(t, rows.Scan(&kind, &state, &n, &attempts))
		out = append(out, fmt.Sprintf("%d %s %s (max attempt %d)", n, kind, state, attempts))
	}
	return strings.Join(out, ", ")
}

func openIssues(t *testing.T, b *testBundle, code string) []*ent.AdminIssue {
	t.Helper()
	iss, err := b.client.AdminIssue.Query().Where(adminissue.ErrorCode(code), adminissue.StatusEQ(adminissue.StatusOpen)).All(b.ctx)
	require.NoError(t, err)
	return iss
}

// amountOf reads a QuickBooks amount (a JSON number) as money.
func amountOf(t *testing.T, v any, what string) money.Amount {
	t.Helper()
	s, ok := v.(interface{ String() string })
	require.True(t, ok, "%s: %v is not a JSON number", what, v)
	a, err := money.Parse(s.String())
	require.NoError(t, err, what)
	return a
}

// checkChaosOutcome: exactly one link per Books record, synced, pointing at a QuickBooks
// record that exists; no QuickBooks record without a link; amounts equal to the cent.
func checkChaosOutcome(t *testing.T, b *testBundle, bk *book) {
	t.Helper()
	ctx := tenant.WithOrg(b.ctx, b.org)
	links, err := b.client.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeNEQ(qbolink.RecordTypeAccount)).All(ctx)
	require.NoError(t, err)
	type key struct {
		rt   qbolink.RecordType
		id   string
		part int
	}
	byKey := map[key]*ent.QBOLink{}
	claimed := map[string]map[string]key{} // QuickBooks type → id → Books record
	for _, l := range links {
		k := key{l.RecordType, l.RecordID, l.Part}
		require.Nil(t, byKey[k], "one link per record: %v", k)
		byKey[k] = l
		if l.Status != qbolink.StatusSynced {
			iss, err := b.client.AdminIssue.Query().Where(adminissue.SubjectID(l.RecordID), adminissue.StatusEQ(adminissue.StatusOpen)).All(ctx)
			require.NoError(t, err)
			t.Errorf("%s %s part %d is %s (%s: %s); %d open admin issues about it", l.RecordType, l.RecordID, l.Part, l.Status,
				l.LastErrorCode, l.LastError, len(iss))
			continue
		}
		require.NotNil(t, l.QboID, "%v synced without a QuickBooks id", k)
		_, ok := b.realm.Get(l.QboType, *l.QboID)
		require.True(t, ok, "%v points at QuickBooks %s %s, which does not exist", k, l.QboType, *l.QboID)
		if claimed[l.QboType] == nil {
			claimed[l.QboType] = map[string]key{}
		}
		if other, dup := claimed[l.QboType][*l.QboID]; dup {
			t.Errorf("QuickBooks %s %s is linked to both %v and %v", l.QboType, *l.QboID, other, k)
		}
		claimed[l.QboType][*l.QboID] = k
	}
	want := map[key]bool{{qbolink.RecordTypeItem, b.item.ID, 0}: true, {qbolink.RecordTypeClass, b.class.ID, 0}: true}
	for _, c := range bk.customers {
		want[key{qbolink.RecordTypeCustomer, c.ID, 0}] = true
	}
	for _, v := range bk.vendors {
		want[key{qbolink.RecordTypeVendor, v.ID, 0}] = true
	}
	for _, i := range bk.invoices {
		want[key{qbolink.RecordTypeInvoice, i.ID, 0}] = true
	}
	for _, p := range bk.payments {
		want[key{qbolink.RecordTypePayment, p.ID, 0}] = true
	}
	for _, c := range bk.credits {
		want[key{qbolink.RecordTypeCreditMemo, c.ID, 0}] = true
		want[key{qbolink.RecordTypeCreditMemo, c.ID, 1}] = true
	}
	for _, r := range bk.refunds {
		want[key{qbolink.RecordTypeRefund, r.ID, 0}] = true
		want[key{qbolink.RecordTypeRefund, r.ID, 1}] = true // the reclassifying journal entry
	}
	for k := range want {
		require.NotNil(t, byKey[k], "no link for %v", k)
	}
	require.Len(t, byKey, len(want), "no links beyond the book's records")

	// QuickBooks holds no record that no link points to, for every type the book filled.
	for _, qt := range []string{"Customer", "Vendor", "Invoice", "Payment", "CreditMemo", "RefundReceipt", "JournalEntry"} {
		var orphans []string
		list := b.realm.List(qt)
		for _, o := range list {
			id, _ := o["Id"].(string)
			if _, ok := claimed[qt][id]; !ok {
				orphans = append(orphans, fmt.Sprintf("%s (%v %v)", id, o["DocNumber"], firstOf(o, "DisplayName", "PaymentRefNum")))
			}
		}
		sort.Strings(orphans)
		require.Empty(t, orphans, "QuickBooks %s records no link points to (duplicates)", qt)
		require.Len(t, list, len(claimed[qt]), "one QuickBooks %s per Books record", qt)
	}
	for _, qt := range []string{"Item", "Class"} {
		name := b.item.Name
		if qt == "Class" {
			name = b.class.Name
		}
		require.Equal(t, 1, count(b.realm.List(qt), func(o map[string]any) bool { return o["Name"] == name }), "one %s %q", qt, name)
	}
	for _, qt := range []string{"Invoice", "CreditMemo", "RefundReceipt"} {
		seen := map[string]bool{}
		for _, o := range b.realm.List(qt) {
			n, _ := o["DocNumber"].(string)
			require.False(t, seen[n], "QuickBooks %s DocNumber %q is used twice", qt, n)
			seen[n] = true
		}
	}
	seen := map[string]bool{}
	for _, o := range b.realm.List("Payment") {
		n, _ := o["PaymentRefNum"].(string)
		require.False(t, seen[n], "QuickBooks Payment PaymentRefNum %q is used twice", n)
		seen[n] = true
	}

	// Amounts, to the cent, against Books as it is now.
	for _, i := range bk.invoices {
		inv, err := b.client.Invoice.Get(ctx, i.ID)
		require.NoError(t, err)
		q, _ := b.realm.Get("Invoice", *byKey[key{qbolink.RecordTypeInvoice, i.ID, 0}].QboID)
		requireMoney(t, inv.Total, amountOf(t, q["TotalAmt"], "TotalAmt"), "invoice %s total", *inv.Number)
		requireMoney(t, inv.Balance.Add(inv.WrittenOff), amountOf(t, q["Balance"], "Balance"), "invoice %s balance", *inv.Number)
		require.Equal(t, *inv.Number, q["DocNumber"])
	}
	for _, p := range bk.payments {
		pay, err := b.client.Payment.Get(ctx, p.ID)
		require.NoError(t, err)
		q, _ := b.realm.Get("Payment", *byKey[key{qbolink.RecordTypePayment, p.ID, 0}].QboID)
		requireMoney(t, pay.Amount, amountOf(t, q["TotalAmt"], "TotalAmt"), "payment %s total", p.ID)
		applied := money.Amount{}
		for _, ln := range lines(q) {
			applied = applied.Add(amountOf(t, ln["Amount"], "line amount"))
		}
		requireMoney(t, pay.Applied, applied, "payment %s applied", p.ID)
	}
	for _, c := range bk.credits {
		q, _ := b.realm.Get("CreditMemo", *byKey[key{qbolink.RecordTypeCreditMemo, c.ID, 0}].QboID)
		requireMoney(t, c.Amount, amountOf(t, q["TotalAmt"], "TotalAmt"), "credit memo %s total", c.ID)
		qa, _ := b.realm.Get("Payment", *byKey[key{qbolink.RecordTypeCreditMemo, c.ID, 1}].QboID)
		requireMoney(t, money.Amount{}, amountOf(t, qa["TotalAmt"], "TotalAmt"), "credit application %s", c.ID)
	}
	for _, r := range bk.refunds {
		q, _ := b.realm.Get("RefundReceipt", *byKey[key{qbolink.RecordTypeRefund, r.ID, 0}].QboID)
		requireMoney(t, r.Amount, amountOf(t, q["TotalAmt"], "TotalAmt"), "refund %s total", r.ID)
		je, _ := b.realm.Get("JournalEntry", *byKey[key{qbolink.RecordTypeRefund, r.ID, 1}].QboID)
		for _, ln := range lines(je) {
			requireMoney(t, r.Amount, amountOf(t, ln["Amount"], "line amount"), "refund %s reclassification", r.ID)
		}
	}
	require.Empty(t, openIssues(t, b, apperr.QBOAmountMismatch), "no amount mismatch raised")
	// What the admin queue holds: only the explanation of the pause.
	iss, err := b.client.AdminIssue.Query().Where(adminissue.StatusEQ(adminissue.StatusOpen)).All(ctx)
	require.NoError(t, err)
	for _, i := range iss {
		t.Logf("open admin issue: %s %s %s: %s", i.ErrorCode, i.SubjectType, i.SubjectID, i.ErrorMessage)
	}
}

func requireMoney(t *testing.T, want, got money.Amount, msg string, args ...any) {
	t.Helper()
	if want.Cmp(got) != 0 {
		t.Fatalf("%s: QuickBooks has %s, Books %s", fmt.Sprintf(msg, args...), got, want)
	}
}

func lines(o map[string]any) []map[string]any {
	raw, _ := o["Line"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, l := range raw {
		if m, ok := l.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func firstOf(o map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := o[k]; ok {
			return v
		}
	}
	return nil
}
