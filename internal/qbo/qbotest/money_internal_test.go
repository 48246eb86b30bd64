package qbotest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMoneyExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		cents int64
		out   json.Number
	}{
		{"150.00", 15000, "150"},
		{"0.1", 10, "0.1"},
		{"12.75", 1275, "12.75"},
		{"0.005", 1, "0.01"},
		{"-0.005", -1, "-0.01"},
		{"0.0049999", 0, "0"},
		{"1e2", 10000, "100"},
		{"-3.10", -310, "-3.1"},
		{"92233720368547.75", 9223372036854775, "92233720368547.75"},
	}
	for _, tc := range tests {
		r, ok := parseDecimal(json.Number(tc.in))
		require.True(t, ok, tc.in)
		require.Equal(t, tc.cents, toCents(r), tc.in)
		require.Equal(t, tc.out, centsNumber(toCents(r)), tc.in)
	}
	_, ok := parseDecimal("1.5")
	require.False(t, ok, "strings are not numbers")
	r, _ := parseDecimal(json.Number("2.500"))
	require.Equal(t, json.Number("2.5"), normalizeNumber(r))
}
