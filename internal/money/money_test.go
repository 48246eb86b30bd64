package money

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func usd(s string) Money { return New(MustParse(s), MustParseCurrency("USD")) }

func TestMoneyAddSub(t *testing.T) {
	t.Parallel()
	sum, err := usd("150.00").Add(usd("0.125"))
	require.NoError(t, err)
	require.Equal(t, usd("150.125"), sum)

	diff, err := usd("150.00").Sub(usd("150.01"))
	require.NoError(t, err)
	require.Equal(t, usd("-0.01"), diff)

	eur := New(MustParse("1"), MustParseCurrency("EUR"))
	_, err = usd("1").Add(eur)
	require.ErrorIs(t, err, ErrCurrencyMismatch)
	require.ErrorContains(t, err, "1.00 USD")
	require.ErrorContains(t, err, "1.00 EUR")
	_, err = usd("1").Sub(eur)
	require.ErrorIs(t, err, ErrCurrencyMismatch)
}

func TestMoneyRoundToMinor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount, currency, want string
	}{
		{"10.125", "USD", "10.13"},
		{"-10.125", "USD", "-10.13"},
		{"10.1249", "USD", "10.12"},
		{"10.135", "EUR", "10.14"},
		{"1500.5", "JPY", "1501"},
		{"-1500.5", "JPY", "-1501"},
		{"1.2345", "KWD", "1.235"},
		{"1.2344", "BHD", "1.234"},
		{"1.2345", "CLF", "1.2345"},
		{"1.2345", "XYZ", "1.2345"}, // unknown: left alone
	}
	for _, tt := range tests {
		t.Run(tt.amount+" "+tt.currency, func(t *testing.T) {
			t.Parallel()
			m := New(MustParse(tt.amount), Currency(tt.currency))
			require.Equal(t, New(MustParse(tt.want), Currency(tt.currency)), m.RoundToMinor())
		})
	}
}

func TestMoneyString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount, currency, want string
	}{
		{"150", "USD", "150.00 USD"},
		{"0.1234", "USD", "0.1234 USD"},
		{"-3.1", "EUR", "-3.10 EUR"},
		{"150", "JPY", "150 JPY"},
		{"150.5", "JPY", "150.5 JPY"},
		{"1.5", "KWD", "1.500 KWD"},
		{"1.5", "XYZ", "1.50 XYZ"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, New(MustParse(tt.amount), Currency(tt.currency)).String())
		})
	}
}
