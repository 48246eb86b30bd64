package database_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/database"
)

// requireMode fails unless path exists with permission bits want.
func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, st.Mode().Perm(), path)
}

// The SQLite database holds the ledger and key hashes: its directory and files are the
// owner's only, whatever the umask. The test runs again in a child process under umask 000,
// where the defaults would leave everything world-readable and writable.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "books.db")
	db, err := database.Open(context.Background(), "sqlite://"+path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Migrate(context.Background()) // writes, so the -wal and -shm files exist
	require.NoError(t, err)

	requireMode(t, dir, 0o700)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		requireMode(t, f, 0o600)
	}

	if os.Getenv("BOOKS_TEST_UMASK_CHILD") == "1" {
		// Prove the child really runs under umask 000.
		control := filepath.Join(t.TempDir(), "control")
		require.NoError(t, os.WriteFile(control, nil, 0o666))
		requireMode(t, control, 0o666)
		return
	}
	cmd := exec.Command("sh", "-c", `umask 000 && exec "$0" -test.run '^TestSQLiteFilesArePrivate$' -test.count=1`, os.Args[0])
	cmd.Env = append(os.Environ(), "BOOKS_TEST_UMASK_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "under umask 000:\n%s", out)
}

// An existing database keeps the mode its owner gave it.
func TestSQLiteKeepsExistingMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "books.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Chmod(path, 0o640))
	db, err := database.Open(context.Background(), "sqlite://"+path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	requireMode(t, path, 0o640)
}

// A query scoped to the organization that looks rows up by a list of ids must use the
// primary key (or the foreign key's index), not walk every row of the organization: SQLite,
// without statistics, took organization_id = ? for the narrower search. The statistics
// Migrate writes hold after a restart and a second Migrate.
func TestSQLitePlansListsByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "books.db")
	plans := map[string]string{
		"SELECT id FROM qbo_links WHERE organization_id = 'o' AND id IN ('a', 'b', 'c') AND status <> 'synced'":  "sqlite_autoindex_qbo_links_1",
		"SELECT id FROM invoice_lines WHERE organization_id = 'o' AND invoice_id IN ('a', 'b')":                  "invoiceline_invoice_id_line_no",
		"SELECT id FROM invoices WHERE organization_id = 'o' AND id IN ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')": "sqlite_autoindex_invoices_1",
	}
	var rows int
	for round := 0; round < 2; round++ {
		db, err := database.Open(ctx, "sqlite://"+path)
		require.NoError(t, err)
		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		for q, index := range plans {
			var id, parent, notused int
			var detail string
			require.NoError(t, db.SQL.QueryRowContext(ctx, "EXPLAIN QUERY PLAN "+q).Scan(&id, &parent, &notused, &detail))
			require.Contains(t, detail, "USING INDEX "+index, q)
		}
		var n int
		require.NoError(t, db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_stat1`).Scan(&n))
		require.Positive(t, n)
		if round == 1 {
			require.Equal(t, rows, n, "a second Migrate writes no statistics twice")
		}
		rows = n
		require.NoError(t, db.Close())
	}
}
