package money

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// testDatabase opens one of the databases the ledger runs on.
type testDatabase struct {
	name string
	open func(t *testing.T) *sql.DB
}

var testDatabases = []testDatabase{
	{name: "sqlite", open: openSQLite},
	{name: "postgres", open: openPostgres},
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/m.db")
	require.NoError(t, err)
	// SQLite allows one writer; a single connection serializes the parallel subtests
	// instead of failing them with SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	url := os.Getenv("BOOKS_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("BOOKS_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("BOOKS_TEST_REQUIRE_POSTGRES=1 but BOOKS_TEST_POSTGRES_URL is not set")
		}
		t.Skip("BOOKS_TEST_POSTGRES_URL is not set; set it, e.g. to postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, to test PostgreSQL")
	}
	db, err := sql.Open("postgres", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.PingContext(t.Context()), "connecting to BOOKS_TEST_POSTGRES_URL")
	return db
}

// createTable creates a uniquely named table with BIGINT amount and quantity columns, so
// concurrent test runs against a shared PostgreSQL do not collide, and drops it when the
// test and its subtests are done.
func createTable(t *testing.T, db *sql.DB) string {
	t.Helper()
	table := fmt.Sprintf("money_test_%016x", rand.Uint64())
	_, err := db.ExecContext(t.Context(), "CREATE TABLE "+table+
		" (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL, quantity BIGINT NOT NULL, currency VARCHAR(3) NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() {
		// t.Context is already canceled during cleanup.
		_, err := db.ExecContext(context.Background(), "DROP TABLE "+table)
		require.NoError(t, err)
	})
	return table
}

// sqlCases are the unit counts every database must store and return exactly.
func sqlCases() []int64 {
	cases := []int64{maxAbsUnits, -maxAbsUnits, 1, -1, 0, 15_000, 1_234, -1_000_000}
	r := rand.New(rand.NewPCG(7, 11))
	for range 20 {
		cases = append(cases, randAmount(r).Units())
	}
	return cases
}

func TestSQLRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tdb := range testDatabases {
		t.Run(tdb.name, func(t *testing.T) {
			t.Parallel()
			db := tdb.open(t)
			table := createTable(t, db)
			currency := MustParseCurrency("KWD")
			for i, units := range sqlCases() {
				t.Run(fmt.Sprint(units), func(t *testing.T) {
					t.Parallel()
					ctx := t.Context()
					a, q := FromUnits(units), QuantityFromUnits(units)
					_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id, amount, quantity, currency) VALUES ($1, $2, $3, $4)", i, a, q, currency)
					require.NoError(t, err)

					var gotA Amount
					var gotQ Quantity
					var gotC Currency
					require.NoError(t, db.QueryRowContext(ctx, "SELECT amount, quantity, currency FROM "+table+" WHERE id = $1", i).Scan(&gotA, &gotQ, &gotC))
					require.Equal(t, a, gotA)
					require.Equal(t, q, gotQ)
					require.Equal(t, currency, gotC)
				})
			}
		})
	}
}

func TestSQLSum(t *testing.T) {
	t.Parallel()
	for _, tdb := range testDatabases {
		t.Run(tdb.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := tdb.open(t)
			table := createTable(t, db)
			cases := sqlCases()
			amounts := make([]Amount, len(cases))
			var quantityTotal int64
			for i, units := range cases {
				amounts[i] = FromUnits(units)
				quantityTotal += units
				_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id, amount, quantity, currency) VALUES ($1, $2, $3, 'USD')", i, units, units)
				require.NoError(t, err)
			}

			// PostgreSQL's SUM(bigint) is numeric, which lib/pq returns as text; make sure
			// that path is the one exercised.
			if tdb.name == "postgres" {
				var raw any
				require.NoError(t, db.QueryRowContext(ctx, "SELECT SUM(amount) FROM "+table).Scan(&raw))
				require.IsType(t, []byte(nil), raw)
			}
			var sumA Amount
			var sumQ Quantity
			require.NoError(t, db.QueryRowContext(ctx, "SELECT SUM(amount), SUM(quantity) FROM "+table).Scan(&sumA, &sumQ))
			require.Equal(t, Sum(amounts...), sumA)
			require.Equal(t, QuantityFromUnits(quantityTotal), sumQ)

			var empty sql.Null[Amount]
			require.NoError(t, db.QueryRowContext(ctx, "SELECT SUM(amount) FROM "+table+" WHERE id < 0").Scan(&empty))
			require.False(t, empty.Valid)
			err := db.QueryRowContext(ctx, "SELECT SUM(amount) FROM "+table+" WHERE id < 0").Scan(&sumA)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, "NULL")

			var present sql.Null[Amount]
			require.NoError(t, db.QueryRowContext(ctx, "SELECT SUM(amount) FROM "+table+" WHERE id = 0").Scan(&present))
			require.Equal(t, sql.Null[Amount]{V: FromUnits(cases[0]), Valid: true}, present)
		})
	}
}

// TestSQLScanConversions covers the shapes aggregates and casts come back in.
func TestSQLScanConversions(t *testing.T) {
	t.Parallel()
	for _, tdb := range testDatabases {
		t.Run(tdb.name, func(t *testing.T) {
			t.Parallel()
			db := tdb.open(t)
			tests := []struct {
				name  string
				query string
				arg   any
				want  int64
				err   error
			}{
				{name: "float", query: "SELECT CAST($1 AS DOUBLE PRECISION)", arg: maxAbsUnits, want: maxAbsUnits},
				{name: "negative float", query: "SELECT CAST($1 AS DOUBLE PRECISION)", arg: -12_345, want: -12_345},
				{name: "fractional float", query: "SELECT CAST($1 AS DOUBLE PRECISION) / 2", arg: 3, err: ErrInvalid},
				{name: "inexact float", query: "SELECT CAST($1 AS DOUBLE PRECISION) * 4", arg: int64(1) << 53, err: ErrOutOfRange},
				{name: "numeric with zero fraction", query: "SELECT CAST($1 AS NUMERIC(30, 2))", arg: -987_654_321, want: -987_654_321},
				{name: "text", query: "SELECT CAST($1 AS VARCHAR(30))", arg: "123", want: 123},
				{name: "text fraction", query: "SELECT CAST($1 AS VARCHAR(30))", arg: "1.5", err: ErrInvalid},
				{name: "text beyond int64", query: "SELECT CAST($1 AS VARCHAR(30))", arg: "9223372036854775808", err: ErrOutOfRange},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					var a Amount
					err := db.QueryRowContext(t.Context(), tt.query, tt.arg).Scan(&a)
					if tt.err != nil {
						require.ErrorIs(t, err, tt.err)
						return
					}
					require.NoError(t, err)
					require.Equal(t, FromUnits(tt.want), a)
				})
			}
		})
	}
}

func TestScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  any
		want int64
		err  error
	}{
		{name: "int64", src: int64(-5), want: -5},
		{name: "int", src: 7, want: 7},
		{name: "min int64", src: int64(math.MinInt64), want: math.MinInt64},
		{name: "float", src: 12_345.0, want: 12_345},
		{name: "float 2^53", src: float64(1 << 53), want: 1 << 53},
		{name: "float beyond 2^53", src: float64(1<<53) * 2, err: ErrOutOfRange},
		{name: "fractional float", src: 0.5, err: ErrInvalid},
		{name: "NaN", src: math.NaN(), err: ErrInvalid},
		{name: "Inf", src: math.Inf(1), err: ErrInvalid},
		{name: "bytes", src: []byte("12345"), want: 12_345},
		{name: "string", src: "-12345", want: -12_345},
		{name: "numeric zeros", src: []byte("12345.000"), want: 12_345},
		{name: "negative numeric zeros", src: "-12345.0", want: -12_345},
		{name: "numeric fraction", src: "12345.10", err: ErrInvalid},
		{name: "trailing dot", src: "12345.", err: ErrInvalid},
		{name: "plus", src: "+5", err: ErrInvalid},
		{name: "empty", src: "", err: ErrInvalid},
		{name: "exponent", src: "1e3", err: ErrInvalid},
		{name: "space", src: " 5", err: ErrInvalid},
		{name: "beyond int64", src: "-9223372036854775809", err: ErrOutOfRange},
		{name: "nil", src: nil, err: ErrInvalid},
		{name: "bool", src: true, err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a Amount
			var q Quantity
			errA, errQ := a.Scan(tt.src), q.Scan(tt.src)
			if tt.err != nil {
				require.ErrorIs(t, errA, tt.err)
				require.ErrorIs(t, errQ, tt.err)
				return
			}
			require.NoError(t, errA)
			require.NoError(t, errQ)
			require.Equal(t, tt.want, a.Units())
			require.Equal(t, tt.want, q.Units())

			v, err := a.Value()
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
			v, err = q.Value()
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
		})
	}
}

func TestCurrencySQL(t *testing.T) {
	t.Parallel()
	v, err := MustParseCurrency("EUR").Value()
	require.NoError(t, err)
	require.Equal(t, "EUR", v)
	_, err = Currency("eur").Value()
	require.ErrorIs(t, err, ErrUnknownCurrency)

	var c Currency
	require.NoError(t, c.Scan([]byte("JPY")))
	require.Equal(t, Currency("JPY"), c)
	require.ErrorIs(t, c.Scan("ABC"), ErrUnknownCurrency)
	require.ErrorIs(t, c.Scan(nil), ErrUnknownCurrency)
	require.ErrorIs(t, c.Scan(int64(840)), ErrUnknownCurrency)
}
