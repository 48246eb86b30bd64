package qbotest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sign returns the intuit-signature header value for body:
// base64(HMAC-SHA256(key = verifier token, msg = the exact body bytes))
// (qbo-api.md §12).
func Sign(verifierToken string, body []byte) string {
	m := hmac.New(sha256.New, []byte(verifierToken))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// DefaultWebhookRetries is Intuit's documented retry schedule after a failed
// delivery (qbo-api.md §12; the "then every 6 h" tail is not emulated).
var DefaultWebhookRetries = []time.Duration{
	10 * time.Second, 20 * time.Second, 30 * time.Second, 5 * time.Minute,
	20 * time.Minute, 2 * time.Hour, 4 * time.Hour, 6 * time.Hour,
}

type webhookConfig struct {
	url, token string
	legacy     bool
	retries    []time.Duration
	delay      time.Duration
	max        int
	window     time.Duration
	reorder    bool
	seed       int64
	timeout    time.Duration
}

// WebhookOption configures webhook delivery.
type WebhookOption func(*webhookConfig)

// WithWebhook POSTs a notification to url for every change (create, update,
// delete, void) in any realm, signed with verifierToken. Delivery runs in
// the background, one POST at a time, in change order unless reordered;
// by default each POST carries one event in the CloudEvents format.
func WithWebhook(url, verifierToken string, opts ...WebhookOption) Option {
	wc := webhookConfig{url: url, token: verifierToken, retries: DefaultWebhookRetries, max: 1, timeout: 3 * time.Second}
	for _, o := range opts {
		o(&wc)
	}
	if wc.max < 1 {
		wc.max = 1
	}
	if wc.max > 100 {
		wc.max = 100
	}
	return func(c *config) { c.webhook = &wc }
}

// WebhookLegacy sends the legacy {"eventNotifications":[…]} body instead of
// CloudEvents.
func WebhookLegacy() WebhookOption { return func(c *webhookConfig) { c.legacy = true } }

// WebhookRetries sets the waits before each retry of a POST that failed
// (non-2xx or no response); after the last one the POST is given up.
// An empty schedule means no retries.
func WebhookRetries(schedule []time.Duration) WebhookOption {
	return func(c *webhookConfig) { c.retries = append([]time.Duration(nil), schedule...) }
}

// WebhookDelay holds each notification for d (real time) after its change.
func WebhookDelay(d time.Duration) WebhookOption { return func(c *webhookConfig) { c.delay = d } }

// WebhookBatch collects notifications for window (real time) after the
// first one is due and sends them max (≤ 100) per POST, realms mixed.
func WebhookBatch(max int, window time.Duration) WebhookOption {
	return func(c *webhookConfig) { c.max, c.window = max, window }
}

// WebhookReorder shuffles each collected round of notifications with a
// generator seeded by seed before splitting it into POSTs (combine with
// WebhookBatch's window to get rounds of more than one event).
func WebhookReorder(seed int64) WebhookOption {
	return func(c *webhookConfig) { c.reorder, c.seed = true, seed }
}

// WebhookTimeout bounds each POST (default 3 s, the time Intuit allows the
// receiver, §12); a timeout counts as a failed attempt.
func WebhookTimeout(d time.Duration) WebhookOption { return func(c *webhookConfig) { c.timeout = d } }

// WebhookStats counts webhook activity since the server started.
type WebhookStats struct {
	Queued    int // notifications queued (duplicates count twice)
	Dropped   int // notifications dropped by a drop_webhook fault
	Attempts  int // POSTs sent, retries included
	Delivered int // notifications in POSTs answered 2xx
	Failed    int // notifications given up after the retries
	Pending   int // notifications waiting to be sent
}

// WebhookStats reports delivery counters (zero without WithWebhook).
func (s *Server) WebhookStats() WebhookStats {
	if s.hooks == nil {
		return WebhookStats{}
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	st := s.hooks.stats
	st.Pending = len(s.hooks.queue)
	return st
}

type hookEvent struct {
	id    string // CloudEvents id; a duplicate keeps it
	c     Change
	ready time.Time // real time when it may be sent
}

type webhookSender struct {
	s      *Server
	cfg    webhookConfig
	source string
	client *http.Client
	rng    *mrand.Rand // used by the delivery goroutine only

	mu    sync.Mutex
	queue []hookEvent
	stats WebhookStats
	wake  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWebhookSender(s *Server, cfg webhookConfig) *webhookSender {
	src := sha256.Sum256([]byte("qbotest:" + s.cfg.clientID))
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhookSender{
		s: s, cfg: cfg, source: "intuit." + base64.StdEncoding.EncodeToString(src[:]),
		client: &http.Client{Timeout: cfg.timeout},
		rng:    mrand.New(mrand.NewPCG(uint64(cfg.seed), 0x3b)),
		wake:   make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}
	w.wg.Add(1)
	go w.run()
	return w
}

// enqueue is the OnChange listener; it runs with the realm locked, so it
// only queues.
func (w *webhookSender) enqueue(c Change) {
	n := 1
	if f, ok := w.s.faults.forChange(c); ok {
		switch f.Kind {
		case FaultDropWebhook:
			n = 0
		case FaultDuplicateWebhook:
			n = 2
		}
	}
	w.mu.Lock()
	if n == 0 {
		w.stats.Dropped++
	}
	ev := hookEvent{id: newUUID(), c: c, ready: time.Now().Add(w.cfg.delay)}
	for range n {
		w.queue = append(w.queue, ev)
		w.stats.Queued++
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *webhookSender) stop() {
	w.cancel()
	w.wg.Wait()
}

// wait sleeps d; false if the sender stopped.
func (w *webhookSender) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// waitDue blocks until the head of the queue is due; false if stopped.
func (w *webhookSender) waitDue() bool {
	for {
		w.mu.Lock()
		have := len(w.queue) > 0
		var d time.Duration
		if have {
			d = time.Until(w.queue[0].ready)
		}
		w.mu.Unlock()
		if have && d <= 0 {
			return true
		}
		var timer *time.Timer
		var due <-chan time.Time
		if have {
			timer = time.NewTimer(d)
			due = timer.C
		}
		select {
		case <-w.wake:
		case <-due:
		case <-w.ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if w.ctx.Err() != nil {
			return false
		}
	}
}

// takeDue removes and returns the events that are due (a prefix: every
// event has the same delay).
func (w *webhookSender) takeDue() []hookEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	i := 0
	for i < len(w.queue) && !w.queue[i].ready.After(now) {
		i++
	}
	out := append([]hookEvent(nil), w.queue[:i]...)
	w.queue = append(w.queue[:0:0], w.queue[i:]...)
	return out
}

func (w *webhookSender) run() {
	defer w.wg.Done()
	for {
		if !w.waitDue() {
			return
		}
		if w.cfg.window > 0 && !w.wait(w.cfg.window) {
			return
		}
		round := w.takeDue()
		if w.cfg.reorder {
			w.rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		for len(round) > 0 {
			n := min(w.cfg.max, len(round))
			if !w.deliver(round[:n]) {
				return
			}
			round = round[n:]
		}
	}
}

// deliver POSTs one batch with retries; false if the sender stopped.
func (w *webhookSender) deliver(evs []hookEvent) bool {
	body := w.body(evs)
	sig := Sign(w.cfg.token, body)
	for attempt := 0; ; attempt++ {
		ok := w.post(body, sig)
		w.mu.Lock()
		w.stats.Attempts++
		if ok {
			w.stats.Delivered += len(evs)
		}
		w.mu.Unlock()
		if ok {
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		if attempt >= len(w.cfg.retries) {
			w.mu.Lock()
			w.stats.Failed += len(evs)
			w.mu.Unlock()
			return true
		}
		if !w.wait(w.cfg.retries[attempt]) {
			return false
		}
	}
}

func (w *webhookSender) post(body []byte, sig string) bool {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("intuit-signature", sig)
	resp, err := w.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

func (w *webhookSender) body(evs []hookEvent) []byte {
	var b []byte
	var err error
	if w.cfg.legacy {
		b, err = json.Marshal(legacyBody(evs))
	} else {
		b, err = json.Marshal(w.cloudEvents(evs))
	}
	if err != nil {
		panic(err)
	}
	return b
}

// legacyNotification is one realm's part of a legacy webhook body.
type legacyNotification struct {
	RealmID         string `json:"realmId"`
	DataChangeEvent struct {
		Entities []legacyEntity `json:"entities"`
	} `json:"dataChangeEvent"`
}

type legacyEntity struct {
	Name        string `json:"name"`
	ID          string `json:"id"`
	Operation   string `json:"operation"`
	LastUpdated string `json:"lastUpdated"`
}

// legacyBody groups events by realm, realms in order of first appearance.
func legacyBody(evs []hookEvent) map[string][]*legacyNotification {
	var out []*legacyNotification
	byRealm := map[string]*legacyNotification{}
	for _, e := range evs {
		n := byRealm[e.c.RealmID]
		if n == nil {
			n = &legacyNotification{RealmID: e.c.RealmID}
			byRealm[e.c.RealmID] = n
			out = append(out, n)
		}
		n.DataChangeEvent.Entities = append(n.DataChangeEvent.Entities, legacyEntity{
			Name: e.c.Entity, ID: e.c.ID, Operation: e.c.Operation,
			LastUpdated: e.c.At.UTC().Format("2006-01-02T15:04:05.000Z"),
		})
	}
	return map[string][]*legacyNotification{"eventNotifications": out}
}

type cloudEvent struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	DataContentType string         `json:"datacontenttype"`
	Time            string         `json:"time"`
	IntuitEntityID  string         `json:"intuitentityid"`
	IntuitAccountID string         `json:"intuitaccountid"`
	Data            map[string]any `json:"data"`
}

var ceVerb = map[string]string{"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged"}

func (w *webhookSender) cloudEvents(evs []hookEvent) []cloudEvent {
	out := make([]cloudEvent, 0, len(evs))
	for _, e := range evs {
		verb := ceVerb[e.c.Operation]
		if verb == "" {
			verb = strings.ToLower(e.c.Operation) + "d"
		}
		out = append(out, cloudEvent{
			SpecVersion: "1.0", ID: e.id, Source: w.source,
			Type:            "qbo." + strings.ToLower(e.c.Entity) + "." + verb + ".v1",
			DataContentType: "application/json",
			Time:            e.c.At.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"),
			IntuitEntityID:  e.c.ID, IntuitAccountID: e.c.RealmID,
			Data: map[string]any{},
		})
	}
	return out
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
