package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"books/internal/database"
	"books/internal/dbtest"
	"books/jobs"
)

// The crash test re-executes this test binary as the worker process: TestMain sees childEnv
// and runs runChild instead of the tests.
const (
	childEnv         = "BOOKS_JOBS_CHILD"
	childDBEnv       = "BOOKS_JOBS_CHILD_DATABASE_URL"
	childEndpointEnv = "BOOKS_JOBS_CHILD_ENDPOINT"
)

// callArgs is a job that makes one external call: a POST to the endpoint, carrying the
// idempotency key derived from our ids.
type callArgs struct {
	jobs.Tenant
	PaymentID string `json:"payment_id"`
	Version   int    `json:"version"`
}

func (callArgs) Kind() string { return "test_call" }
func (a callArgs) IdempotencyKey() string {
	return a.Kind() + ":" + a.PaymentID + ":" + strconv.Itoa(a.Version)
}

type callWorker struct {
	river.WorkerDefaults[callArgs]
	endpoint string
}

func (w *callWorker) Work(ctx context.Context, job *river.Job[callArgs]) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.endpoint, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", job.Args.IdempotencyKey())
	req.Header.Set("X-Worker-Pid", strconv.Itoa(os.Getpid()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}

// runChild is the worker process: it works callArgs jobs against the database in the
// environment until SIGTERM, then stops gracefully.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	db, err := database.Open(ctx, os.Getenv(childDBEnv))
	if err != nil {
		log.Error("open database", "error", err)
		return 1
	}
	defer db.Close()
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &callWorker{endpoint: os.Getenv(childEndpointEnv)})
	r, err := jobs.New(db, jobs.Config{
		Kinds:  kinds,
		Logger: log,
		// No job timeout: the first call hangs until the process is killed, and must not
		// end in an ordinary error and retry. A running job is abandoned after a second.
		JobTimeout:           -1,
		RescueStuckJobsAfter: time.Second,
		Retry:                jobs.RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	})
	if err != nil {
		log.Error("new runner", "error", err)
		return 1
	}
	if err := r.Start(ctx); err != nil {
		log.Error("start", "error", err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Stop(sctx); err != nil {
		log.Error("stop", "error", err)
		return 1
	}
	return 0
}

// idempotentEndpoint stands in for an external API with idempotency keys (Stripe,
// QuickBooks' requestid): it applies the effect of a key once, and answers a repeat from
// what it recorded. Its first call applies the effect and then hangs, like a response lost
// when the worker dies.
type idempotentEndpoint struct {
	mu       sync.Mutex
	calls    map[string]int
	applied  map[string]int
	pids     []string
	firstHit chan struct{}
	once     sync.Once
}

func (e *idempotentEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		http.Error(w, "Idempotency-Key required", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.calls[key]++
	e.pids = append(e.pids, r.Header.Get("X-Worker-Pid"))
	first := e.calls[key] == 1
	if e.applied[key] == 0 {
		e.applied[key]++
	}
	e.mu.Unlock()
	if first {
		e.once.Do(func() { close(e.firstHit) })
		<-r.Context().Done() // the caller dies waiting
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (e *idempotentEndpoint) snapshot() (calls, applied map[string]int, pids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	calls, applied = map[string]int{}, map[string]int{}
	for k, v := range e.calls {
		calls[k] = v
	}
	for k, v := range e.applied {
		applied[k] = v
	}
	return calls, applied, append([]string(nil), e.pids...)
}

type child struct {
	cmd    *exec.Cmd
	output *bytes.Buffer
}

func startChild(t *testing.T, dbURL, endpoint string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDBEnv+"="+dbURL, childEndpointEnv+"="+endpoint)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, output: &out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("worker process %d output:\n%s", cmd.Process.Pid, out.String())
		}
	})
	return c
}

// TestCrashedWorkerIsRescuedAndTheCallIsIdempotent kills the worker process in the middle
// of a job's external call; a second worker process rescues the job and calls again with
// the same idempotency key, so the effect happens once.
func TestCrashedWorkerIsRescuedAndTheCallIsIdempotent(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for River's leader lease to expire (~15 s)")
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dbURL := dbtest.URL(t, d)
			db, err := database.Open(ctx, dbURL)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			_, err = db.Migrate(ctx)
			require.NoError(t, err)
			_, err = jobs.Migrate(ctx, db)
			require.NoError(t, err)

			ep := &idempotentEndpoint{calls: map[string]int{}, applied: map[string]int{}, firstHit: make(chan struct{})}
			srv := httptest.NewServer(ep)
			t.Cleanup(srv.Close)

			// This process only enqueues.
			kinds := jobs.NewKinds()
			jobs.Register(kinds, &callWorker{})
			r, err := jobs.New(db, jobs.Config{Kinds: kinds, InsertOnly: true, Logger: testLogger(t)})
			require.NoError(t, err)
			args := callArgs{Tenant: jobs.Tenant{OrganizationID: "org_crash"}, PaymentID: "pay_01crash", Version: 1}
			res, err := r.Insert(ctx, args, nil)
			require.NoError(t, err)

			first := startChild(t, dbURL, srv.URL)
			select {
			case <-ep.firstHit:
			case <-time.After(60 * time.Second):
				t.Fatal("the first worker never called the endpoint")
			}
			require.NoError(t, syscall.Kill(first.cmd.Process.Pid, syscall.SIGKILL))
			_ = first.cmd.Wait()
			job, err := r.Client().JobGet(ctx, res.Job.ID)
			require.NoError(t, err)
			require.Equal(t, rivertype.JobStateRunning, job.State, "the dead worker left its job running")

			second := startChild(t, dbURL, srv.URL)
			require.Eventually(t, func() bool {
				job, err = r.Client().JobGet(ctx, res.Job.ID)
				require.NoError(t, err)
				return job.State == rivertype.JobStateCompleted
			}, 90*time.Second, 100*time.Millisecond, "the rescued job never completed")

			calls, applied, pids := ep.snapshot()
			key := args.IdempotencyKey()
			require.Equal(t, []string{key}, keys(calls), "every call carried the job's key")
			require.GreaterOrEqual(t, calls[key], 2)
			require.Equal(t, 1, applied[key], "the effect happened once")
			require.Equal(t, strconv.Itoa(first.cmd.Process.Pid), pids[0])
			require.Equal(t, strconv.Itoa(second.cmd.Process.Pid), pids[len(pids)-1])
			require.Equal(t, 2, job.Attempt)
			require.Len(t, job.Errors, 1)
			require.Contains(t, job.Errors[0].Error, "rescued", "the rescuer, not an error, retried it")

			// The second worker stops gracefully on SIGTERM.
			require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, second.cmd.Wait())
		})
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
