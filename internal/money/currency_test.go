package money

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code  string
		minor int
	}{
		{"USD", 2}, {"EUR", 2}, {"GBP", 2}, {"JPY", 0}, {"CAD", 2}, {"AUD", 2}, {"NZD", 2},
		{"CHF", 2}, {"SEK", 2}, {"NOK", 2}, {"DKK", 2}, {"PLN", 2}, {"CZK", 2}, {"HUF", 2},
		{"MXN", 2}, {"BRL", 2}, {"ARS", 2}, {"CLP", 0}, {"COP", 2}, {"PEN", 2}, {"INR", 2},
		{"CNY", 2}, {"HKD", 2}, {"SGD", 2}, {"KRW", 0}, {"TWD", 2}, {"THB", 2}, {"MYR", 2},
		{"IDR", 2}, {"PHP", 2}, {"ZAR", 2}, {"AED", 2}, {"SAR", 2}, {"ILS", 2}, {"TRY", 2},
		{"KWD", 3}, {"BHD", 3}, {"OMR", 3}, {"JOD", 3}, {"ISK", 0}, {"NGN", 2}, {"KES", 2},
		{"EGP", 2}, {"VND", 0}, {"TND", 3}, {"XOF", 0}, {"CLF", 4},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCurrency(tt.code)
			require.NoError(t, err)
			require.Equal(t, tt.code, c.String())
			require.Equal(t, tt.minor, c.MinorUnits())
		})
	}
}

func TestParseCurrencyRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "usd", "Usd", "US", "USDX", " USD", "USD ", "XXX", "XYZ", "HRK", "123", "ÜSD"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCurrency(in)
			require.ErrorIs(t, err, ErrUnknownCurrency)
		})
	}
}

func TestCurrencyTable(t *testing.T) {
	t.Parallel()
	all := Currencies()
	require.True(t, slices.IsSorted(all))
	require.GreaterOrEqual(t, len(all), 44)
	for _, c := range all {
		require.Len(t, string(c), 3)
		for _, r := range c {
			require.True(t, r >= 'A' && r <= 'Z', c)
		}
		require.True(t, c.MinorUnits() >= 0 && c.MinorUnits() <= Scale, c)
	}
	require.Equal(t, Scale, Currency("XYZ").MinorUnits(), "unknown codes must not lose precision")
	require.Equal(t, Currency("EUR"), MustParseCurrency("EUR"))
	require.Panics(t, func() { MustParseCurrency("eur") })
}
