package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/stretchr/testify/require"

	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/tenant"
)

// Each outage is a real one: a closed pool, a port where nothing listens, a connection the
// server terminated. Each answer from a working database must not read as one.
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		require.False(t, database.IsUnavailable(nil))
	})

	for _, d := range dbtest.Dialects(t) {
		t.Run(d+"/closed pool", func(t *testing.T) {
			t.Parallel()
			db := dbtest.Open(t, d)
			require.NoError(t, db.Close())
			_, err := db.Client().Organization.Query().Count(tenant.System(ctx))
			require.Error(t, err)
			require.True(t, database.IsUnavailable(err), "err: %v", err)
			require.True(t, database.IsUnavailable(fmt.Errorf("load: %w", err)), "a wrapped outage")
		})

		t.Run(d+"/answers of a working database", func(t *testing.T) {
			t.Parallel()
			db := dbtest.Open(t, d)
			_, err := db.SQL.ExecContext(ctx, `SELECT * FROM no_such_table`)
			require.Error(t, err)
			require.False(t, database.IsUnavailable(err), "err: %v", err)
			_, err = db.SQL.ExecContext(ctx, `CREATE TABLE t (x INTEGER PRIMARY KEY)`)
			require.NoError(t, err)
			_, err = db.SQL.ExecContext(ctx, `INSERT INTO t VALUES (1), (1)`)
			require.Error(t, err)
			require.False(t, database.IsUnavailable(err), "err: %v", err)
			require.False(t, database.IsUnavailable(sql.ErrNoRows))
			require.False(t, database.IsUnavailable(context.Canceled))
		})
	}

	t.Run("postgres/nothing listening", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		db, err := sql.Open("postgres", "postgres://books@"+addr+"/books?sslmode=disable&connect_timeout=5")
		require.NoError(t, err)
		defer db.Close()
		err = db.PingContext(ctx)
		require.Error(t, err)
		require.True(t, database.IsUnavailable(err), "err: %v", err)
	})

	t.Run("postgres/connection terminated by the server", func(t *testing.T) {
		t.Parallel()
		if dbtest.PostgresURL(t) == "" {
			t.Skip("BOOKS_TEST_POSTGRES_URL is not set")
		}
		db := dbtest.Open(t, dialect.Postgres)
		tx, err := db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		var pid int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
		_, err = db.SQL.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, `SELECT 1`)
		require.Error(t, err)
		require.True(t, database.IsUnavailable(err), "err: %v", err)
	})

	t.Run("postgres/statement timeout", func(t *testing.T) {
		t.Parallel()
		if dbtest.PostgresURL(t) == "" {
			t.Skip("BOOKS_TEST_POSTGRES_URL is not set")
		}
		db := dbtest.Open(t, dialect.Postgres)
		tx, err := db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, `SET LOCAL statement_timeout = 1`)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, `SELECT pg_sleep(1)`)
		require.Error(t, err)
		require.False(t, database.IsUnavailable(err), "err: %v", err)
	})

	t.Run("sqlite/busy beyond the timeout", func(t *testing.T) {
		t.Parallel()
		u := dbtest.URL(t, dialect.SQLite)
		db, err := database.Open(ctx, u)
		require.NoError(t, err)
		defer db.Close()
		_, err = db.SQL.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`)
		require.NoError(t, err)
		holder, err := db.SQL.Conn(ctx)
		require.NoError(t, err)
		defer holder.Close()
		_, err = holder.ExecContext(ctx, `BEGIN IMMEDIATE`)
		require.NoError(t, err)
		defer holder.ExecContext(ctx, `ROLLBACK`) //nolint:errcheck

		other, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(u, "sqlite://")+"?_pragma=busy_timeout(20)")
		require.NoError(t, err)
		defer other.Close()
		_, err = other.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		require.Error(t, err)
		require.Contains(t, err.Error(), "SQLITE_BUSY")
		require.False(t, database.IsUnavailable(err), "err: %v", err)
	})

	// The SQLSTATEs of a server going away or not yet accepting, which a test cannot make a
	// shared server produce.
	for _, tc := range []struct {
		code pqerror.Code
		want bool
	}{
		{"08006", true},  // connection_failure
		{"08001", true},  // sqlclient_unable_to_establish_sqlconnection
		{"57P01", true},  // admin_shutdown
		{"57P02", true},  // crash_shutdown
		{"57P03", true},  // cannot_connect_now
		{"53300", true},  // too_many_connections
		{"57014", false}, // query_canceled
		{"55P03", false}, // lock_not_available
		{"40001", false}, // serialization_failure
		{"23505", false}, // unique_violation
	} {
		t.Run("sqlstate "+string(tc.code), func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("query: %w", &pq.Error{Code: tc.code, Message: "x"})
			require.Equal(t, tc.want, database.IsUnavailable(err))
			require.Equal(t, tc.want, database.IsUnavailable(errors.Join(errors.New("rollback"), err)))
		})
	}
}
