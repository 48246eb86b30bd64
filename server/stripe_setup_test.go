package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent"
	"books/ent/invoice"
	"books/ent/paymentattempt"
	"books/ent/stripeevent"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
	"books/internal/realtime"
	"books/internal/secrets"
	"books/internal/stripepay"
	"books/internal/stripepay/stripefake"
	"books/internal/tenant"
	"books/jobs"
	"books/server"
)

// ---------------------------------------------------------------------------------------
// Helpers of the Stripe tests, all prefixed st. Everything a person or a portal client does
// goes through GraphQL over HTTP, and Stripe's deliveries through POST
// /webhooks/stripe/{accountId}; the database is read directly only to see what Stripe-side
// ids Books stored.

// stFix is a real HTTP server with Stripe configured: a stripepay.Service whose API is the
// offline fake (stripefake), whose webhooks the fake delivers to this server, and a job
// runner working the Stripe jobs (the inbox, refunds, retries), over a fresh database with
// River's tables. Both organizations of setup are seeded; org A has the billing fixture.
// Everything the server, the service and the runner log goes to logs, and every body the
// st helpers receive to bodies, so a test can show no secret ever left.
type stFix struct {
	*testBundle
	fake   *stripefake.Server
	svc    *stripepay.Service
	runner *jobs.Runner
	logs   *lockedBuf
	bodies *lockedBuf
	f      biFix // org A's customers (acme, globex, brit) and items
}

// stSetup builds the fixture on dialectName.
func stSetup(t *testing.T, dialectName string) *stFix {
	t.Helper()
	db := dbtest.OpenJobs(t, dialectName)
	// The database's own client, as the server has in production: a mutation's transaction
	// must be an *sql.Tx, which the jobs it enqueues (a refund's) join; the statement
	// counter's wrapped driver has none.
	client := db.Client()
	s := &stFix{logs: &lockedBuf{}, bodies: &lockedBuf{}}
	// Stripe moves money: whatever a test did, both organizations' ledgers must end sealed,
	// balanced and equal to the documents behind their control accounts. Registered first,
	// it runs last, once the runner has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, org := range []testOrg{s.orgA, s.orgB} {
			integritytest.Check(t, db.Client(), org.ID)
		}
	})
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	broker := realtime.NewLocal()
	t.Cleanup(func() { _ = broker.Close() })
	queue := &adminq.Queue{Client: db.Client(), Broker: broker}
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)

	s.fake = stripefake.New(stripefake.Options{})
	apiURL, err := s.fake.Start()
	require.NoError(t, err)
	s.svc = &stripepay.Service{Box: box, APIURL: apiURL, Queue: &recon.Queue{Broker: broker}, Issues: queue,
		Client: db.Client(), Logger: log}
	if dialectName == dialect.Postgres {
		s.svc.Lease = push.PostgresLease(db.SQL)
	}
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &stripepay.InboxWorker{Service: s.svc})
	jobs.Register(kinds, &stripepay.RefundWorker{Service: s.svc})
	jobs.Register(kinds, &stripepay.RetryWorker{Service: s.svc})
	jobs.Register(kinds, &stripepay.BackstopAccountWorker{Service: s.svc})
	s.runner, err = jobs.New(db, jobs.Config{Kinds: kinds, Issues: queue, Logger: log,
		FetchPollInterval: 20 * time.Millisecond, StopGrace: time.Second})
	require.NoError(t, err)
	s.svc.Runner = s.runner
	queue.Enqueue = s.runner.Enqueue
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.runner.Start(ctx))
	t.Cleanup(func() {
		_ = s.runner.Stop(context.Background())
		cancel()
	})

	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	srv := server.New(server.Config{DB: db, Client: client, Auth: auth.NewService(tokens, client), Logger: log,
		Broker: broker, Queue: queue, Stripe: s.svc})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	// Last registered, first run: no delivery is in flight when the server closes.
	t.Cleanup(s.fake.Close)

	s.testBundle = &testBundle{db: db, client: client, server: hs, tokens: tokens}
	s.orgA = s.seedOrg(t, "Org A")
	s.orgB = s.seedOrg(t, "Org B")
	s.f = s.biFixture(t, s.orgA)
	return s
}

// stDo runs a GraphQL operation over HTTP and keeps its raw body in bodies.
func (s *stFix) stDo(t *testing.T, token, query string, vars map[string]any) (gqlResponse, []byte) {
	t.Helper()
	status, raw := s.gqRaw(t, token, query, vars)
	_, _ = s.bodies.Write(append(raw, '\n'))
	var r gqlResponse
	require.NoError(t, json.Unmarshal(raw, &r), "status %d, body %s", status, raw)
	r.status = status
	return r, raw
}

// stOK runs an operation that must succeed and decodes its data into v.
func (s *stFix) stOK(t *testing.T, token, query string, vars map[string]any, v any) []byte {
	t.Helper()
	r, raw := s.stDo(t, token, query, vars)
	require.Empty(t, r.Errors, "unexpected GraphQL errors: %s\nlog:\n%s", raw, s.stLogErrors())
	if v != nil {
		require.NoError(t, json.Unmarshal(r.Data, v))
	}
	return raw
}

// stRequireRefused requires r to have failed with code (and, when field is not empty,
// extensions.field) and to carry no data.
func stRequireRefused(t *testing.T, r gqlResponse, code, field string) {
	t.Helper()
	gqRequireCode(t, r, code)
	biRequireNoData(t, r)
	if field == "" {
		return
	}
	var fields []any
	for _, e := range r.Errors {
		fields = append(fields, e.Extensions["field"])
	}
	require.Contains(t, fields, field, "extensions.field of %+v", r.Errors)
}

// stSecret is a value that must never reach a response or a log.
func stSecret(prefix string) string { return prefix + rand.Text() }

// stAccount is a StripeAccount as the API returns it, with the secrets only the test knows.
type stAccount struct {
	ID                 string
	Name               string
	PublishableKey     string
	SecretKeyHint      string
	Livemode           bool
	WebhookSecretCount int
	IsDefault          bool
	WebhookPath        string
	EventsPolledAt     *string

	secretKey      string
	webhookSecrets []string
}

const stAccountFields = `id name publishableKey secretKeyHint livemode webhookSecretCount isDefault webhookPath eventsPolledAt`

const stCreateAccount = `mutation($in: CreateStripeAccountInput!) { r: createStripeAccount(input: $in) {
	stripeAccount { ` + stAccountFields + ` } } }`

const stUpdateAccount = `mutation($in: UpdateStripeAccountInput!) { r: updateStripeAccount(input: $in) {
	stripeAccount { ` + stAccountFields + ` } } }`

const stAccountsQuery = `{ stripeAccounts(orderBy: {field: NAME}) { totalCount edges { node { ` + stAccountFields + ` } } } }`

// stAccountInput is a CreateStripeAccountInput with fresh test keys and one signing secret.
func stAccountInput(name string) map[string]any {
	return map[string]any{"name": name, "publishableKey": stSecret("pk_test_"), "secretKey": stSecret("sk_test_"),
		"webhookSecrets": []string{stSecret("whsec_")}}
}

// stAddAccount creates a Stripe account of org through GraphQL (its admin), registers its
// keys in the fake and points the fake's webhooks for it at this server.
func (s *stFix) stAddAccount(t *testing.T, org testOrg, name string, isDefault bool) stAccount {
	t.Helper()
	in := stAccountInput(name)
	in["isDefault"] = isDefault
	var out struct {
		R struct{ StripeAccount stAccount }
	}
	s.stOK(t, org.Admin, stCreateAccount, map[string]any{"in": in}, &out)
	a := out.R.StripeAccount
	a.secretKey, a.webhookSecrets = in["secretKey"].(string), in["webhookSecrets"].([]string)
	s.fake.AddAccount(a.secretKey, a.PublishableKey)
	s.fake.SetWebhook(a.secretKey, s.server.URL+a.WebhookPath, a.webhookSecrets[0])
	return a
}

// stPortal mints a portal token for customer of org.
func (s *stFix) stPortal(t *testing.T, org testOrg, customer string) string {
	t.Helper()
	tok, err := s.tokens.Mint("portal-"+customer, org.ID, nil, customer, time.Hour)
	require.NoError(t, err)
	return tok
}

// stPayment is a CreateInvoicePaymentPayload.
type stPayment struct {
	PaymentAttempt struct{ ID, Status, Amount string }
	ClientSecret   string
	PublishableKey string
	Invoice        struct{ ID string }
}

const stPay = `mutation($in: CreateInvoicePaymentInput!) { r: createInvoicePayment(input: $in) {
	paymentAttempt { id status amount } clientSecret publishableKey invoice { id } } }`

func stPayVars(invoiceID, method string) map[string]any {
	return map[string]any{"in": map[string]any{"invoiceId": invoiceID, "method": method}}
}

// stCreatePayment starts paying an invoice; it must succeed.
func (s *stFix) stCreatePayment(t *testing.T, token, invoiceID, method string) stPayment {
	t.Helper()
	var out struct{ R stPayment }
	s.stOK(t, token, stPay, stPayVars(invoiceID, method), &out)
	require.Equal(t, invoiceID, out.R.Invoice.ID)
	return out.R
}

// stPortalInvoice is an Invoice as a portal client reads it.
type stPortalInvoice struct{ ID, Status, Total, AmountPaid, Balance string }

// stPortalInvoice reads an invoice through node as token (a portal client) may.
func (s *stFix) stPortalInvoice(t *testing.T, token, id string) stPortalInvoice {
	t.Helper()
	var out struct{ Node *stPortalInvoice }
	s.stOK(t, token, `query($id: ID!) { node(id: $id) { ... on Invoice { id status total amountPaid balance } } }`,
		map[string]any{"id": id}, &out)
	require.NotNil(t, out.Node, "invoice %s", id)
	return *out.Node
}

// stPaymentIntent is the PaymentIntent id Books stored on an attempt.
func (s *stFix) stPaymentIntent(t *testing.T, org testOrg, attemptID string) string {
	t.Helper()
	att, err := s.client.PaymentAttempt.Get(orgCtx(org), attemptID)
	require.NoError(t, err)
	require.NotNil(t, att.PaymentIntentID, "attempt %s has its PaymentIntent", attemptID)
	return *att.PaymentIntentID
}

// stAttemptCount counts org's payment attempts.
func (s *stFix) stAttemptCount(t *testing.T, org testOrg) int {
	t.Helper()
	n, err := s.client.PaymentAttempt.Query().Count(orgCtx(org))
	require.NoError(t, err)
	return n
}

// stConfirm confirms a PaymentIntent in the fake with a test card, as Stripe.js would, and
// waits until the fake has delivered what it caused.
func (s *stFix) stConfirm(t *testing.T, pi, method string) {
	t.Helper()
	require.NoError(t, s.fake.Confirm(pi, method))
	s.stFlush(t)
}

// stFlush waits until the fake has delivered every event so far.
func (s *stFix) stFlush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.fake.Flush(ctx))
}

// stPortalPay pays invoiceID in full by card as the portal client token: the PaymentIntent is
// created through GraphQL, confirmed in the fake, and the payment recorded by the job once
// the webhook arrives. It returns the attempt, and the payment's id.
func (s *stFix) stPortalPay(t *testing.T, org testOrg, token, invoiceID string) (stPayment, string) {
	t.Helper()
	p := s.stCreatePayment(t, token, invoiceID, "CARD")
	s.stConfirm(t, s.stPaymentIntent(t, org, p.PaymentAttempt.ID), "pm_card_visa")
	var paymentID string
	stEventually(t, "the payment is recorded and the invoice paid", func() bool {
		att, err := s.client.PaymentAttempt.Get(orgCtx(org), p.PaymentAttempt.ID)
		require.NoError(t, err)
		if att.Status != paymentattempt.StatusSucceeded || att.PaymentID == nil {
			return false
		}
		paymentID = *att.PaymentID
		inv, err := s.client.Invoice.Get(orgCtx(org), invoiceID)
		require.NoError(t, err)
		return inv.Status == invoice.StatusPaid
	})
	return p, paymentID
}

// stLogErrors is what was logged at level ERROR, to explain an INTERNAL error.
func (s *stFix) stLogErrors() string {
	var out []string
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// stEventually waits for cond, which the job runner makes true.
func stEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting: "+what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stEvent is a Stripe event of the pinned API version about obj, as a webhook carries it;
// edit, when set, changes the event before it is encoded.
func stEvent(t *testing.T, typ string, obj map[string]any, edit func(map[string]any)) []byte {
	t.Helper()
	ev := map[string]any{"id": "evt_" + rand.Text(), "object": "event", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "livemode": false, "type": typ, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "data": map[string]any{"object": obj}}
	if edit != nil {
		edit(ev)
	}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}

// stSign is the Stripe-Signature header of body signed with secret at at (zero: now).
func stSign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

// stDeliver posts body to the account's webhook endpoint with signature (no header when
// empty), without a bearer token, and returns the status and the decoded answer.
func (s *stFix) stDeliver(t *testing.T, accountID string, body []byte, signature string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.server.URL+stripepay.WebhookPath(accountID), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if signature != "" {
		req.Header.Set(stripepay.SignatureHeader, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_, _ = s.bodies.Write(append(raw, '\n'))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "answer %s", raw)
	return resp.StatusCode, out
}

// stGet reads path of the server.
func (s *stFix) stGet(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(s.server.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// stEventMetrics reads books_stripe_events_total by outcome.
func (s *stFix) stEventMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(s.stGet(t, "/metrics"), "\n") {
		rest, ok := strings.CutPrefix(line, `books_stripe_events_total{outcome="`)
		if !ok {
			continue
		}
		outcome, value, ok := strings.Cut(rest, `"} `)
		require.True(t, ok, line)
		v, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err)
		out[outcome] = v
	}
	require.Len(t, out, 3, "every outcome is exported, from zero")
	return out
}

// stInboxRow reads a stored event by Stripe's id; nil when it was not stored.
func (s *stFix) stInboxRow(t *testing.T, eventID string) *ent.StripeEvent {
	t.Helper()
	row, err := s.client.StripeEvent.Query().Where(stripeevent.EventID(eventID)).Only(tenant.System(context.Background()))
	if ent.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return row
}

// stInboxCount counts the stored events of every account.
func (s *stFix) stInboxCount(t *testing.T) int {
	t.Helper()
	n, err := s.client.StripeEvent.Query().Count(tenant.System(context.Background()))
	require.NoError(t, err)
	return n
}

// stRequireNoSecrets requires none of secrets in any body received and any line logged.
func (s *stFix) stRequireNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	bodies, logs := s.bodies.String(), s.logs.String()
	require.NotEmpty(t, bodies)
	for i, sec := range secrets {
		require.NotEmpty(t, sec)
		for _, where := range []struct{ name, text string }{{"a response body", bodies}, {"the log", logs}} {
			if at := strings.Index(where.text, sec); at >= 0 {
				from, to := max(0, at-300), min(len(where.text), at+len(sec)+100)
				require.Failf(t, where.name+" carries a secret", "secret %d (%s…) in: …%s…", i, sec[:8], where.text[from:to])
			}
		}
	}
}
