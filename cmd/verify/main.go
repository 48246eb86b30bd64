// Command verify runs every check CI runs, needing nothing but Go:
//
//  1. generated code (ent, gqlgen) is what `go generate ./...` produces from the schemas,
//  2. gofmt and go vet are clean,
//  3. every recorded test fixture is in the repository with its source (testdata/**/SOURCES.md),
//  4. go test ./... passes (extra arguments are passed to go test, e.g. -race or -run).
//
// Tests use PostgreSQL too when BOOKS_TEST_POSTGRES_URL is set.
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// generatedDirs are the trees `go generate` writes.
var generatedDirs = []string{"ent", "graph"}

func main() {
	steps := []struct {
		name string
		run  func() error
	}{
		{"generated code is fresh", checkGenerated},
		{"gofmt", checkFormat},
		{"go vet", func() error { return command("go", "vet", "./...") }},
		{"test fixtures", func() error { return checkFixtures(".") }},
		{"go test", func() error { return command("go", append([]string{"test"}, append(os.Args[1:], "./...")...)...) }},
	}
	for _, s := range steps {
		fmt.Printf("==> %s\n", s.name)
		if err := s.run(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %s: %v\n", s.name, err)
			os.Exit(1)
		}
	}
	fmt.Println("==> all checks passed")
}

func command(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// checkGenerated regenerates in a copy of the module and compares the generated trees, so
// the working tree is never touched.
func checkGenerated() error {
	tmp, err := os.MkdirTemp("", "books-generate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(".", tmp); err != nil {
		return fmt.Errorf("copy module: %w", err)
	}
	cmd := exec.Command("go", "generate", "./...")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go generate: %v\n%s", err, out)
	}
	var stale []string
	for _, dir := range generatedDirs {
		a, err := snapshot(dir)
		if err != nil {
			return err
		}
		b, err := snapshot(filepath.Join(tmp, dir))
		if err != nil {
			return err
		}
		for p := range union(a, b) {
			if !bytes.Equal(a[p], b[p]) {
				stale = append(stale, filepath.Join(dir, p))
			}
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		return fmt.Errorf("run `go generate ./...` and commit; stale files:\n  %s", strings.Join(stale, "\n  "))
	}
	return nil
}

func checkFormat() error {
	gofmt := filepath.Join(runtime.GOROOT(), "bin", "gofmt")
	out, err := exec.Command(gofmt, "-l", ".").Output()
	if err != nil {
		return err
	}
	var bad []string
	for _, f := range strings.Fields(string(out)) {
		if !skip(f) {
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("gofmt -w these files:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

// checkFixtures checks every testdata directory that has a SOURCES.md: each file its table
// lists (first column, in backquotes) is there, and each file there is listed. A test that
// read a missing fixture could be written to skip; this makes a missing fixture a failure
// whatever the test does, and keeps a fixture from arriving without its provenance.
func checkFixtures(root string) error {
	var problems []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, p); rel != "." && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || d.Name() != "SOURCES.md" || !underTestdata(p) {
			return nil
		}
		dir := filepath.Dir(p)
		listed, err := listedFixtures(p)
		if err != nil {
			return err
		}
		if len(listed) == 0 {
			problems = append(problems, p+" lists no fixtures")
		}
		for name := range listed {
			if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.Mode().IsRegular() {
				problems = append(problems, fmt.Sprintf("%s is listed in %s but missing", filepath.Join(dir, name), p))
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() && e.Name() != "SOURCES.md" && !listed[e.Name()] {
				problems = append(problems, fmt.Sprintf("%s has no source in %s", filepath.Join(dir, e.Name()), p))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("recorded fixtures:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func underTestdata(p string) bool {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == "testdata" {
			return true
		}
	}
	return false
}

// listedFixtures returns the file names in the first column of SOURCES.md's tables: rows
// that start with "| `name`".
func listedFixtures(sources string) (map[string]bool, error) {
	b, err := os.ReadFile(sources)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "| `")
		if !ok {
			continue
		}
		name, _, ok := strings.Cut(rest, "`")
		if ok && name != "" && path.Base(name) == name {
			out[name] = true
		}
	}
	return out, nil
}

func skip(path string) bool {
	first := strings.Split(filepath.ToSlash(path), "/")[0]
	switch first {
	case ".git", "data", "node_modules", "frontend", "tmp":
		return true
	}
	return false
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != "." && skip(path) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func snapshot(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		out[rel] = data
		return err
	})
	return out, err
}

func union(a, b map[string][]byte) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
