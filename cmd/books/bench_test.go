package main

import (
	"context"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/tenant"
)

// TestBenchInvoices runs the invoice benchmark's load and statement count on a small
// PostgreSQL database: the rows it writes are ones the GraphQL list reads, and the list's
// statement count does not grow with the page size.
func TestBenchInvoices(t *testing.T) {
	t.Parallel()
	if dbtest.PostgresURL(t) == "" {
		t.Skip("BOOKS_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	db := dbtest.Open(t, dialect.Postgres)
	seed, err := benchInvoiceSeed(ctx, db)
	require.NoError(t, err)
	require.Len(t, seed.customers, 50)
	const count = 3000
	lines, err := benchLoadInvoices(ctx, db.SQL, seed, count)
	require.NoError(t, err)
	require.Greater(t, lines, count)
	require.Less(t, lines, 3*count+1)

	octx := tenant.WithOrg(ctx, seed.org)
	client := db.Client()
	n, err := client.Invoice.Query().Count(octx)
	require.NoError(t, err)
	require.Equal(t, count, n)
	nl, err := client.InvoiceLine.Query().Count(octx)
	require.NoError(t, err)
	require.Equal(t, lines, nl)
	// Every invoice's total is the sum of its lines, and its balance what is left of it.
	invs, err := client.Invoice.Query().WithLines().Limit(200).All(octx)
	require.NoError(t, err)
	statuses := map[string]int{}
	for _, inv := range invs {
		var sum int64
		for _, l := range inv.Edges.Lines {
			sum += l.Amount.Units()
		}
		require.Equal(t, inv.Total.Units(), sum)
		open := inv.Total.Units() - inv.AmountPaid.Units()
		if inv.Status == "void" {
			open = 0
		}
		require.Equal(t, open, inv.Balance.Units())
		require.Equal(t, inv.Status == "draft", inv.Number == nil)
		statuses[string(inv.Status)]++
	}
	require.GreaterOrEqual(t, len(statuses), 6, "statuses are spread: %v", statuses)

	tokens, err := auth.NewTokens([]byte(benchJWTSecret), "books")
	require.NoError(t, err)
	token, err := tokens.Mint("bench-viewer", seed.org, []auth.Role{auth.RoleViewer}, "", time.Hour)
	require.NoError(t, err)
	counts, err := benchInvoiceStatements(ctx, db, tokens, token, []int{10, 50, 100}, false)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"10": counts["10"], "50": counts["10"], "100": counts["10"]}, counts)
	require.LessOrEqual(t, counts["10"], int64(5), "statements: %v", counts)
}
