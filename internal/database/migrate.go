package database

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"

	"books/ent/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations for the dialect, in order.
func Migrations(dialectName string) ([]Migration, error) {
	dir := path.Join("migrations", dirFor(dialectName))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := range out {
		if out[i].Version != i+1 {
			return nil, fmt.Errorf("migrations must be numbered 1..n without gaps; found %s", out[i].Name)
		}
	}
	return out, nil
}

func dirFor(dialectName string) string {
	if dialectName == dialect.Postgres {
		return "postgres"
	}
	return "sqlite"
}

const createVersionTable = `CREATE TABLE IF NOT EXISTS books_schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

// Migrate applies every pending migration, each in its own transaction. On PostgreSQL an
// advisory lock keeps two starting servers from migrating at once.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	migs, err := Migrations(db.Dialect)
	if err != nil {
		return nil, err
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if db.Dialect == dialect.Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7426001)`); err != nil {
			return nil, fmt.Errorf("take migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7426001)`)
	}
	if _, err := conn.ExecContext(ctx, createVersionTable); err != nil {
		return nil, fmt.Errorf("create migration table: %w", err)
	}
	current, err := currentVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	for _, m := range migs {
		if m.Version <= current {
			continue
		}
		if err := apply(ctx, conn, db.Dialect, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Name)
	}
	if db.Dialect == dialect.SQLite {
		if err := plannerStats(ctx, conn); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// plannerStats tells SQLite's planner that organization_id narrows little (a database holds
// one organization or a few). Without statistics SQLite takes an equality on an index's first
// column for about ten rows, so a query scoped to the organization that looks rows up by an
// IN list of ids (ent's eager loading, the QuickBooks drain's batches) walked every row of
// the organization through an index led by organization_id instead of using the primary key:
// a hundredfold slower at ten thousand rows. Each such index gets a row of sqlite_stat1 (a
// million rows, a tenth per organization, a tenth of that per further column) unless it has
// one: an ANALYZE someone runs later replaces them with measured ones, which say the same.
func plannerStats(ctx context.Context, conn *sql.Conn) error {
	// ANALYZE of the schema table alone creates sqlite_stat1 without reading any table.
	if _, err := conn.ExecContext(ctx, `ANALYZE sqlite_schema`); err != nil {
		return fmt.Errorf("planner statistics: %w", err)
	}
	rows, err := conn.QueryContext(ctx, `
		SELECT s.tbl_name, s.name, l."unique", (SELECT count(*) FROM pragma_index_info(s.name))
		FROM sqlite_schema s JOIN pragma_index_list(s.tbl_name) l ON l.name = s.name
		WHERE s.type = 'index'
		  AND (SELECT i.name FROM pragma_index_info(s.name) i WHERE i.seqno = 0) = 'organization_id'
		  AND s.name NOT IN (SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL)`)
	if err != nil {
		return fmt.Errorf("planner statistics: %w", err)
	}
	type stat struct{ table, index, stat string }
	var stats []stat
	for rows.Next() {
		var table, index string
		var unique bool
		var columns int
		if err := rows.Scan(&table, &index, &unique, &columns); err != nil {
			rows.Close()
			return fmt.Errorf("planner statistics: %w", err)
		}
		est := []string{"1000000"}
		n := 100000
		for c := 0; c < columns; c++ {
			if unique && c == columns-1 {
				n = 1
			}
			est = append(est, strconv.Itoa(n))
			n = max(1, n/10)
		}
		stats = append(stats, stat{table, index, strings.Join(est, " ")})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("planner statistics: %w", err)
	}
	for _, s := range stats {
		if _, err := conn.ExecContext(ctx, `INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)`,
			s.table, s.index, s.stat); err != nil {
			return fmt.Errorf("planner statistics: %w", err)
		}
	}
	// Loads the statistics into this connection (the pool's only one).
	if _, err := conn.ExecContext(ctx, `ANALYZE sqlite_schema`); err != nil {
		return fmt.Errorf("planner statistics: %w", err)
	}
	return nil
}

func apply(ctx context.Context, conn *sql.Conn, dialectName string, m Migration) error {
	if dialectName == dialect.SQLite {
		// Rebuilding a table (SQLite's only way to add a constraint) drops the old one, which
		// foreign keys would refuse; SQLite ignores this pragma inside a transaction, so it is
		// set around it, and the keys are checked before the commit instead.
		if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if dialectName == dialect.SQLite {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO books_schema_migrations (version, name) VALUES (`+strconv.Itoa(m.Version)+`, '`+m.Name+`')`); err != nil {
		return fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	return tx.Commit()
}

// foreignKeyCheck fails when any row of the SQLite database breaks a foreign key.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		return fmt.Errorf("a row of %s refers to a missing row of %s", table, parent)
	}
	return rows.Err()
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func currentVersion(ctx context.Context, q queryer) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM books_schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Pending returns how many migrations are not applied yet; readiness requires zero.
func (db *DB) Pending(ctx context.Context) (int, error) {
	migs, err := Migrations(db.Dialect)
	if err != nil {
		return 0, err
	}
	v, err := currentVersion(ctx, db.SQL)
	if err != nil {
		return len(migs), err
	}
	return len(migs) - v, nil
}

// SchemaDiff returns the DDL ent would run to bring the database in line with the ent
// schema; empty means the migrations and the ent schema agree. Developers write a new
// migration from it after changing ent/schema.
func (db *DB) SchemaDiff(ctx context.Context) (string, error) {
	var buf bytes.Buffer
	client := db.Client()
	if err := client.Schema.WriteTo(ctx, &buf, migrate.WithDropColumn(true), migrate.WithDropIndex(true)); err != nil {
		return "", err
	}
	var ddl []string
	for _, line := range strings.Split(buf.String(), "\n") {
		switch strings.TrimSpace(line) {
		case "", "BEGIN;", "COMMIT;":
			continue
		}
		ddl = append(ddl, line)
	}
	return strings.Join(ddl, "\n"), nil
}
