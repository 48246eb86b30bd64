package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"books/ent/auditevent"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/server"
)

// gqGet makes a GET request and returns the response with its body read.
func gqGet(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

// gqServerOver returns a test server over db with the bundle's tokens.
func (b *testBundle) gqServerOver(t *testing.T, db *database.DB) *httptest.Server {
	t.Helper()
	srv := server.New(server.Config{
		DB: db, Client: b.client, Auth: auth.NewService(b.tokens, b.client),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)

			t.Run("healthz", func(t *testing.T) {
				t.Parallel()
				resp, body := gqGet(t, b.server.URL+"/healthz", nil)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.JSONEq(t, `{"status":"ok"}`, body)
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			})

			t.Run("readyz on a migrated database", func(t *testing.T) {
				t.Parallel()
				resp, body := gqGet(t, b.server.URL+"/readyz", nil)
				require.Equal(t, http.StatusOK, resp.StatusCode, body)
				require.JSONEq(t, `{"status":"ready"}`, body)
			})

			t.Run("readyz with migrations pending", func(t *testing.T) {
				t.Parallel()
				hs := b.gqServerOver(t, dbtest.OpenEmpty(t, d))
				resp, body := gqGet(t, hs.URL+"/readyz", nil)
				require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
				var out map[string]any
				require.NoError(t, json.Unmarshal([]byte(body), &out))
				require.Equal(t, "unavailable", out["status"])
				require.Equal(t, "migrations pending", out["reason"])
				require.Positive(t, out["pending"])
				// healthz does not depend on the database.
				resp, _ = gqGet(t, hs.URL+"/healthz", nil)
				require.Equal(t, http.StatusOK, resp.StatusCode)
			})

			t.Run("readyz with the database gone", func(t *testing.T) {
				t.Parallel()
				db := dbtest.Open(t, d)
				hs := b.gqServerOver(t, db)
				resp, _ := gqGet(t, hs.URL+"/readyz", nil)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.NoError(t, db.Close())
				// The answer is kept for a second: the outage shows within one.
				var body string
				require.Eventually(t, func() bool {
					resp, body = gqGet(t, hs.URL+"/readyz", nil)
					return resp.StatusCode == http.StatusServiceUnavailable
				}, 10*time.Second, 50*time.Millisecond)
				require.Contains(t, body, "database unreachable")
			})

			t.Run("unknown endpoint", func(t *testing.T) {
				t.Parallel()
				resp, body := gqGet(t, b.server.URL+"/nope", nil)
				require.Equal(t, http.StatusNotFound, resp.StatusCode)
				var out map[string]any
				require.NoError(t, json.Unmarshal([]byte(body), &out))
				require.Equal(t, "NOT_FOUND", errCode(out))
			})
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			for range 3 {
				resp, _ := gqGet(t, b.server.URL+"/healthz", nil)
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}
			b.gqlOK(t, b.orgA.Viewer, `{ accounts { totalCount } }`, nil, nil)
			r := b.gql(t, "", `{ accounts { totalCount } }`, nil)
			require.Equal(t, http.StatusUnauthorized, r.status)
			status, body := b.postJE(t, b.orgA.Key, "", jeBody("US", "m-1", "1.00"))
			require.Equal(t, http.StatusCreated, status, "%v", body)

			resp, metrics := gqGet(t, b.server.URL+"/metrics", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			for _, want := range []string{
				`books_http_requests_total{code="200",route="healthz"} 3`,
				`books_http_requests_total{code="200",route="graphql"} 1`,
				`books_http_requests_total{code="401",route="graphql"} 1`,
				`books_http_requests_total{code="201",route="je_api"} 1`,
				`books_journal_entries_posted_total{via="api"} 1`,
				`books_http_request_duration_seconds_count{route="healthz"} 3`,
				`go_goroutines`,
			} {
				require.Contains(t, metrics, want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	generated := regexp.MustCompile(`^req_[0-9a-f]{16}$`)
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			for _, tt := range []struct {
				name, sent string
				echoed     bool
			}{
				{"sane id is echoed", "abc-123_X.y", true},
				{"missing id is generated", "", false},
				{"id with spaces is replaced", "abc 123", false},
				{"id with a newline-ish character is replaced", "abc\u00e9", false},
				{"overlong id is replaced", strings.Repeat("a", 65), false},
				{"64 characters are fine", strings.Repeat("a", 64), true},
			} {
				for _, path := range []string{"/healthz", "/graphql", "/nope"} {
					t.Run(tt.name+" "+path, func(t *testing.T) {
						t.Parallel()
						h := http.Header{}
						if tt.sent != "" {
							h.Set("X-Request-Id", tt.sent)
						}
						resp, _ := gqGet(t, b.server.URL+path, h)
						got := resp.Header.Get("X-Request-Id")
						if tt.echoed {
							require.Equal(t, tt.sent, got)
						} else {
							require.Regexp(t, generated, got)
						}
					})
				}
			}
			t.Run("generated ids differ", func(t *testing.T) {
				t.Parallel()
				r1, _ := gqGet(t, b.server.URL+"/healthz", nil)
				r2, _ := gqGet(t, b.server.URL+"/healthz", nil)
				require.NotEqual(t, r1.Header.Get("X-Request-Id"), r2.Header.Get("X-Request-Id"))
			})
		})
	}
}

// gqWSMessage is a graphql-transport-ws message.
type gqWSMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// gqWSDial opens a graphql-transport-ws connection to b's server.
func (b *testBundle) gqWSDial(t *testing.T, ctx context.Context) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(b.server.URL, "http") + "/graphql"
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	require.Equal(t, "graphql-transport-ws", c.Subprotocol())
	return c
}

// gqWSRead reads the next message that is not a ping.
func gqWSRead(t *testing.T, ctx context.Context, c *websocket.Conn) gqWSMessage {
	t.Helper()
	for {
		var m gqWSMessage
		require.NoError(t, wsjson.Read(ctx, c, &m))
		if m.Type == "ping" {
			require.NoError(t, wsjson.Write(ctx, c, gqWSMessage{Type: "pong"}))
			continue
		}
		return m
	}
}

// gqWSInit sends connection_init with payload and requires connection_ack.
func gqWSInit(t *testing.T, ctx context.Context, c *websocket.Conn, payload map[string]any) {
	t.Helper()
	raw, err := json.Marshal(payload)
	require.NoError(t, err)
	require.NoError(t, wsjson.Write(ctx, c, gqWSMessage{Type: "connection_init", Payload: raw}))
	require.Equal(t, "connection_ack", gqWSRead(t, ctx, c).Type)
}

// gqWSRun subscribes with query and returns the payloads of the next messages up to complete.
func gqWSRun(t *testing.T, ctx context.Context, c *websocket.Conn, id, query string) []gqlResponse {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"query": query})
	require.NoError(t, err)
	require.NoError(t, wsjson.Write(ctx, c, gqWSMessage{ID: id, Type: "subscribe", Payload: raw}))
	var out []gqlResponse
	for {
		m := gqWSRead(t, ctx, c)
		require.Equal(t, id, m.ID)
		switch m.Type {
		case "next":
			var r gqlResponse
			require.NoError(t, json.Unmarshal(m.Payload, &r))
			out = append(out, r)
		case "error":
			// An operation refused before it runs: payload is a list of errors.
			var r gqlResponse
			require.NoError(t, json.Unmarshal(m.Payload, &r.Errors))
			return append(out, r)
		case "complete":
			return out
		default:
			t.Fatalf("unexpected message %s: %s", m.Type, m.Payload)
		}
	}
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			b.gqSeedEntry(t, b.orgB, 0, "2026-05-01", "ws-b", "5.00", "4000")

			t.Run("query over graphql-transport-ws", func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				c := b.gqWSDial(t, ctx)
				gqWSInit(t, ctx, c, map[string]any{"Authorization": "Bearer " + b.orgA.Viewer})
				res := gqWSRun(t, ctx, c, "1", `{ legalEntities { totalCount } journalEntries { totalCount } }`)
				require.Len(t, res, 1)
				require.Empty(t, res[0].Errors)
				require.JSONEq(t, `{"legalEntities": {"totalCount": 2}, "journalEntries": {"totalCount": 0}}`, string(res[0].Data),
					"the connection sees its own organization only")
				// The connection stays usable for further operations.
				res = gqWSRun(t, ctx, c, "2", `{ organization { name } }`)
				require.JSONEq(t, `{"organization": {"name": "Org A"}}`, string(res[0].Data))
			})

			t.Run("token under other payload keys", func(t *testing.T) {
				t.Parallel()
				for _, payload := range []map[string]any{
					{"token": b.orgB.Viewer},
					{"authToken": b.orgB.Viewer},
				} {
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					c := b.gqWSDial(t, ctx)
					gqWSInit(t, ctx, c, payload)
					res := gqWSRun(t, ctx, c, "1", `{ journalEntries { totalCount } }`)
					require.JSONEq(t, `{"journalEntries": {"totalCount": 1}}`, string(res[0].Data))
					cancel()
				}
			})

			t.Run("roles and limits apply over websocket", func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				c := b.gqWSDial(t, ctx)
				gqWSInit(t, ctx, c, map[string]any{"Authorization": "Bearer " + b.orgA.Viewer})
				before := b.gqSnapshot(t, b.orgA)
				res := gqWSRun(t, ctx, c, "m", `mutation { createClass(input: {entityId: "`+b.orgA.Entities[0].ID+`", name: "WS"}) { class { id } } }`)
				require.Len(t, res, 1)
				require.Equal(t, []string{"FORBIDDEN"}, res[0].errorCodes())
				require.Equal(t, before, b.gqSnapshot(t, b.orgA))
				deep := `{ classes { edges { node { ` + strings.Repeat("parent { ", 12) + "id" + strings.Repeat(" }", 12) + ` } } } }`
				res = gqWSRun(t, ctx, c, "d", deep)
				require.Len(t, res, 1)
				require.Equal(t, []string{"DEPTH_LIMIT_EXCEEDED"}, res[0].errorCodes())
			})

			t.Run("mutation over websocket commits once", func(t *testing.T) {
				t.Parallel()
				b := setup(t, d)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				c := b.gqWSDial(t, ctx)
				gqWSInit(t, ctx, c, map[string]any{"Authorization": "Bearer " + b.orgB.Accountant})
				res := gqWSRun(t, ctx, c, "p", `mutation { postJournalEntry(input: {entityId: "`+b.orgB.Entities[1].ID+`", date: "2026-05-02",
					lines: [{accountCode: "1000", debit: "3.00"}, {accountCode: "4000", credit: "3.00"}]}) { created entry { id total } } }`)
				require.Len(t, res, 1, "one result, then complete: %+v", res)
				require.Empty(t, res[0].Errors)
				var out struct {
					PostJournalEntry struct {
						Created bool
						Entry   struct{ ID, Total string }
					}
				}
				require.NoError(t, json.Unmarshal(res[0].Data, &out))
				require.True(t, out.PostJournalEntry.Created)
				require.Equal(t, "3.00", out.PostJournalEntry.Entry.Total)
				e, err := b.client.JournalEntry.Get(orgCtx(b.orgB), out.PostJournalEntry.Entry.ID)
				require.NoError(t, err, "the entry is committed")
				require.Equal(t, "posted", e.Status.String())
				n, err := b.client.AuditEvent.Query().Where(auditevent.SubjectID(e.ID)).Count(orgCtx(b.orgB))
				require.NoError(t, err)
				require.Equal(t, 1, n)
			})

			for _, tt := range []struct {
				name    string
				payload map[string]any
			}{
				{"no payload", nil},
				{"no token", map[string]any{"hello": "world"}},
				{"empty bearer", map[string]any{"Authorization": "Bearer "}},
				{"invalid token", map[string]any{"Authorization": "Bearer not-a-token"}},
				{"integration key", map[string]any{"Authorization": "Bearer " + b.orgA.Key}},
			} {
				t.Run("connection_init rejected: "+tt.name, func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					c := b.gqWSDial(t, ctx)
					init := gqWSMessage{Type: "connection_init"}
					if tt.payload != nil {
						raw, err := json.Marshal(tt.payload)
						require.NoError(t, err)
						init.Payload = raw
					}
					require.NoError(t, wsjson.Write(ctx, c, init))
					var m gqWSMessage
					err := wsjson.Read(ctx, c, &m)
					require.Error(t, err, "got %s instead of the connection closing", m.Type)
					require.NotEqual(t, "connection_ack", m.Type)
					require.NotEqual(t, websocket.StatusCode(-1), websocket.CloseStatus(err), "the server closes the connection: %v", err)
					// Nothing can be run on it.
					raw, _ := json.Marshal(map[string]any{"query": `{ legalEntities { totalCount } }`})
					if werr := wsjson.Write(ctx, c, gqWSMessage{ID: "1", Type: "subscribe", Payload: raw}); werr == nil {
						require.Error(t, wsjson.Read(ctx, c, &m))
					}
				})
			}
		})
	}
}

// gqSlowBody is a request body that the test releases: the handler blocks reading it.
type gqSlowBody struct {
	pr *io.PipeReader
	pw *io.PipeWriter
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	const query = `{"query": "{ legalEntities { totalCount } }"}`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()

			// start serves b on a real listener with grace and starts a request whose body is
			// held back; it returns once the handler is reading that body.
			start := func(t *testing.T, grace time.Duration) (cancel func(), served chan error, addr string, body gqSlowBody, done chan *http.Response) {
				t.Helper()
				b := setup(t, d)
				srv := server.New(server.Config{
					DB: b.db, Client: b.client, Auth: auth.NewService(b.tokens, b.client),
					Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
				})
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				addr = ln.Addr().String()
				ctx, cancelCtx := context.WithCancel(context.Background())
				t.Cleanup(cancelCtx)
				served = make(chan error, 1)
				go func() { served <- srv.Serve(ctx, ln, grace) }()

				// A quick request works.
				req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(query))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+b.orgA.Viewer)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)

				// The slow one: Expect: 100-continue makes the server say when the handler
				// starts reading the body, which the test then holds back.
				body.pr, body.pw = io.Pipe()
				t.Cleanup(func() { body.pw.CloseWithError(errors.New("test over")) })
				reading := make(chan struct{})
				trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
				req, err = http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					http.MethodPost, "http://"+addr+"/graphql", body.pr)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+b.orgA.Viewer)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Expect", "100-continue")
				client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
				t.Cleanup(client.CloseIdleConnections)
				done = make(chan *http.Response, 1)
				go func() {
					resp, err := client.Do(req)
					if err != nil {
						done <- nil
						return
					}
					done <- resp
				}()
				select {
				case <-reading:
				case <-time.After(10 * time.Second):
					t.Fatal("the handler never started reading the request body")
				}
				return cancelCtx, served, addr, body, done
			}
			refused := func(addr string) bool {
				c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
				if err != nil {
					return true
				}
				c.Close()
				return false
			}

			t.Run("in-flight request completes", func(t *testing.T) {
				t.Parallel()
				cancel, served, addr, body, done := start(t, 10*time.Second)
				cancel()
				require.Eventually(t, func() bool { return refused(addr) }, 5*time.Second, 10*time.Millisecond,
					"new connections are refused once shutdown starts")
				select {
				case err := <-served:
					t.Fatalf("Serve returned %v while a request was in flight", err)
				case <-time.After(100 * time.Millisecond):
				}
				_, err := io.WriteString(body.pw, query)
				require.NoError(t, err)
				require.NoError(t, body.pw.Close())
				var resp *http.Response
				select {
				case resp = <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the in-flight request did not complete")
				}
				require.NotNil(t, resp, "the in-flight request failed")
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				var r gqlResponse
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
				require.Empty(t, r.Errors)
				require.JSONEq(t, `{"legalEntities": {"totalCount": 2}}`, string(r.Data))
				select {
				case err := <-served:
					require.NoError(t, err, "a graceful shutdown returns nil")
				case <-time.After(10 * time.Second):
					t.Fatal("Serve did not return after the last request finished")
				}
				require.True(t, refused(addr))
			})

			t.Run("grace runs out", func(t *testing.T) {
				t.Parallel()
				cancel, served, _, _, _ := start(t, 200*time.Millisecond)
				began := time.Now()
				cancel()
				select {
				case err := <-served:
					require.Error(t, err)
					require.ErrorIs(t, err, context.DeadlineExceeded)
					require.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)
				case <-time.After(10 * time.Second):
					t.Fatal("Serve did not give up after its grace period")
				}
			})
		})
	}
}
