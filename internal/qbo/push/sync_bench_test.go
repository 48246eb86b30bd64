package push_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qbolink"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/dbtest"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
)

// syncScale is how much faster than QuickBooks the benchmark's limits are. Both sides scale
// the counts, not the window: the emulator counts its limits over a sliding minute of its
// clock, so 500 requests and 40 batches a minute become 50,000 and 4,000 a minute on both
// the emulator and the engine's Limiter. The concurrency limit (10 in flight) is not a rate
// and stays as it is.
const syncScale = 100

// BenchmarkInitialSync times the initial sync of BOOKS_SYNC_BENCH_INVOICES approved invoices
// (default 300; the issue's figure is 10,000) with their customers (one per ten invoices)
// from pending links to all synced: Drain, again after each error, until nothing is
// pending. Generating the book and asking for the pushes are not timed.
//
// It reports the wall time, the bound QuickBooks' batch limit implies, ceil(records/30)
// batches at 40×syncScale batches a minute, and their ratio bound/wall (1 is the limit's
// pace). It fails on any duplicate or unsynced record.
//
//	go test -run '^$' -bench BenchmarkInitialSync -benchtime 1x ./internal/qbo/push/
func BenchmarkInitialSync(b *testing.B) {
	invoices := 300
	if v := os.Getenv("BOOKS_SYNC_BENCH_INVOICES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		invoices = n
	}
	for _, d := range dbtest.Dialects(b) {
		b.Run(fmt.Sprintf("%s/invoices=%d", d, invoices), func(b *testing.B) {
			var wall, served time.Duration
			var calls string
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tb := setupJobs(b, d, qbotest.WithLimits(qbotest.Limits{
					PerMinute: 500 * syncScale, Concurrent: 10, BatchPerMinute: 40 * syncScale}))
				tok := tb.srv.IssueTokens(tb.realm.ID())
				e := &push.Engine{Store: tb.store,
					Limiter: qbo.NewLimiter(qbo.Limits{PerMinute: 500 * syncScale, Concurrent: 10,
						BatchPerMinute: 40 * syncScale, Window: time.Minute}),
					HTTPClient: func(context.Context, *ent.QBOConnection) (*http.Client, error) {
						return &http.Client{Transport: bearer{tok.AccessToken}, Timeout: 30 * time.Second}, nil
					}}
				customers := max(1, invoices/10)
				ids := generateInvoices(b, tb.testBundle, customers, invoices)
				pushAll(b, tb.testBundle, e, qbolink.RecordTypeInvoice, ids)
				// The book was written seconds ago; at QuickBooks' real pace this sync takes
				// nine minutes, and autovacuum analyzes the tables in its first. ×100 leaves it
				// no time to, so the benchmark does, and PostgreSQL plans with statistics.
				if d == dialect.Postgres {
					_, err := tb.client.ExecContext(tb.ctx, "ANALYZE")
					require.NoError(b, err)
				}

				servedBefore := tb.calls.Served()
				b.StartTimer()
				start := time.Now()
				var errs []error
				for attempt := 0; ; attempt++ {
					err := e.Drain(tb.ctx, tb.client, tb.row.ID)
					if err == nil {
						break
					}
					errs = append(errs, err)
					require.Less(b, attempt, 50, "the sync keeps failing: %v", errs)
				}
				wall += time.Since(start)
				b.StopTimer()
				served += tb.calls.Served() - servedBefore

				require.Len(b, tb.realm.Invoices(), invoices, "one QuickBooks invoice per Books invoice")
				require.Len(b, tb.realm.Customers(), customers, "one QuickBooks customer per Books customer")
				n, err := tb.client.QBOLink.Query().Where(qbolink.ConnectionID(tb.row.ID), qbolink.StatusNEQ(qbolink.StatusSynced)).Count(tb.ctx)
				require.NoError(b, err)
				require.Zero(b, n, "every link synced")
				if len(errs) > 0 {
					b.Logf("%d drains ended in an error and were run again; the first: %v", len(errs), errs[0])
				}
				calls = tb.calls.String()
			}
			records := invoices + max(1, invoices/10)
			batches := math.Ceil(float64(records) / float64(qbo.MaxBatchItems))
			bound := batches / float64(40*syncScale) * 60
			perRun := wall.Seconds() / float64(b.N)
			b.ReportMetric(perRun, "wall-s")
			b.ReportMetric(bound, "bound-s")
			b.ReportMetric(bound/perRun, "bound/wall")
			b.ReportMetric(float64(records)/perRun, "records/s")
			// The drain calls QuickBooks one request at a time, so the emulator's time to answer
			// (in this process, on the same cores) is on the sync's critical path; without it
			// is what the engine, its database and HTTP take.
			emu := served.Seconds() / float64(b.N)
			b.ReportMetric(emu, "emulator-s")
			b.ReportMetric(bound/(perRun-emu), "bound/(wall-emulator)")
			b.Logf("%d records (%d invoices, %d customers): %.0f batches, bound %.2f s, wall %.2f s (emulator answering %.2f s), "+
				"ratio %.2f (%.2f without the emulator's time); last run's %s",
				records, invoices, max(1, invoices/10), batches, bound, perRun, emu, bound/perRun, bound/(perRun-emu), calls)
		})
	}
}

// generateInvoices makes customers customers (with emails) and invoices approved invoices
// of one to three lines spread over them, with billing's functions, and returns the invoices'
// ids.
func generateInvoices(t testing.TB, b *testBundle, customers, invoices int) []string {
	t.Helper()
	var cus []*ent.Customer
	for i := 0; i < customers; i++ {
		email := fmt.Sprintf("bench%05d@example.com", i)
		c, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: fmt.Sprintf("Bench %05d LLC", i),
			DisplayName: fmt.Sprintf("Bench %05d", i), Currency: "USD", Email: &email})
		require.NoError(t, err)
		cus = append(cus, c)
	}
	ids := make([]string, 0, invoices)
	for i := 0; i < invoices; i++ {
		var lines []billing.LineInput
		for l := 0; l <= i%3; l++ {
			price := cents(int64(1000 + (i*37+l*101)%90000))
			d := caldate.MustParse("2026-10-01").AddDays((i + l) % 30)
			lines = append(lines, billing.LineInput{ItemID: b.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price,
				ClassID: b.class.ID, ServiceDate: &d})
		}
		inv, err := billing.CreateInvoice(b.ctx, b.client, billing.InvoiceInput{EntityID: b.entity.ID, CustomerID: cus[i%len(cus)].ID,
			IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"), Lines: lines})
		require.NoError(t, err)
		_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
		require.NoError(t, err)
		_, err = billing.ApproveInvoice(b.bob, b.client, inv.ID)
		require.NoError(t, err)
		ids = append(ids, inv.ID)
	}
	return ids
}
