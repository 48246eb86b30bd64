package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const sources = "# Fixtures\n\n| File | Source | What it shows |\n| --- | --- | --- |\n" +
	"| `a.json` | some/repo, `a.json` @ 1234 | A. |\n| `b.json` | same repo | B. |\n"

// fixtureTree writes files (name → content) under a temporary module root.
func fixtureTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return root
}

func TestCheckFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string // "" for no error
	}{
		{"all present", map[string]string{
			"pkg/testdata/fx/SOURCES.md": sources, "pkg/testdata/fx/a.json": "{}", "pkg/testdata/fx/b.json": "{}",
		}, ""},
		{"listed fixture missing", map[string]string{
			"pkg/testdata/fx/SOURCES.md": sources, "pkg/testdata/fx/a.json": "{}",
		}, "b.json is listed in"},
		{"fixture without a source", map[string]string{
			"pkg/testdata/fx/SOURCES.md": sources, "pkg/testdata/fx/a.json": "{}", "pkg/testdata/fx/b.json": "{}",
			"pkg/testdata/fx/c.json": "{}",
		}, "c.json has no source"},
		{"empty source list", map[string]string{
			"pkg/testdata/fx/SOURCES.md": "# nothing\n", "pkg/testdata/fx/a.json": "{}",
		}, "lists no fixtures"},
		{"SOURCES.md outside testdata is not a fixture list", map[string]string{
			"docs/SOURCES.md": sources,
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkFixtures(fixtureTree(t, tt.files))
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// The repository's own fixtures are complete: what `go run ./cmd/verify` checks passes.
func TestRepositoryFixturesPresent(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	require.NoError(t, checkFixtures(root))
	listed, err := listedFixtures(filepath.Join(root, "internal", "qbo", "qbotest", "testdata", "qbo", "SOURCES.md"))
	require.NoError(t, err)
	require.Contains(t, listed, "query-invoices.json")
	require.Contains(t, listed, "webhook-vector.json")
}
