// Package dbtest gives each test its own migrated database: a fresh SQLite file always, and
// a fresh PostgreSQL schema when BOOKS_TEST_POSTGRES_URL is set. With
// BOOKS_TEST_REQUIRE_POSTGRES=1 a missing PostgreSQL fails the test instead of skipping it.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/internal/database"
	"books/jobs"
)

// Dialects returns the dialects to run a table of tests on: SQLite always, PostgreSQL when
// configured.
func Dialects(t testing.TB) []string {
	t.Helper()
	out := []string{dialect.SQLite}
	if PostgresURL(t) != "" {
		out = append(out, dialect.Postgres)
	}
	return out
}

// PostgresURL returns BOOKS_TEST_POSTGRES_URL, failing the test when it is required but unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("BOOKS_TEST_POSTGRES_URL")
	if u == "" && os.Getenv("BOOKS_TEST_REQUIRE_POSTGRES") == "1" {
		t.Fatal("BOOKS_TEST_REQUIRE_POSTGRES=1 but BOOKS_TEST_POSTGRES_URL is not set")
	}
	return u
}

// URL returns the URL of a new, empty database of the dialect, removed when the test ends.
func URL(t testing.TB, dialectName string) string {
	t.Helper()
	if dialectName == dialect.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "books.db")
	}
	base := PostgresURL(t)
	require.NotEmpty(t, base, "PostgreSQL requested but BOOKS_TEST_POSTGRES_URL is not set")
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("postgres", base)
	require.NoError(t, err)
	_, err = admin.Exec(`CREATE SCHEMA ` + schema)
	require.NoError(t, err, "create test schema (is PostgreSQL running at BOOKS_TEST_POSTGRES_URL?)")
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated database of the dialect for this test alone.
func Open(t testing.TB, dialectName string) *database.DB {
	t.Helper()
	db := OpenEmpty(t, dialectName)
	_, err := db.Migrate(context.Background())
	require.NoError(t, err)
	return db
}

// OpenJobs returns a database of the dialect for this test alone with both our migrations
// and River's (the jobs tables) applied, as `books migrate` leaves it.
func OpenJobs(t testing.TB, dialectName string) *database.DB {
	t.Helper()
	db := Open(t, dialectName)
	_, err := jobs.Migrate(context.Background(), db)
	require.NoError(t, err)
	return db
}

// OpenEmpty returns an unmigrated database of the dialect for this test alone.
func OpenEmpty(t testing.TB, dialectName string) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), URL(t, dialectName))
	require.NoError(t, err)
	if dialectName == dialect.Postgres {
		// Tests keep their databases open while their parallel subtests wait their turn; idle
		// connections kept by each would add up past the server's max_connections (100) and
		// fail unrelated tests with "too many clients". A test under load still opens up to
		// the pool's maximum.
		db.SQL.SetMaxIdleConns(2)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
