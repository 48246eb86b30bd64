package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/database"
	"books/internal/dbtest"
)

// TestWorkerRunsUntilCancelled starts `books worker` on a fresh SQLite database: it migrates
// ours and River's tables, serves metrics, and stops cleanly on SIGTERM-style cancellation.
func TestWorkerRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"worker", "--data-dir", dir, "--metrics-addr", addr}) }()

	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && len(b) > 0
	}, 30*time.Second, 50*time.Millisecond)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop")
	}

	db, err := database.Open(context.Background(), "sqlite://"+filepath.Join(dir, "books.db"))
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM river_job`).Scan(&n), "the worker applied River's migrations")
}

// TestMigrateAppliesRiverMigrations runs `books migrate` twice on each database.
func TestMigrateAppliesRiverMigrations(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t, d)
			require.NoError(t, run(context.Background(), []string{"migrate", "--database-url", url}))
			require.NoError(t, run(context.Background(), []string{"migrate", "--database-url", url}))
			db, err := database.Open(context.Background(), url)
			require.NoError(t, err)
			defer db.Close()
			var n int
			require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM river_migration`).Scan(&n))
			require.Positive(t, n)
			diff, err := db.SchemaDiff(context.Background())
			require.NoError(t, err)
			require.Empty(t, diff, "`books migrate --diff` stays empty with River's tables present")
		})
	}
}

// TestBenchJobs runs the jobs benchmark's in-process phase on a small scale.
func TestBenchJobs(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := dbtest.OpenJobs(t, d)
			p, err := benchJobsInProcess(context.Background(), db, jobsBenchOpts{count: 300, producers: 3, batch: 25, workers: 10})
			require.NoError(t, err)
			require.Equal(t, 300, p.Jobs)
			require.Positive(t, p.JobsPerSecond)
			require.Positive(t, p.P50ms)
			require.GreaterOrEqual(t, p.P99ms, p.P50ms)
			var completed int
			require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&completed))
			require.Equal(t, 300, completed)
		})
	}
}
