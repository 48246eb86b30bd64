package qbo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo"
	"books/internal/qbo/qbotest"
)

// bearer adds the access token, as the client of oauth2.NewClient does, and
// calls after (if set) once a response has been read in full.
type bearer struct {
	mu    sync.Mutex
	token string
	after func(*http.Request)
}

func (b *bearer) set(tok string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.token = tok
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	tok, after := b.token, b.after
	b.mu.Unlock()
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || after == nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	after(req)
	return resp, nil
}

type testBundle struct {
	srv    *qbotest.Server
	realm  string
	client *qbo.Client
	auth   *bearer
	token  string
	clock  *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T, opts ...qbotest.Option) *testBundle {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 6, 20, 20, 16, 17, 0, time.UTC)}
	srv := qbotest.NewServer(t, append([]qbotest.Option{qbotest.WithClock(clk.Now)}, opts...)...)
	realm := srv.RealmIDs()[0]
	tok := srv.IssueTokens(realm).AccessToken
	auth := &bearer{token: tok}
	c, err := qbo.New(qbo.Config{BaseURL: srv.URL, RealmID: realm, HTTPClient: &http.Client{Transport: auth}})
	require.NoError(t, err)
	return &testBundle{srv: srv, realm: realm, client: c, auth: auth, token: tok, clock: clk}
}

// control writes as a QuickBooks user would (not through the client).
func (b *testBundle) control(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(b.srv.URL+"/_control/realms/"+b.realm+"/"+path, "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)
	return decode(t, out)
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "%s", raw)
	return m
}

func createCustomer(t *testing.T, b *testBundle, name string) map[string]any {
	t.Helper()
	raw, err := b.client.Create(context.Background(), "Customer", map[string]any{"DisplayName": name}, "cust-"+name)
	require.NoError(t, err)
	return decode(t, raw)
}

func invoiceBody(customerID string) map[string]any {
	return map[string]any{
		"CustomerRef": map[string]any{"value": customerID},
		"Line": []any{map[string]any{
			"Amount": json.Number("150.10"), "DetailType": "SalesItemLineDetail",
			"SalesItemLineDetail": map[string]any{"ItemRef": map[string]any{"value": "1"}, "Qty": 2, "UnitPrice": json.Number("75.05")},
		}},
	}
}

func requireFault(t *testing.T, err error) *qbo.Fault {
	t.Helper()
	var f *qbo.Fault
	require.ErrorAs(t, err, &f)
	return f
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	hc := &http.Client{}
	for name, cfg := range map[string]qbo.Config{
		"no http client": {BaseURL: qbo.SandboxBaseURL, RealmID: "1"},
		"no realm":       {BaseURL: qbo.SandboxBaseURL, HTTPClient: hc},
		"realm with /":   {BaseURL: qbo.SandboxBaseURL, RealmID: "1/2", HTTPClient: hc},
		"not a URL":      {BaseURL: "quickbooks", RealmID: "1", HTTPClient: hc},
	} {
		_, err := qbo.New(cfg)
		require.Error(t, err, name)
	}
}

func TestCreateReadSparseUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	cust := createCustomer(t, b, "Acme Corp")
	id := cust["Id"].(string)
	require.Equal(t, "0", cust["SyncToken"])

	raw, err := b.client.Create(ctx, "Invoice", invoiceBody(id), "inv-1")
	require.NoError(t, err)
	inv := decode(t, raw)
	require.Equal(t, json.Number("150.1"), inv["TotalAmt"], "money stays a JSON number, never a float64")

	raw, err = b.client.Read(ctx, "Customer", id)
	require.NoError(t, err)
	require.Equal(t, "Acme Corp", decode(t, raw)["DisplayName"])

	// Sparse: only the field sent changes; "sparse" is added by the client.
	raw, err = b.client.SparseUpdate(ctx, "Customer", map[string]any{"Id": id, "SyncToken": "0", "CompanyName": "Acme"}, "cust-up-1")
	require.NoError(t, err)
	up := decode(t, raw)
	require.Equal(t, "1", up["SyncToken"])
	require.Equal(t, "Acme", up["CompanyName"])
	require.Equal(t, "Acme Corp", up["DisplayName"], "a sparse update keeps the fields not sent")

	// The old SyncToken again (new requestid) is a stale object.
	_, err = b.client.SparseUpdate(ctx, "Customer", map[string]any{"Id": id, "SyncToken": "0", "CompanyName": "X"}, "cust-up-2")
	require.True(t, qbo.IsStaleObject(err), "%v", err)
	require.False(t, qbo.Retryable(err))

	_, err = b.client.Read(ctx, "Customer", "999999")
	require.True(t, qbo.IsNotFound(err), "%v", err)
	require.Equal(t, http.StatusBadRequest, requireFault(t, err).Status)

	raw, err = b.client.CompanyInfo(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, decode(t, raw)["CompanyName"])

	raw, err = b.client.Void(ctx, "Invoice", inv["Id"].(string), inv["SyncToken"].(string), "inv-void")
	require.NoError(t, err)
	voided := decode(t, raw)
	require.Equal(t, json.Number("0"), voided["TotalAmt"])
	raw, err = b.client.Delete(ctx, "Invoice", inv["Id"].(string), voided["SyncToken"].(string), "inv-del")
	require.NoError(t, err)
	require.Equal(t, "Deleted", decode(t, raw)["status"])
	_, err = b.client.Read(ctx, "Invoice", inv["Id"].(string))
	require.True(t, qbo.IsNotFound(err), "%v", err)
}

func TestVoidPayment(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cust := createCustomer(t, b, "Payer")
	raw, err := b.client.Create(ctx, "Payment", map[string]any{"CustomerRef": map[string]any{"value": cust["Id"]}, "TotalAmt": json.Number("25.50")}, "pay-1")
	require.NoError(t, err)
	pay := decode(t, raw)
	require.Equal(t, json.Number("25.5"), pay["TotalAmt"])
	raw, err = b.client.Void(ctx, "Payment", pay["Id"].(string), pay["SyncToken"].(string), "pay-void")
	require.NoError(t, err)
	require.Equal(t, json.Number("0"), decode(t, raw)["TotalAmt"])
}

// Every request asks for JSON at minor version 75; writes carry their
// requestid and a JSON Content-Type.
func TestRequestShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	var seen []*http.Request
	b.auth.after = func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r)
	}
	ctx := context.Background()
	createCustomer(t, b, "Shape")
	_, err := b.client.Query(ctx, "SELECT * FROM Customer")
	require.NoError(t, err)
	_, err = b.client.CDC(ctx, []string{"Customer"}, b.clock.Now().Add(-time.Hour))
	require.NoError(t, err)

	require.Len(t, seen, 3)
	for _, r := range seen {
		require.Equal(t, "application/json", r.Header.Get("Accept"))
		require.Equal(t, "75", r.URL.Query().Get("minorversion"))
		require.True(t, strings.HasPrefix(r.URL.Path, "/v3/company/"+b.realm+"/"), r.URL.Path)
	}
	require.Equal(t, "/v3/company/"+b.realm+"/customer", seen[0].URL.Path)
	require.Equal(t, "application/json", seen[0].Header.Get("Content-Type"))
	require.Equal(t, "cust-Shape", seen[0].URL.Query().Get("requestid"))
	require.Empty(t, seen[1].Header.Get("Content-Type"), "no body, no Content-Type")
}

func TestClientRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var calls int
	b.auth.after = func(*http.Request) { calls++ }

	_, err := b.client.Create(ctx, "Customer", map[string]any{"DisplayName": "A"}, "")
	require.ErrorContains(t, err, "requestid")
	_, err = b.client.Create(ctx, "customer", map[string]any{"DisplayName": "A"}, "r1")
	require.ErrorContains(t, err, "canonical")
	_, err = b.client.Create(ctx, "Customer", []int{1}, "r1")
	require.ErrorContains(t, err, "JSON object")
	_, err = b.client.SparseUpdate(ctx, "Customer", map[string]any{"Id": "1"}, "r1")
	require.ErrorContains(t, err, "SyncToken")
	items := make([]qbo.BatchItem, 31)
	_, err = b.client.Batch(ctx, items, "b1")
	require.ErrorContains(t, err, "31 items")
	_, err = b.client.Batch(ctx, []qbo.BatchItem{{BID: "1", Query: "SELECT * FROM Customer"}, {BID: "1", Query: "SELECT * FROM Item"}}, "")
	require.ErrorContains(t, err, "twice")
	_, err = b.client.Batch(ctx, []qbo.BatchItem{{BID: "1", Entity: "Customer", Operation: "create", Body: map[string]any{}}}, "")
	require.ErrorContains(t, err, "requestid")
	require.Zero(t, calls, "nothing reached QuickBooks")
}

func TestDuplicateNameFault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	createCustomer(t, b, "Acme Corp")

	_, err := b.client.Create(context.Background(), "Customer", map[string]any{"DisplayName": "Acme Corp"}, "dup-1")
	f := requireFault(t, err)
	require.Equal(t, http.StatusBadRequest, f.Status)
	require.Equal(t, "ValidationFault", f.Type)
	require.Equal(t, "6240", f.Code)
	require.NotEmpty(t, f.Message)
	require.True(t, qbo.IsDuplicateName(err))
	require.False(t, qbo.IsThrottled(err) || qbo.IsAuth(err) || qbo.IsStaleObject(err) || qbo.IsNotFound(err))
	require.False(t, qbo.Retryable(err))
}

func TestAuthFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(b *testBundle)
	}{
		{"expired", func(b *testBundle) { b.clock.Advance(qbotest.AccessTokenLifetime + time.Minute) }},
		{"revoked", func(b *testBundle) { b.srv.RevokeGrants(b.realm) }},
		{"unknown", func(b *testBundle) { b.auth.set("not-a-token-we-issued") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			_, err := b.client.CompanyInfo(context.Background())
			require.NoError(t, err)
			tt.break_(b)

			_, err = b.client.Read(context.Background(), "Customer", "1")
			f := requireFault(t, err)
			require.Equal(t, http.StatusUnauthorized, f.Status)
			require.Equal(t, "3200", f.Code, "decoded from the gateway's lowercase body")
			require.True(t, qbo.IsAuth(err))
			require.False(t, qbo.Retryable(err))
			require.NotContains(t, err.Error(), b.token[:8], "no part of the token in the error")
		})
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		xml    bool
	}{
		{"429", http.StatusTooManyRequests, true},
		{"403 older accounts", http.StatusForbidden, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			require.NoError(t, b.srv.SetThrottleStatus(b.realm, tt.status))
			require.NoError(t, b.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultThrottle, Count: 1}))

			_, err := b.client.Read(context.Background(), "Customer", "1")
			f := requireFault(t, err)
			require.Equal(t, tt.status, f.Status)
			require.Equal(t, "3001", f.Code, "decoded from the XML body a JSON client gets")
			require.Equal(t, "SERVICE", f.Type)
			require.True(t, qbo.IsThrottled(err))
			require.False(t, qbo.IsAuth(err), "a 403 throttle is not an authorization failure")
			require.True(t, qbo.Retryable(err))
			require.Zero(t, qbo.RetryAfter(err), "the emulator sends no Retry-After")
		})
	}

	// The emulator's own limiter, not an injected fault.
	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		b := setup(t, qbotest.WithLimits(qbotest.Limits{PerMinute: 1}))
		_, err := b.client.CompanyInfo(context.Background())
		require.NoError(t, err)
		_, err = b.client.CompanyInfo(context.Background())
		require.True(t, qbo.IsThrottled(err), "%v", err)
	})
}

func TestServerErrorsAndResets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  qbotest.FaultKind
		fault bool
	}{
		{qbotest.FaultServerError, true},
		{qbotest.FaultUnavailable, true},
		{qbotest.FaultReset, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			require.NoError(t, b.srv.InjectFault(qbotest.Fault{Kind: tt.kind, Count: 1}))
			_, err := b.client.Query(context.Background(), "SELECT * FROM Customer")
			require.Error(t, err)
			require.True(t, qbo.Retryable(err), "%v", err)
			var f *qbo.Fault
			require.Equal(t, tt.fault, errors.As(err, &f), "%v", err)
			if tt.fault {
				require.Equal(t, "SystemFault", f.Type)
				require.GreaterOrEqual(t, f.Status, 500)
			} else {
				var re *qbo.RequestError
				require.ErrorAs(t, err, &re)
			}
			_, err = b.client.Query(context.Background(), "SELECT * FROM Customer")
			require.NoError(t, err, "the fault fired once")
		})
	}

	t.Run("cancelled is not retryable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := b.client.CompanyInfo(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, qbo.Retryable(err))
	})
}

// A create whose answer is lost has committed; the retry with the same
// requestid gets the same object and makes no second one.
func TestTimeoutAfterCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		latencyMS int // 0: the server holds the connection until the client gives up
	}{
		{"server closes", 1},
		{"client deadline", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: tt.latencyMS}))
			body := map[string]any{"DisplayName": "Lost Answer"}

			ctx := context.Background()
			if tt.latencyMS == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			_, err := b.client.Create(ctx, "Customer", body, "lost-1")
			var re *qbo.RequestError
			require.ErrorAs(t, err, &re)
			require.True(t, qbo.Retryable(err), "%v", err)

			raw, err := b.client.Create(context.Background(), "Customer", body, "lost-1")
			require.NoError(t, err)
			id := decode(t, raw)["Id"]

			rows, err := b.client.QueryAll(context.Background(), "Customer", "DisplayName = "+qbo.Quote("Lost Answer"))
			require.NoError(t, err)
			require.Len(t, rows, 1, "no duplicate")
			require.Equal(t, id, decode(t, rows[0])["Id"])
		})
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	createCustomer(t, b, "O'Brien & Sons")
	createCustomer(t, b, "Other")

	res, err := b.client.Query(ctx, "SELECT * FROM Customer WHERE DisplayName = "+qbo.Quote("O'Brien & Sons"))
	require.NoError(t, err)
	require.Equal(t, "Customer", res.Entity)
	require.Len(t, res.Rows, 1)
	require.Equal(t, 1, res.StartPosition)
	require.Equal(t, 1, res.MaxResults)

	res, err = b.client.Query(ctx, "SELECT * FROM Customer WHERE DisplayName = 'nobody'")
	require.NoError(t, err)
	require.Empty(t, res.Rows)
	require.Empty(t, res.Entity)

	_, err = b.client.Query(ctx, "SELECT * FROM Customer WHERE NoSuchField = 'x'")
	require.Equal(t, "4001", requireFault(t, err).Code)
}

// QueryAll pages in Id order, so records updated between pages (which move
// to the front of QuickBooks' default order) are neither skipped nor
// repeated; the same updates make naive paging go wrong.
func TestQueryAllStableWhileUpdated(t *testing.T) {
	t.Parallel()
	b := setup(t, qbotest.WithoutLimits())
	ctx := context.Background()
	const n = 25
	items := make([]qbo.BatchItem, n)
	for i := range items {
		items[i] = qbo.BatchItem{BID: fmt.Sprint(i), Entity: "Customer", Operation: "create", Body: map[string]any{"DisplayName": fmt.Sprintf("C%02d", i)}}
	}
	res, err := b.client.Batch(ctx, items, "seed")
	require.NoError(t, err)
	var ids []string
	for _, r := range res {
		require.Nil(t, r.Fault)
		ids = append(ids, decode(t, r.Object)["Id"].(string))
	}

	// After each query page, a QuickBooks user edits the oldest customer not
	// yet edited: the last in QuickBooks' default order, not yet paged over.
	var mu sync.Mutex
	next := 0
	b.auth.after = func(req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, "/query") {
			return
		}
		mu.Lock()
		id := ids[next]
		next++
		mu.Unlock()
		cur, ok := b.srv.Realm(b.realm).Get("Customer", id)
		require.True(t, ok)
		b.control(t, "customer", map[string]any{"Id": id, "SyncToken": cur["SyncToken"], "sparse": true, "CompanyName": "edited"})
		b.clock.Advance(time.Second)
	}
	b.client.SetPageSize(10)

	rows, err := b.client.QueryAll(ctx, "Customer", "")
	require.NoError(t, err)
	var got []string
	for _, r := range rows {
		got = append(got, decode(t, r)["Id"].(string))
	}
	require.Equal(t, ids, got, "every customer once, in Id order")

	// Control: paging in the default order over the same kind of edits
	// does not see every customer exactly once.
	seen := map[string]int{}
	for start := 1; ; start += 10 {
		page, err := b.client.Query(ctx, fmt.Sprintf("SELECT * FROM Customer STARTPOSITION %d MAXRESULTS 10", start))
		require.NoError(t, err)
		for _, r := range page.Rows {
			seen[decode(t, r)["Id"].(string)]++
		}
		if len(page.Rows) < 10 {
			break
		}
	}
	exact := len(seen) == n
	for _, c := range seen {
		exact = exact && c == 1
	}
	require.False(t, exact, "the edits must disturb naive paging, or this test proves nothing: %v", seen)
}

func TestBatchOfThirtyWithOneFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	createCustomer(t, b, "Taken")

	items := make([]qbo.BatchItem, qbo.MaxBatchItems)
	for i := range items {
		name := fmt.Sprintf("Batch %02d", i)
		if i == 17 {
			name = "Taken"
		}
		items[i] = qbo.BatchItem{BID: fmt.Sprintf("b%d", i), Entity: "Customer", Operation: "create", Body: map[string]any{"DisplayName": name}}
	}
	res, err := b.client.Batch(ctx, items, "batch-1")
	require.NoError(t, err)
	require.Len(t, res, qbo.MaxBatchItems)
	for i, r := range res {
		require.Equal(t, items[i].BID, r.BID)
		if i == 17 {
			require.Nil(t, r.Object)
			require.NotNil(t, r.Fault)
			require.True(t, qbo.IsDuplicateName(r.Fault))
			require.Zero(t, r.Fault.Status)
			continue
		}
		require.Nil(t, r.Fault, "%v", r.Fault)
		require.Equal(t, "Customer", r.Entity)
		require.Equal(t, fmt.Sprintf("Batch %02d", i), decode(t, r.Object)["DisplayName"])
	}

	// The same requestid replays the answer: still 29 + 1 customers.
	again, err := b.client.Batch(ctx, items, "batch-1")
	require.NoError(t, err)
	require.Equal(t, decode(t, res[0].Object)["Id"], decode(t, again[0].Object)["Id"])
	require.Len(t, b.srv.Realm(b.realm).List("Customer"), qbo.MaxBatchItems)

	// Query items answer a page.
	res, err = b.client.Batch(ctx, []qbo.BatchItem{{BID: "q", Query: "SELECT * FROM Customer WHERE DisplayName = 'Taken'"}}, "")
	require.NoError(t, err)
	require.NotNil(t, res[0].Query)
	require.Len(t, res[0].Query.Rows, 1)
}

func TestCDC(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	start := b.clock.Now().Add(-time.Minute)

	// Nothing changed yet: every requested entity is there, empty.
	res, err := b.client.CDC(ctx, []string{"Customer", "Invoice", "Vendor"}, start)
	require.NoError(t, err)
	require.Equal(t, map[string][]qbo.Changed{"Customer": {}, "Invoice": {}, "Vendor": {}}, res.Changes)
	require.Zero(t, res.Total)

	cust := createCustomer(t, b, "CDC Customer")
	raw, err := b.client.Create(ctx, "Invoice", invoiceBody(cust["Id"].(string)), "cdc-inv")
	require.NoError(t, err)
	inv := decode(t, raw)
	b.control(t, "invoice?operation=delete", map[string]any{"Id": inv["Id"], "SyncToken": inv["SyncToken"]})

	res, err = b.client.CDC(ctx, []string{"Vendor", "Customer", "Invoice", "Customer"}, start)
	require.NoError(t, err)
	require.Len(t, res.Changes, 3)
	require.Empty(t, res.Changes["Vendor"], "unchanged entity")
	require.Len(t, res.Changes["Customer"], 1)
	require.Equal(t, cust["Id"], res.Changes["Customer"][0].ID)
	require.False(t, res.Changes["Customer"][0].Deleted)
	require.Len(t, res.Changes["Invoice"], 1)
	require.Equal(t, inv["Id"], res.Changes["Invoice"][0].ID)
	require.True(t, res.Changes["Invoice"][0].Deleted)
	require.Equal(t, 2, res.Total)
}
