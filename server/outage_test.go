package server_test

import (
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/server"
)

// outage is a server whose database has gone away, with credentials it accepted before.
type outage struct {
	b        *testBundle
	adminTok string
	keys     []string // integration keys: one the server has cached, one it has never seen
}

// closedPool serves over a real database, then closes the pool under the running server.
func closedPool(t *testing.T, d string) outage {
	t.Helper()
	b := setup(t, d)
	// Warm the key and entity caches, so that the outage is met past authentication too.
	b.jePosted(t, b.orgA.Key, jeBody("US", "before", "1.00"))
	b.gqlOK(t, b.orgA.Admin, `{ organization { id name } }`, nil, nil)
	fresh := b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, "psa")
	require.NoError(t, b.db.Close())
	return outage{b: b, adminTok: b.orgA.Admin, keys: []string{b.orgA.Key, fresh}}
}

// nothingListening serves over a PostgreSQL URL whose port has no server behind it.
func nothingListening(t *testing.T) outage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	pool, err := sql.Open("postgres", "postgres://books@"+addr+"/books?sslmode=disable&connect_timeout=5")
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	db := &database.DB{SQL: pool, Dialect: dialect.Postgres, Driver: entsql.OpenDB(dialect.Postgres, pool)}
	client := db.Client()
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	srv := server.New(server.Config{
		DB: db, Client: client, Auth: auth.NewService(tokens, client),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	admin, err := tokens.Mint("user-admin", "org_01zzzzzzzzzzzzzzzzzzzzzzzz", []auth.Role{auth.RoleAdmin}, "", time.Hour)
	require.NoError(t, err)
	return outage{b: &testBundle{server: hs, tokens: tokens}, adminTok: admin,
		keys: []string{"bk_int_" + strings.Repeat("a", 52)}}
}

// A database outage is UNAVAILABLE in GraphQL (HTTP 200, as any field error) and 503 with
// Retry-After in the JE API, never INTERNAL, and says nothing about the database.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T) outage{
		"postgres/nothing listening": nothingListening,
	}
	for _, d := range dbtest.Dialects(t) {
		cases[d+"/closed pool"] = func(t *testing.T) outage { return closedPool(t, d) }
	}
	for name, start := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := start(t)
			b := o.b

			r := b.gql(t, o.adminTok, `{ organization { id name } }`, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, []string{"UNAVAILABLE"}, r.errorCodes(), "errors: %+v", r.Errors)
			require.Equal(t, []any{"organization"}, r.Errors[0].Path)
			requireNothingAboutTheDatabase(t, r.Errors[0].Message)

			// A mutation fails before its transaction opens: the same code, nothing of the
			// driver's text.
			r = b.gql(t, o.adminTok, `mutation { createClass(input: {entityId: "le_x", name: "During"}) { class { id } } }`, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, []string{"UNAVAILABLE"}, r.errorCodes(), "errors: %+v", r.Errors)
			requireNothingAboutTheDatabase(t, r.Errors[0].Message)

			for _, key := range o.keys {
				for _, req := range []struct {
					method, path string
					body         []byte
				}{
					{http.MethodPost, "/api/v1/journal-entries", jeMarshal(t, jeBody("US", "during", "1.00"))},
					{http.MethodGet, "/api/v1/journal-entries/je_01zzzzzzzzzzzzzzzzzzzzzzzz", nil},
					{http.MethodGet, "/api/v1/journal-entries?source_ref=during", nil},
				} {
					status, h, raw := b.apiDo(t, req.method, req.path, key, "idem", req.body)
					require.Equal(t, http.StatusServiceUnavailable, status, "%s %s: %s", req.method, req.path, raw)
					secs, err := strconv.Atoi(h.Get("Retry-After"))
					require.NoError(t, err, "Retry-After %q", h.Get("Retry-After"))
					require.Positive(t, secs)
					got := jeDecode(t, raw)
					require.Equal(t, "UNAVAILABLE", errCode(got))
					requireNothingAboutTheDatabase(t, got["error"].(map[string]any)["message"].(string))
				}
			}
		})
	}
}

func requireNothingAboutTheDatabase(t *testing.T, msg string) {
	t.Helper()
	require.Equal(t, "the database is unavailable; try again shortly", msg)
}
