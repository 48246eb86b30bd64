package qbotest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FaultKind names an injected failure.
type FaultKind string

// Fault kinds. The request kinds act on matching HTTP requests; the webhook
// kinds act on matching changes as their notifications are queued.
const (
	FaultThrottle            FaultKind = "429"                   // the recorded 429 ThrottleExceeded XML body
	FaultServerError         FaultKind = "500"                   // HTTP 500 SystemFault
	FaultUnavailable         FaultKind = "503"                   // HTTP 503 SystemFault
	FaultLatency             FaultKind = "latency"               // sleep LatencyMS, then serve normally
	FaultTimeoutAfterCommit  FaultKind = "timeout_after_commit"  // serve (the write commits), then send no response
	FaultReset               FaultKind = "reset"                 // close the connection (TCP RST) without serving
	FaultRevokeRefreshTokens FaultKind = "revoke_refresh_tokens" // revoke every grant of the realm, then serve
	FaultDropWebhook         FaultKind = "drop_webhook"          // never deliver the notification
	FaultDuplicateWebhook    FaultKind = "duplicate_webhook"     // deliver the notification twice (same event id)
)

// Fault is one injection rule (JSON as accepted by POST /_control/faults).
//
// Endpoint selects what it applies to: "" every API request (/v3/…) or
// every change; a value starting with "/" a path prefix (any endpoint,
// e.g. "/oauth2/v1/tokens/bearer"); otherwise an entity or API segment
// compared case-insensitively ("invoice", "Customer", "batch", "query") —
// for webhook kinds, the changed entity.
//
// Count > 0 fires the rule on the next Count matches, then removes it.
// Probability in (0,1) fires on each match with that chance, drawn from a
// generator seeded with Seed (deterministic for a given request order).
// With neither, the rule fires on every match until cleared.
type Fault struct {
	Endpoint    string    `json:"endpoint,omitempty"`
	Kind        FaultKind `json:"kind"`
	Probability float64   `json:"probability,omitempty"`
	Count       int       `json:"count,omitempty"`
	// LatencyMS is the delay for "latency"; for "timeout_after_commit" the
	// time to hold the connection before closing it (0: until the client
	// gives up or the server closes).
	LatencyMS int   `json:"latency_ms,omitempty"`
	Seed      int64 `json:"seed,omitempty"`
	// Realm limits request rules to /v3/company/{Realm}/… (paths without a
	// realm, like the token endpoint, still match) and webhook rules to its
	// changes; revoke_refresh_tokens revokes this realm (default: the
	// request's realm, or every realm when the path has none).
	Realm string `json:"realm,omitempty"`
}

func (f Fault) validate() error {
	switch f.Kind {
	case FaultThrottle, FaultServerError, FaultUnavailable, FaultLatency, FaultTimeoutAfterCommit, FaultReset,
		FaultRevokeRefreshTokens, FaultDropWebhook, FaultDuplicateWebhook:
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("probability %v outside 0..1", f.Probability)
	}
	if f.Count < 0 || f.LatencyMS < 0 {
		return fmt.Errorf("count and latency_ms must not be negative")
	}
	return nil
}

func (f Fault) webhook() bool { return f.Kind == FaultDropWebhook || f.Kind == FaultDuplicateWebhook }

// WithFaults installs fault rules from the start (invalid rules panic).
func WithFaults(fs ...Fault) Option { return func(c *config) { c.faults = append(c.faults, fs...) } }

// InjectFault adds a rule; it returns an error for an invalid one.
func (s *Server) InjectFault(f Fault) error { return s.faults.add(f) }

// ClearFaults removes every rule.
func (s *Server) ClearFaults() { s.faults.clear() }

// Faults lists the active rules (Count shows the firings left).
func (s *Server) Faults() []Fault { return s.faults.list() }

type faultRule struct {
	Fault
	rng *rand.Rand
}

type faultSet struct {
	mu    sync.Mutex
	rules []*faultRule
}

func newFaultSet(fs []Fault) *faultSet {
	set := &faultSet{}
	for _, f := range fs {
		if err := set.add(f); err != nil {
			panic("qbotest: WithFaults: " + err.Error())
		}
	}
	return set
}

func (fs *faultSet) add(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = append(fs.rules, &faultRule{Fault: f, rng: rand.New(rand.NewPCG(uint64(f.Seed), 0x71b0))})
	return nil
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = nil
}

func (fs *faultSet) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, r := range fs.rules {
		out = append(out, r.Fault)
	}
	return out
}

// fire returns the first rule (in insertion order) that matches and fires,
// consuming one of its Count. Every matching rule draws from its generator,
// so each rule's sequence depends only on its own matches.
func (fs *faultSet) fire(webhook bool, match func(*faultRule) bool) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, r := range fs.rules {
		if r.webhook() != webhook || !match(r) {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && r.rng.Float64() >= r.Probability {
			continue
		}
		f := r.Fault
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				fs.rules = append(fs.rules[:i:i], fs.rules[i+1:]...)
			}
		}
		return f, true
	}
	return Fault{}, false
}

// forRequest picks the request fault for r, if any.
func (fs *faultSet) forRequest(r *http.Request) (Fault, string, bool) {
	realm, seg, isAPI := apiPath(r.URL.Path)
	f, ok := fs.fire(false, func(f *faultRule) bool {
		if f.Realm != "" && realm != "" && f.Realm != realm {
			return false
		}
		switch {
		case f.Endpoint == "":
			return isAPI
		case strings.HasPrefix(f.Endpoint, "/"):
			return strings.HasPrefix(r.URL.Path, f.Endpoint)
		default:
			return isAPI && seg == strings.ToLower(f.Endpoint)
		}
	})
	return f, realm, ok
}

// forChange picks the webhook fault for c, if any.
func (fs *faultSet) forChange(c Change) (Fault, bool) {
	return fs.fire(true, func(f *faultRule) bool {
		return (f.Realm == "" || f.Realm == c.RealmID) &&
			(f.Endpoint == "" || strings.EqualFold(f.Endpoint, c.Entity))
	})
}

// withFaults applies request faults.
func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, realm, ok := s.faults.forRequest(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		switch f.Kind {
		case FaultThrottle:
			s.writeThrottled(w, realm)
		case FaultServerError, FaultUnavailable:
			status := http.StatusInternalServerError
			if f.Kind == FaultUnavailable {
				status = http.StatusServiceUnavailable
			}
			s.writeSystemFault(w, status)
		case FaultLatency:
			s.sleep(r, time.Duration(f.LatencyMS)*time.Millisecond)
			next.ServeHTTP(w, r)
		case FaultReset:
			resetConn(w, true)
		case FaultTimeoutAfterCommit:
			next.ServeHTTP(&discardWriter{h: http.Header{}}, r)
			if f.LatencyMS > 0 {
				s.sleep(r, time.Duration(f.LatencyMS)*time.Millisecond)
			} else {
				select {
				case <-r.Context().Done():
				case <-s.done:
				}
			}
			resetConn(w, false)
		case FaultRevokeRefreshTokens:
			if f.Realm != "" {
				realm = f.Realm
			}
			if s.realms[realm] != nil {
				s.RevokeGrants(realm)
			} else {
				for _, id := range s.realmIDs {
					s.RevokeGrants(id)
				}
			}
			next.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// sleep waits d, or less if the client goes away or the server closes.
func (s *Server) sleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.done:
	}
}

// resetConn closes the request's connection without a response; with rst
// the close is abortive (the client sees "connection reset by peer").
func resetConn(w http.ResponseWriter, rst bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeSystemFault writes a JSON SystemFault (wording assumed; see FIDELITY.md).
func (s *Server) writeSystemFault(w http.ResponseWriter, status int) {
	b, _ := json.Marshal(map[string]any{
		"Fault": map[string]any{
			"Error": []*fault{{Message: "An application error has occurred while processing your request",
				Detail: "System Failure Error: qbotest injected HTTP " + itoa(status), Code: "10000", Element: ""}},
			"type": "SystemFault",
		},
		"time": s.envelopeTime(),
	})
	s.writeResponse(w, response{status: status, body: b})
}

// discardWriter swallows the response of a request whose answer is lost.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
