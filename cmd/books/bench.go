package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"books/ent"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/tenant"
)

// bench runs `books bench je`: the same 4-line balanced entries posted through the HTTP JE
// API (server in its own process) and inserted with plain SQL (one transaction per entry),
// at the same concurrency, on a fresh PostgreSQL database.
func bench(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "je" {
		return errors.New("usage: books bench je [--database-url postgres://…] [--count N] [--concurrency N]")
	}
	fs := flag.NewFlagSet("bench je", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("BOOKS_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/books_bench?sslmode=disable"),
		"PostgreSQL database to benchmark in; it is created if missing and its tables are dropped first")
	count := fs.Int("count", 20000, "entries per phase")
	conc := fs.Int("concurrency", 16, "concurrent clients")
	mode := fs.String("mode", "both", "both, or (internal) sql for the raw-SQL child process")
	entity := fs.String("entity", "", "(internal) entity id for the sql child")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *mode == "sql" {
		return benchSQLChild(ctx, *dbURL, *entity, *count, *conc)
	}
	return benchBoth(ctx, *dbURL, *count, *conc)
}

type benchResult struct {
	Name        string  `json:"name"`
	Entries     int     `json:"entries"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"entries_per_second"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	Concurrency int     `json:"concurrency"`
}

func benchBoth(ctx context.Context, dbURL string, count, conc int) error {
	if err := recreateDatabase(dbURL); err != nil {
		return err
	}
	db, err := database.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	key, entityID, err := benchSeed(ctx, db)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	api, err := benchAPI(ctx, self, dbURL, key, count, conc)
	if err != nil {
		return fmt.Errorf("api phase: %w", err)
	}
	raw, err := runSQLChild(ctx, self, dbURL, entityID, count, conc)
	if err != nil {
		return fmt.Errorf("sql phase: %w", err)
	}
	var posted int
	if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM journal_entries WHERE status = 'posted'`).Scan(&posted); err != nil {
		return err
	}
	if want := 2*count + conc; posted != want { // each phase, plus the API warm-up
		return fmt.Errorf("expected %d posted entries, found %d", want, posted)
	}
	out := map[string]any{
		"machine":               machine(),
		"api":                   api,
		"raw_sql":               raw,
		"throughput_ratio":      round2(api.PerSecond / raw.PerSecond),
		"posted_entries_in_db":  posted,
		"goal_entries_per_sec":  1500,
		"goal_ratio_to_raw_sql": 0.6,
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
	return nil
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// recreateDatabase drops and recreates the benchmark database so every run starts equal.
func recreateDatabase(dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return errors.New("bench needs a database of its own (it is dropped and recreated), e.g. …/books_bench")
	}
	admin := *u
	admin.Path = "/postgres"
	db, err := sql.Open("postgres", admin.String())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	_, err = db.Exec(`CREATE DATABASE ` + name)
	return err
}

func benchSeed(ctx context.Context, db *database.DB) (key, entityID string, err error) {
	client := db.Client()
	org, err := client.Organization.Create().SetName("Bench").Save(tenant.System(ctx))
	if err != nil {
		return "", "", err
	}
	octx := tenant.WithOrg(ctx, org.ID)
	le, err := ledger.CreateEntity(octx, client, ent.CreateLegalEntityInput{Code: "US", Name: "Bench US", BaseCurrency: "USD"})
	if err != nil {
		return "", "", err
	}
	k, err := auth.CreateIntegrationKey(octx, client, "bench", []string{le.ID}, source.All(), "bench")
	if err != nil {
		return "", "", err
	}
	return k.Secret, le.ID, nil
}

// benchEntry is the entry both phases write: four lines, two debits and two credits.
func benchEntry(ref string) []byte {
	b, _ := json.Marshal(map[string]any{
		"entity": "US", "date": "2026-11-21", "description": "bench", "source_system": "psa",
		"source_ref": ref, "currency": "USD",
		"lines": []map[string]string{
			{"source_code": "unbilled_receivables", "debit": "100.00"},
			{"account_code": "1200", "debit": "50.25"},
			{"account_code": "4000", "credit": "120.00"},
			{"account_code": "4100", "credit": "30.25"},
		},
	})
	return b
}

func benchAPI(ctx context.Context, self, dbURL, key string, count, conc int) (benchResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir, err := os.MkdirTemp("", "books-bench-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dataDir)
	cmd := exec.CommandContext(ctx, self, "serve", "--database-url", dbURL, "--addr", addr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "BOOKS_JWT_SECRET=bench-secret-bench-secret-bench-secret")
	cmd.Stdout = io.Discard
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return benchResult{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	if err := waitReady(base); err != nil {
		return benchResult{}, fmt.Errorf("%w\n%s", err, logs.String())
	}
	transport := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	post := func(i int) error {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/journal-entries", bytes.NewReader(benchEntry("api-"+strconv.Itoa(i))))
		req.Header.Set("X-Integration-Key", key)
		req.Header.Set("Idempotency-Key", "bench-"+strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	}
	// Warm up connections and caches outside the measurement.
	for i := 0; i < conc; i++ {
		if err := post(-1 - i); err != nil {
			return benchResult{}, err
		}
	}
	res := drive("api", count, conc, post)
	res.PeakRSSMiB = peakRSS(cmd.Process.Pid)
	if res.Errors > 0 {
		return res, fmt.Errorf("%d requests failed", res.Errors)
	}
	return res, nil
}

func waitReady(base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server did not become ready")
}

// drive runs fn for 0..count-1 on conc workers and measures each call.
func drive(name string, count, conc int, fn func(i int) error) benchResult {
	lat := make([]time.Duration, count)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	var firstErr sync.Once
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					errs.Add(1)
					firstErr.Do(func() { fmt.Fprintln(os.Stderr, "bench:", name, err) })
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return round2(float64(d.Microseconds()) / 1000) }
	return benchResult{
		Name: name, Entries: count, Errors: errs.Load(), Seconds: round2(elapsed.Seconds()),
		PerSecond: round2(float64(count) / elapsed.Seconds()),
		P50ms:     ms(lat[count/2]), P99ms: ms(lat[count*99/100]), Concurrency: conc,
	}
}

// peakRSS reads a live process's high-water resident set size.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return round2(kb / 1024)
		}
	}
	return 0
}

func runSQLChild(ctx context.Context, self, dbURL, entityID string, count, conc int) (benchResult, error) {
	cmd := exec.CommandContext(ctx, self, "bench", "je", "--mode", "sql", "--database-url", dbURL,
		"--entity", entityID, "--count", strconv.Itoa(count), "--concurrency", strconv.Itoa(conc))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return benchResult{}, err
	}
	var res benchResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("sql child output %q: %w", out, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.PeakRSSMiB = round2(float64(ru.Maxrss) / 1024)
	}
	return res, nil
}

// benchSQLChild is the baseline: the same rows the API writes, with plain SQL, one
// transaction per entry (draft entry, one multi-row line insert, flip to posted).
func benchSQLChild(ctx context.Context, dbURL, entityID string, count, conc int) error {
	// Open it as the server does, so both sides get the same driver settings.
	books, err := database.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer books.Close()
	db := books.SQL
	db.SetMaxOpenConns(conc)
	db.SetMaxIdleConns(conc)
	var org string
	if err := db.QueryRowContext(ctx, `SELECT organization_id FROM legal_entities WHERE id = $1`, entityID).Scan(&org); err != nil {
		return err
	}
	accts := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT code, id FROM accounts WHERE entity_id = $1`, entityID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var code, id string
		if err := rows.Scan(&code, &id); err != nil {
			return err
		}
		accts[code] = id
	}
	rows.Close()
	insert := func(i int) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		id := ids.New(ids.JournalEntry)
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, `INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id,
			date, description, currency, source_system, source_ref, status, total, created_by, created_via)
			VALUES ($1, $2, $2, $3, $4, '2026-11-21', 'bench', 'USD', 'psa', $5, 'draft', 1502500, 'bench', 'sql')`,
			id, now, org, entityID, "sql-"+strconv.Itoa(i)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, description) VALUES
			($1, $5, $6, 1, $7, 1000000, 0, ''), ($2, $5, $6, 2, $8, 502500, 0, ''),
			($3, $5, $6, 3, $9, 0, 1200000, ''), ($4, $5, $6, 4, $10, 0, 302500, '')`,
			ids.New(ids.JournalLine), ids.New(ids.JournalLine), ids.New(ids.JournalLine), ids.New(ids.JournalLine),
			org, id, accts["1250"], accts["1200"], accts["4000"], accts["4100"]); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journal_entries SET status = 'posted', posted_at = $2, updated_at = $2 WHERE id = $1`, id, now); err != nil {
			return err
		}
		return tx.Commit()
	}
	res := drive("raw_sql", count, conc, insert)
	if res.Errors > 0 {
		return fmt.Errorf("%d inserts failed", res.Errors)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
