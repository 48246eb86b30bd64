package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func amounts(t *testing.T, ss ...string) []Amount {
	t.Helper()
	out := make([]Amount, len(ss))
	for i, s := range ss {
		out[i] = MustParse(s)
	}
	return out
}

func TestAllocate(t *testing.T) {
	t.Parallel()
	// A contract from 15 January to 14 January the next year, by days per month.
	contractDays := []int64{17, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 14}
	tests := []struct {
		name    string
		total   string
		weights []int64
		places  int
		want    []string
	}{
		{name: "thirds", total: "100.00", weights: []int64{1, 1, 1}, places: 2, want: []string{"33.34", "33.33", "33.33"}},
		{name: "negative thirds", total: "-100.00", weights: []int64{1, 1, 1}, places: 2, want: []string{"-33.34", "-33.33", "-33.33"}},
		{name: "five cents over six", total: "0.05", weights: []int64{1, 1, 1, 1, 1, 1}, places: 2, want: []string{"0.01", "0.01", "0.01", "0.01", "0.01", "0.00"}},
		{name: "largest remainder wins", total: "1.00", weights: []int64{1, 2, 3}, places: 2, want: []string{"0.17", "0.33", "0.50"}},
		{name: "zero weight", total: "10.00", weights: []int64{0, 1, 0, 1}, places: 2, want: []string{"0.00", "5.00", "0.00", "5.00"}},
		{name: "single", total: "-7.1234", weights: []int64{9}, places: 4, want: []string{"-7.1234"}},
		{name: "zero total", total: "0", weights: []int64{1, 2}, places: 2, want: []string{"0.00", "0.00"}},
		{name: "whole units", total: "10", weights: []int64{1, 1, 1}, places: 0, want: []string{"4", "3", "3"}},
		{name: "huge weights", total: "0.03", weights: []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64}, places: 2, want: []string{"0.01", "0.01", "0.01"}},
		{name: "max total", total: "100000000000", weights: []int64{1, 1, 1}, places: 4, want: []string{"33333333333.3334", "33333333333.3333", "33333333333.3333"}},
		{
			name: "contract year", total: "12000.00", weights: contractDays, places: 2,
			want: []string{"558.90", "920.55", "1019.18", "986.30", "1019.18", "986.30", "1019.18", "1019.18", "986.30", "1019.18", "986.30", "1019.18", "460.27"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Allocate(MustParse(tt.total), tt.weights, tt.places)
			require.NoError(t, err)
			require.Equal(t, amounts(t, tt.want...), got)
			require.Equal(t, MustParse(tt.total), Sum(got...))
		})
	}
}

func TestAllocateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		total   string
		weights []int64
		places  int
		want    error
	}{
		{name: "no weights", total: "1", weights: nil, places: 2, want: ErrInvalid},
		{name: "negative weight", total: "1", weights: []int64{1, -1, 1}, places: 2, want: ErrInvalid},
		{name: "all zero", total: "1", weights: []int64{0, 0}, places: 2, want: ErrInvalid},
		{name: "negative places", total: "1", weights: []int64{1}, places: -1, want: ErrInvalid},
		{name: "places beyond scale", total: "1", weights: []int64{1}, places: 5, want: ErrInvalid},
		{name: "total too precise", total: "1.005", weights: []int64{1, 1}, places: 2, want: ErrTooPrecise},
		{name: "total too precise for whole", total: "1.5", weights: []int64{1, 1}, places: 0, want: ErrTooPrecise},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Allocate(MustParse(tt.total), tt.weights, tt.places)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

// TestAllocateProperty checks the whole contract of Allocate against exact rational
// shares: the parts sum to the total, each is its exact share truncated toward zero or
// one minor unit further from zero, and the extra units went to the largest remainders
// with ties to the earlier part.
func TestAllocateProperty(t *testing.T) {
	t.Parallel()
	r := newRand(t)
	for range propertyCases {
		places := r.IntN(Scale + 1)
		step := int64(pow10[Scale-places])
		total := FromUnits(randAmount(r).Units() / step * step)
		weights := randWeights(r)

		parts, err := Allocate(total, weights, places)
		require.NoError(t, err)
		checkAllocation(t, total, weights, places, parts)
	}
}

func randWeights(r *rand.Rand) []int64 {
	weights := make([]int64, 1+r.IntN(15))
	var limit int64
	switch r.IntN(4) {
	case 0:
		limit = 2 // many ties and zeros
	case 1:
		limit = 32 // days in a month
	case 2:
		limit = 1_000_000
	default:
		limit = math.MaxInt64
	}
	for {
		for i := range weights {
			weights[i] = r.Int64N(limit)
		}
		for _, w := range weights {
			if w != 0 {
				return weights
			}
		}
	}
}

func checkAllocation(t *testing.T, total Amount, weights []int64, places int, parts []Amount) {
	t.Helper()
	require.Len(t, parts, len(weights))
	require.Equal(t, total, Sum(parts...), "parts must sum to the total")

	step := big.NewInt(int64(pow10[Scale-places]))
	minor := new(big.Int).Quo(new(big.Int).Abs(big.NewInt(total.Units())), step)
	weightSum := new(big.Int)
	for _, w := range weights {
		weightSum.Add(weightSum, big.NewInt(w))
	}

	remainders := make([]*big.Rat, len(weights))
	extra := make([]bool, len(weights))
	for i, w := range weights {
		require.Zero(t, parts[i].Units()%step.Int64(), "part %d not at %d places", i, places)
		if total.Sign() != 0 && parts[i].Sign() != 0 {
			require.Equal(t, total.Sign(), parts[i].Sign(), "part %d has the wrong sign", i)
		}
		share := new(big.Rat).SetFrac(new(big.Int).Mul(minor, big.NewInt(w)), weightSum)
		floor := new(big.Int).Quo(share.Num(), share.Denom())
		remainders[i] = new(big.Rat).Sub(share, new(big.Rat).SetInt(floor))

		got := new(big.Int).Quo(new(big.Int).Abs(big.NewInt(parts[i].Units())), step)
		switch new(big.Int).Sub(got, floor).Int64() {
		case 0:
		case 1:
			extra[i] = true
		default:
			t.Fatalf("part %d = %s is more than one minor unit from its share %s of %s", i, parts[i], share.FloatString(6), total)
		}
	}
	for i := range weights {
		for j := range weights {
			if !extra[i] || extra[j] {
				continue
			}
			// i got an extra unit and j did not: i must rank ahead of j.
			c := remainders[i].Cmp(remainders[j])
			require.True(t, c > 0 || (c == 0 && i < j),
				"part %d (remainder %s) got an extra unit over part %d (remainder %s); weights %v total %s",
				i, remainders[i].FloatString(6), j, remainders[j].FloatString(6), weights, total)
		}
	}
}
