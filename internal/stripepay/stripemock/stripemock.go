// Package stripemock runs stripe-mock, Stripe's own mock of its API, for tests of how Books
// calls Stripe. stripe-mock validates every request against Stripe's OpenAPI specification
// (a parameter of the wrong name or shape is a 400, as at Stripe) and answers fixtures; it
// keeps no state and sends no webhooks, which the offline fake (stripefake) is for.
//
// It is a tool dependency of this module (go.mod's tool block): `go tool -n stripe-mock`
// builds the module's pinned version into Go's build cache (once; later runs find it there)
// and names the executable, so nothing is written outside the cache and no network is needed
// once the module cache holds it:
//
//	url := stripemock.Start(t)
//	svc := &stripepay.Service{APIURL: url, …}
package stripemock

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tool is the tool's name in go.mod's tool block.
const Tool = "stripe-mock"

// How long building, and then starting (stripe-mock loads the whole specification first),
// may take.
const (
	buildTimeout = 5 * time.Minute
	startTimeout = time.Minute
)

// listening is what stripe-mock prints once its HTTP listener is bound, followed by the
// address.
const listening = "Listening for HTTP at address: "

var (
	mu     sync.Mutex
	shared *instance
	// bin is the executable in Go's build cache, found once per test binary.
	bin string
	// failed is why stripe-mock could not be built or started: the binary's later tests fail
	// at once with it rather than each waiting as long again.
	failed error
)

// instance is one stripe-mock process.
type instance struct {
	url    string
	cmd    *exec.Cmd
	out    *output
	exited chan struct{} // closed once the process is gone
	users  int
}

// Start returns the base URL (http://127.0.0.1:port, no trailing slash) of a running
// stripe-mock, for stripepay.Service.APIURL or stripe-go's BackendConfig.URL. stripe-mock
// keeps no state, so the tests of a binary that run at once share one process; the last of
// them to end stops it (in its t.Cleanup). Building it takes a moment the first time ever
// (Go's build cache keeps the executable), starting it a couple of seconds.
// The test fails, never skips, when it cannot be built or started.
func Start(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		select {
		case <-shared.exited:
			t.Fatalf("stripemock: stripe-mock exited while in use: %s", shared.out.String())
		default:
		}
	}
	if failed != nil {
		t.Fatalf("stripemock: %v", failed)
	}
	if shared == nil {
		inst, err := start()
		if err != nil {
			failed = err
			t.Fatalf("stripemock: %v", err)
		}
		shared = inst
	}
	inst := shared
	inst.users++
	t.Cleanup(func() { release(inst) })
	return inst.url
}

// release drops a user of inst and stops it after the last.
func release(inst *instance) {
	mu.Lock()
	defer mu.Unlock()
	inst.users--
	if inst.users > 0 {
		return
	}
	if shared == inst {
		shared = nil
	}
	inst.stop()
}

func start() (*instance, error) {
	if bin == "" {
		path, err := build()
		if err != nil {
			return nil, err
		}
		bin = path
	}
	inst := &instance{out: &output{addr: make(chan string, 1)}, exited: make(chan struct{})}
	// Both listeners on the loopback and a free port: stripe-mock also opens HTTPS unless told
	// where, on a fixed port that processes running side by side would fight over.
	inst.cmd = exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	inst.cmd.Stdout, inst.cmd.Stderr = inst.out, inst.out
	if err := inst.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	go func() {
		_ = inst.cmd.Wait()
		close(inst.exited)
	}()
	addr := inst.out.addr
	select {
	case a := <-addr:
		inst.url = "http://" + a
	case <-inst.exited:
		inst.stop()
		return nil, fmt.Errorf("stripe-mock exited before listening: %s", inst.out.String())
	case <-time.After(startTimeout):
		inst.stop()
		return nil, fmt.Errorf("stripe-mock did not listen within %s: %s", startTimeout, inst.out.String())
	}
	if err := inst.waitReady(); err != nil {
		inst.stop()
		return nil, err
	}
	return inst, nil
}

// build builds the module's stripe-mock into Go's build cache, unless it is there already,
// and returns the executable's path.
func build() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build stripe-mock: %w", err)
	}
	// -n prints the command go tool would run instead of running it: the cached executable.
	cmd := exec.Command(goBin, "tool", "-n", Tool)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("go tool -n %s: %w", Tool, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return "", fmt.Errorf("go tool -n %s: %w: %s", Tool, err, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(buildTimeout):
		_ = cmd.Process.Kill()
		<-done
		return "", fmt.Errorf("building %s took longer than %s", Tool, buildTimeout)
	}
	path := strings.TrimSpace(stdout.String())
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		return "", fmt.Errorf("go tool -n %s named %q, which is not an executable (a Go older than the module's?)", Tool, path)
	}
	return path, nil
}

// waitReady waits until stripe-mock answers an authenticated list call.
func (inst *instance) waitReady() error {
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-inst.exited:
			return fmt.Errorf("stripe-mock exited: %s", inst.out.String())
		default:
		}
		req, err := http.NewRequest(http.MethodGet, inst.url+"/v1/charges", nil)
		if err != nil {
			return err
		}
		// stripe-mock takes keys of three parts only: sk_test_… with no other underscore.
		req.Header.Set("Authorization", "Bearer sk_test_ready")
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("stripe-mock answered GET /v1/charges with %s", resp.Status)
			}
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("stripe-mock did not answer within %s: %w", startTimeout, last)
}

// stop kills the process and waits for it.
func (inst *instance) stop() {
	select {
	case <-inst.exited:
	default:
		_ = inst.cmd.Process.Kill()
		<-inst.exited
	}
}

// output keeps what stripe-mock prints, for the message of a failure, and finds in it the
// address it listens on, which it sends on addr once.
type output struct {
	mu    sync.Mutex
	b     bytes.Buffer
	addr  chan string
	found bool
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b.Len() < 64<<10 { // beyond: enough to tell what went wrong
		o.b.Write(p)
	}
	if !o.found {
		_, rest, ok := strings.Cut(o.b.String(), listening)
		if line, _, whole := strings.Cut(rest, "\n"); ok && whole {
			o.found = true
			o.addr <- strings.TrimSpace(line)
		}
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := strings.TrimSpace(o.b.String())
	if s == "" {
		return "(no output)"
	}
	return s
}
