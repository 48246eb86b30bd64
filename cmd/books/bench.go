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
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

	"entgo.io/ent/dialect"

	"books/ent"
	"books/ent/account"
	"books/internal/auth"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
	"books/server"
)

const benchUsage = `usage: books bench je [--database-url postgres://…] [--count N] [--concurrency N]
       books bench invoices [--database-url postgres://…] [--invoices N] [--requests N]
       books bench jobs [--database-url postgres://…] [--count N] [--producers N] [--batch N] [--workers N]`

// bench runs a benchmark on a fresh PostgreSQL database:
//
//	je        the same 4-line balanced entries posted through the HTTP JE API (server in its
//	          own process) and inserted with plain SQL (one transaction per entry), at the
//	          same concurrency
//	invoices  the SPA's invoice list through GraphQL over 100,000 invoices
func bench(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(benchUsage)
	}
	switch args[0] {
	case "je":
	case "invoices":
		return benchInvoices(ctx, args[1:])
	case "jobs":
		return benchJobs(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(benchUsage)
		return nil
	default:
		return errors.New(benchUsage)
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
			{"account_code": "1000", "debit": "50.25"},
			{"account_code": "4000", "credit": "120.00"},
			{"account_code": "4100", "credit": "30.25"},
		},
	})
	return b
}

func benchAPI(ctx context.Context, self, dbURL, key string, count, conc int) (benchResult, error) {
	srv, err := startServer(ctx, self, dbURL)
	if err != nil {
		return benchResult{}, err
	}
	defer srv.stop()
	base := srv.base
	transport := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	post := func(i int) error {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/journal-entries", bytes.NewReader(benchEntry("api-"+strconv.Itoa(i))))
		req.Header.Set("X-Integration-Key", key)
		req.Header.Set("Content-Type", "application/json")
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
	res.PeakRSSMiB = peakRSS(srv.cmd.Process.Pid)
	if res.Errors > 0 {
		return res, fmt.Errorf("%d requests failed", res.Errors)
	}
	return res, nil
}

// benchJWTSecret is the bearer-token secret of the server a benchmark starts.
const benchJWTSecret = "bench-secret-bench-secret-bench-secret"

// benchServer is `books serve` running as its own process for a benchmark.
type benchServer struct {
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	logs *bytes.Buffer
	dir  string
}

// startServer starts `books serve` on dbURL at a free loopback port and waits until it is
// ready. BOOKS_PPROF_ADDR, when set, passes through to it.
func startServer(ctx context.Context, self, dbURL string) (*benchServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir, err := os.MkdirTemp("", "books-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "serve", "--database-url", dbURL, "--addr", addr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "BOOKS_JWT_SECRET="+benchJWTSecret)
	cmd.Stdout = io.Discard
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	s := &benchServer{base: "http://" + addr, cmd: cmd, logs: &logs, dir: dataDir}
	if err := waitReady(s.base); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}
	return s, nil
}

func (s *benchServer) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
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
			org, id, accts["1250"], accts["1000"], accts["4000"], accts["4100"]); err != nil {
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

// ---------------------------------------------------------------------------------------
// books bench invoices: the invoice list the SPA shows, read through GraphQL from a server
// in its own process, over a database of 100,000 invoices.

// benchInvoiceQuery is the list under test: one page of sent invoices of a date range,
// newest first, with what the list shows of each.
const benchInvoiceQuery = `query($n: Int!, $from: Date!, $to: Date!) {
	invoices(first: $n, where: {status: SENT, issueDateGTE: $from, issueDateLTE: $to},
		orderBy: {field: ISSUE_DATE, direction: DESC}) {
		totalCount
		edges { node { id number total balance overdue
			customer { displayName email }
			lines { description quantity unitPrice amount } } }
	}
}`

// The date range of the list: a year in the middle of the two years of issue dates.
const (
	benchFrom = "2025-07-01"
	benchTo   = "2026-06-30"
)

type invoiceBenchResult struct {
	Machine          string           `json:"machine"`
	Invoices         int              `json:"invoices"`
	Lines            int              `json:"invoice_lines"`
	LoadSeconds      float64          `json:"load_seconds"`
	Matching         int              `json:"matching_rows"`
	PageSize         int              `json:"page_size"`
	Requests         int              `json:"requests"`
	Errors           int              `json:"errors"`
	P50ms            float64          `json:"p50_ms"`
	P90ms            float64          `json:"p90_ms"`
	P99ms            float64          `json:"p99_ms"`
	Maxms            float64          `json:"max_ms"`
	Meanms           float64          `json:"mean_ms"`
	ServerPeakRSSMiB float64          `json:"server_peak_rss_mib"`
	Statements       map[string]int64 `json:"statements_per_request_by_page_size"`
	StatementsEqual  bool             `json:"statement_count_identical"`
	GoalP99ms        float64          `json:"goal_p99_ms"`
	GoalMet          bool             `json:"goal_met"`
}

func benchInvoices(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench invoices", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("BOOKS_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/books_bench?sslmode=disable"),
		"PostgreSQL database to benchmark in; it is dropped and recreated")
	count := fs.Int("invoices", 100000, "invoices to load")
	requests := fs.Int("requests", 300, "timed GraphQL requests, sent one after another")
	pageSize := fs.Int("page", 100, "page size of the timed requests")
	explain := fs.Bool("explain", false, "print EXPLAIN ANALYZE of the list's SQL statements to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *count < 1000 || *requests < 1 {
		return errors.New("bench invoices needs --invoices ≥ 1000 and --requests ≥ 1")
	}
	if err := recreateDatabase(*dbURL); err != nil {
		return err
	}
	db, err := database.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	seed, err := benchInvoiceSeed(ctx, db)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	start := time.Now()
	lines, err := benchLoadInvoices(ctx, db.SQL, seed, *count)
	if err != nil {
		return fmt.Errorf("load invoices: %w", err)
	}
	for _, table := range []string{"invoices", "invoice_lines", "customers", "items", "legal_entities"} {
		if _, err := db.SQL.ExecContext(ctx, "ANALYZE "+table); err != nil {
			return err
		}
	}
	res := invoiceBenchResult{Machine: machine(), Invoices: *count, Lines: lines,
		LoadSeconds: round2(time.Since(start).Seconds()), PageSize: *pageSize, Requests: *requests, GoalP99ms: 50}
	fmt.Fprintf(os.Stderr, "bench: loaded %d invoices and %d lines in %.1fs\n", *count, lines, res.LoadSeconds)

	tokens, err := auth.NewTokens([]byte(benchJWTSecret), "books")
	if err != nil {
		return err
	}
	token, err := tokens.Mint("bench-viewer", seed.org, []auth.Role{auth.RoleViewer}, "", time.Hour)
	if err != nil {
		return err
	}

	// Statements per request, in process against a counting driver, by page size.
	res.Statements, err = benchInvoiceStatements(ctx, db, tokens, token, []int{10, 50, 100}, *explain)
	if err != nil {
		return fmt.Errorf("statement count: %w", err)
	}
	res.StatementsEqual = true
	for _, n := range res.Statements {
		res.StatementsEqual = res.StatementsEqual && n == res.Statements["10"]
	}

	// Latency through a server of its own, over loopback HTTP, one request at a time.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, self, *dbURL)
	if err != nil {
		return err
	}
	defer srv.stop()
	client := &http.Client{Timeout: 30 * time.Second}
	body, _ := json.Marshal(map[string]any{"query": benchInvoiceQuery,
		"variables": map[string]any{"n": *pageSize, "from": benchFrom, "to": benchTo}})
	ask := func() (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return checkInvoicePage(resp.Body, *pageSize)
	}
	for range 20 { // warm-up: connections, plans, caches
		if res.Matching, err = ask(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	lat := make([]time.Duration, 0, *requests)
	var total time.Duration
	for range *requests {
		t0 := time.Now()
		if _, err := ask(); err != nil {
			res.Errors++
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		d := time.Since(t0)
		lat = append(lat, d)
		total += d
	}
	res.ServerPeakRSSMiB = peakRSS(srv.cmd.Process.Pid)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return round2(float64(d.Microseconds()) / 1000) }
	pct := func(p int) time.Duration { return lat[min(len(lat)-1, len(lat)*p/100)] }
	res.P50ms, res.P90ms, res.P99ms, res.Maxms = ms(pct(50)), ms(pct(90)), ms(pct(99)), ms(lat[len(lat)-1])
	res.Meanms = ms(total / time.Duration(len(lat)))
	res.GoalMet = res.Errors == 0 && res.P99ms <= res.GoalP99ms
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	if res.Errors > 0 {
		return fmt.Errorf("%d requests failed", res.Errors)
	}
	return nil
}

// checkInvoicePage decodes a response of benchInvoiceQuery, requires a full page of sent
// invoices with their customer and lines, and returns totalCount.
func checkInvoicePage(r io.Reader, page int) (int, error) {
	var out struct {
		Data struct {
			Invoices struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						ID, Number, Total string
						Customer          struct{ DisplayName string }
						Lines             []struct{ Amount string }
					}
				}
			}
		}
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(r).Decode(&out); err != nil {
		return 0, err
	}
	if len(out.Errors) > 0 {
		return 0, fmt.Errorf("graphql errors: %v", out.Errors)
	}
	inv := out.Data.Invoices
	if inv.TotalCount <= page || len(inv.Edges) != page {
		return 0, fmt.Errorf("expected a full page of %d out of more, got %d of %d", page, len(inv.Edges), inv.TotalCount)
	}
	for _, e := range inv.Edges {
		if e.Node.Number == "" || e.Node.Customer.DisplayName == "" || len(e.Node.Lines) == 0 {
			return 0, fmt.Errorf("invoice %s lacks its number, customer or lines", e.Node.ID)
		}
	}
	return inv.TotalCount, nil
}

// invoiceSeed is the reference data the loaded invoices point at.
type invoiceSeed struct {
	org, entity string
	customers   []string
	items       []benchItem
}

type benchItem struct {
	id, description string
	rate            int64 // money units
}

func benchInvoiceSeed(ctx context.Context, db *database.DB) (invoiceSeed, error) {
	var s invoiceSeed
	client := db.Client()
	org, err := client.Organization.Create().SetName("Bench").Save(tenant.System(ctx))
	if err != nil {
		return s, err
	}
	s.org = org.ID
	octx := tenant.WithOrg(ctx, org.ID)
	le, err := ledger.CreateEntity(octx, client, ent.CreateLegalEntityInput{Code: "US", Name: "Bench US", BaseCurrency: "USD"})
	if err != nil {
		return s, err
	}
	s.entity = le.ID
	for i := range 50 {
		c, err := client.Customer.Create().SetName(fmt.Sprintf("Customer %02d Inc", i)).SetDisplayName(fmt.Sprintf("Customer %02d", i)).
			SetEmail(fmt.Sprintf("ap%02d@customer.example", i)).SetCurrency("USD").Save(octx)
		if err != nil {
			return s, err
		}
		s.customers = append(s.customers, c.ID)
	}
	accts, err := client.Account.Query().Where(account.EntityID(le.ID), account.CodeIn("4000", "4100", "4200")).All(octx)
	if err != nil {
		return s, err
	}
	for i, a := range accts {
		for j, name := range []string{"Consulting", "Support", "Training"} {
			rate := money.FromInt(int64(100 + 25*i + 10*j))
			it, err := client.Item.Create().SetEntityID(le.ID).SetName(fmt.Sprintf("%s %s", name, a.Code)).
				SetDescription(name + " services").SetDefaultRate(rate).SetIncomeAccountID(a.ID).Save(octx)
			if err != nil {
				return s, err
			}
			s.items = append(s.items, benchItem{id: it.ID, description: it.Description, rate: rate.Units()})
		}
	}
	return s, nil
}

// benchLoadInvoices inserts count invoices of 1–3 lines with multi-row INSERTs of 1,000 rows,
// in one transaction. They are read-benchmark rows: numbered and priced like approved
// invoices, not posted to the ledger. Statuses are spread over the lifecycle and issue dates
// over two years. It returns the number of lines.
func benchLoadInvoices(ctx context.Context, db *sql.DB, s invoiceSeed, count int) (int, error) {
	const batch = 1000
	statuses := []string{"sent", "sent", "sent", "approved", "viewed", "partially_paid", "paid", "paid", "draft", "void"}
	start := caldate.MustParse("2025-01-01")
	now := time.Now().UTC()
	qtyUnits := func(q int64) int64 { return money.MustParseQuantity(strconv.FormatInt(q, 10)).Units() }
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// insert writes rows (of equal length) with one multi-row INSERT per batch rows.
	insert := func(head string, rows [][]any) error {
		for len(rows) > 0 {
			n := min(batch, len(rows))
			var b strings.Builder
			args := make([]any, 0, n*len(rows[0]))
			for r, row := range rows[:n] {
				if r > 0 {
					b.WriteString(",")
				}
				b.WriteString("(")
				for c := range row {
					if c > 0 {
						b.WriteString(",")
					}
					fmt.Fprintf(&b, "$%d", len(args)+c+1)
				}
				b.WriteString(")")
				args = append(args, row...)
			}
			if _, err := tx.ExecContext(ctx, head+b.String(), args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	}
	const invoiceHead = `INSERT INTO invoices (id, created_at, updated_at, organization_id, entity_id, customer_id,
		number, sequence, issue_date, due_date, currency, status, subtotal, total, amount_paid, written_off, balance,
		submitted_by, approved_by, sent_at, sync_status) VALUES `
	const lineHead = `INSERT INTO invoice_lines (id, organization_id, invoice_id, line_no, item_id, description,
		quantity, unit_price, amount, scheduled) VALUES `
	var invRows, lineRows [][]any
	nLines, seq := 0, 0
	flush := func() error {
		// Invoices first: the lines' foreign key points at them.
		if err := insert(invoiceHead, invRows); err != nil {
			return err
		}
		if err := insert(lineHead, lineRows); err != nil {
			return err
		}
		invRows, lineRows = invRows[:0], lineRows[:0]
		return nil
	}
	for i := range count {
		id := ids.New(ids.Invoice)
		status := statuses[(i*7)%len(statuses)]
		issue := start.AddDays((i * 7919) % 730)
		due := issue.AddDays(30)
		var total int64
		for l := range 1 + (i*31)%3 {
			it := s.items[(i+l*5)%len(s.items)]
			qty := int64(1 + (i+l)%8)
			amount := it.rate * qty
			total += amount
			lineRows = append(lineRows, []any{ids.New(ids.InvoiceLine), s.org, id, l + 1, it.id, it.description, qtyUnits(qty), it.rate, amount, false})
			nLines++
		}
		var number, sequence, approvedBy, sentAt any
		paid, balance := int64(0), total
		if status != "draft" {
			seq++
			number, sequence, approvedBy = fmt.Sprintf("INV-%05d", seq), seq, "bench-approver"
		}
		switch status {
		case "sent", "viewed", "partially_paid", "paid":
			sentAt = now
		}
		switch status {
		case "paid":
			paid, balance = total, 0
		case "partially_paid":
			paid = total / 2
			balance = total - paid
		case "void":
			balance = 0
		}
		invRows = append(invRows, []any{id, now, now, s.org, s.entity, s.customers[(i*13)%len(s.customers)],
			number, sequence, issue.String(), due.String(), "USD", status, total, total, paid, int64(0), balance,
			"bench-submitter", approvedBy, sentAt, "not_synced"})
		if len(invRows) == batch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return nLines, tx.Commit()
}

// benchInvoiceStatements runs the list in process, through a server whose ent client counts
// its statements, once per page size (after one warm-up), and returns the counts. With
// explain it prints EXPLAIN ANALYZE of every statement of the last run to stderr.
func benchInvoiceStatements(ctx context.Context, db *database.DB, tokens *auth.Tokens, token string, sizes []int, explain bool) (map[string]int64, error) {
	counter := &database.StatementCounter{}
	drv := counter.Wrap(db.Driver)
	ex := &explainDriver{Driver: drv, db: db.SQL}
	if explain {
		drv = ex
	}
	client := ent.NewClient(ent.Driver(drv))
	srv := server.New(server.Config{DB: db, Client: client, Auth: auth.NewService(tokens, client),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	run := func(n int) error {
		body, _ := json.Marshal(map[string]any{"query": benchInvoiceQuery,
			"variables": map[string]any{"n": n, "from": benchFrom, "to": benchTo}})
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		_, err := checkInvoicePage(rec.Body, n)
		return err
	}
	if err := run(sizes[0]); err != nil { // warm caches (the entities' time zones)
		return nil, err
	}
	out := map[string]int64{}
	for i, n := range sizes {
		ex.on = explain && i == len(sizes)-1
		counter.Reset()
		if err := run(n); err != nil {
			return nil, err
		}
		out[strconv.Itoa(n)] = counter.Count()
	}
	return out, nil
}

// explainDriver prints EXPLAIN ANALYZE of each query while on.
type explainDriver struct {
	dialect.Driver
	db *sql.DB
	on bool
}

func (d *explainDriver) Query(ctx context.Context, q string, args, v any) error {
	if d.on {
		a, _ := args.([]any)
		rows, err := d.db.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, a...)
		if err == nil {
			var plan strings.Builder
			for rows.Next() {
				var line string
				_ = rows.Scan(&line)
				plan.WriteString(line + "\n")
			}
			rows.Close()
			fmt.Fprintf(os.Stderr, "-- %s\n%s\n", q, plan.String())
		} else {
			fmt.Fprintf(os.Stderr, "-- %s\nexplain: %v\n", q, err)
		}
	}
	return d.Driver.Query(ctx, q, args, v)
}
