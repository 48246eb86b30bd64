package server_test

// Tests of the HTTP edge as a browser SPA, a partner and an attacker meet it: CORS and
// origins, WebSocket authentication and lifetime, body limits, timeouts, rate limits, the
// GraphQL transports, GraphiQL, operation logs and metrics, portal introspection.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/tenant"
	"books/server"
)

const trSPA = "http://localhost:5173"

// trBundle is a server over a fresh database with one organization.
type trBundle struct {
	db     *database.DB
	tokens *auth.Tokens
	srv    *server.Server
	reg    *prometheus.Registry
	logs   *trLog
	url    string // base URL once started
	org    string
	admin  string // bearer token, role admin
	viewer string
	portal string // bearer token of a portal client
	key    string // integration key secret
}

// trNew makes the server over a fresh database of dialect d; cfg's DB, Client, Auth,
// Logger and Registry are filled in.
func trNew(t *testing.T, d string, cfg server.Config) *trBundle {
	t.Helper()
	db := dbtest.Open(t, d)
	client := db.Client()
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	b := &trBundle{db: db, tokens: tokens, reg: server.NewRegistry(), logs: &trLog{}}
	cfg.DB, cfg.Client, cfg.Auth, cfg.Registry = db, client, auth.NewService(tokens, client), b.reg
	cfg.Logger = slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.srv = server.New(cfg)

	ctx := tenant.System(context.Background())
	org, err := client.Organization.Create().SetName("Transport Org").Save(ctx)
	require.NoError(t, err)
	b.org = org.ID
	octx := tenant.WithOrg(context.Background(), org.ID)
	le, err := ledger.CreateEntity(octx, client, ent.CreateLegalEntityInput{Code: "US", Name: "Transport US", BaseCurrency: "USD"})
	require.NoError(t, err)
	key, err := auth.CreateIntegrationKey(octx, client, "transport key", []string{le.ID}, source.All(), "test")
	require.NoError(t, err)
	b.key = key.Secret
	b.admin = b.mint(t, "user-admin", []auth.Role{auth.RoleAdmin}, "", time.Hour)
	b.viewer = b.mint(t, "user-viewer", []auth.Role{auth.RoleViewer}, "", time.Hour)
	b.portal = b.mint(t, "portal-user", nil, "cus_portal", time.Hour)
	return b
}

// trSetup is trNew with the server listening on an httptest server.
func trSetup(t *testing.T, d string, cfg server.Config) *trBundle {
	t.Helper()
	b := trNew(t, d, cfg)
	hs := httptest.NewServer(b.srv)
	t.Cleanup(hs.Close)
	b.url = hs.URL
	return b
}

func (b *trBundle) mint(t *testing.T, subject string, roles []auth.Role, customer string, ttl time.Duration) string {
	t.Helper()
	tok, err := b.tokens.Mint(subject, b.org, roles, customer, ttl)
	require.NoError(t, err)
	return tok
}

// trLog collects the server's JSON log lines.
type trLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *trLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the log lines whose msg is msg.
func (l *trLog) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m), "log line %s", line)
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// trReply is a response with its body read.
type trReply struct {
	status int
	header http.Header
	body   []byte
}

// gqlCodes returns extensions.code of each GraphQL error in the body.
func (r trReply) gqlCodes(t *testing.T) []string {
	t.Helper()
	var out struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	require.NoError(t, json.Unmarshal(r.body, &out), "body %s", r.body)
	var codes []string
	for _, e := range out.Errors {
		code, _ := e.Extensions["code"].(string)
		codes = append(codes, code)
	}
	return codes
}

// restCode returns error.code of a REST error body.
func (r trReply) restCode(t *testing.T) string {
	t.Helper()
	var out struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(r.body, &out), "body %s", r.body)
	return out.Error.Code
}

func trDo(t *testing.T, method, url string, body io.Reader, header map[string]string) trReply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return trReply{status: resp.StatusCode, header: resp.Header, body: data}
}

// gql posts a GraphQL operation as JSON with token.
func (b *trBundle) gql(t *testing.T, token, operationName, query string) trReply {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "operationName": operationName})
	require.NoError(t, err)
	return trDo(t, http.MethodPost, b.url+"/graphql", bytes.NewReader(body),
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token})
}

func (b *trBundle) metrics(t *testing.T) string {
	t.Helper()
	r := trDo(t, http.MethodGet, b.url+"/metrics", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	return string(r.body)
}

func TestCORS(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{CORSOrigins: []string{trSPA, "https://app.example.com"}})
			plain := trSetup(t, d, server.Config{})

			preflight := func(t *testing.T, base, path, origin, method, headers string) trReply {
				t.Helper()
				return trDo(t, http.MethodOptions, base+path, nil, map[string]string{
					"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
				})
			}

			for _, tc := range []struct{ path, headers string }{
				{"/graphql", "authorization,content-type,x-request-id"},
				{"/api/v1/journal-entries", "content-type,idempotency-key,x-integration-key"},
			} {
				t.Run("preflight from a listed origin: "+tc.path, func(t *testing.T) {
					t.Parallel()
					r := preflight(t, b.url, tc.path, trSPA, http.MethodPost, tc.headers)
					require.Equal(t, http.StatusNoContent, r.status)
					require.Equal(t, trSPA, r.header.Get("Access-Control-Allow-Origin"))
					require.Equal(t, http.MethodPost, r.header.Get("Access-Control-Allow-Methods"))
					require.Equal(t, tc.headers, r.header.Get("Access-Control-Allow-Headers"))
					require.Empty(t, r.header.Get("Access-Control-Allow-Credentials"), "tokens travel in headers, not cookies")
					require.NotEmpty(t, r.header.Get("Access-Control-Max-Age"))
					require.Contains(t, strings.Join(r.header.Values("Vary"), ","), "Origin")
				})
			}

			t.Run("preflight from another origin gets no CORS header", func(t *testing.T) {
				t.Parallel()
				for _, origin := range []string{"https://evil.example", "http://localhost:5174", "https://app.example.com.evil.example", "null"} {
					r := preflight(t, b.url, "/graphql", origin, http.MethodPost, "authorization,content-type")
					require.Empty(t, r.header.Get("Access-Control-Allow-Origin"), origin)
					require.Empty(t, r.header.Get("Access-Control-Allow-Headers"), origin)
				}
			})

			t.Run("a header outside the list is not allowed", func(t *testing.T) {
				t.Parallel()
				r := preflight(t, b.url, "/graphql", trSPA, http.MethodPost, "x-custom")
				require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
			})

			t.Run("no origins configured, no CORS", func(t *testing.T) {
				t.Parallel()
				r := preflight(t, plain.url, "/graphql", trSPA, http.MethodPost, "authorization,content-type")
				require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
			})

			t.Run("only the API paths", func(t *testing.T) {
				t.Parallel()
				r := preflight(t, b.url, "/metrics", trSPA, http.MethodGet, "")
				require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
			})

			t.Run("actual requests expose the request id and Retry-After", func(t *testing.T) {
				t.Parallel()
				r := trDo(t, http.MethodPost, b.url+"/graphql", strings.NewReader(`{"query":"{ organization { id name } }"}`),
					map[string]string{"Origin": trSPA, "Content-Type": "application/json", "Authorization": "Bearer " + b.admin})
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				require.Equal(t, trSPA, r.header.Get("Access-Control-Allow-Origin"))
				exposed := strings.ToLower(r.header.Get("Access-Control-Expose-Headers"))
				require.Contains(t, exposed, "x-request-id")
				require.Contains(t, exposed, "retry-after")

				r = trDo(t, http.MethodPost, b.url+"/api/v1/journal-entries", strings.NewReader(`{}`),
					map[string]string{"Origin": "https://app.example.com", "X-Integration-Key": b.key})
				require.Equal(t, "https://app.example.com", r.header.Get("Access-Control-Allow-Origin"))

				r = trDo(t, http.MethodPost, b.url+"/graphql", strings.NewReader(`{"query":"{ organization { id } }"}`),
					map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json", "Authorization": "Bearer " + b.admin})
				require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
			})
		})
	}
}

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	got, err := server.ParseOrigins(" http://localhost:5173, HTTPS://App.Example.com/ ,,")
	require.NoError(t, err)
	require.Equal(t, []string{"http://localhost:5173", "https://app.example.com"}, got)
	for _, bad := range []string{"*", "https://*.example.com", "localhost:5173", "ftp://x.example", "https://x.example/app", "https://"} {
		_, err := server.ParseOrigins(bad)
		require.Error(t, err, bad)
	}
}

// trDial opens a graphql-transport-ws WebSocket to base with header.
func trDial(ctx context.Context, base string, header http.Header) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header,
	})
}

type trWSMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// trWSOpen dials and sends connection_init with payload; it returns the connection and the
// first message, or the error that ended it (a close).
func trWSOpen(t *testing.T, ctx context.Context, base string, payload any) (*websocket.Conn, trWSMessage, error) {
	t.Helper()
	c, resp, err := trDial(ctx, base, nil)
	require.NoError(t, err)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	init := trWSMessage{Type: "connection_init"}
	if payload != nil {
		init.Payload, err = json.Marshal(payload)
		require.NoError(t, err)
	}
	require.NoError(t, wsjson.Write(ctx, c, init))
	m, err := trWSNext(ctx, c)
	return c, m, err
}

// trWSNext reads the next message that is not a ping.
func trWSNext(ctx context.Context, c *websocket.Conn) (trWSMessage, error) {
	for {
		var m trWSMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			return m, err
		}
		if m.Type == "ping" {
			_ = wsjson.Write(ctx, c, trWSMessage{Type: "pong"})
			continue
		}
		return m, nil
	}
}

// trWSQuery runs query over c and returns its one result.
func trWSQuery(t *testing.T, ctx context.Context, c *websocket.Conn, id, query string) trWSMessage {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"query": query})
	require.NoError(t, err)
	require.NoError(t, wsjson.Write(ctx, c, trWSMessage{ID: id, Type: "subscribe", Payload: raw}))
	m, err := trWSNext(ctx, c)
	require.NoError(t, err)
	return m
}

// trCloseStatus reads until the server closes c and returns the close code.
func trCloseStatus(ctx context.Context, c *websocket.Conn) websocket.StatusCode {
	for {
		if _, err := trWSNext(ctx, c); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func TestWebSocketOrigins(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{CORSOrigins: []string{trSPA}})
			host := strings.TrimPrefix(b.url, "http://")
			for _, tc := range []struct {
				name, origin string
				ok           bool
			}{
				{"listed origin", trSPA, true},
				{"same host", "http://" + host, true},
				{"no Origin (not a browser)", "", true},
				{"other origin", "https://evil.example", false},
				{"listed host, other scheme", "https://localhost:5173", false},
				{"other port", "http://localhost:5174", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					h := http.Header{}
					if tc.origin != "" {
						h.Set("Origin", tc.origin)
					}
					c, resp, err := trDial(ctx, b.url, h)
					if !tc.ok {
						require.Error(t, err)
						require.NotNil(t, resp)
						require.Equal(t, http.StatusForbidden, resp.StatusCode)
						body, _ := io.ReadAll(resp.Body)
						require.Equal(t, []string{"FORBIDDEN"}, trReply{body: body}.gqlCodes(t))
						return
					}
					require.NoError(t, err)
					defer c.CloseNow()
					payload, _ := json.Marshal(map[string]any{"Authorization": "Bearer " + b.admin})
					require.NoError(t, wsjson.Write(ctx, c, trWSMessage{Type: "connection_init", Payload: payload}))
					m, err := trWSNext(ctx, c)
					require.NoError(t, err)
					require.Equal(t, "connection_ack", m.Type)
				})
			}
		})
	}
}

func TestWebSocketAuthentication(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})
			expired := b.mint(t, "user-expired", []auth.Role{auth.RoleAdmin}, "", -time.Minute)
			other, err := auth.NewTokens([]byte("another-secret-another-secret-another!"), "books")
			require.NoError(t, err)
			forged, err := other.Mint("user-admin", b.org, []auth.Role{auth.RoleAdmin}, "", time.Hour)
			require.NoError(t, err)

			for _, tc := range []struct {
				name    string
				payload any
			}{
				{"no payload", nil},
				{"no token", map[string]any{"hello": "world"}},
				{"empty bearer", map[string]any{"Authorization": "Bearer "}},
				{"not a token", map[string]any{"Authorization": "Bearer not-a-token"}},
				{"expired token", map[string]any{"Authorization": "Bearer " + expired}},
				{"token of another issuer's key", map[string]any{"token": forged}},
				{"integration key", map[string]any{"Authorization": "Bearer " + b.key}},
			} {
				t.Run(tc.name+" closes with 4401", func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					c, m, err := trWSOpen(t, ctx, b.url, tc.payload)
					require.Error(t, err, "got %s instead of a close", m.Type)
					require.Equal(t, websocket.StatusCode(4401), websocket.CloseStatus(err), "%v", err)
					_ = c
				})
			}
		})
	}
}

func TestWebSocketClosesWhenTokenExpires(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// exp has whole seconds: this token expires 2 to 3 seconds from now.
			token := b.mint(t, "user-short", []auth.Role{auth.RoleAdmin}, "", 3*time.Second)
			p, err := b.tokens.Verify(token)
			require.NoError(t, err)

			c, m, err := trWSOpen(t, ctx, b.url, map[string]any{"Authorization": "Bearer " + token})
			require.NoError(t, err)
			require.Equal(t, "connection_ack", m.Type)
			res := trWSQuery(t, ctx, c, "1", `{ organization { id name } }`)
			require.Equal(t, "next", res.Type, "%s", res.Payload)
			require.Contains(t, string(res.Payload), b.org)

			require.Equal(t, websocket.StatusCode(4401), trCloseStatus(ctx, c))
			require.False(t, time.Now().Before(p.ExpiresAt), "closed before the token expired")
			// Nothing more runs on it.
			raw, _ := json.Marshal(map[string]any{"query": `{ organization { id } }`})
			require.Error(t, wsjson.Write(ctx, c, trWSMessage{ID: "2", Type: "subscribe", Payload: raw}))
		})
	}
}

func TestWebSocketShutdownSendsGoingAway(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trNew(t, d, server.Config{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			sctx, stop := context.WithCancel(context.Background())
			defer stop()
			served := make(chan error, 1)
			go func() { served <- b.srv.Serve(sctx, ln, 10*time.Second) }()
			base := "http://" + ln.Addr().String()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var conns []*websocket.Conn
			for range 2 {
				c, m, err := trWSOpen(t, ctx, base, map[string]any{"Authorization": "Bearer " + b.admin})
				require.NoError(t, err)
				require.Equal(t, "connection_ack", m.Type)
				conns = append(conns, c)
			}
			stop()
			for _, c := range conns {
				require.Equal(t, websocket.StatusGoingAway, trCloseStatus(ctx, c))
			}
			select {
			case err := <-served:
				require.NoError(t, err)
			case <-ctx.Done():
				t.Fatal("Serve did not return")
			}
		})
	}
}

func TestHTTPTimeouts(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			const timeout = 300 * time.Millisecond
			b := trNew(t, d, server.Config{ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			sctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- b.srv.Serve(sctx, ln, 10*time.Second) }()
			t.Cleanup(func() { stop(); <-served })
			base := "http://" + ln.Addr().String()
			addr := ln.Addr().String()

			t.Run("a WebSocket outlives the read and write timeouts", func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, m, err := trWSOpen(t, ctx, base, map[string]any{"Authorization": "Bearer " + b.admin})
				require.NoError(t, err)
				require.Equal(t, "connection_ack", m.Type)
				time.Sleep(4 * timeout)
				res := trWSQuery(t, ctx, c, "1", `{ organization { id } }`)
				require.Equal(t, "next", res.Type, "%s", res.Payload)
				require.Contains(t, string(res.Payload), b.org)
			})

			t.Run("a body that does not arrive is given up on", func(t *testing.T) {
				t.Parallel()
				conn, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				defer conn.Close()
				_, err = fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
					"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":", b.admin)
				require.NoError(t, err)
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
				_, err = io.ReadAll(conn)
				var ne net.Error
				require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept waiting for the body")
			})

			t.Run("an idle keep-alive connection is closed", func(t *testing.T) {
				t.Parallel()
				conn, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				defer conn.Close()
				_, err = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
				require.NoError(t, err)
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				_, err = br.ReadByte()
				require.ErrorIs(t, err, io.EOF, "the server closes the idle connection")
			})
		})
	}
}

// trRaw sends a raw HTTP/1.1 request (head, then body) and reads the response.
func trRaw(t *testing.T, base, head string, body []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(conn, head)
	require.NoError(t, err)
	if body != nil {
		_, err = conn.Write(body)
		require.NoError(t, err, "the whole body is written before the answer is read")
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

// trChunked is a body of unknown length: the client sends it chunked.
type trChunked struct{ r io.Reader }

func (c trChunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			const limit = 1 << 20 // the default
			b := trSetup(t, d, server.Config{})
			big := bytes.Repeat([]byte(" "), 3*limit)

			t.Run("declared length over the limit: 413 without 100 Continue", func(t *testing.T) {
				t.Parallel()
				for _, path := range []string{"/graphql", "/api/v1/journal-entries"} {
					head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\n"+
						"X-Integration-Key: %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", path, b.admin, b.key, 60<<20)
					resp, data := trRaw(t, b.url, head, nil)
					require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "no 100 Continue first: %s", data)
					if path == "/graphql" {
						require.Equal(t, []string{"PAYLOAD_TOO_LARGE"}, trReply{body: data}.gqlCodes(t))
					} else {
						require.Equal(t, "PAYLOAD_TOO_LARGE", trReply{body: data}.restCode(t))
					}
				}
			})

			t.Run("a client that sends the whole body first reads the 413", func(t *testing.T) {
				t.Parallel()
				head := fmt.Sprintf("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\n"+
					"Content-Length: %d\r\n\r\n", b.admin, len(big))
				resp, data := trRaw(t, b.url, head, big)
				require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
				require.Equal(t, []string{"PAYLOAD_TOO_LARGE"}, trReply{body: data}.gqlCodes(t))
			})

			t.Run("every endpoint", func(t *testing.T) {
				t.Parallel()
				for _, path := range []string{"/healthz", "/readyz", "/nope"} {
					head := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, len(big))
					resp, data := trRaw(t, b.url, head, big)
					require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, path)
					require.Equal(t, "PAYLOAD_TOO_LARGE", trReply{body: data}.restCode(t), path)
				}
			})

			t.Run("chunked body over the limit", func(t *testing.T) {
				t.Parallel()
				r := trDo(t, http.MethodPost, b.url+"/graphql", trChunked{bytes.NewReader(append([]byte(`{"query":"{ __typename }"}`), big...))},
					map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + b.admin})
				require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", r.body)
				require.Equal(t, []string{"PAYLOAD_TOO_LARGE"}, r.gqlCodes(t))

				r = trDo(t, http.MethodPost, b.url+"/api/v1/journal-entries", trChunked{bytes.NewReader(big)},
					map[string]string{"Content-Type": "application/json", "X-Integration-Key": b.key})
				require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", r.body)
				require.Equal(t, "PAYLOAD_TOO_LARGE", r.restCode(t))
			})

			t.Run("a body within the limit is served", func(t *testing.T) {
				t.Parallel()
				body := append([]byte(`{"query":"{ organization { id } }"}`), bytes.Repeat([]byte(" "), limit/2)...)
				r := trDo(t, http.MethodPost, b.url+"/graphql", trChunked{bytes.NewReader(body)},
					map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + b.admin})
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				require.Contains(t, string(r.body), b.org)
			})
		})
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			// Two requests, then one every 1,000 seconds: the third is always refused.
			cfg := server.Config{RateLimit: 0.001, RateBurst: 2}

			requireLimited := func(t *testing.T, r trReply) {
				t.Helper()
				require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
				secs, err := strconv.Atoi(r.header.Get("Retry-After"))
				require.NoError(t, err, "Retry-After is whole seconds")
				require.Greater(t, secs, 0)
				require.LessOrEqual(t, secs, 1000)
			}

			t.Run("per principal on /graphql", func(t *testing.T) {
				t.Parallel()
				b := trSetup(t, d, cfg)
				for range 2 {
					r := b.gql(t, b.admin, "", `{ organization { id } }`)
					require.Equal(t, http.StatusOK, r.status)
				}
				r := b.gql(t, b.admin, "", `{ organization { id } }`)
				requireLimited(t, r)
				require.Equal(t, []string{"RATE_LIMITED"}, r.gqlCodes(t))
				// Another principal has its own budget, from the same address.
				r = b.gql(t, b.viewer, "", `{ organization { id } }`)
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			})

			t.Run("per integration key on the JE API", func(t *testing.T) {
				t.Parallel()
				b := trSetup(t, d, cfg)
				for range 2 {
					r := trDo(t, http.MethodPost, b.url+"/api/v1/journal-entries", strings.NewReader(`{}`), map[string]string{"X-Integration-Key": b.key})
					require.NotEqual(t, http.StatusTooManyRequests, r.status)
				}
				r := trDo(t, http.MethodPost, b.url+"/api/v1/journal-entries", strings.NewReader(`{}`), map[string]string{"X-Integration-Key": b.key})
				requireLimited(t, r)
				require.Equal(t, "RATE_LIMITED", r.restCode(t))
			})

			t.Run("by address without credentials", func(t *testing.T) {
				t.Parallel()
				b := trSetup(t, d, cfg)
				for range 2 {
					r := b.gql(t, "not-a-token", "", `{ organization { id } }`)
					require.Equal(t, http.StatusUnauthorized, r.status)
				}
				requireLimited(t, b.gql(t, "", "", `{ organization { id } }`))
				// Guessing keys on the JE API draws from the same budget.
				r := trDo(t, http.MethodPost, b.url+"/api/v1/journal-entries", strings.NewReader(`{}`), map[string]string{"X-Integration-Key": "bk_int_guess"})
				requireLimited(t, r)
				require.Equal(t, "RATE_LIMITED", r.restCode(t))
				// A valid token is not held back by the address's budget.
				require.Equal(t, http.StatusOK, b.gql(t, b.admin, "", `{ organization { id } }`).status)
			})

			t.Run("operations over a WebSocket", func(t *testing.T) {
				t.Parallel()
				b := trSetup(t, d, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, m, err := trWSOpen(t, ctx, b.url, map[string]any{"Authorization": "Bearer " + b.admin})
				require.NoError(t, err)
				require.Equal(t, "connection_ack", m.Type)
				for i := range 2 {
					res := trWSQuery(t, ctx, c, strconv.Itoa(i), `{ organization { id } }`)
					require.Equal(t, "next", res.Type, "%s", res.Payload)
					done, err := trWSNext(ctx, c)
					require.NoError(t, err)
					require.Equal(t, "complete", done.Type)
				}
				res := trWSQuery(t, ctx, c, "3", `{ organization { id } }`)
				require.Contains(t, string(res.Payload), "RATE_LIMITED")
				require.NotContains(t, string(res.Payload), b.org)
			})

			t.Run("off by default", func(t *testing.T) {
				t.Parallel()
				b := trSetup(t, d, server.Config{})
				for range 10 {
					require.Equal(t, http.StatusOK, b.gql(t, b.admin, "", `{ __typename }`).status)
				}
			})
		})
	}
}

func TestGraphQLOverHTTP(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})
			// Runs once every subtest has finished.
			t.Cleanup(func() {
				require.Empty(t, b.logs.lines(t, "panic in resolver"))
				require.Empty(t, b.logs.lines(t, "panic serving request"))
			})
			get := func(t *testing.T, token string, params url.Values, accept string) trReply {
				t.Helper()
				h := map[string]string{"Accept": accept}
				if token != "" {
					h["Authorization"] = "Bearer " + token
				}
				return trDo(t, http.MethodGet, b.url+"/graphql?"+params.Encode(), nil, h)
			}

			t.Run("GET runs a query", func(t *testing.T) {
				t.Parallel()
				r := get(t, b.admin, url.Values{"query": {`query Org { organization { id name } }`}}, "application/json")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				require.Contains(t, string(r.body), b.org)
				require.Empty(t, r.gqlCodes(t))
			})

			t.Run("GET needs a token", func(t *testing.T) {
				t.Parallel()
				r := get(t, "", url.Values{"query": {`{ organization { id } }`}}, "application/json")
				require.Equal(t, http.StatusUnauthorized, r.status)
				require.Equal(t, []string{"UNAUTHENTICATED"}, r.gqlCodes(t))
			})

			t.Run("GET refuses a mutation with 405", func(t *testing.T) {
				t.Parallel()
				for _, params := range []url.Values{
					{"query": {`mutation { __typename }`}},
					{"query": {`query A { __typename } mutation B { __typename }`}, "operationName": {"B"}},
					{"query": {`subscription { __typename }`}},
				} {
					r := get(t, b.admin, params, "application/json")
					require.Equal(t, http.StatusMethodNotAllowed, r.status, "%s", r.body)
					require.Equal(t, http.MethodPost, r.header.Get("Allow"))
					require.Equal(t, []string{"METHOD_NOT_ALLOWED"}, r.gqlCodes(t))
				}
			})

			for _, tc := range []struct {
				name, contentType, body string
				status                  int
				code                    string
			}{
				{"not JSON", "application/json", `not json`, http.StatusBadRequest, "BAD_REQUEST"},
				{"empty body", "application/json", ``, http.StatusBadRequest, "BAD_REQUEST"},
				{"JSON null", "application/json", `null`, http.StatusBadRequest, "BAD_REQUEST"},
				{"a string", "application/json", `"{ __typename }"`, http.StatusBadRequest, "BAD_REQUEST"},
				{"query not a string", "application/json", `{"query":1}`, http.StatusBadRequest, "BAD_REQUEST"},
				{"no query", "application/json", `{"variables":{}}`, http.StatusBadRequest, "BAD_REQUEST"},
				{"variables not an object", "application/json", `{"query":"{ __typename }","variables":[1]}`, http.StatusBadRequest, "BAD_REQUEST"},
				{"operationName not a string", "application/json", `{"query":"{ __typename }","operationName":{}}`, http.StatusBadRequest, "BAD_REQUEST"},
				{"trailing data", "application/json", `{"query":"{ __typename }"} {}`, http.StatusBadRequest, "BAD_REQUEST"},
				{"a key gqlgen also reads", "application/json", `{"query":"{ __typename }","Variables":[1]}`, http.StatusBadRequest, "BAD_REQUEST"},
				{"empty batch", "application/json", `[]`, http.StatusBadRequest, "BATCH_NOT_SUPPORTED"},
				{"batch", "application/json", `[{"query":"{ __typename }"},{"query":"mutation { __typename }"}]`, http.StatusBadRequest, "BATCH_NOT_SUPPORTED"},
				{"wrong Content-Type", "text/plain", `{"query":"{ __typename }"}`, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
				{"no Content-Type", "", `{"query":"{ __typename }"}`, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
				// These reach gqlgen, which used to panic in the mutation-transaction
				// middleware on a response without an operation.
				{"query does not parse", "application/json", `{"query":"{"}`, http.StatusUnprocessableEntity, "GRAPHQL_PARSE_FAILED"},
				{"unknown operation name", "application/json", `{"query":"query A { __typename }","operationName":"B"}`, http.StatusUnprocessableEntity, "GRAPHQL_VALIDATION_FAILED"},
				{"empty query", "application/json", `{"query":""}`, http.StatusUnprocessableEntity, "GRAPHQL_VALIDATION_FAILED"},
			} {
				t.Run("malformed POST: "+tc.name, func(t *testing.T) {
					t.Parallel()
					h := map[string]string{"Authorization": "Bearer " + b.admin}
					if tc.contentType != "" {
						h["Content-Type"] = tc.contentType
					}
					r := trDo(t, http.MethodPost, b.url+"/graphql", strings.NewReader(tc.body), h)
					require.Equal(t, tc.status, r.status, "%s", r.body)
					require.Equal(t, []string{tc.code}, r.gqlCodes(t), "%s", r.body)
					require.NotContains(t, string(r.body), "INTERNAL")
				})
			}
		})
	}
}

func TestGraphiQL(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			on := trSetup(t, d, server.Config{GraphiQL: true})
			off := trSetup(t, d, server.Config{})
			browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

			r := trDo(t, http.MethodGet, on.url+"/graphql", nil, browser)
			require.Equal(t, http.StatusOK, r.status)
			require.Contains(t, r.header.Get("Content-Type"), "text/html")
			require.Contains(t, strings.ToLower(string(r.body)), "graphiql")

			// A client asking for JSON still gets GraphQL over HTTP.
			r = trDo(t, http.MethodGet, on.url+"/graphql?query=%7B__typename%7D", nil,
				map[string]string{"Accept": "application/json", "Authorization": "Bearer " + on.admin})
			require.Equal(t, http.StatusOK, r.status)
			require.JSONEq(t, `{"data":{"__typename":"Query"}}`, string(r.body))

			r = trDo(t, http.MethodGet, off.url+"/graphql", nil, browser)
			require.NotContains(t, r.header.Get("Content-Type"), "text/html")
			require.NotContains(t, strings.ToLower(string(r.body)), "graphiql")
			require.Equal(t, http.StatusUnauthorized, r.status)
		})
	}
}

// trMetric returns the value of the sample line that starts with series, or "" without one.
func trMetric(metrics, series string) string {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestOperationLogsAndMetrics(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})

			require.Empty(t, b.gql(t, b.admin, "", `query OrgName { organization { name } }`).gqlCodes(t))
			require.Empty(t, b.gql(t, b.admin, "", `query OrgName { organization { name } }`).gqlCodes(t))
			require.Empty(t, b.gql(t, b.admin, "", `{ organization { id } }`).gqlCodes(t))
			require.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, b.gql(t, b.admin, "", `query Broken { nope }`).gqlCodes(t))
			// A portal client asking for a staff field: a field error with a code.
			require.Contains(t, b.gql(t, b.portal, "", `query Ledger { accounts { totalCount } }`).gqlCodes(t), "FORBIDDEN")
			// Names are the client's: one that is not a GraphQL name is "other".
			require.NotEmpty(t, b.gql(t, b.admin, "drop table; --", `query A { __typename }`).gqlCodes(t))

			m := b.metrics(t)
			for series, want := range map[string]string{
				`books_graphql_operations_total{code="OK",operation="OrgName"}`:                       "2",
				`books_graphql_operations_total{code="OK",operation="anonymous"}`:                     "1",
				`books_graphql_operations_total{code="GRAPHQL_VALIDATION_FAILED",operation="Broken"}`: "1",
				// A portal client's name is not admitted to the label set (it could fill it).
				`books_graphql_operations_total{code="FORBIDDEN",operation="other"}`:                 "1",
				`books_graphql_operations_total{code="GRAPHQL_VALIDATION_FAILED",operation="other"}`: "1",
			} {
				require.Equal(t, want, trMetric(m, series), "%s in\n%s", series, m)
			}
			require.NotContains(t, m, "drop table")

			// The request log line names the operation and the codes of its errors.
			var lines []map[string]any
			require.Eventually(t, func() bool {
				lines = b.logs.lines(t, "request")
				return len(lines) >= 6
			}, 10*time.Second, 10*time.Millisecond)
			find := func(op string) map[string]any {
				for _, l := range lines {
					if l["operation"] == op {
						return l
					}
				}
				t.Fatalf("no request line for operation %s", op)
				return nil
			}
			require.NotContains(t, find("OrgName"), "error_codes")
			require.Equal(t, "user-admin", find("OrgName")["principal"])
			require.Equal(t, []any{"GRAPHQL_VALIDATION_FAILED"}, find("Broken")["error_codes"])
			require.Equal(t, []any{"FORBIDDEN"}, find("Ledger")["error_codes"])
			require.Equal(t, "portal-user", find("Ledger")["principal"])

			// Database pool statistics.
			require.Contains(t, m, `go_sql_open_connections{db_name="books"}`)
		})
	}
}

func TestWebSocketsStayOutOfTheLatencyHistogram(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, m, err := trWSOpen(t, ctx, b.url, map[string]any{"Authorization": "Bearer " + b.admin})
			require.NoError(t, err)
			require.Equal(t, "connection_ack", m.Type)
			require.Equal(t, "1", trMetric(b.metrics(t), "books_websocket_connections"))
			res := trWSQuery(t, ctx, c, "1", `query OverSocket { organization { id } }`)
			require.Equal(t, "next", res.Type)
			require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
			require.Equal(t, http.StatusOK, b.gql(t, b.admin, "", `{ __typename }`).status)

			require.Eventually(t, func() bool {
				return trMetric(b.metrics(t), `books_http_requests_total{code="101",route="graphql"}`) == "1"
			}, 10*time.Second, 10*time.Millisecond)
			metrics := b.metrics(t)
			require.Equal(t, "1", trMetric(metrics, `books_http_request_duration_seconds_count{route="graphql"}`),
				"only the POST is a latency")
			require.Equal(t, "0", trMetric(metrics, "books_websocket_connections"))
			require.Equal(t, "1", trMetric(metrics, `books_graphql_operations_total{code="OK",operation="OverSocket"}`))
		})
	}
}

func TestReadinessLogsChangesOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})
			for range 3 {
				require.Equal(t, http.StatusOK, trDo(t, http.MethodGet, b.url+"/readyz", nil, nil).status)
			}
			require.NoError(t, b.db.Close())
			// The answer is kept for a second, so the outage shows within one.
			probes := 3
			require.Eventually(t, func() bool {
				probes++
				return trDo(t, http.MethodGet, b.url+"/readyz", nil, nil).status == http.StatusServiceUnavailable
			}, 10*time.Second, 50*time.Millisecond)
			for range 5 {
				probes++
				require.Equal(t, http.StatusServiceUnavailable, trDo(t, http.MethodGet, b.url+"/readyz", nil, nil).status)
			}
			require.Eventually(t, func() bool {
				return len(b.logs.lines(t, "request")) == probes
			}, 10*time.Second, 10*time.Millisecond)
			notReady := b.logs.lines(t, "not ready")
			require.Len(t, notReady, 1, "one line for the change, not one per probe")
			require.Equal(t, "WARN", notReady[0]["level"])
			require.Equal(t, "database unreachable", notReady[0]["reason"])
			for _, l := range b.logs.lines(t, "request") {
				require.Equal(t, "DEBUG", l["level"], "probes are logged at debug level: %v", l)
			}
		})
	}
}

func TestPortalIntrospection(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := trSetup(t, d, server.Config{})
			for _, q := range []string{
				`{ __schema { types { name } } }`,
				`{ __type(name: "Account") { fields { name } } }`,
				`query { ...F } fragment F on Query { __schema { queryType { name } } }`,
				`query { ... on Query { __type(name: "Query") { name } } }`,
			} {
				r := b.gql(t, b.portal, "", q)
				require.Equal(t, []string{"FORBIDDEN"}, r.gqlCodes(t), q)
				var out struct{ Data json.RawMessage }
				require.NoError(t, json.Unmarshal(r.body, &out))
				require.Equal(t, "null", string(out.Data), "nothing of the schema: %s", r.body)

				r = b.gql(t, b.viewer, "", q)
				require.Empty(t, r.gqlCodes(t), "staff keep introspection: %s", r.body)
			}
			r := b.gql(t, b.portal, "", `{ __typename organization { name } }`)
			require.Empty(t, r.gqlCodes(t), "%s", r.body)
			require.Contains(t, string(r.body), "Transport Org")
		})
	}
}
