package pull_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/invoice"
	"books/ent/qbolink"
	"books/internal/dbtest"
)

// BenchmarkPaymentToPaid measures the time from a payment recorded in QuickBooks to the Books
// invoice showing paid: the emulator's webhook, the intake, the inbox job (River polling every
// 20 ms here, 50 ms in books serve), the read of the payment and its recording. Each op is one
// payment; p50_ms and p99_ms report the spread.
//
//	go test -run '^$' -bench BenchmarkPaymentToPaid -benchtime 50x ./internal/qbo/pull/
func BenchmarkPaymentToPaid(b *testing.B) {
	for _, d := range dbtest.Dialects(b) {
		b.Run(d, func(b *testing.B) {
			tb := setup(b, d)
			// As books serve keeps it (dbtest keeps 2 idle connections; each request would
			// otherwise open a PostgreSQL connection of its own).
			tb.db.SQL.SetMaxIdleConns(40)
			cus := tb.newCustomer(b, "Bench")
			cq := ""
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				inv := tb.approvedInvoice(b, cus, fmt.Sprintf("%d.00", 100+i))
				tb.pushAll(b, []*ent.Invoice{inv})
				if cq == "" {
					cq = tb.qboID(b, qbolink.RecordTypeCustomer, cus.ID)
				}
				iq := tb.qboID(b, qbolink.RecordTypeInvoice, inv.ID)
				b.StartTimer()
				start := time.Now()
				tb.qboPay(b, cq, inv.Total.String(), "", map[string]string{iq: inv.Total.String()})
				for {
					cur, err := tb.client.Invoice.Get(tb.ctx, inv.ID)
					require.NoError(b, err)
					if cur.Status == invoice.StatusPaid {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99_ms")
		})
	}
}
