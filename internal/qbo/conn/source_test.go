package conn_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/qboconnection"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/qbo/conn"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/jobs"
)

const tokenPath = "/oauth2/v1/tokens/bearer"

// emulator is a QuickBooks emulator over real HTTP that counts the requests to its token
// endpoint, whichever process sends them.
type emulator struct {
	*qbotest.Server
	url       string
	refreshes atomic.Int64
	clock     *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newEmulator starts an emulator with realms companies on a clock of its own; each token
// request takes at least delay, so that concurrent callers overlap one refresh.
func newEmulator(t *testing.T, realms int, delay time.Duration) *emulator {
	t.Helper()
	em := &emulator{clock: &clock{now: time.Now()}}
	em.Server = qbotest.New(qbotest.WithRealms(realms), qbotest.WithClock(em.clock.Now))
	h := em.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == tokenPath {
			em.refreshes.Add(1)
			time.Sleep(delay)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		hs.Close()
		_ = em.Close()
	})
	em.url = hs.URL
	return em
}

func (em *emulator) app(client *http.Client) conn.App {
	a := conn.EmulatorApp(em.url, qbotest.DefaultClientID, qbotest.DefaultClientSecret, "http://books.test/oauth/qbo/callback")
	a.HTTPClient = client
	return a
}

// connect stores a connection of entity to the emulator's realm with tokens it issued, whose
// access token we take to expire at accessExpires.
func (b testBundle) connectTo(t *testing.T, em *emulator, entity, realm string, accessExpires time.Time) *ent.QBOConnection {
	t.Helper()
	tr := em.IssueTokens(realm)
	row, err := b.store.Save(b.ctx, b.c, conn.Connect{EntityID: entity, RealmID: realm, BaseURL: em.url,
		Tokens: conn.Tokens{
			Access:           tr.AccessToken,
			Refresh:          tr.RefreshToken,
			AccessExpiresAt:  accessExpires,
			RefreshExpiresAt: time.Now().Add(qbotest.RefreshTokenLifetime),
		}})
	require.NoError(t, err)
	return row
}

func (b testBundle) refresher(app conn.App) *conn.Refresher {
	return &conn.Refresher{Store: b.store, DB: b.db, App: app}
}

func (b testBundle) stored(t *testing.T, id string) (conn.Tokens, int64) {
	t.Helper()
	tok, gen, err := b.store.Tokens(b.ctx, b.c, id)
	require.NoError(t, err)
	return tok, gen
}

// expire makes the stored access token expire now.
func (b testBundle) expire(t *testing.T, id string) {
	t.Helper()
	b.exec(t, `UPDATE qbo_connections SET access_expires_at = ? WHERE id = ?`, time.Now().UTC().Add(-time.Second), id)
}

// requireAPIAccepts calls the emulator's API with access.
func requireAPIAccepts(t *testing.T, em *emulator, realm, access string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, em.url+"/v3/company/"+realm+"/companyinfo/"+realm, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// transport is an http.RoundTripper whose token responses a test can lose or replace.
type transport struct {
	// lose, while positive, sends a token request and then drops its answer.
	lose atomic.Int32
	// fail answers token requests with this status without sending them, when non-zero.
	fail atomic.Int32
	// answered, when set, runs after Intuit answered a token request, before the caller
	// sees the answer.
	answered func()
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == tokenPath {
		if code := tr.fail.Load(); code != 0 {
			return &http.Response{StatusCode: int(code), Status: http.StatusText(int(code)), Request: r,
				Header: http.Header{"Content-Type": {"text/html"}}, Body: io.NopCloser(strings.NewReader("<html>down</html>"))}, nil
		}
		if tr.lose.Add(-1) >= 0 {
			res, err := http.DefaultTransport.RoundTrip(r)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			return nil, errors.New("connection reset by peer (the test lost the answer)")
		}
		if tr.answered != nil {
			res, err := http.DefaultTransport.RoundTrip(r)
			if err == nil {
				tr.answered()
			}
			return res, err
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestToken(t *testing.T) {
	t.Parallel()

	t.Run("ValidTokenNoRefresh", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			realm := em.RealmIDs()[0]
			row := b.connectTo(t, em, b.us, realm, time.Now().Add(time.Hour))
			before, _ := b.stored(t, row.ID)

			r := b.refresher(em.app(nil))
			tok, err := r.Token(b.ctx, row.ID)
			require.NoError(t, err)
			require.Equal(t, before.Access, tok.AccessToken)
			require.Empty(t, tok.RefreshToken, "the refresh token never leaves the package")
			require.Zero(t, em.refreshes.Load())

			res, err := r.HTTPClient(b.ctx, row.ID).Get(em.url + "/v3/company/" + realm + "/companyinfo/" + realm)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
		})
	})

	// The rotated refresh token is stored before the new access token is returned.
	t.Run("RefreshPersistsRotation", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			realm := em.RealmIDs()[0]
			row := b.connectTo(t, em, b.us, realm, time.Now())
			before, _ := b.stored(t, row.ID)

			r := b.refresher(em.app(nil))
			tok, err := r.Token(b.ctx, row.ID)
			require.NoError(t, err)
			require.EqualValues(t, 1, em.refreshes.Load())
			after, gen := b.stored(t, row.ID)
			require.EqualValues(t, 2, gen)
			require.Equal(t, after.Access, tok.AccessToken)
			require.NotEqual(t, before.Access, after.Access)
			require.NotEqual(t, before.Refresh, after.Refresh, "the rotated refresh token is stored")
			require.WithinDuration(t, time.Now().Add(qbotest.AccessTokenLifetime), after.AccessExpiresAt, time.Minute)
			require.WithinDuration(t, tok.Expiry, after.AccessExpiresAt, time.Second)
			require.WithinDuration(t, time.Now().Add(qbotest.RefreshTokenLifetime), after.RefreshExpiresAt, time.Minute)
			requireAPIAccepts(t, em, realm, tok.AccessToken)

			// Fresh now: handed out again without a refresh.
			again, err := r.Token(b.ctx, row.ID)
			require.NoError(t, err)
			require.Equal(t, tok.AccessToken, again.AccessToken)
			require.EqualValues(t, 1, em.refreshes.Load())

			// Past the grace period only the stored (newest) refresh token works.
			em.clock.Advance(25 * time.Hour)
			b.expire(t, row.ID)
			_, err = r.Token(b.ctx, row.ID)
			require.NoError(t, err)
			_, gen = b.stored(t, row.ID)
			require.EqualValues(t, 3, gen)
		})
	})

	// A save that fails leaves the new tokens unused: the caller gets an error, the stored
	// tokens stay, and the next call refreshes with the old refresh token (Intuit's grace).
	t.Run("SaveFailsClosed", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			realm := em.RealmIDs()[0]
			row := b.connectTo(t, em, b.us, realm, time.Now())
			before, _ := b.stored(t, row.ID)

			b.rejectRotation(t, true)
			r := b.refresher(em.app(nil))
			tok, err := r.Token(b.ctx, row.ID)
			require.Error(t, err)
			require.Nil(t, tok)
			require.Contains(t, err.Error(), "rejected by the test")
			require.EqualValues(t, 1, em.refreshes.Load(), "Intuit rotated")
			kept, gen := b.stored(t, row.ID)
			require.EqualValues(t, 1, gen)
			requireTokens(t, before, kept)

			b.rejectRotation(t, false)
			tok, err = r.Token(b.ctx, row.ID)
			require.NoError(t, err)
			require.EqualValues(t, 2, em.refreshes.Load())
			after, gen := b.stored(t, row.ID)
			require.EqualValues(t, 2, gen)
			require.Equal(t, after.Access, tok.AccessToken)
			requireAPIAccepts(t, em, realm, tok.AccessToken)
		})
	})

	// The company is connected again while a refresh is in flight. On SQLite the reconnect
	// lands first and the refresh's save fails (compare-and-swap): its tokens are never
	// handed out. On PostgreSQL the reconnect waits for the row lock and lands after the
	// refresh. Either way the reconnect's tokens are the ones stored.
	t.Run("ReconnectDuringRefresh", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			realm := em.RealmIDs()[0]
			row := b.connectTo(t, em, b.us, realm, time.Now())
			issued := em.IssueTokens(realm)
			again := conn.Tokens{Access: issued.AccessToken, Refresh: issued.RefreshToken,
				AccessExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second), RefreshExpiresAt: time.Now().Add(100 * 24 * time.Hour).Truncate(time.Second)}
			reconnected := make(chan error, 1)
			tr := &transport{}
			tr.answered = func() {
				go func() {
					_, err := b.store.Save(b.ctx, b.c, conn.Connect{EntityID: b.us, RealmID: realm, BaseURL: em.url, Tokens: again})
					reconnected <- err
				}()
				if b.db.Dialect == dialect.SQLite {
					err := <-reconnected
					reconnected <- err
					return
				}
				select {
				case err := <-reconnected:
					reconnected <- err
					t.Error("the reconnect did not wait for the row lock")
				case <-time.After(300 * time.Millisecond):
				}
			}
			tok, err := b.refresher(em.app(&http.Client{Transport: tr})).Token(b.ctx, row.ID)
			if b.db.Dialect == dialect.SQLite {
				requireCode(t, err, apperr.Conflict)
				require.Nil(t, tok)
			} else {
				require.NoError(t, err)
			}
			require.NoError(t, <-reconnected)
			stored, _ := b.stored(t, row.ID)
			requireTokens(t, again, stored)
			require.EqualValues(t, 1, em.refreshes.Load())
		})
	})

	// Intuit rotated, but its answer never arrived: the old refresh token still works within
	// the grace period, and the newest pair is stored.
	t.Run("LostRotationSurvivesGrace", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			realm := em.RealmIDs()[0]
			row := b.connectTo(t, em, b.us, realm, time.Now())
			before, _ := b.stored(t, row.ID)

			tr := &transport{}
			tr.lose.Store(1)
			r := b.refresher(em.app(&http.Client{Transport: tr}))
			_, err := r.Token(b.ctx, row.ID)
			require.Error(t, err)
			require.NotEqual(t, apperr.QBONotConnected, apperr.Code(err), "a lost answer is retryable: %v", err)
			kept, gen := b.stored(t, row.ID)
			require.EqualValues(t, 1, gen)
			requireTokens(t, before, kept)

			em.clock.Advance(23 * time.Hour) // inside the 24 h grace period
			tok, err := r.Token(b.ctx, row.ID)
			require.NoError(t, err)
			require.EqualValues(t, 2, em.refreshes.Load())
			after, gen := b.stored(t, row.ID)
			require.EqualValues(t, 2, gen)
			require.NotEqual(t, before.Refresh, after.Refresh)
			requireAPIAccepts(t, em, realm, tok.AccessToken)

			// The stored pair is the newest: it outlives the grace period of both older ones.
			em.clock.Advance(25 * time.Hour)
			b.expire(t, row.ID)
			_, err = r.Token(b.ctx, row.ID)
			require.NoError(t, err)
		})
	})

	// The same loss discovered after the grace period: Intuit refuses, the connection needs
	// re-authorization.
	t.Run("LostRotationAfterGrace", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			row := b.connectTo(t, em, b.us, em.RealmIDs()[0], time.Now())
			tr := &transport{}
			tr.lose.Store(1)
			r := b.refresher(em.app(&http.Client{Transport: tr}))
			_, err := r.Token(b.ctx, row.ID)
			require.Error(t, err)

			em.clock.Advance(25 * time.Hour)
			_, err = r.Token(b.ctx, row.ID)
			requireCode(t, err, apperr.QBONotConnected)
			got, err := b.store.Get(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.Equal(t, qboconnection.StatusNeedsReauth, got.Status)
		})
	})

	t.Run("InvalidGrantNeedsReauth", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			realm := em.RealmIDs()[0]
			row := b.connectTo(t, em, b.us, realm, time.Now())
			before, _ := b.stored(t, row.ID)
			require.Equal(t, 1, em.RevokeGrants(realm))

			r := b.refresher(em.app(nil))
			_, refused := r.Token(b.ctx, row.ID)
			requireCode(t, refused, apperr.QBONotConnected)
			require.EqualValues(t, 1, em.refreshes.Load())

			got, err := b.store.Get(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.Equal(t, qboconnection.StatusNeedsReauth, got.Status)
			require.Contains(t, got.LastError, "invalid_grant")
			require.EqualValues(t, 1, got.TokenGeneration, "the tokens are kept")

			issues, err := b.c.AdminIssue.Query().All(b.ctx)
			require.NoError(t, err)
			require.Len(t, issues, 1)
			iss := issues[0]
			require.Equal(t, conn.NeedsReauthKind, iss.Kind)
			require.Equal(t, row.ID, iss.SubjectID)
			require.Equal(t, apperr.QBONotConnected, iss.ErrorCode)
			require.Equal(t, adminissue.StatusOpen, iss.Status)
			require.Equal(t, 1, iss.Occurrences)
			require.NotNil(t, iss.EntityID)
			require.Equal(t, b.us, *iss.EntityID)
			for _, s := range []string{iss.ErrorMessage, got.LastError, refused.Error()} {
				require.NotContains(t, s, before.Refresh)
				require.NotContains(t, s, before.Access)
			}

			// Paused: later calls, concurrent or not, do not call Intuit.
			var wg sync.WaitGroup
			for range 5 {
				wg.Go(func() {
					_, err := r.Token(b.ctx, row.ID)
					requireCode(t, err, apperr.QBONotConnected)
				})
			}
			wg.Wait()
			_, err = r.HTTPClient(b.ctx, row.ID).Get(em.url + "/v3/company/" + realm + "/companyinfo/" + realm)
			require.Error(t, err)
			require.Equal(t, apperr.QBONotConnected, apperr.Code(err), "%v", err)
			require.EqualValues(t, 1, em.refreshes.Load())
			n, err := b.c.AdminIssue.Query().Count(b.ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
	})

	t.Run("DisconnectedNotCalled", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			row := b.connectTo(t, em, b.us, em.RealmIDs()[0], time.Now())
			_, err := b.store.Disconnect(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			_, err = b.refresher(em.app(nil)).Token(b.ctx, row.ID)
			requireCode(t, err, apperr.QBONotConnected)
			require.Zero(t, em.refreshes.Load())
		})
	})

	// An outage at Intuit changes nothing and is not a refusal.
	t.Run("ServerErrorRetryable", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			row := b.connectTo(t, em, b.us, em.RealmIDs()[0], time.Now())
			before, _ := b.stored(t, row.ID)
			tr := &transport{}
			tr.fail.Store(http.StatusServiceUnavailable)
			r := b.refresher(em.app(&http.Client{Transport: tr}))
			_, err := r.Token(b.ctx, row.ID)
			require.Error(t, err)
			require.NotEqual(t, apperr.QBONotConnected, apperr.Code(err), "%v", err)
			require.Contains(t, err.Error(), "503")
			require.NotContains(t, err.Error(), "down", "the body is Intuit's to word")
			kept, gen := b.stored(t, row.ID)
			require.EqualValues(t, 1, gen)
			requireTokens(t, before, kept)
			got, err := b.store.Get(b.ctx, b.c, row.ID)
			require.NoError(t, err)
			require.Equal(t, qboconnection.StatusConnected, got.Status)

			tr.fail.Store(0)
			_, err = r.Token(b.ctx, row.ID)
			require.NoError(t, err)
		})
	})

	// A caller waiting for another process's refresh gives up with its context; the holder's
	// refresh is untouched.
	t.Run("WaitGivesUp", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			if b.db.Dialect != dialect.Postgres {
				t.Skip("the row lock is PostgreSQL's; SQLite has one process")
			}
			em := newEmulator(t, 1, 0)
			row := b.connectTo(t, em, b.us, em.RealmIDs()[0], time.Now())
			other, err := b.db.SQL.BeginTx(context.Background(), nil)
			require.NoError(t, err)
			defer other.Rollback()
			_, err = other.Exec(`SELECT id FROM qbo_connections WHERE id = $1 FOR UPDATE`, row.ID)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
			defer cancel()
			started := time.Now()
			_, err = b.refresher(em.app(nil)).Token(ctx, row.ID)
			require.Error(t, err)
			require.Less(t, time.Since(started), 5*time.Second)
			require.Zero(t, em.refreshes.Load())
			require.NoError(t, other.Rollback())
			_, gen := b.stored(t, row.ID)
			require.EqualValues(t, 1, gen)
		})
	})

	t.Run("OtherOrganization", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b testBundle) {
			em := newEmulator(t, 1, 0)
			row := b.connectTo(t, em, b.us, em.RealmIDs()[0], time.Now())
			_, err := b.refresher(em.app(nil)).Token(b.ctxB, row.ID)
			requireCode(t, err, apperr.NotFound)
			require.Zero(t, em.refreshes.Load())
		})
	})
}

// rejectRotation makes the database refuse (on) or accept again (off) any change of a stored
// refresh token, so that saving a refresh fails after Intuit rotated.
func (b testBundle) rejectRotation(t *testing.T, on bool) {
	t.Helper()
	var stmts []string
	switch {
	case b.db.Dialect == dialect.Postgres && on:
		stmts = []string{
			`CREATE FUNCTION reject_rotation() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'rejected by the test'; END $$`,
			`CREATE TRIGGER reject_rotation BEFORE UPDATE OF refresh_token_sealed ON qbo_connections FOR EACH ROW EXECUTE FUNCTION reject_rotation()`,
		}
	case b.db.Dialect == dialect.Postgres:
		stmts = []string{`DROP TRIGGER reject_rotation ON qbo_connections`}
	case on:
		stmts = []string{`CREATE TRIGGER reject_rotation BEFORE UPDATE OF refresh_token_sealed ON qbo_connections ` +
			`BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END`}
	default:
		stmts = []string{`DROP TRIGGER reject_rotation`}
	}
	for _, s := range stmts {
		b.exec(t, s)
	}
}

// Helper-process environment of TestConcurrentRefresh.
const (
	helperEnv     = "BOOKS_CONN_TOKEN_HELPER"
	helperDBEnv   = "BOOKS_CONN_TOKEN_DB"
	helperKeysEnv = "BOOKS_CONN_TOKEN_KEYS"
	helperOrgEnv  = "BOOKS_CONN_TOKEN_ORG"
	helperIDEnv   = "BOOKS_CONN_TOKEN_ID"
	helperURLEnv  = "BOOKS_CONN_TOKEN_EMULATOR"
	perProcess    = 25
)

// 50 calls at the moment of expiry cause exactly one refresh, and all get its token. On
// PostgreSQL the calls come from two processes (this one and a re-executed test binary, see
// TestHelperProcessTokens) sharing the database and the emulator, so the row lock is what
// keeps them apart. SQLite is one process's database here (a single-connection pool), so it
// runs the 50 in this process.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		// Each refresh takes 100 ms, so that every call arrives while one is in flight.
		em := newEmulator(t, 1, 100*time.Millisecond)
		realm := em.RealmIDs()[0]
		row := b.connectTo(t, em, b.us, realm, time.Now())
		r := b.refresher(em.app(nil))
		org, ok := tenant.Org(b.ctx)
		require.True(t, ok)

		local := 2 * perProcess
		var child *helper
		if b.db.Dialect == dialect.Postgres {
			local = perProcess
			child = startHelper(t, b, org, row.ID, em.url)
		}
		start := make(chan struct{})
		results := make([]string, local)
		var wg sync.WaitGroup
		for i := range local {
			wg.Go(func() {
				<-start
				tok, err := r.Token(b.ctx, row.ID)
				if err != nil {
					results[i] = "error " + err.Error()
					return
				}
				results[i] = "token " + tok.AccessToken
			})
		}
		if child != nil {
			child.start(t)
		}
		close(start)
		wg.Wait()
		if child != nil {
			results = append(results, child.wait(t)...)
		}

		require.Len(t, results, 2*perProcess)
		stored, gen := b.stored(t, row.ID)
		require.EqualValues(t, 2, gen, "one refresh stored")
		for _, res := range results {
			require.Equal(t, "token "+stored.Access, res, "every call gets the one new token")
		}
		require.EqualValues(t, 1, em.refreshes.Load(), "exactly one refresh at Intuit")
		requireAPIAccepts(t, em, realm, stored.Access)
	})
}

type helper struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	lines chan []string
}

// startHelper runs TestHelperProcessTokens in a new process and waits until it is ready.
func startHelper(t *testing.T, b testBundle, org, id, emulatorURL string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessTokens$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperDBEnv+"="+b.url, helperKeysEnv+"="+b.keys,
		helperOrgEnv+"="+org, helperIDEnv+"="+id, helperURLEnv+"="+emulatorURL)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	h := &helper{cmd: cmd, in: in, out: bufio.NewScanner(out), lines: make(chan []string, 1)}
	for h.out.Scan() {
		if h.out.Text() == "ready" {
			return h
		}
	}
	t.Fatalf("helper process ended before it was ready: %v", h.out.Err())
	return nil
}

func (h *helper) start(t *testing.T) {
	t.Helper()
	go func() {
		var lines []string
		for h.out.Scan() {
			if s := h.out.Text(); strings.HasPrefix(s, "token ") || strings.HasPrefix(s, "error ") {
				lines = append(lines, s)
			}
		}
		h.lines <- lines
	}()
	_, err := io.WriteString(h.in, "go\n")
	require.NoError(t, err)
}

func (h *helper) wait(t *testing.T) []string {
	t.Helper()
	select {
	case lines := <-h.lines:
		require.NoError(t, h.cmd.Wait())
		return lines
	case <-time.After(time.Minute):
		t.Fatal("helper process did not finish")
		return nil
	}
}

// TestHelperProcessTokens is the second process of TestConcurrentRefresh: it opens the same
// database, says "ready", and on "go" makes perProcess concurrent calls, printing each
// result. It does nothing in a normal test run.
func TestHelperProcessTokens(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("the helper process of TestConcurrentRefresh")
	}
	ctx := context.Background()
	db, err := database.Open(ctx, os.Getenv(helperDBEnv))
	require.NoError(t, err)
	defer db.Close()
	box, err := secrets.ParseKeys(os.Getenv(helperKeysEnv))
	require.NoError(t, err)
	app := conn.EmulatorApp(os.Getenv(helperURLEnv), qbotest.DefaultClientID, qbotest.DefaultClientSecret,
		"http://books.test/oauth/qbo/callback")
	r := &conn.Refresher{Store: conn.NewStore(box), DB: db, App: app}
	ctx = tenant.WithOrg(ctx, os.Getenv(helperOrgEnv))
	id := os.Getenv(helperIDEnv)
	// Warm the pool, so that the calls start together.
	require.NoError(t, db.SQL.PingContext(ctx))

	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	require.True(t, in.Scan())
	require.Equal(t, "go", in.Text())

	var mu sync.Mutex
	var wg sync.WaitGroup
	for range perProcess {
		wg.Go(func() {
			tok, err := r.Token(ctx, id)
			line := ""
			if err != nil {
				line = "error " + strings.ReplaceAll(err.Error(), "\n", " ")
			} else {
				line = "token " + tok.AccessToken
			}
			mu.Lock()
			fmt.Println(line)
			mu.Unlock()
		})
	}
	wg.Wait()
}

func TestRefreshWorker(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		em := newEmulator(t, 6, 0)
		realms := em.RealmIDs()
		entity := func(code string) string {
			e, err := b.c.LegalEntity.Create().SetCode(code).SetName("Entity " + code).SetBaseCurrency("USD").Save(b.ctx)
			require.NoError(t, err)
			return e.ID
		}
		in := time.Now().Add
		day := 24 * time.Hour
		type conn_ struct {
			name            string
			access, refresh time.Time
			refused         bool // revoked at Intuit
			paused          bool // already needs re-authorization
			refreshed       bool
		}
		cases := []conn_{
			{name: "AccessSoon", access: in(10 * time.Minute), refresh: in(100 * day), refreshed: true},
			{name: "Fresh", access: in(50 * time.Minute), refresh: in(100 * day)},
			{name: "RollingSoon", access: in(50 * time.Minute), refresh: in(20 * day), refreshed: true},
			{name: "Refused", access: in(time.Minute), refresh: in(100 * day), refused: true},
			{name: "Paused", access: in(time.Minute), refresh: in(100 * day), paused: true},
			{name: "Expired", access: in(-time.Hour), refresh: in(100 * day), refreshed: true},
		}
		rows := make([]*ent.QBOConnection, len(cases))
		for i, c := range cases {
			tr := em.IssueTokens(realms[i])
			row, err := b.store.Save(b.ctx, b.c, conn.Connect{EntityID: entity(fmt.Sprintf("E%d", i)), RealmID: realms[i],
				BaseURL: em.url, Tokens: conn.Tokens{Access: tr.AccessToken, Refresh: tr.RefreshToken,
					AccessExpiresAt: c.access, RefreshExpiresAt: c.refresh}})
			require.NoError(t, err)
			rows[i] = row
			if c.refused {
				require.Equal(t, 1, em.RevokeGrants(realms[i]))
			}
			if c.paused {
				require.NoError(t, b.store.MarkNeedsReauth(b.ctx, b.c, row.ID, 1, "invalid_grant"))
			}
		}

		w := &conn.RefreshWorker{Refresher: b.refresher(em.app(nil))}
		// Work runs in the job's context, which names no organization.
		require.NoError(t, w.Work(context.Background(), &river.Job[conn.RefreshArgs]{}))
		require.EqualValues(t, 4, em.refreshes.Load(), "three due and one refused; none for the fresh or paused")

		for i, c := range cases {
			got, err := b.store.Get(b.ctx, b.c, rows[i].ID)
			require.NoError(t, err)
			switch {
			case c.refreshed:
				require.EqualValues(t, 2, got.TokenGeneration, c.name)
				require.True(t, got.AccessExpiresAt.After(in(55*time.Minute)), c.name)
				require.True(t, got.RefreshExpiresAt.After(in(100*day)), c.name)
			case c.refused || c.paused:
				require.Equal(t, qboconnection.StatusNeedsReauth, got.Status, c.name)
				require.EqualValues(t, 1, got.TokenGeneration, c.name)
			default:
				require.EqualValues(t, 1, got.TokenGeneration, c.name)
			}
		}
		issues, err := b.c.AdminIssue.Query().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, issues, 1, "the refused connection's")
		require.Equal(t, rows[3].ID, issues[0].SubjectID)

		// Nothing is due any more.
		require.NoError(t, w.Work(context.Background(), &river.Job[conn.RefreshArgs]{}))
		require.EqualValues(t, 4, em.refreshes.Load())
	})
}

// The worker and its periodic job as cmd/books registers them: a leader's first run refreshes
// what is due.
func TestRefreshJobRegistered(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b testBundle) {
		ctx := context.Background()
		_, err := jobs.Migrate(ctx, b.db)
		require.NoError(t, err)
		em := newEmulator(t, 1, 0)
		row := b.connectTo(t, em, b.us, em.RealmIDs()[0], time.Now().Add(10*time.Minute))

		kinds := jobs.NewKinds()
		jobs.Register(kinds, &conn.RefreshWorker{Refresher: b.refresher(em.app(nil))})
		runner, err := jobs.New(b.db, jobs.Config{Kinds: kinds, Periodic: []jobs.Periodic{conn.RefreshPeriodic}})
		require.NoError(t, err)
		require.NoError(t, runner.Start(ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, runner.Stop(ctx))
		})
		require.Eventually(t, func() bool {
			_, gen, err := b.store.Tokens(b.ctx, b.c, row.ID)
			return err == nil && gen == 2
		}, 30*time.Second, 50*time.Millisecond)
		require.EqualValues(t, 1, em.refreshes.Load())
	})
}
