package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// books migrate creates the data directory and the database as privately as serve does (the
// rule lives in internal/database, which also covers the -wal and -shm files and the umask).
func TestMigrateCreatesPrivateDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, run(context.Background(), []string{"migrate", "--data-dir", dir}))
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "books.db"): 0o600} {
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, want, st.Mode().Perm(), path)
	}
}
