package conn_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qboconnection"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/qbo/conn"
	"books/internal/secrets"
	"books/internal/tenant"
)

type testBundle struct {
	db    *database.DB
	c     *ent.Client
	store *conn.Store
	ctx   context.Context // organization A
	ctxB  context.Context // organization B
	us    string          // entities of A
	uk    string
	other string // entity of B
	url   string // of the database, for a second process
	keys  string // the sealing keys, for a second process
}

func setup(t *testing.T, d string) testBundle {
	t.Helper()
	url := dbtest.URL(t, d)
	db, err := database.Open(context.Background(), url)
	require.NoError(t, err)
	if d == dialect.Postgres {
		db.SQL.SetMaxIdleConns(2) // as dbtest.OpenEmpty does
	}
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	b := testBundle{db: db, c: db.Client(), store: conn.NewStore(box), url: url, keys: "test:" + key}
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
	}
	b.us = entity(b.ctx, "US", "Northwind Services LLC")
	b.uk = entity(b.ctx, "UK", "Northwind Services Ltd")
	b.other = entity(b.ctxB, "US", "Other Org Inc")
	return b
}

// tokens returns a pair whose values carry tag, so a test can look for them anywhere.
func tokens(tag string) conn.Tokens {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	return conn.Tokens{
		Access:           "access-" + tag + "-eyJhbGciOi",
		Refresh:          "refresh-" + tag + "-AB11x",
		AccessExpiresAt:  at.Add(time.Hour),
		RefreshExpiresAt: at.Add(101 * 24 * time.Hour),
	}
}

func (b testBundle) connect(t *testing.T, entity, realm, tag string) *ent.QBOConnection {
	t.Helper()
	row, err := b.store.Save(b.ctx, b.c, conn.Connect{EntityID: entity, RealmID: realm,
		BaseURL: "https://sandbox.example/v3", Tokens: tokens(tag)})
	require.NoError(t, err)
	return row
}

// exec runs raw SQL written with ? placeholders on either database.
func (b testBundle) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	_, err := b.db.SQL.Exec(b.rebind(query), args...)
	require.NoError(t, err)
}

func (b testBundle) rebind(query string) string {
	if b.db.Dialect != dialect.Postgres {
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

func requireTokens(t *testing.T, want, got conn.Tokens) {
	t.Helper()
	require.Equal(t, want.Access, got.Access)
	require.Equal(t, want.Refresh, got.Refresh)
	require.True(t, want.AccessExpiresAt.Equal(got.AccessExpiresAt))
	require.True(t, want.RefreshExpiresAt.Equal(got.RefreshExpiresAt))
}

func eachDialect(t *testing.T, test func(t *testing.T, b testBundle)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, d))
		})
	}
}

func TestSave(t *testing.T) {
	t.Parallel()

	t.Run("NewConnection", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			row := b.connect(t, b.us, "9130350000000001", "a")
			require.True(t, strings.HasPrefix(row.ID, "qbc_"), row.ID)
			require.Equal(t, qboconnection.StatusConnected, row.Status)
			require.EqualValues(t, 1, row.TokenGeneration)

			got, gen, err := b.store.Tokens(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.EqualValues(t, 1, gen)
			requireTokens(t, tokens("a"), got)

			live, err := b.store.ForEntity(b.ctx, b.c, b.us)
			require.NoError(t, err)
			require.Equal(t, row.ID, live.ID)
			_, err = b.store.ForEntity(b.ctx, b.c, b.uk)
			requireCode(t, err, apperr.QBONotConnected)
		})
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			b.connect(t, b.us, "realm-us", "a")
			_, err := b.store.Save(b.ctxB, b.c, conn.Connect{EntityID: b.other, RealmID: "realm-b",
				BaseURL: "https://sandbox.example/v3", Tokens: tokens("b")})
			require.NoError(t, err)

			for _, tt := range []struct {
				name    string
				ctx     context.Context
				in      conn.Connect
				code    string
				mention string
			}{
				{"RealmOfAnotherEntity", b.ctx, conn.Connect{EntityID: b.uk, RealmID: "realm-us"}, apperr.QBORealmInUse,
					"Northwind Services LLC"},
				{"RealmOfAnotherOrganization", b.ctx, conn.Connect{EntityID: b.uk, RealmID: "realm-b"}, apperr.QBORealmInUse,
					"another legal entity"},
				{"EntityConnectedElsewhere", b.ctx, conn.Connect{EntityID: b.us, RealmID: "realm-new"}, apperr.Conflict,
					"disconnect it"},
				{"UnknownEntity", b.ctx, conn.Connect{EntityID: "le_nope", RealmID: "realm-new"}, apperr.NotFound, "le_nope"},
				{"EntityOfAnotherOrganization", b.ctx, conn.Connect{EntityID: b.other, RealmID: "realm-new"}, apperr.NotFound, ""},
				{"NoRealm", b.ctx, conn.Connect{EntityID: b.uk}, apperr.Validation, ""},
				{"NoTokens", b.ctx, conn.Connect{EntityID: b.uk, RealmID: "realm-new", BaseURL: "https://x", Tokens: conn.Tokens{}},
					apperr.Validation, ""},
			} {
				if tt.in.BaseURL == "" && tt.in.RealmID != "" {
					tt.in.BaseURL = "https://sandbox.example/v3"
					tt.in.Tokens = tokens("c")
				}
				_, err := b.store.Save(tt.ctx, b.c, tt.in)
				requireCode(t, err, tt.code)
				require.Contains(t, err.Error(), tt.mention, tt.name)
				if tt.in.EntityID != b.other {
					require.NotContains(t, err.Error(), b.other, "%s: another organization's entity is never named", tt.name)
				}
			}
			n, err := b.c.QBOConnection.Query().Count(tenant.System(b.ctx))
			require.NoError(t, err)
			require.Equal(t, 2, n, "nothing refused was stored")
		})
	})
}

func TestDisconnectAndReconnect(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		first := b.connect(t, b.us, "realm-1", "a")

		cleared, err := b.store.Disconnect(b.ctx, b.c, first.ID)
		require.NoError(t, err)
		requireTokens(t, tokens("a"), cleared)
		row, err := b.store.Get(b.ctx, b.c, first.ID)
		require.NoError(t, err)
		require.Equal(t, qboconnection.StatusDisconnected, row.Status)
		require.Nil(t, row.AccessTokenSealed)
		require.Nil(t, row.RefreshTokenSealed)
		require.NotNil(t, row.DisconnectedAt)
		_, _, err = b.store.Tokens(b.ctx, b.c, first.ID)
		requireCode(t, err, apperr.QBONotConnected)
		_, err = b.store.Rotate(b.ctx, b.c, first.ID, row.TokenGeneration, tokens("x"))
		requireCode(t, err, apperr.QBONotConnected)
		again, err := b.store.Disconnect(b.ctx, b.c, first.ID)
		require.NoError(t, err, "disconnecting twice is a no-op")
		require.Empty(t, again.Refresh)

		// The same company again: the same row, so its links resume.
		revived := b.connect(t, b.us, "realm-1", "b")
		require.Equal(t, first.ID, revived.ID)
		require.Equal(t, qboconnection.StatusConnected, revived.Status)
		require.Nil(t, revived.DisconnectedAt)
		require.Greater(t, revived.TokenGeneration, row.TokenGeneration)
		got, _, err := b.store.Tokens(b.ctx, b.c, first.ID)
		require.NoError(t, err)
		requireTokens(t, tokens("b"), got)

		// Another company: a new row; the first stays, disconnected, with its realm.
		_, err = b.store.Disconnect(b.ctx, b.c, first.ID)
		require.NoError(t, err)
		second := b.connect(t, b.us, "realm-2", "c")
		require.NotEqual(t, first.ID, second.ID)
		old, err := b.store.Get(b.ctx, b.c, first.ID)
		require.NoError(t, err)
		require.Equal(t, qboconnection.StatusDisconnected, old.Status)
		require.Equal(t, "realm-1", old.RealmID)

		// Reconnecting the first company now is refused: the entity is connected to the second.
		_, err = b.store.Save(b.ctx, b.c, conn.Connect{EntityID: b.us, RealmID: "realm-1",
			BaseURL: "https://sandbox.example/v3", Tokens: tokens("d")})
		requireCode(t, err, apperr.Conflict)
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()

	t.Run("CompareAndSwap", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			row := b.connect(t, b.us, "realm-1", "a")
			gen, err := b.store.Rotate(b.ctx, b.c, row.ID, 1, tokens("b"))
			require.NoError(t, err)
			require.EqualValues(t, 2, gen)

			_, err = b.store.Rotate(b.ctx, b.c, row.ID, 1, tokens("stale"))
			requireCode(t, err, apperr.Conflict)
			got, gen, err := b.store.Tokens(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.EqualValues(t, 2, gen)
			requireTokens(t, tokens("b"), got)

			_, err = b.store.Rotate(b.ctx, b.c, "qbc_nope", 2, tokens("c"))
			requireCode(t, err, apperr.NotFound)
			_, err = b.store.Rotate(b.ctx, b.c, row.ID, 2, conn.Tokens{Access: "only-access"})
			requireCode(t, err, apperr.Validation)
		})
	})

	// Of several refreshes that read the same generation, exactly one stores its tokens.
	t.Run("ConcurrentOneWins", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			row := b.connect(t, b.us, "realm-1", "a")
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = b.store.Rotate(b.ctx, b.c, row.ID, 1, tokens(strconv.Itoa(i)))
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				if err == nil {
					require.Equal(t, -1, winner, "two refreshes won")
					winner = i
					continue
				}
				requireCode(t, err, apperr.Conflict)
			}
			require.NotEqual(t, -1, winner, "no refresh won")
			got, gen, err := b.store.Tokens(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.EqualValues(t, 2, gen)
			requireTokens(t, tokens(strconv.Itoa(winner)), got)
		})
	})
}

func TestMarkNeedsReauth(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		row := b.connect(t, b.us, "realm-1", "a")
		_, err := b.store.Rotate(b.ctx, b.c, row.ID, 1, tokens("b"))
		require.NoError(t, err)

		// A refusal of generation 1's refresh token must not stop generation 2's.
		err = b.store.MarkNeedsReauth(b.ctx, b.c, row.ID, 1, "invalid_grant")
		requireCode(t, err, apperr.Conflict)
		_, _, err = b.store.Tokens(b.ctx, b.c, row.ID)
		require.NoError(t, err)

		require.NoError(t, b.store.MarkNeedsReauth(b.ctx, b.c, row.ID, 2, "invalid_grant: Token invalid"))
		require.NoError(t, b.store.MarkNeedsReauth(b.ctx, b.c, row.ID, 2, "invalid_grant"), "marking twice is a no-op")
		got, err := b.store.Get(b.ctx, b.c, row.ID)
		require.NoError(t, err)
		require.Equal(t, qboconnection.StatusNeedsReauth, got.Status)
		require.Equal(t, "invalid_grant: Token invalid", got.LastError)
		_, _, err = b.store.Tokens(b.ctx, b.c, row.ID)
		requireCode(t, err, apperr.QBONotConnected)
		_, err = b.store.Rotate(b.ctx, b.c, row.ID, 2, tokens("c"))
		requireCode(t, err, apperr.QBONotConnected)
		live, err := b.store.ForEntity(b.ctx, b.c, b.us)
		require.NoError(t, err, "a connection awaiting re-authorization is still the entity's")
		require.Equal(t, row.ID, live.ID)

		// Connecting the company again clears it.
		again := b.connect(t, b.us, "realm-1", "d")
		require.Equal(t, row.ID, again.ID)
		require.Equal(t, qboconnection.StatusConnected, again.Status)
		require.Empty(t, again.LastError)
		tok, _, err := b.store.Tokens(b.ctx, b.c, row.ID)
		require.NoError(t, err)
		requireTokens(t, tokens("d"), tok)
	})
}

func TestSealedAtRest(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		us := b.connect(t, b.us, "realm-1", "us")
		uk := b.connect(t, b.uk, "realm-2", "uk")
		_, err := b.store.Rotate(b.ctx, b.c, us.ID, 1, tokens("us2"))
		require.NoError(t, err)

		read := func(id string) (access, refresh string) {
			t.Helper()
			row := b.db.SQL.QueryRow(b.rebind(`SELECT access_token_sealed, refresh_token_sealed FROM qbo_connections WHERE id = ?`), id)
			require.NoError(t, row.Scan(&access, &refresh))
			return access, refresh
		}
		for id, tag := range map[string]string{us.ID: "us2", uk.ID: "uk"} {
			access, refresh := read(id)
			for _, col := range []string{access, refresh} {
				require.True(t, strings.HasPrefix(col, "v1:test:"), col)
				require.NotContains(t, col, tokens(tag).Access, "no token is stored in clear")
				require.NotContains(t, col, tokens(tag).Refresh, "no token is stored in clear")
				// Ten characters of the token, which random base64 all but never holds.
				require.NotContains(t, col, "eyJhbGciOi")
			}
		}

		// A ciphertext copied to another row, or to the other column, does not open.
		usAccess, usRefresh := read(us.ID)
		b.exec(t, `UPDATE qbo_connections SET refresh_token_sealed = ? WHERE id = ?`, usRefresh, uk.ID)
		_, _, err = b.store.Tokens(b.ctx, b.c, uk.ID)
		require.ErrorIs(t, err, secrets.ErrNotOpened)
		require.NotContains(t, err.Error(), "refresh-")
		require.NotContains(t, err.Error(), usRefresh)

		b.exec(t, `UPDATE qbo_connections SET access_token_sealed = ?, refresh_token_sealed = ? WHERE id = ?`,
			usRefresh, usAccess, us.ID)
		_, _, err = b.store.Tokens(b.ctx, b.c, us.ID)
		require.ErrorIs(t, err, secrets.ErrNotOpened)
	})
}

// The database keeps the connection's states consistent whatever writes to it.
func TestDatabaseChecks(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		row := b.connect(t, b.us, "realm-1", "a")
		for _, stmt := range []string{
			`UPDATE qbo_connections SET status = 'disconnected', disconnected_at = created_at WHERE id = ?`,
			`UPDATE qbo_connections SET refresh_token_sealed = NULL WHERE id = ?`,
			`UPDATE qbo_connections SET status = 'paused' WHERE id = ?`,
			`UPDATE qbo_connections SET disconnected_at = created_at WHERE id = ?`,
		} {
			_, err := b.db.SQL.Exec(b.rebind(stmt), row.ID)
			require.Error(t, err, stmt)
		}
		_, err := b.db.SQL.Exec(b.rebind(`INSERT INTO qbo_connections (id, created_at, updated_at, organization_id,
			realm_id, status, access_token_sealed, refresh_token_sealed, token_generation, connected_at, base_url, entity_id)
			SELECT 'qbc_dup', created_at, updated_at, organization_id, 'realm-9', status, access_token_sealed,
			refresh_token_sealed, 1, connected_at, base_url, entity_id FROM qbo_connections WHERE id = ?`), row.ID)
		require.Error(t, err, "a second live connection of the entity")
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		row := b.connect(t, b.us, "realm-1", "a")

		_, err := b.store.Get(b.ctxB, b.c, row.ID)
		requireCode(t, err, apperr.NotFound)
		_, _, err = b.store.Tokens(b.ctxB, b.c, row.ID)
		requireCode(t, err, apperr.NotFound)
		_, err = b.store.Rotate(b.ctxB, b.c, row.ID, 1, tokens("b"))
		requireCode(t, err, apperr.NotFound)
		err = b.store.MarkNeedsReauth(b.ctxB, b.c, row.ID, 1, "x")
		requireCode(t, err, apperr.NotFound)
		_, err = b.store.Disconnect(b.ctxB, b.c, row.ID)
		requireCode(t, err, apperr.NotFound)
		_, err = b.store.ForEntity(b.ctxB, b.c, b.us)
		requireCode(t, err, apperr.QBONotConnected)

		got, gen, err := b.store.Tokens(b.ctx, b.c, row.ID)
		require.NoError(t, err)
		require.EqualValues(t, 1, gen, "another organization changed nothing")
		requireTokens(t, tokens("a"), got)

		_, _, err = b.store.Tokens(context.Background(), b.c, row.ID)
		require.ErrorIs(t, err, tenant.ErrMissing)
	})
}

func TestTokensNeverPrinted(t *testing.T) {
	t.Parallel()
	tok := tokens("secret")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("refreshed", "tokens", tok, "ptr", &tok)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %q", tok, tok, tok, tok, tok) + fmt.Sprint(tok, &tok) +
		fmt.Errorf("wrapped: %v", tok).Error()
	require.NotContains(t, out, "secret")
	require.Contains(t, out, "redacted")
}

func TestCompanyName(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		save := func(name string) *ent.QBOConnection {
			t.Helper()
			row, err := b.store.Save(b.ctx, b.c, conn.Connect{EntityID: b.us, RealmID: "realm-1",
				BaseURL: "https://sandbox.example/v3", Tokens: tokens("a"), CompanyName: name})
			require.NoError(t, err)
			return row
		}
		require.Equal(t, "Sandbox Company_US_1", save("Sandbox Company_US_1").CompanyName)
		require.Equal(t, "Sandbox Company_US_1", save("").CompanyName, "an unknown name keeps the one known")
		require.Equal(t, "Renamed Inc", save("Renamed Inc").CompanyName)
	})
}
