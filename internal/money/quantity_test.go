package money

import (
	"math"
	"testing"

	"github.com/ericlagergren/decimal"
	"github.com/stretchr/testify/require"
)

func TestParseQuantity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{in: "0", want: "0"},
		{in: "-0.000000", want: "0"},
		{in: "1.25", want: "1.25"},
		{in: "1.250000", want: "1.25"},
		{in: "0.333333", want: "0.333333"},
		{in: "2", want: "2"},
		{in: "-0.5", want: "-0.5"},
		{in: "0.000001", want: "0.000001"},
		{in: "100000000000", want: "100000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			q, err := ParseQuantity(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, q.String())
			back, err := ParseQuantity(q.String())
			require.NoError(t, err)
			require.Equal(t, q, back)
		})
	}
}

func TestParseQuantityRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want error
	}{
		{in: "", want: ErrInvalid},
		{in: "1.", want: ErrInvalid},
		{in: ".5", want: ErrInvalid},
		{in: "+1", want: ErrInvalid},
		{in: "1e3", want: ErrInvalid},
		{in: "NaN", want: ErrInvalid},
		{in: " 1", want: ErrInvalid},
		{in: "0.3333333", want: ErrTooPrecise},
		{in: "1.0000000", want: ErrTooPrecise},
		{in: "100000000000.000001", want: ErrOutOfRange},
		{in: "-100000000001", want: ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseQuantity(tt.in)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestQuantityAccessors(t *testing.T) {
	t.Parallel()
	q := MustParseQuantity("1.25")
	require.Equal(t, int64(1_250_000), q.Units())
	require.Equal(t, q, QuantityFromUnits(1_250_000))
	require.Equal(t, MustParseQuantity("3"), QuantityFromInt(3))
	require.True(t, q.IsPositive())
	require.False(t, q.IsNegative())
	require.False(t, q.IsZero())
	require.True(t, Quantity{}.IsZero())
	require.False(t, Quantity{}.IsPositive())
	require.True(t, MustParseQuantity("-1").IsNegative())
	require.Equal(t, 1, q.Sign())
	require.Equal(t, -1, q.Cmp(MustParseQuantity("1.250001")))
	require.Equal(t, "1.250000", q.Decimal().String())
	require.Panics(t, func() { MustParseQuantity("0.1234567") })
	require.Panics(t, func() { QuantityFromInt(math.MaxInt64 / 10) })
	require.Equal(t, "9223372036854.775807", QuantityFromUnits(math.MaxInt64).String())

	back, err := QuantityFromDecimal(q.Decimal())
	require.NoError(t, err)
	require.Equal(t, q, back)
	_, err = QuantityFromDecimal(decimal.New(1, 7))
	require.ErrorIs(t, err, ErrTooPrecise)
}
