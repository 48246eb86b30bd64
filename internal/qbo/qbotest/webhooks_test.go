package qbotest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

const verifier = "qbotest-verifier-token"

type hookReq struct {
	body []byte
	sig  string
	ct   string
	at   time.Time
}

// receiver is a webhook endpoint that answers the given statuses in turn
// (then 200) and hands every request to the test.
type receiver struct {
	URL      string
	ch       chan hookReq
	mu       sync.Mutex
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{ch: make(chan hookReq, 100), statuses: statuses}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		rc.ch <- hookReq{body: b, sig: r.Header.Get("intuit-signature"), ct: r.Header.Get("Content-Type"), at: time.Now()}
		w.WriteHeader(status)
	}))
	t.Cleanup(hs.Close)
	rc.URL = hs.URL
	return rc
}

func (rc *receiver) next(t *testing.T) hookReq {
	t.Helper()
	select {
	case h := <-rc.ch:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook POST within 5s")
		return hookReq{}
	}
}

// none requires that nothing arrives within d.
func (rc *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case h := <-rc.ch:
		t.Fatalf("unexpected webhook POST: %s", h.body)
	case <-time.After(d):
	}
}

// events decodes a CloudEvents body and checks its signature.
func (rc *receiver) events(t *testing.T) []map[string]any {
	t.Helper()
	h := rc.next(t)
	requireSigned(t, h)
	var evs []map[string]any
	require.NoError(t, json.Unmarshal(h.body, &evs), "body: %s", h.body)
	return evs
}

// until reads CloudEvents POSTs until one has type typ for entity id.
func (rc *receiver) until(t *testing.T, typ, id string) {
	t.Helper()
	for {
		for _, e := range rc.events(t) {
			if e["type"] == typ && e["intuitentityid"] == id {
				return
			}
		}
	}
}

func requireSigned(t *testing.T, h hookReq) {
	t.Helper()
	m := hmac.New(sha256.New, []byte(verifier))
	m.Write(h.body)
	require.Equal(t, base64.StdEncoding.EncodeToString(m.Sum(nil)), h.sig)
	require.Equal(t, qbotest.Sign(verifier, h.body), h.sig)
	require.Equal(t, "application/json", h.ct)
}

func TestSignVectors(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"webhook-vector.json", "webhook-vector-python-quickbooks.json"} {
		v := fixture(t, name)
		require.Equal(t, v["signature"], qbotest.Sign(v["verifier_token"].(string), []byte(v["payload"].(string))), name)
	}
	require.NotEqual(t, qbotest.Sign("other", []byte(`{"stuff":"5"}`)), qbotest.Sign("verify_me", []byte(`{"stuff":"5"}`)))
}

func TestWebhookCloudEvents(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	a := newAPI(t, qbotest.WithClock(newFakeClock().Now), qbotest.WithWebhook(rc.URL, verifier))
	c := a.ok(post, "customer", map[string]any{"DisplayName": "Hook Co"}, "Customer")
	evs := rc.events(t)
	require.Len(t, evs, 1)
	e := evs[0]
	require.Equal(t, "1.0", e["specversion"])
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, e["id"])
	require.Regexp(t, `^intuit\.[A-Za-z0-9+/]{43}=$`, e["source"])
	require.Equal(t, "qbo.customer.created.v1", e["type"])
	require.Equal(t, "application/json", e["datacontenttype"])
	require.Equal(t, "2024-06-20T20:16:17.412000000Z", e["time"])
	require.Equal(t, c["Id"], e["intuitentityid"])
	require.Equal(t, a.realm, e["intuitaccountid"])
	require.Equal(t, map[string]any{}, e["data"])

	// Every attribute of the recorded CloudEvent is present with the same JSON type.
	var rec []map[string]any
	require.NoError(t, json.Unmarshal([]byte(fixture(t, "webhook-vector.json")["cloudevents_payload"].(string)), &rec))
	for k, v := range rec[0] {
		require.Contains(t, e, k)
		require.IsType(t, v, e[k], k)
	}

	// Update, then the sparse update's type.
	a.ok(post, "customer", map[string]any{"Id": c["Id"], "SyncToken": "0", "sparse": true, "Notes": "x"}, "Customer")
	evs = rc.events(t)
	require.Equal(t, "qbo.customer.updated.v1", evs[0]["type"])
	require.NotEqual(t, e["id"], evs[0]["id"])
}

func TestWebhookLegacy(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	a := newAPI(t, qbotest.WithClock(newFakeClock().Now), qbotest.WithWebhook(rc.URL, verifier, qbotest.WebhookLegacy()))
	c := a.ok(post, "customer", map[string]any{"DisplayName": "Legacy Co"}, "Customer")
	inv := a.ok(post, "invoice", map[string]any{"CustomerRef": map[string]any{"value": c["Id"]},
		"Line": []any{map[string]any{"DetailType": "SalesItemLineDetail", "Amount": 10}}}, "Invoice")
	a.ok(post, "invoice?operation=void", map[string]any{"Id": inv["Id"], "SyncToken": "0"}, "Invoice")
	for _, want := range []struct{ name, id, op string }{
		{"Customer", c["Id"].(string), "Create"}, {"Invoice", inv["Id"].(string), "Create"}, {"Invoice", inv["Id"].(string), "Void"},
	} {
		h := rc.next(t)
		requireSigned(t, h)
		require.Equal(t, `{"eventNotifications":[{"realmId":"`+a.realm+`","dataChangeEvent":{"entities":[{"name":"`+want.name+
			`","id":"`+want.id+`","operation":"`+want.op+`","lastUpdated":"2024-06-20T20:16:17.412Z"}]}}]}`, string(h.body))
	}
	rc.none(t, 50*time.Millisecond)
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, http.StatusInternalServerError, http.StatusServiceUnavailable)
	a := newAPI(t, qbotest.WithWebhook(rc.URL, verifier, qbotest.WebhookRetries([]time.Duration{20 * time.Millisecond, 20 * time.Millisecond})))
	a.ok(post, "customer", map[string]any{"DisplayName": "Retry Co"}, "Customer")
	first := rc.next(t)
	for range 2 {
		h := rc.next(t)
		require.Equal(t, string(first.body), string(h.body), "a retry resends the same body")
		require.Equal(t, first.sig, h.sig)
		require.GreaterOrEqual(t, h.at.Sub(first.at), 20*time.Millisecond)
		first = h
	}
	rc.none(t, 60*time.Millisecond)
	require.Equal(t, qbotest.WebhookStats{Queued: 1, Attempts: 3, Delivered: 1}, a.srv.WebhookStats())

	// Given up after the schedule: 1 try + 1 retry.
	bad := newReceiver(t, 500, 500, 500)
	b := newAPI(t, qbotest.WithWebhook(bad.URL, verifier, qbotest.WebhookRetries([]time.Duration{10 * time.Millisecond})))
	b.ok(post, "customer", map[string]any{"DisplayName": "Lost Co"}, "Customer")
	bad.next(t)
	bad.next(t)
	require.Eventually(t, func() bool { return b.srv.WebhookStats().Failed == 1 }, 2*time.Second, 5*time.Millisecond)
	bad.none(t, 50*time.Millisecond)
	require.Equal(t, 2, b.srv.WebhookStats().Attempts)
}

func TestWebhookBatchMixedRealms(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	srv := qbotest.NewServer(t, qbotest.WithRealms(2), qbotest.WithWebhook(rc.URL, verifier, qbotest.WebhookBatch(100, 300*time.Millisecond)))
	r1, r2 := srv.RealmIDs()[0], srv.RealmIDs()[1]
	for i, realm := range []string{r1, r2, r1, r2, r1} {
		ctlPost(t, srv, realm, "customer", "", map[string]any{"DisplayName": "Batch " + itoa(i)})
	}
	evs := rc.events(t)
	require.Len(t, evs, 5, "one POST, realms mixed")
	var accounts []any
	for _, e := range evs {
		accounts = append(accounts, e["intuitaccountid"])
	}
	require.Equal(t, []any{r1, r2, r1, r2, r1}, accounts)
	rc.none(t, 50*time.Millisecond)

	// Legacy, at most 2 per POST: notifications grouped by realm.
	lg := newReceiver(t)
	srv = qbotest.NewServer(t, qbotest.WithRealms(2), qbotest.WithClock(newFakeClock().Now),
		qbotest.WithWebhook(lg.URL, verifier, qbotest.WebhookLegacy(), qbotest.WebhookBatch(2, 300*time.Millisecond)))
	for i, realm := range []string{r1, r2, r1} {
		ctlPost(t, srv, realm, "customer", "", map[string]any{"DisplayName": "Legacy " + itoa(i)})
	}
	h := lg.next(t)
	requireSigned(t, h)
	ent := func(id string) string {
		return `{"name":"Customer","id":"` + id + `","operation":"Create","lastUpdated":"2024-06-20T20:16:17.412Z"}`
	}
	require.Equal(t, `{"eventNotifications":[{"realmId":"`+r1+`","dataChangeEvent":{"entities":[`+ent("1")+`]}},`+
		`{"realmId":"`+r2+`","dataChangeEvent":{"entities":[`+ent("1")+`]}}]}`, string(h.body))
	h = lg.next(t)
	require.Equal(t, `{"eventNotifications":[{"realmId":"`+r1+`","dataChangeEvent":{"entities":[`+ent("2")+`]}}]}`, string(h.body))
}

func TestWebhookReorder(t *testing.T) {
	t.Parallel()
	order := func() []string {
		rc := newReceiver(t)
		srv := qbotest.NewServer(t, qbotest.WithWebhook(rc.URL, verifier, qbotest.WebhookBatch(1, 300*time.Millisecond), qbotest.WebhookReorder(7)))
		for i := range 6 {
			ctlPost(t, srv, srv.RealmIDs()[0], "customer", "", map[string]any{"DisplayName": "R" + itoa(i)})
		}
		var ids []string
		for range 6 {
			evs := rc.events(t)
			require.Len(t, evs, 1)
			ids = append(ids, evs[0]["intuitentityid"].(string))
		}
		return ids
	}
	first := order()
	require.ElementsMatch(t, []string{"1", "2", "3", "4", "5", "6"}, first)
	require.NotEqual(t, []string{"1", "2", "3", "4", "5", "6"}, first, "seed 7 reorders")
	require.Equal(t, first, order(), "same seed, same order")
}

func TestWebhookDelay(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	srv := qbotest.NewServer(t, qbotest.WithWebhook(rc.URL, verifier, qbotest.WebhookDelay(150*time.Millisecond)))
	start := time.Now()
	ctlPost(t, srv, srv.RealmIDs()[0], "customer", "", map[string]any{"DisplayName": "Late Co"})
	h := rc.next(t)
	require.GreaterOrEqual(t, h.at.Sub(start), 150*time.Millisecond)
}

func TestWebhookCloseStopsDelivery(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, 500)
	srv := qbotest.New(qbotest.WithWebhook(rc.URL, verifier, qbotest.WebhookRetries([]time.Duration{time.Hour})))
	require.NoError(t, srv.Start("127.0.0.1:0"))
	ctlPost(t, srv, srv.RealmIDs()[0], "customer", "", map[string]any{"DisplayName": "Closing Co"})
	rc.next(t)
	ctlPost(t, srv, srv.RealmIDs()[0], "customer", "", map[string]any{"DisplayName": "Never Sent"})
	start := time.Now()
	require.NoError(t, srv.Close())
	require.Less(t, time.Since(start), 2*time.Second, "Close interrupts the retry wait")
	st := srv.WebhookStats()
	require.Equal(t, 1, st.Attempts)
	require.Equal(t, 1, st.Pending)
	rc.none(t, 50*time.Millisecond)
	require.NoError(t, srv.Close(), "Close is idempotent")
}
