package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qboinboxevent"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/qbo/conn"
	"books/internal/qbo/pull"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/jobs"
	"books/server"
)

// The signature test vector of qbo-api.md §12: the fixture's verifier token, a legacy body
// with two entities of realm hookRealm, and its intuit-signature.
const (
	hookToken     = "00faeec4-08d0-4996-bb37-698ae19f0149"
	hookVector    = `{"eventNotifications":[{"realmId":"1269959970","dataChangeEvent":{"entities":[{"name":"Vendor","id":"40","operation":"Update","lastUpdated":"2016-10-05T03:09:04.000Z"},{"name":"Customer","id":"43","operation":"Create","lastUpdated":"2016-10-05T03:07:04.000Z"}]}}]}`
	hookVectorSig = "6q+xGyMirJupwKTh2/WBl2NcdxzxqdIbk3sneKTxLWM="
	hookRealm     = "1269959970" // connected in the fixture
	hookStranger  = "4620816365" // held by no connection
)

// hookFix is a real HTTP server with the webhook intake (verifier hookToken) over a fresh
// database with River's tables, an organization with one entity, and a job runner that
// enqueues the inbox's jobs without working them. It takes testing.TB for the benchmark.
type hookFix struct {
	db     *database.DB
	client *ent.Client
	server *httptest.Server
	runner *jobs.Runner
	entity *ent.LegalEntity
	octx   context.Context
	logs   *lockedBuf
	row    *ent.QBOConnection
}

// hookInboxKind registers the inbox job's kind so that it can be enqueued.
type hookInboxKind struct {
	river.WorkerDefaults[pull.InboxArgs]
}

func (hookInboxKind) Work(context.Context, *river.Job[pull.InboxArgs]) error { return nil }

// setupHook builds the fixture; configure completes the server's Config (nil: as is).
func setupHook(tb testing.TB, dialectName string, configure func(*server.Config)) *hookFix {
	tb.Helper()
	db := dbtest.OpenJobs(tb, dialectName)
	client := db.Client()
	f := &hookFix{db: db, client: client, logs: &lockedBuf{}}
	kinds := jobs.NewKinds()
	jobs.Register(kinds, hookInboxKind{})
	var err error
	f.runner, err = jobs.New(db, jobs.Config{Kinds: kinds, InsertOnly: true, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(tb, err)
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(tb, err)
	cfg := server.Config{DB: db, Client: client, Auth: auth.NewService(tokens, client), Logger: log,
		QBOWebhook: &pull.Intake{Puller: &pull.Puller{Runner: f.runner, Logger: log}, Client: client, Verifier: hookToken}}
	if configure != nil {
		configure(&cfg)
	}
	f.server = httptest.NewServer(server.New(cfg))
	tb.Cleanup(f.server.Close)

	org, err := client.Organization.Create().SetName("Webhook org").Save(tenant.System(context.Background()))
	require.NoError(tb, err)
	f.octx = tenant.WithOrg(context.Background(), org.ID)
	f.entity, err = ledger.CreateEntity(f.octx, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(tb, err)
	return f
}

// connect connects the fixture's entity to realm, as the OAuth callback would have.
func (f *hookFix) connect(tb testing.TB, realm string) {
	tb.Helper()
	key, err := secrets.GenerateKey()
	require.NoError(tb, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(tb, err)
	now := time.Now().UTC()
	f.row, err = conn.NewStore(box).Save(f.octx, f.client, conn.Connect{EntityID: f.entity.ID, RealmID: realm,
		BaseURL: "https://quickbooks.invalid", Tokens: conn.Tokens{Access: "access", Refresh: "refresh",
			AccessExpiresAt: now.Add(time.Hour), RefreshExpiresAt: now.Add(24 * time.Hour)}})
	require.NoError(tb, err)
}

// hookPost is one delivery: the body sent, and its intuit-signature header (none when
// noSig).
type hookPost struct {
	body  []byte
	sig   string
	noSig bool
}

func signed(body []byte) hookPost { return hookPost{body: body, sig: qbotest.Sign(hookToken, body)} }

// post delivers p to POST /webhooks/qbo, without any bearer token, and decodes the answer.
func (f *hookFix) post(tb testing.TB, p hookPost) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, f.server.URL+"/webhooks/qbo", bytes.NewReader(p.body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	if !p.noSig {
		req.Header.Set("intuit-signature", p.sig)
	}
	resp, err := f.server.Client().Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	var out map[string]any
	require.NoError(tb, json.Unmarshal(raw, &out), "answer %s", raw)
	return resp.StatusCode, out
}

func (f *hookFix) inbox(t *testing.T) []*ent.QBOInboxEvent {
	t.Helper()
	rows, err := f.client.QBOInboxEvent.Query().All(tenant.System(context.Background()))
	require.NoError(t, err)
	return rows
}

func (f *hookFix) inboxJobs(t *testing.T) int {
	t.Helper()
	res, err := f.runner.Client().JobList(context.Background(), river.NewJobListParams().Kinds(pull.InboxArgs{}.Kind()).First(1000))
	require.NoError(t, err)
	return len(res.Jobs)
}

// hookCE is one CloudEvent of a payment created in QuickBooks.
func hookCE(realm, id, qboID string) map[string]any {
	return map[string]any{"specversion": "1.0", "id": id, "source": "intuit.test", "type": "qbo.payment.created.v1",
		"datacontenttype": "application/json", "time": "2026-11-21T10:00:00.000000000Z",
		"intuitentityid": qboID, "intuitaccountid": realm, "data": map[string]any{}}
}

func hookCEBody(tb testing.TB, evs ...map[string]any) []byte {
	tb.Helper()
	b, err := json.Marshal(evs)
	require.NoError(tb, err)
	return b
}

// TestQBOWebhook delivers good, repeated and bad webhook bodies in turn; a refused delivery
// stores nothing and enqueues nothing, an accepted one stores each notification once.
func TestQBOWebhook(t *testing.T) {
	t.Parallel()
	mixed := make([]map[string]any, 100)
	for i := range mixed {
		realm := hookRealm
		if i%2 == 1 {
			realm = hookStranger
		}
		mixed[i] = hookCE(realm, fmt.Sprintf("mixed-%d", i), fmt.Sprint(1000+i))
	}
	tooMany := append(mixed[:100:100], hookCE(hookRealm, "one-too-many", "1"))
	vector := []byte(hookVector)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	dup := hookCEBody(t, hookCE(hookRealm, "dup-1", "7"), hookCE(hookRealm, "dup-1", "7"), hookCE(hookRealm, "dup-2", "8"))
	legacy := []byte(`{"eventNotifications":[{"realmId":"1269959970","dataChangeEvent":{"entities":[{"name":"Payment","id":"55","operation":"Void","lastUpdated":"2026-11-21T10:00:00.000Z"}]}},{"realmId":"4620816365","dataChangeEvent":{"entities":[{"name":"Invoice","id":"9","operation":"Delete","lastUpdated":"2026-11-21T10:00:01.000Z"}]}}]}`)

	type want struct {
		status                  int
		code                    string // error code; "" for a 200
		received                int    // the 200's count
		new, dups, unknownRealm int    // what the store did (metrics); new includes unknownRealm
		jobs                    int    // inbox jobs enqueued by the delivery
	}
	refused := func(status int, code string) want { return want{status: status, code: code} }
	tests := []struct {
		name string
		post hookPost
		want want
	}{
		{"missing signature", hookPost{body: vector, noSig: true}, refused(401, "UNAUTHENTICATED")},
		{"empty signature", hookPost{body: vector}, refused(401, "UNAUTHENTICATED")},
		{"forged signature", hookPost{body: vector, sig: base64.StdEncoding.EncodeToString(random)}, refused(401, "UNAUTHENTICATED")},
		{"signature not base64", hookPost{body: vector, sig: "%%%"}, refused(401, "UNAUTHENTICATED")},
		{"signature of another body", hookPost{body: vector, sig: qbotest.Sign(hookToken, legacy)}, refused(401, "UNAUTHENTICATED")},
		{"signed with another token", hookPost{body: vector, sig: qbotest.Sign("another-token", vector)}, refused(401, "UNAUTHENTICATED")},
		{"truncated body, signed whole", hookPost{body: vector[:len(vector)/2], sig: hookVectorSig}, refused(401, "UNAUTHENTICATED")},
		{"garbage with a valid signature", signed([]byte("garbage{")), refused(400, "VALIDATION")},
		{"another JSON object with a valid signature", signed([]byte(`{"hello":"world"}`)), refused(400, "VALIDATION")},
		{"an event without realm", signed([]byte(`[{"id":"x","type":"qbo.payment.created.v1","intuitentityid":"1"}]`)), refused(400, "VALIDATION")},
		{"101 events", signed(hookCEBody(t, tooMany...)), refused(400, "VALIDATION")},
		{"truncated body, signed as cut", signed(vector[:len(vector)-3]), refused(400, "VALIDATION")},

		{"the §12 test vector", hookPost{body: vector, sig: hookVectorSig}, want{status: 200, received: 2, new: 2, jobs: 1}},
		{"the §12 test vector replayed", hookPost{body: vector, sig: hookVectorSig}, want{status: 200, received: 2, dups: 2}},
		{"an id twice in one POST", signed(dup), want{status: 200, received: 3, new: 2, dups: 1, jobs: 1}},
		{"100 events, two realms, one unknown", signed(hookCEBody(t, mixed...)), want{status: 200, received: 100, new: 100, unknownRealm: 50, jobs: 1}},
		{"100 events replayed", signed(hookCEBody(t, mixed...)), want{status: 200, received: 100, dups: 100}},
		{"legacy format, two realms", signed(legacy), want{status: 200, received: 2, new: 2, unknownRealm: 1, jobs: 1}},
		{"nothing", signed([]byte(`[]`)), want{status: 200}},
		{"garbage after all that", signed([]byte(`[`)), refused(400, "VALIDATION")},
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := setupHook(t, d, nil)
			f.connect(t, hookRealm)
			stored, jobs := 0, 0
			// In order: each case builds on what the ones before stored.
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := f.webhookMetrics(t)
					status, body := f.post(t, tt.post)
					require.Equal(t, tt.want.status, status, "answer %v", body)
					rejected := 0
					if tt.want.code != "" {
						require.Equal(t, tt.want.code, errCode(body))
						rejected = 1
					} else {
						require.Equal(t, map[string]any{"received": float64(tt.want.received)}, body)
					}
					after := f.webhookMetrics(t)
					require.Equal(t, map[string]float64{
						"new": float64(tt.want.new - tt.want.unknownRealm), "unknown_realm": float64(tt.want.unknownRealm),
						"duplicate": float64(tt.want.dups), "rejected": float64(rejected),
					}, metricDiff(after, before), "books_qbo_webhook_notifications_total by outcome")
					stored += tt.want.new
					jobs += tt.want.jobs
					require.Len(t, f.inbox(t), stored, "the inbox holds each notification accepted, once")
					require.Equal(t, jobs, f.inboxJobs(t))
				})
			}

			// The unknown realm's notifications are kept, unattached; the known one's wait
			// for its job.
			byStatus := map[qboinboxevent.Status]int{}
			for _, r := range f.inbox(t) {
				byStatus[r.Status]++
				switch r.RealmID {
				case hookRealm:
					require.Equal(t, f.row.ID, *r.ConnectionID)
				case hookStranger:
					require.Nil(t, r.ConnectionID)
				}
			}
			require.Equal(t, map[qboinboxevent.Status]int{qboinboxevent.StatusPending: 55, qboinboxevent.StatusUnknownRealm: 51}, byStatus)

			// Requests by status; the token is in no log line, nor in any answer above.
			require.Contains(t, f.get(t, "/metrics"), `books_http_requests_total{code="401",route="qbo_webhook"} 7`+"\n")
			require.NotContains(t, f.logs.String(), hookToken)
			require.Contains(t, f.logs.String(), `"path":"/webhooks/qbo"`, "each delivery has its log line")
		})
	}
}

// webhookMetrics reads books_qbo_webhook_notifications_total by outcome.
func (f *hookFix) webhookMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(f.get(t, "/metrics"), "\n") {
		rest, ok := strings.CutPrefix(line, `books_qbo_webhook_notifications_total{outcome="`)
		if !ok {
			continue
		}
		outcome, value, ok := strings.Cut(rest, `"} `)
		require.True(t, ok, line)
		v, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err)
		out[outcome] = v
	}
	require.Len(t, out, 4, "every outcome is exported, from zero")
	return out
}

func metricDiff(after, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

func (f *hookFix) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(f.server.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestQBOWebhookEdge: the route takes no bearer token and no rate limit, keeps the body
// limit and the request id, and is absent without a verifier.
func TestQBOWebhookEdge(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			t.Run("no rate limit", func(t *testing.T) {
				t.Parallel()
				f := setupHook(t, d, func(cfg *server.Config) { cfg.RateLimit, cfg.RateBurst = 0.01, 1 })
				f.connect(t, hookRealm)
				for i := range 30 {
					status, body := f.post(t, signed(hookCEBody(t, hookCE(hookRealm, fmt.Sprint("burst-", i), "5"))))
					require.Equal(t, http.StatusOK, status, "delivery %d: %v", i, body)
				}
				// Refused deliveries draw on no bucket either.
				for range 5 {
					status, _ := f.post(t, hookPost{body: []byte("[]"), sig: "bad"})
					require.Equal(t, http.StatusUnauthorized, status)
				}
				require.Len(t, f.inbox(t), 30)
				// The same address still has its whole bucket for the API: one request passes,
				// the next is limited.
				first := gqlStatus(t, f.server.URL)
				require.Equal(t, http.StatusUnauthorized, first, "not rate limited: the webhooks took nothing")
				require.Equal(t, http.StatusTooManyRequests, gqlStatus(t, f.server.URL))
			})
			t.Run("body limit", func(t *testing.T) {
				t.Parallel()
				f := setupHook(t, d, func(cfg *server.Config) { cfg.MaxBodyBytes = 4096 })
				f.connect(t, hookRealm)
				evs := make([]map[string]any, 40)
				for i := range evs {
					evs[i] = hookCE(hookRealm, fmt.Sprint("big-", i), "5")
				}
				body := hookCEBody(t, evs...)
				require.Greater(t, len(body), 4096)
				status, out := f.post(t, signed(body))
				require.Equal(t, http.StatusRequestEntityTooLarge, status)
				require.Equal(t, "PAYLOAD_TOO_LARGE", errCode(out))
				require.Empty(t, f.inbox(t))
			})
			t.Run("request id", func(t *testing.T) {
				t.Parallel()
				f := setupHook(t, d, nil)
				req, err := http.NewRequest(http.MethodPost, f.server.URL+"/webhooks/qbo", strings.NewReader("[]"))
				require.NoError(t, err)
				req.Header.Set("intuit-signature", qbotest.Sign(hookToken, []byte("[]")))
				req.Header.Set("X-Request-Id", "intuit-delivery-1")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.Equal(t, "intuit-delivery-1", resp.Header.Get("X-Request-Id"))
				require.Contains(t, f.logs.String(), `"request_id":"intuit-delivery-1"`)
			})
			t.Run("off without a verifier", func(t *testing.T) {
				t.Parallel()
				f := setupHook(t, d, func(cfg *server.Config) { cfg.QBOWebhook = nil })
				f.connect(t, hookRealm)
				status, out := f.post(t, hookPost{body: []byte(hookVector), sig: hookVectorSig})
				require.Equal(t, http.StatusNotFound, status)
				require.Equal(t, "NOT_FOUND", errCode(out))
				require.Empty(t, f.inbox(t))
			})
			t.Run("an intake with an empty verifier refuses everything", func(t *testing.T) {
				t.Parallel()
				f := setupHook(t, d, func(cfg *server.Config) { cfg.QBOWebhook.Verifier = "" })
				f.connect(t, hookRealm)
				body := []byte(hookVector)
				status, _ := f.post(t, hookPost{body: body, sig: qbotest.Sign("", body)})
				require.Equal(t, http.StatusUnauthorized, status)
				require.Empty(t, f.inbox(t))
			})
		})
	}
}

// gqlStatus posts an unauthenticated GraphQL query and returns the status.
func gqlStatus(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(`{"query":"{ __typename }"}`))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestQBOWebhookOutage: with the database gone the delivery is 503 UNAVAILABLE with
// Retry-After, so that Intuit delivers it again.
func TestQBOWebhookOutage(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := setupHook(t, d, nil)
			f.connect(t, hookRealm)
			require.NoError(t, f.db.Close())
			req, err := http.NewRequest(http.MethodPost, f.server.URL+"/webhooks/qbo", strings.NewReader(hookVector))
			require.NoError(t, err)
			req.Header.Set("intuit-signature", hookVectorSig)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var out map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			require.Equal(t, "UNAVAILABLE", errCode(out))
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
		})
	}
}

// TestQBOWebhookFromEmulator: the emulator's deliveries, in either format, reach the inbox
// through the real handler, and each change is stored once.
func TestQBOWebhookFromEmulator(t *testing.T) {
	t.Parallel()
	formats := map[string][]qbotest.WebhookOption{
		"cloudevents": nil,
		"legacy":      {qbotest.WebhookLegacy()},
	}
	for _, d := range dbtest.Dialects(t) {
		for name, opts := range formats {
			t.Run(d+"/"+name, func(t *testing.T) {
				t.Parallel()
				f := setupHook(t, d, nil)
				emu := qbotest.NewServer(t, qbotest.WithRealms(2), qbotest.WithoutLimits(),
					qbotest.WithWebhook(f.server.URL+"/webhooks/qbo", hookToken, opts...))
				realms := emu.RealmIDs()
				f.connect(t, realms[0])

				// A QuickBooks user creates a customer in each company, the second held by no
				// connection.
				for i, realm := range realms {
					tok := emu.IssueTokens(realm)
					req, err := http.NewRequest(http.MethodPost, emu.URL+"/v3/company/"+realm+"/customer?minorversion=75",
						strings.NewReader(fmt.Sprintf(`{"DisplayName":"Webhook Customer %d"}`, i)))
					require.NoError(t, err)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					req.Header.Set("Accept", "application/json")
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					resp.Body.Close()
					require.Equal(t, http.StatusOK, resp.StatusCode)
				}
				require.Eventually(t, func() bool { return emu.WebhookStats().Delivered == 2 }, 10*time.Second, 10*time.Millisecond)
				st := emu.WebhookStats()
				require.Equal(t, st.Delivered, st.Attempts, "every POST was acknowledged at once")

				rows := f.inbox(t)
				require.Len(t, rows, 2)
				source := qboinboxevent.SourceCloudevents
				if name == "legacy" {
					source = qboinboxevent.SourceLegacy
				}
				for _, r := range rows {
					require.Equal(t, "Customer", r.QboType)
					require.Equal(t, "Create", r.Operation)
					require.Equal(t, source, r.Source)
					require.NotNil(t, r.OccurredAt)
					require.NotEmpty(t, r.Payload)
					if r.RealmID == realms[0] {
						require.Equal(t, qboinboxevent.StatusPending, r.Status)
						require.Equal(t, f.row.ID, *r.ConnectionID)
					} else {
						require.Equal(t, realms[1], r.RealmID)
						require.Equal(t, qboinboxevent.StatusUnknownRealm, r.Status)
					}
				}
				require.Equal(t, 1, f.inboxJobs(t))
			})
		}
	}
}
