// Command verify runs every check CI runs, needing nothing but Go:
//
//  1. generated code (ent, gqlgen) is what `go generate ./...` produces from the schemas,
//  2. gofmt and go vet are clean,
//  3. go test ./... passes (extra arguments are passed to go test, e.g. -race or -run).
//
// Tests use PostgreSQL too when BOOKS_TEST_POSTGRES_URL is set.
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
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
