package connect_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/auditevent"
	"books/ent/qboauthstate"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/qbo/conn"
	"books/internal/qbo/connect"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
)

const (
	redirectURL = "https://books.example/oauth/qbo/callback"
	afterURL    = "https://app.example/settings/quickbooks?tab=qbo"
)

var stateKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// noRedirect reads a redirect instead of following it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// syncBuffer is a log sink shared by the flow's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// recorder sits between the flow and the emulator: it remembers every token and code the
// emulator hands out (so a test can look for them where they must not be), counts token and
// revoke requests, and can fail CompanyInfo or the revoke.
type recorder struct {
	mu              sync.Mutex
	secrets         []string
	tokenCalls      int
	revokes         []revokeCall
	failCompanyInfo bool
	failRevoke      bool
}

type revokeCall struct {
	contentType string
	basic       bool
	token       string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	failInfo, failRevoke := r.failCompanyInfo, r.failRevoke
	r.mu.Unlock()
	switch {
	case failInfo && strings.Contains(req.URL.Path, "/companyinfo/"):
		return fakeResponse(req, http.StatusServiceUnavailable, `{"fault":{"error":[{"code":"503"}]}}`), nil
	case strings.HasSuffix(req.URL.Path, "/v2/oauth2/tokens/revoke"):
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var in struct{ Token string }
		_ = json.Unmarshal(body, &in)
		_, _, basic := req.BasicAuth()
		r.mu.Lock()
		r.revokes = append(r.revokes, revokeCall{contentType: req.Header.Get("Content-Type"), basic: basic, token: in.Token})
		r.mu.Unlock()
		if failRevoke {
			return fakeResponse(req, http.StatusServiceUnavailable, `{"error":"server_error"}`), nil
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/oauth2/v1/tokens/bearer") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var tr qbotest.TokenResponse
	_ = json.Unmarshal(body, &tr)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokenCalls++
	for _, s := range []string{tr.AccessToken, tr.RefreshToken} {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	return resp, nil
}

func fakeResponse(req *http.Request, status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		Request: req, ProtoMajor: 1, ProtoMinor: 1}
}

func (r *recorder) remember(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, s)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

func (r *recorder) tokenRequests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokenCalls
}

func (r *recorder) revokeCalls() []revokeCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]revokeCall(nil), r.revokes...)
}

type testBundle struct {
	db    *database.DB
	c     *ent.Client
	qbo   *qbotest.Server
	rec   *recorder
	logs  *syncBuffer
	flow  *connect.Flow
	ctx   context.Context // organization A
	ctxB  context.Context // organization B
	orgA  string
	us    string // entities of A
	uk    string
	other string // entity of B
}

func setup(t *testing.T, d string) *testBundle {
	t.Helper()
	db := dbtest.Open(t, d)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	srv := qbotest.NewServer(t, qbotest.WithRealms(3))
	rec := &recorder{}
	app := conn.EmulatorApp(srv.URL, srv.ClientID(), srv.ClientSecret(), redirectURL)
	app.HTTPClient = &http.Client{Transport: rec, Timeout: 20 * time.Second}
	logs := &syncBuffer{}
	b := &testBundle{db: db, c: db.Client(), qbo: srv, rec: rec, logs: logs}
	b.flow = &connect.Flow{
		Store:    conn.NewStore(box),
		App:      app,
		StateKey: stateKey,
		AfterURL: afterURL,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	sys := tenant.System(context.Background())
	entity := func(ctx context.Context, code, name string) string {
		e, err := b.c.LegalEntity.Create().SetCode(code).SetName(name).SetBaseCurrency("USD").Save(ctx)
		require.NoError(t, err)
		return e.ID
	}
	for _, ctx := range []*context.Context{&b.ctx, &b.ctxB} {
		org, err := b.c.Organization.Create().SetName("Org").Save(sys)
		require.NoError(t, err)
		*ctx = tenant.WithOrg(context.Background(), org.ID)
		if b.orgA == "" {
			b.orgA = org.ID
		}
	}
	b.us = entity(b.ctx, "US", "Northwind Services LLC")
	b.uk = entity(b.ctx, "UK", "Northwind Services Ltd")
	b.other = entity(b.ctxB, "US", "Other Org Inc")
	return b
}

func eachDialect(t *testing.T, test func(t *testing.T, b *testBundle)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, d))
		})
	}
}

func (b *testBundle) realm(i int) string { return b.qbo.RealmIDs()[i] }

// begin returns the authorize URL for entity.
func (b *testBundle) begin(t *testing.T, ctx context.Context, entity string) string {
	t.Helper()
	u, _, err := b.flow.Begin(ctx, b.c, entity, "user:alice")
	require.NoError(t, err)
	return u
}

// authorize opens the authorize URL at the emulator, which approves at once, and returns the
// query Intuit redirects to the callback with. A realm other than "" picks the company.
func (b *testBundle) authorize(t *testing.T, authorizeURL, realm string) url.Values {
	t.Helper()
	u, err := url.Parse(authorizeURL)
	require.NoError(t, err)
	if realm != "" {
		q := u.Query()
		q.Set("realmId", realm)
		u.RawQuery = q.Encode()
	}
	resp, err := noRedirect.Get(u.String())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, redirectURL, loc.Scheme+"://"+loc.Host+loc.Path)
	if code := loc.Query().Get("code"); code != "" {
		b.rec.remember(code)
	}
	return loc.Query()
}

// callback sends the browser's request to the callback handler.
func (b *testBundle) callback(t *testing.T, q url.Values) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	b.flow.Handler(b.c).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oauth/qbo/callback?"+q.Encode(), nil))
	b.requireNoSecrets(t, w)
	return w
}

// result is the query of the SPA URL the callback redirected to.
func result(t *testing.T, w *httptest.ResponseRecorder) url.Values {
	t.Helper()
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "https://app.example/settings/quickbooks", loc.Scheme+"://"+loc.Host+loc.Path)
	require.Equal(t, "qbo", loc.Query().Get("tab"), "the SPA URL's own query is kept")
	return loc.Query()
}

func requireRefused(t *testing.T, got url.Values, code string) {
	t.Helper()
	require.Equal(t, "error", got.Get("qbo"), "%v", got)
	require.Equal(t, code, got.Get("code"), "%v", got)
	require.NotEmpty(t, got.Get("message"))
}

// connect runs the whole flow for entity and realm and returns the SPA URL's query.
func (b *testBundle) connect(t *testing.T, ctx context.Context, entity, realm string) url.Values {
	t.Helper()
	return result(t, b.callback(t, b.authorize(t, b.begin(t, ctx, entity), realm)))
}

// requireNoSecrets checks that no token or authorization code the emulator handed out is
// in the response or the logs.
func (b *testBundle) requireNoSecrets(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	var hdr bytes.Buffer
	require.NoError(t, w.Header().Write(&hdr))
	for _, s := range b.rec.all() {
		require.NotContains(t, hdr.String(), s, "a token or code in the response headers")
		require.NotContains(t, w.Body.String(), s, "a token or code in the response body")
		require.NotContains(t, b.logs.String(), s, "a token or code in the logs")
	}
}

func (b *testBundle) connections(t *testing.T) []*ent.QBOConnection {
	t.Helper()
	rows, err := b.c.QBOConnection.Query().Order(ent.Asc(qboconnection.FieldCreatedAt)).All(tenant.System(context.Background()))
	require.NoError(t, err)
	return rows
}

// apiStatus is the status the emulator's API answers CompanyInfo with for access.
func (b *testBundle) apiStatus(t *testing.T, realm, access string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.qbo.URL+"/v3/company/"+realm+"/companyinfo/"+realm, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// sign makes a state as Begin does, for tests that need a correctly signed state naming
// something else.
func sign(key []byte, id, org, entity string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "|" + org + "|" + entity + "|" + exp))
	return id + "." + org + "." + entity + "." + exp + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func rebind(d, query string) string {
	if d != dialect.Postgres {
		return query
	}
	var out strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			out.WriteString("$" + strconv.Itoa(n))
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, apperr.Code(err), "%v", err)
}

func TestBegin(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		before := time.Now()
		raw, expires, err := b.flow.Begin(b.ctx, b.c, b.us, "user:alice")
		require.NoError(t, err)
		require.WithinDuration(t, before.Add(connect.DefaultStateTTL), expires, 5*time.Second)

		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Equal(t, b.qbo.URL+"/connect/oauth2", u.Scheme+"://"+u.Host+u.Path)
		q := u.Query()
		require.Equal(t, b.qbo.ClientID(), q.Get("client_id"))
		require.Equal(t, "code", q.Get("response_type"))
		require.Equal(t, redirectURL, q.Get("redirect_uri"))
		require.Equal(t, conn.AccountingScope, q.Get("scope"))
		require.NotContains(t, raw, b.qbo.ClientSecret())
		parts := strings.Split(q.Get("state"), ".")
		require.Len(t, parts, 5)
		require.Equal(t, []string{b.orgA, b.us}, parts[1:3])

		row, err := b.c.QBOAuthState.Get(b.ctx, parts[0])
		require.NoError(t, err)
		require.Equal(t, b.us, row.EntityID)
		require.Equal(t, "user:alice", row.Principal)
		require.Nil(t, row.UsedAt)
		require.True(t, expires.Equal(row.ExpiresAt))

		for _, tt := range []struct {
			name   string
			ctx    context.Context
			entity string
			code   string
		}{
			{"UnknownEntity", b.ctx, "le_nope", apperr.NotFound},
			{"EntityOfAnotherOrganization", b.ctx, b.other, apperr.NotFound},
			{"NoEntity", b.ctx, "", apperr.Validation},
		} {
			_, _, err := b.flow.Begin(tt.ctx, b.c, tt.entity, "user:alice")
			requireCode(t, err, tt.code)
		}
		_, _, err = b.flow.Begin(context.Background(), b.c, b.us, "user:alice")
		require.ErrorIs(t, err, tenant.ErrMissing)
		_, _, err = b.flow.Begin(tenant.System(context.Background()), b.c, b.us, "user:alice")
		require.ErrorIs(t, err, tenant.ErrMissing)
		n, err := b.c.QBOAuthState.Query().Count(tenant.System(b.ctx))
		require.NoError(t, err)
		require.Equal(t, 1, n, "a refused begin stores no state")
	})
}

func TestConnect(t *testing.T) {
	t.Parallel()

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			q := b.authorize(t, b.begin(t, b.ctx, b.us), b.realm(1))
			require.Equal(t, b.realm(1), q.Get("realmId"))
			w := b.callback(t, q)
			require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			require.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
			got := result(t, w)
			require.Equal(t, "connected", got.Get("qbo"))
			require.Equal(t, b.us, got.Get("entityId"))
			require.Empty(t, got.Get("code"))

			row, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
			require.NoError(t, err)
			require.Equal(t, b.realm(1), row.RealmID)
			require.Equal(t, b.qbo.URL, row.BaseURL)
			require.Equal(t, qboconnection.StatusConnected, row.Status)
			require.Equal(t, "Sandbox Company_US_2", row.CompanyName)

			// The tokens the emulator issued are stored, sealed.
			secretsSeen := b.rec.all()
			require.Len(t, secretsSeen, 3, "the code and one token pair")
			tok, _, err := b.flow.Store.Tokens(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.Equal(t, secretsSeen[1:], []string{tok.Access, tok.Refresh})
			require.WithinDuration(t, time.Now().Add(qbotest.AccessTokenLifetime), tok.AccessExpiresAt, time.Minute)
			require.WithinDuration(t, time.Now().Add(qbotest.RefreshTokenLifetime), tok.RefreshExpiresAt, time.Minute)
			require.Equal(t, http.StatusOK, b.apiStatus(t, row.RealmID, tok.Access))
			var access, refresh string
			require.NoError(t, b.db.SQL.QueryRow(rebind(b.db.Dialect,
				`SELECT access_token_sealed, refresh_token_sealed FROM qbo_connections WHERE id = ?`), row.ID).
				Scan(&access, &refresh))
			for _, col := range []string{access, refresh} {
				require.True(t, strings.HasPrefix(col, "v1:test:"), col)
				for _, s := range secretsSeen {
					require.NotContains(t, col, s, "no token is stored in clear")
				}
			}

			states, err := b.c.QBOAuthState.Query().All(b.ctx)
			require.NoError(t, err)
			require.Len(t, states, 1)
			require.NotNil(t, states[0].UsedAt, "the state is used up")

			events, err := b.c.AuditEvent.Query().Where(auditevent.Action(connect.AuditAction)).All(b.ctx)
			require.NoError(t, err)
			require.Len(t, events, 1)
			require.Equal(t, row.ID, events[0].SubjectID)
			for _, want := range []string{b.us, b.realm(1), "user:alice", "Sandbox Company_US_2"} {
				require.Contains(t, events[0].Detail, want)
			}
			for _, s := range secretsSeen {
				require.NotContains(t, events[0].Detail, s)
			}
		})
	})

	t.Run("CompanyInfoFails", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			b.rec.failCompanyInfo = true
			got := b.connect(t, b.ctx, b.us, "")
			require.Equal(t, "connected", got.Get("qbo"), "the company name is best effort")
			row, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
			require.NoError(t, err)
			require.Equal(t, b.realm(0), row.RealmID)
			require.Empty(t, row.CompanyName)
		})
	})

	t.Run("WithoutAfterURL", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			b.flow.AfterURL = ""
			w := b.callback(t, b.authorize(t, b.begin(t, b.ctx, b.us), ""))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var ok map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ok))
			require.Equal(t, "connected", ok["qbo"])
			require.Equal(t, b.us, ok["entityId"])

			w = b.callback(t, url.Values{"state": {"forged"}, "code": {"x"}, "realmId": {b.realm(1)}})
			require.Equal(t, http.StatusBadRequest, w.Code)
			var refused struct {
				Error struct{ Code, Message string }
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &refused))
			require.Equal(t, apperr.QBOStateInvalid, refused.Error.Code)
		})
	})

	// OnConnected runs in the callback's transaction: its failure stores nothing.
	t.Run("OnConnected", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			var seen []string
			fail := true
			b.flow.OnConnected = func(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
				org, _ := tenant.Org(ctx)
				require.Equal(t, b.orgA, org, "the hook runs in the state's organization")
				_, err := c.QBOConnection.Get(ctx, row.ID)
				require.NoError(t, err, "the hook sees the row in the transaction")
				seen = append(seen, row.ID)
				if fail {
					return apperr.New(apperr.Conflict, "the push engine says no")
				}
				return nil
			}
			got := b.connect(t, b.ctx, b.us, "")
			requireRefused(t, got, apperr.Conflict)
			require.Len(t, seen, 1)
			require.Empty(t, b.connections(t), "nothing stored when the hook fails")

			fail = false
			got = b.connect(t, b.ctx, b.us, "")
			require.Equal(t, "connected", got.Get("qbo"))
			require.Len(t, seen, 2)
			rows := b.connections(t)
			require.Len(t, rows, 1)
			require.Equal(t, seen[1], rows[0].ID)
		})
	})
}

func TestCallbackRefusesState(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		// A state of organization B, for the test that pairs its row with A's organization.
		bq := b.authorize(t, b.begin(t, b.ctxB, b.other), b.realm(2))
		bRow := strings.Split(bq.Get("state"), ".")[0]

		q := b.authorize(t, b.begin(t, b.ctx, b.us), b.realm(1))
		good := q.Get("state")
		parts := strings.Split(good, ".")
		stateID := parts[0]
		later := time.Now().Add(time.Hour)

		with := func(state string) url.Values {
			v := url.Values{}
			for k, vs := range q {
				v[k] = vs
			}
			v.Set("state", state)
			return v
		}
		swap := func(i int, s string) string {
			p := append([]string(nil), parts...)
			p[i] = s
			return strings.Join(p, ".")
		}
		mac := []byte(parts[4])
		mac[3] ^= 1
		for _, tt := range []struct {
			name  string
			query url.Values
			now   time.Time // zero: the real clock
		}{
			{"NoState", with(""), time.Time{}},
			{"Garbage", with("not-a-state"), time.Time{}},
			{"RowIDOnly", with(stateID), time.Time{}},
			{"AlteredMAC", with(swap(4, string(mac))), time.Time{}},
			{"AlteredEntity", with(swap(2, b.uk)), time.Time{}},
			{"AlteredExpiry", with(swap(3, strconv.FormatInt(later.Unix(), 10))), time.Time{}},
			{"OtherKey", with(sign([]byte("another-key-another-key-another-key!"), stateID, b.orgA, b.us, later)), time.Time{}},
			{"Expired", with(good), time.Now().Add(connect.DefaultStateTTL + time.Minute)},
			// Signed with the key but naming no row, or a row the database holds otherwise:
			// the database has the last word.
			{"UnknownRow", with(sign(stateKey, "qbst_01jd8xnope", b.orgA, b.us, later)), time.Time{}},
			{"RowOfAnotherOrganization", with(sign(stateKey, bRow, b.orgA, b.us, later)), time.Time{}},
			{"RowOfAnotherEntity", with(sign(stateKey, stateID, b.orgA, b.uk, later)), time.Time{}},
			{"RowExpired", with(sign(stateKey, stateID, b.orgA, b.us, later.Add(time.Hour))),
				time.Now().Add(connect.DefaultStateTTL + time.Minute)},
		} {
			b.flow.Now = nil
			if !tt.now.IsZero() {
				b.flow.Now = func() time.Time { return tt.now }
			}
			got := result(t, b.callback(t, tt.query))
			requireRefused(t, got, apperr.QBOStateInvalid)
			require.Empty(t, got.Get("entityId"), tt.name)
		}
		b.flow.Now = nil
		require.Zero(t, b.rec.tokenRequests(), "no code is exchanged for a refused state")
		require.Empty(t, b.connections(t))
		for _, id := range []string{stateID, bRow} {
			row, err := b.c.QBOAuthState.Get(tenant.System(b.ctx), id)
			require.NoError(t, err)
			require.Nil(t, row.UsedAt, "a refused state uses up no row")
		}

		// The genuine callback still works, once.
		require.Equal(t, "connected", result(t, b.callback(t, q)).Get("qbo"))
		require.Equal(t, 1, b.rec.tokenRequests())
		first := b.connections(t)
		require.Len(t, first, 1)
		replay := result(t, b.callback(t, q))
		requireRefused(t, replay, apperr.QBOStateInvalid)
		require.Equal(t, 1, b.rec.tokenRequests(), "a replayed callback exchanges nothing")
		again := b.connections(t)
		require.Len(t, again, 1)
		require.Equal(t, first[0].TokenGeneration, again[0].TokenGeneration, "a replay changes nothing")

		// Organization B's genuine state is still good for B.
		got := result(t, b.callback(t, bq))
		require.Equal(t, "connected", got.Get("qbo"))
		require.Equal(t, b.other, got.Get("entityId"))
		row, err := b.flow.Store.ForEntity(b.ctxB, b.c, b.other)
		require.NoError(t, err)
		require.Equal(t, b.realm(2), row.RealmID)
	})
}

func TestCallbackDenied(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		// The emulator answers access_denied for a company it does not host.
		q := b.authorize(t, b.begin(t, b.ctx, b.us), "4620816365000000000")
		require.Equal(t, "access_denied", q.Get("error"))
		got := result(t, b.callback(t, q))
		requireRefused(t, got, connect.CodeAccessDenied)
		require.Equal(t, b.us, got.Get("entityId"))
		require.Contains(t, got.Get("message"), "declined")
		require.Zero(t, b.rec.tokenRequests())
		require.Empty(t, b.connections(t))

		// The state is used up by the refusal.
		requireRefused(t, result(t, b.callback(t, q)), apperr.QBOStateInvalid)

		// A code Intuit does not exchange.
		q = b.authorize(t, b.begin(t, b.ctx, b.us), "")
		q.Set("code", "AB-not-a-code")
		requireRefused(t, result(t, b.callback(t, q)), connect.CodeAuthFailed)
		require.Empty(t, b.connections(t))
		// No realm.
		q = b.authorize(t, b.begin(t, b.ctx, b.us), "")
		q.Del("realmId")
		requireRefused(t, result(t, b.callback(t, q)), apperr.Validation)
		require.Empty(t, b.connections(t))
	})
}

func TestCallbackRealmInUse(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		require.Equal(t, "connected", b.connect(t, b.ctx, b.us, b.realm(0)).Get("qbo"))
		us, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
		require.NoError(t, err)
		usTokens, _, err := b.flow.Store.Tokens(b.ctx, b.c, us.ID)
		require.NoError(t, err)

		// Another entity of the organization: refused, naming the entity that keeps it.
		got := b.connect(t, b.ctx, b.uk, b.realm(0))
		requireRefused(t, got, apperr.QBORealmInUse)
		require.Equal(t, b.uk, got.Get("entityId"))
		require.Contains(t, got.Get("message"), "Northwind Services LLC")
		_, err = b.flow.Store.ForEntity(b.ctx, b.c, b.uk)
		requireCode(t, err, apperr.QBONotConnected)

		// An entity of another organization: refused, naming nothing of organization A.
		got = b.connect(t, b.ctxB, b.other, b.realm(0))
		requireRefused(t, got, apperr.QBORealmInUse)
		require.NotContains(t, got.Get("message"), "Northwind")
		require.NotContains(t, got.Get("message"), b.us)
		_, err = b.flow.Store.ForEntity(b.ctxB, b.c, b.other)
		requireCode(t, err, apperr.QBONotConnected)

		rows := b.connections(t)
		require.Len(t, rows, 1, "nothing refused was stored")
		require.Equal(t, us.ID, rows[0].ID)
		require.Equal(t, us.TokenGeneration, rows[0].TokenGeneration)
		require.Equal(t, http.StatusOK, b.apiStatus(t, b.realm(0), usTokens.Access),
			"the refusal revokes nothing: the keeping entity's connection still works")
	})
}

func TestDisconnect(t *testing.T) {
	t.Parallel()

	t.Run("RevokesAndKeepsTheRow", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			b.connect(t, b.ctx, b.us, b.realm(0))
			live, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
			require.NoError(t, err)
			tok, _, err := b.flow.Store.Tokens(b.ctx, b.c, live.ID)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, b.apiStatus(t, b.realm(0), tok.Access))

			row, err := b.flow.Disconnect(b.ctx, b.c, b.us)
			require.NoError(t, err)
			require.Equal(t, live.ID, row.ID)
			require.Equal(t, qboconnection.StatusDisconnected, row.Status)
			require.Nil(t, row.AccessTokenSealed)
			require.Nil(t, row.RefreshTokenSealed)
			require.NotNil(t, row.DisconnectedAt)

			calls := b.rec.revokeCalls()
			require.NotEmpty(t, calls)
			require.Equal(t, tok.Refresh, calls[0].token, "the refresh token is revoked first")
			for _, c := range calls {
				require.Equal(t, "application/json", c.contentType)
				require.True(t, c.basic, "the app authenticates with Basic auth")
			}
			require.Equal(t, http.StatusUnauthorized, b.apiStatus(t, b.realm(0), tok.Access),
				"the old access token is refused by QuickBooks")
			n, err := b.c.AdminIssue.Query().Count(b.ctx)
			require.NoError(t, err)
			require.Zero(t, n)

			// Twice: nothing more happens.
			again, err := b.flow.Disconnect(b.ctx, b.c, b.us)
			require.NoError(t, err)
			require.Equal(t, row.ID, again.ID)
			require.Equal(t, row.TokenGeneration, again.TokenGeneration)
			require.Len(t, b.rec.revokeCalls(), len(calls))
			require.NotContains(t, b.logs.String(), tok.Refresh)
			require.NotContains(t, b.logs.String(), tok.Access)

			_, err = b.flow.Disconnect(b.ctx, b.c, b.uk)
			requireCode(t, err, apperr.QBONotConnected)
			_, err = b.flow.Disconnect(b.ctx, b.c, "le_nope")
			requireCode(t, err, apperr.NotFound)
			_, err = b.flow.Disconnect(b.ctxB, b.c, b.us)
			requireCode(t, err, apperr.NotFound)

			b.connect(t, b.ctx, b.us, b.realm(0))
			tx, err := b.c.Tx(b.ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			_, err = b.flow.Disconnect(b.ctx, tx.Client(), b.us)
			require.Error(t, err, "a transaction's client is refused: the revoke follows the commit")
		})
	})

	t.Run("RevokeFails", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			b.connect(t, b.ctx, b.us, b.realm(0))
			live, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
			require.NoError(t, err)
			tok, _, err := b.flow.Store.Tokens(b.ctx, b.c, live.ID)
			require.NoError(t, err)

			b.rec.failRevoke = true
			row, err := b.flow.Disconnect(b.ctx, b.c, b.us)
			require.NoError(t, err, "the local tokens are cleared anyway")
			require.Equal(t, qboconnection.StatusDisconnected, row.Status)
			require.Nil(t, row.RefreshTokenSealed)
			require.Len(t, b.rec.revokeCalls(), 2, "the access token is tried after the refresh token")

			issues, err := b.c.AdminIssue.Query().All(b.ctx)
			require.NoError(t, err)
			require.Len(t, issues, 1)
			iss := issues[0]
			require.Equal(t, connect.RevokeFailedKind, iss.Kind)
			require.Equal(t, connect.RevokeFailedCode, iss.ErrorCode)
			require.Equal(t, row.ID, iss.SubjectID)
			require.Equal(t, adminissue.StatusOpen, iss.Status)
			require.NotNil(t, iss.EntityID)
			require.Equal(t, b.us, *iss.EntityID)
			require.Contains(t, iss.ErrorMessage, "503")
			for _, s := range []string{tok.Access, tok.Refresh} {
				require.NotContains(t, iss.ErrorMessage, s)
				require.NotContains(t, b.logs.String(), s)
			}
		})
	})
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.connect(t, b.ctx, b.us, b.realm(0))
		first, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
		require.NoError(t, err)
		link, err := b.c.QBOLink.Create().SetConnectionID(first.ID).SetEntityID(b.us).
			SetRecordType(qbolink.RecordTypeCustomer).SetRecordID("cus_01jd8x").SetQboType("Customer").Save(b.ctx)
		require.NoError(t, err)

		_, err = b.flow.Disconnect(b.ctx, b.c, b.us)
		require.NoError(t, err)
		_, err = b.c.QBOLink.Get(b.ctx, link.ID)
		require.NoError(t, err, "disconnecting keeps the links")

		// The same company again: the same row, so its links resume.
		require.Equal(t, "connected", b.connect(t, b.ctx, b.us, b.realm(0)).Get("qbo"))
		revived, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
		require.NoError(t, err)
		require.Equal(t, first.ID, revived.ID)
		require.Equal(t, qboconnection.StatusConnected, revived.Status)
		require.Greater(t, revived.TokenGeneration, first.TokenGeneration)
		tok, _, err := b.flow.Store.Tokens(b.ctx, b.c, revived.ID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, b.apiStatus(t, b.realm(0), tok.Access), "the new tokens work")

		// Reconnecting while connected to the same company (say after needs_reauth) is fine.
		require.Equal(t, "connected", b.connect(t, b.ctx, b.us, b.realm(0)).Get("qbo"))
		// Another company while connected: disconnect first.
		requireRefused(t, b.connect(t, b.ctx, b.us, b.realm(1)), apperr.Conflict)

		// Another company after disconnecting: a new row, fresh links; the first stays.
		_, err = b.flow.Disconnect(b.ctx, b.c, b.us)
		require.NoError(t, err)
		require.Equal(t, "connected", b.connect(t, b.ctx, b.us, b.realm(1)).Get("qbo"))
		second, err := b.flow.Store.ForEntity(b.ctx, b.c, b.us)
		require.NoError(t, err)
		require.NotEqual(t, first.ID, second.ID)
		require.Equal(t, b.realm(1), second.RealmID)
		old, err := b.flow.Store.Get(b.ctx, b.c, first.ID)
		require.NoError(t, err)
		require.Equal(t, qboconnection.StatusDisconnected, old.Status)
		require.Equal(t, b.realm(0), old.RealmID)
		n, err := b.c.QBOLink.Query().Where(qbolink.ConnectionID(second.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n, "a different company starts with no links")
		_, err = b.c.QBOLink.Get(b.ctx, link.ID)
		require.NoError(t, err)
		require.Len(t, b.connections(t), 2)
	})
}

// A stopped emulator: the callback refuses with a code and stores nothing.
func TestCallbackIntuitDown(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		q := b.authorize(t, b.begin(t, b.ctx, b.us), "")
		require.NoError(t, b.qbo.Close())
		got := result(t, b.callback(t, q))
		requireRefused(t, got, connect.CodeAuthFailed)
		require.Empty(t, b.connections(t))
		states, err := b.c.QBOAuthState.Query().Where(qboauthstate.UsedAtNotNil()).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, states, "the state was consumed before the exchange")
	})
}

func TestPurgeStates(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.begin(t, b.ctx, b.us)
		b.begin(t, b.ctxB, b.other)
		b.flow.StateTTL = time.Hour
		b.begin(t, b.ctx, b.uk)

		n, err := connect.PurgeStates(context.Background(), b.c, time.Now().Add(connect.DefaultStateTTL+time.Minute))
		require.NoError(t, err)
		require.Equal(t, 2, n, "the expired states of both organizations")
		left, err := b.c.QBOAuthState.Query().All(tenant.System(b.ctx))
		require.NoError(t, err)
		require.Len(t, left, 1)
		require.Equal(t, b.uk, left[0].EntityID)
	})
}
