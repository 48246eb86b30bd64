package push_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/payment"
	"books/ent/qbolink"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/qbo/conn"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/qbo/settings"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/jobs"
)

// bookSize is how many records of each kind a generated book has.
type bookSize struct {
	customers, vendors, invoices, payments, credits, refunds int
}

// The issue's book, and the one CI syncs (a tenth, rounded).
var (
	fullBook = bookSize{customers: 200, vendors: 50, invoices: 1000, payments: 600, credits: 50, refunds: 20}
	ciBook   = bookSize{customers: 20, vendors: 5, invoices: 60, payments: 36, credits: 5, refunds: 3}
)

// book is a generated set of Books records, all approved or recorded, none pushed yet.
type book struct {
	customers []*ent.Customer
	vendors   []*ent.Vendor
	invoices  []*ent.Invoice
	payments  []*ent.Payment
	credits   []*ent.CreditMemo
	refunds   []*ent.Refund
}

// jobsBundle is setup's bundle on a database that also has River's tables, with the URL and
// encryption key another process needs to open it. The emulator runs with the given options.
type jobsBundle struct {
	*testBundle
	db    *database.DB
	dbURL string
	key   string // "id:base64" as secrets.ParseKeys reads it
	calls *callCounter
}

// callCounter counts the emulator's API answers by HTTP status; "none" counts requests whose
// connection was closed without an answer (resets, answers lost after commit).
type callCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// served is the time the emulator spent answering API requests.
	served time.Duration
	// intercept, when set, sees each API request first and may answer it itself (true).
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

func (c *callCounter) setIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.intercept = f
}

func (c *callCounter) interceptor() func(w http.ResponseWriter, r *http.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.intercept
}

func (c *callCounter) add(k string, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[k]++
	c.served += took
}

// Served returns the time the emulator spent answering API requests.
func (c *callCounter) Served() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

// String lists the counts, e.g. "1234 requests: 200×1000 429×120 none×60".
func (c *callCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.counts))
	total := 0
	for k, n := range c.counts {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, c.counts[k]))
	}
	return fmt.Sprintf("%d API requests: %s", total, strings.Join(parts, " "))
}

type countingWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

// countingEmulator serves a QuickBooks emulator over real HTTP on 127.0.0.1 (as NewServer),
// counting its API answers.
func countingEmulator(t testing.TB, opts ...qbotest.Option) (*qbotest.Server, *callCounter) {
	t.Helper()
	srv := qbotest.New(opts...)
	calls := &callCounter{counts: map[string]int{}}
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v3/") {
			h.ServeHTTP(w, r)
			return
		}
		cw := &countingWriter{ResponseWriter: w}
		began := time.Now()
		defer func() {
			switch {
			case cw.hijacked:
				calls.add("none", time.Since(began))
			default:
				calls.add(fmt.Sprint(cw.status), time.Since(began))
			}
		}()
		if f := calls.interceptor(); f != nil && f(cw, r) {
			return
		}
		h.ServeHTTP(cw, r)
	}))
	srv.URL = hs.URL
	t.Cleanup(func() {
		_ = srv.Close() // ends requests held by faults
		hs.Close()
	})
	return srv, calls
}

func setupJobs(t testing.TB, dialectName string, opts ...qbotest.Option) *jobsBundle {
	t.Helper()
	ctx := context.Background()
	dbURL := dbtest.URL(t, dialectName)
	db, err := database.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	_, err = jobs.Migrate(ctx, db)
	require.NoError(t, err)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Chaos org").Save(tenant.System(ctx))
	require.NoError(t, err)
	alice := auth.WithPrincipal(ctx, &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAccountant}})
	bob := auth.WithPrincipal(ctx, &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})
	b := &testBundle{client: client, ctx: alice, bob: bob, org: org.ID}
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, client, org.ID)
		}
	})
	b.entity, err = ledger.CreateEntity(alice, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	b.item, err = billing.CreateItem(alice, client, ent.CreateItemInput{Name: "Consulting hour", EntityID: b.entity.ID,
		IncomeAccountID: accountIDTB(t, b, "4000"), DefaultRate: money.MustParse("150.00")})
	require.NoError(t, err)
	b.class, err = ledger.CreateClass(alice, client, ent.CreateClassInput{EntityID: b.entity.ID, Name: "Consulting"})
	require.NoError(t, err)

	var calls *callCounter
	b.srv, calls = countingEmulator(t, append([]qbotest.Option{qbotest.WithRealms(1), qbotest.WithoutLimits()}, opts...)...)
	b.realm = b.srv.Realm(b.srv.RealmIDs()[0])
	tok := b.srv.IssueTokens(b.realm.ID())
	raw, err := secrets.GenerateKey()
	require.NoError(t, err)
	key := "test:" + raw
	box, err := secrets.ParseKeys(key)
	require.NoError(t, err)
	b.store = conn.NewStore(box)
	now := time.Now().UTC()
	b.row, err = b.store.Save(alice, client, conn.Connect{EntityID: b.entity.ID, RealmID: b.realm.ID(), BaseURL: b.srv.URL,
		Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
			RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	mapAccountsTB(t, b)
	deposit := ""
	for _, a := range b.realm.Accounts() {
		if a["Name"] == "Checking" {
			deposit = a["Id"].(string)
		}
	}
	require.NotEmpty(t, deposit, "the emulator has a Checking account")
	b.row, err = client.QBOConnection.UpdateOne(b.row).
		SetSettings(settings.Settings{ServiceItemID: "1", DefaultDepositAccountID: deposit}).Save(alice)
	require.NoError(t, err)
	return &jobsBundle{testBundle: b, db: db, dbURL: dbURL, key: key, calls: calls}
}

func accountIDTB(t testing.TB, b *testBundle, code string) string {
	t.Helper()
	id, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID), account.Code(code)).OnlyID(b.ctx)
	require.NoError(t, err)
	return id
}

// mapAccountsTB is testBundle.mapAccounts for benchmarks too.
func mapAccountsTB(t testing.TB, b *testBundle) {
	t.Helper()
	byName := map[string]string{}
	for _, a := range b.realm.Accounts() {
		byName[a["Name"].(string)] = a["Id"].(string)
	}
	accts, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID)).All(b.ctx)
	require.NoError(t, err)
	for _, a := range accts {
		name := "Undeposited Funds"
		switch {
		case a.Subtype == account.SubtypeAccountsReceivable:
			name = "Accounts Receivable (A/R)"
		case a.Type == account.TypeLiability:
			name = "Deferred Revenue"
		case a.Type == account.TypeEquity:
			name = "Retained Earnings"
		case a.Type == account.TypeRevenue:
			name = "Services"
		case a.Type == account.TypeExpense:
			name = "Office Expenses"
		}
		_, err := b.client.QBOLink.Create().SetConnectionID(b.row.ID).SetEntityID(b.entity.ID).
			SetRecordType(qbolink.RecordTypeAccount).SetRecordID(a.ID).SetQboType("Account").SetQboID(byName[name]).
			SetStatus(qbolink.StatusSynced).SetSyncedGeneration(1).Save(b.ctx)
		require.NoError(t, err)
	}
}

// cents renders an amount of cents as money.
func cents(c int64) money.Amount {
	return money.MustParse(fmt.Sprintf("%d.%02d", c/100, c%100))
}

func toCents(a money.Amount) int64 {
	s := a.StringFixed(2)
	var whole, frac int64
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	_, err := fmt.Sscanf(s, "%d.%d", &whole, &frac)
	if err != nil {
		panic(err)
	}
	v := whole*100 + frac
	if neg {
		v = -v
	}
	return v
}

// generateBook makes a book of size with billing's own functions, from a fixed seed:
// customers (with emails, as QuickBooks invoices need), vendors, approved invoices of one to
// three lines, payments (half of them partial, a fifth spread over two invoices of the
// customer), credit memos applied to open invoices, and refunds of payments (which re-open
// what they paid).
func generateBook(t testing.TB, b *testBundle, size bookSize, seed uint64) *book {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0xb00c5))
	bk := &book{}
	for i := 0; i < size.customers; i++ {
		email := fmt.Sprintf("customer%04d@example.com", i)
		cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: fmt.Sprintf("Customer %04d LLC", i),
			DisplayName: fmt.Sprintf("Customer %04d", i), Currency: "USD", Email: &email})
		require.NoError(t, err)
		bk.customers = append(bk.customers, cus)
	}
	for i := 0; i < size.vendors; i++ {
		email := fmt.Sprintf("vendor%04d@example.com", i)
		v, err := billing.CreateVendor(b.ctx, b.client, ent.CreateVendorInput{Name: fmt.Sprintf("Vendor %04d Ltd", i),
			DisplayName: fmt.Sprintf("Vendor %04d", i), Currency: "USD", Email: &email})
		require.NoError(t, err)
		bk.vendors = append(bk.vendors, v)
	}
	balance := map[string]int64{}    // invoice → open cents
	byCustomer := map[string][]int{} // customer → invoice indexes
	for i := 0; i < size.invoices; i++ {
		cus := bk.customers[i%len(bk.customers)]
		n := 1 + rng.IntN(3)
		var lines []billing.LineInput
		for l := 0; l < n; l++ {
			price := cents(1000 + rng.Int64N(99000))
			qty := money.MustParseQuantity(fmt.Sprint(1 + rng.IntN(4)))
			d := caldate.MustParse("2026-10-01").AddDays(rng.IntN(30))
			lines = append(lines, billing.LineInput{ItemID: b.item.ID, Quantity: qty, UnitPrice: &price, ClassID: b.class.ID, ServiceDate: &d})
		}
		inv, err := billing.CreateInvoice(b.ctx, b.client, billing.InvoiceInput{EntityID: b.entity.ID, CustomerID: cus.ID,
			IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"), Lines: lines})
		require.NoError(t, err)
		_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
		require.NoError(t, err)
		inv, err = billing.ApproveInvoice(b.bob, b.client, inv.ID)
		require.NoError(t, err)
		bk.invoices = append(bk.invoices, inv)
		balance[inv.ID] = toCents(inv.Balance)
		byCustomer[cus.ID] = append(byCustomer[cus.ID], i)
	}
	// open picks an open invoice at random (a few tries, then the first open one).
	open := func() *ent.Invoice {
		for try := 0; try < 20; try++ {
			inv := bk.invoices[rng.IntN(len(bk.invoices))]
			if balance[inv.ID] > 0 {
				return inv
			}
		}
		for _, inv := range bk.invoices {
			if balance[inv.ID] > 0 {
				return inv
			}
		}
		t.Fatal("no open invoice left for the book's payments and credits")
		return nil
	}
	part := func(open int64) int64 {
		if open <= 1 {
			return open
		}
		return max(1, open*int64(20+rng.IntN(60))/100)
	}
	for i := 0; i < size.payments; i++ {
		inv := open()
		amt := balance[inv.ID]
		if rng.IntN(2) == 0 {
			amt = part(amt)
		}
		apps := []billing.Application{{InvoiceID: inv.ID, Amount: cents(amt)}}
		total := amt
		balance[inv.ID] -= amt
		if rng.IntN(5) == 0 {
			for _, j := range byCustomer[inv.CustomerID] {
				other := bk.invoices[j]
				if other.ID != inv.ID && balance[other.ID] > 0 {
					more := part(balance[other.ID])
					apps = append(apps, billing.Application{InvoiceID: other.ID, Amount: cents(more)})
					balance[other.ID] -= more
					total += more
					break
				}
			}
		}
		p, err := billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: inv.CustomerID,
			Amount: cents(total), ReceivedDate: caldate.MustParse("2026-11-10"), Method: payment.MethodAch, Applications: apps})
		require.NoError(t, err)
		bk.payments = append(bk.payments, p)
	}
	for i := 0; i < size.credits; i++ {
		inv := open()
		amt := min(balance[inv.ID], 500+rng.Int64N(5000))
		cm, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: inv.CustomerID,
			Amount: cents(amt), Date: caldate.MustParse("2026-11-05"), Reason: "goodwill",
			Applications: []billing.Application{{InvoiceID: inv.ID, Amount: cents(amt)}}})
		require.NoError(t, err)
		balance[inv.ID] -= amt
		bk.credits = append(bk.credits, cm)
	}
	for i := 0; i < size.refunds; i++ {
		p := bk.payments[(i*7)%len(bk.payments)]
		amt := max(1, toCents(p.Amount)/10)
		rf, err := billing.RefundPayment(b.bob, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: cents(amt),
			Date: caldate.MustParse("2026-11-12"), Reason: "overcharge"})
		require.NoError(t, err)
		bk.refunds = append(bk.refunds, rf)
	}
	return bk
}

// pushAll asks for records of one type to be pushed, thirty to a transaction, as the
// GraphQL sync mutation does; each transaction enqueues the connection's drain when the
// engine has a Runner.
func pushAll(t testing.TB, b *testBundle, e *push.Engine, rt qbolink.RecordType, ids []string) {
	t.Helper()
	for start := 0; start < len(ids); start += push.MaxPush {
		end := min(start+push.MaxPush, len(ids))
		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = e.Push(b.ctx, tx.Client(), b.entity.ID, rt, ids[start:end])
		if err != nil {
			_ = tx.Rollback()
			require.NoError(t, err)
		}
		require.NoError(t, tx.Commit())
	}
}

func idsOf[T any](rows []T, id func(T) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func chaosFull() bool { return os.Getenv("BOOKS_CHAOS_FULL") == "1" }
