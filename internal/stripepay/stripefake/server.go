package stripefake

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// APIVersion is the one Stripe API version the fake speaks. Events carry it,
// and requests that ask for another version are refused, so a stripe-go
// upgrade shows up as a clear failure rather than as silently misread fields.
const APIVersion = "2023-10-16"

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// Now is the fake's clock for created timestamps, event times and
	// balance availability. It defaults to time.Now.
	Now func() time.Time
	// Seed seeds the generator behind fault injection, so that a run with
	// faults can be replayed.
	Seed int64
	// Client sends webhook deliveries. It defaults to a client with a 10 s
	// timeout.
	Client *http.Client
}

// Server is a fake Stripe: the REST API, its state and webhook deliveries.
// It is safe for concurrent use.
type Server struct {
	now     func() time.Time
	client  *http.Client
	handler http.Handler

	// ctx is canceled by Close; it aborts deliveries in flight.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery goroutines and the HTTP server

	// mu guards everything below. API calls and helpers hold it for their
	// whole run, which makes each of them atomic (idempotency included);
	// nothing holds it across network I/O.
	mu            sync.Mutex
	seq           int64 // creation order of objects and events
	bySecret      map[string]*account
	byPublishable map[string]*account
	pis           map[string]*paymentIntent
	charges       map[string]*charge
	refunds       map[string]*refund
	disputes      map[string]*dispute
	invoices      map[string]*invoice
	txns          map[string]*balanceTransaction
	events        map[string]*event

	rng         *rand.Rand // fault injection
	faults      Faults
	lanes       map[*account]*lane
	paused      bool
	outstanding int           // deliveries queued or in flight
	changed     chan struct{} // closed and replaced whenever outstanding falls
	stats       WebhookStats
	closed      bool

	httpServer *http.Server
	url        string
}

// account is one Stripe account: a key pair, its webhook endpoint and the
// records that are listed per account.
type account struct {
	id          string
	secret      string
	publishable string
	hook        *endpoint
	idem        map[string]*idemEntry

	events  []*event // oldest first
	charges []*charge
	refunds []*refund

	// The subscriber and subscription of PayStripeInvoice's invoices.
	customer     string
	subscription string
	invoiceNo    int
}

type endpoint struct {
	url    string
	secret string
}

// New returns a Server. Handler serves it; Start also listens.
func New(opts Options) *Server {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	hc := opts.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	seed := uint64(opts.Seed)
	s := &Server{
		now:           now,
		client:        hc,
		ctx:           ctx,
		cancel:        cancel,
		bySecret:      map[string]*account{},
		byPublishable: map[string]*account{},
		pis:           map[string]*paymentIntent{},
		charges:       map[string]*charge{},
		refunds:       map[string]*refund{},
		disputes:      map[string]*dispute{},
		invoices:      map[string]*invoice{},
		txns:          map[string]*balanceTransaction{},
		events:        map[string]*event{},
		rng:           rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		lanes:         map[*account]*lane{},
		changed:       make(chan struct{}),
	}
	s.handler = s.routes()
	return s
}

// Handler returns the Stripe REST API (/v1/...).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on 127.0.0.1 on a free port and serves Handler until Close.
// It returns the base URL to give stripe-go (no trailing slash).
func (s *Server) Start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("stripefake: server is closed")
	}
	if s.httpServer != nil {
		return "", errors.New("stripefake: server already started")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("stripefake: listen: %w", err)
	}
	s.httpServer = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.httpServer.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s.url, nil
}

// URL returns the base URL Start listens on, or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the listener and the deliveries: those in flight are aborted
// and those queued are discarded (counted as given up). State stays
// readable through the helpers. A webhook handler must not call it: Close
// waits for the delivery that handler is answering.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	hs := s.httpServer
	for _, l := range s.lanes {
		l.wakeUp()
	}
	s.mu.Unlock()

	s.cancel()
	if hs != nil {
		_ = hs.Close()
	}
	s.wg.Wait()
}

// AddAccount registers a Stripe account with its secret key (used by API
// calls, as "Authorization: Bearer sk_...") and its publishable key (good only
// for confirming a PaymentIntent, as Stripe.js does; may be empty). Adding the
// same pair again returns the same account. It panics if a key already
// belongs to another account, a mistake in the test or demo setup.
func (s *Server) AddAccount(secretKey, publishableKey string) (accountID string) {
	if secretKey == "" {
		panic("stripefake: AddAccount needs a secret key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.bySecret[secretKey]; ok {
		if a.publishable != publishableKey {
			panic("stripefake: secret key already added with another publishable key")
		}
		return a.id
	}
	if _, ok := s.byPublishable[secretKey]; ok {
		panic("stripefake: secret key already used as a publishable key")
	}
	if publishableKey != "" {
		if _, ok := s.byPublishable[publishableKey]; ok {
			panic("stripefake: publishable key already belongs to another account")
		}
		if _, ok := s.bySecret[publishableKey]; ok {
			panic("stripefake: publishable key already used as a secret key")
		}
	}
	a := &account{
		id:           "acct_" + randString(16),
		secret:       secretKey,
		publishable:  publishableKey,
		idem:         map[string]*idemEntry{},
		customer:     "cus_fake" + randString(16),
		subscription: newID("sub_"),
	}
	s.bySecret[secretKey] = a
	if publishableKey != "" {
		s.byPublishable[publishableKey] = a
	}
	return a.id
}

// SetWebhook sets the account's one webhook endpoint, replacing any earlier
// one; events are signed with signingSecret. An empty url removes the
// endpoint. Events already queued keep the endpoint they were queued for.
// It panics on an unknown secret key.
func (s *Server) SetWebhook(secretKey, url, signingSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustAccount(secretKey)
	if url == "" {
		a.hook = nil
		return
	}
	a.hook = &endpoint{url: url, secret: signingSecret}
}

func (s *Server) mustAccount(secretKey string) *account {
	a, ok := s.bySecret[secretKey]
	if !ok {
		panic("stripefake: unknown secret key")
	}
	return a
}

// nextSeq returns the next creation sequence number; lists order by it
// because many records share one second.
func (s *Server) nextSeq() int64 {
	s.seq++
	return s.seq
}

func (s *Server) unixNow() int64 { return s.now().Unix() }

const alphanumerics = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randString returns n random alphanumerics. It uses crypto/rand so that ids
// do not follow the fault seed: two servers with one seed still get
// different ids, as two Stripe accounts would.
func randString(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // never fails (crypto/rand documents it)
	for i := range b {
		b[i] = alphanumerics[int(b[i])%len(alphanumerics)]
	}
	return string(b)
}

// newID returns a Stripe-style id: the prefix and 24 alphanumerics.
func newID(prefix string) string { return prefix + randString(24) }
