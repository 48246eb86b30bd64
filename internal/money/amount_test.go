package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ericlagergren/decimal"
	"github.com/stretchr/testify/require"
)

// propertyCases is the number of random cases each property test checks.
const propertyCases = 20_000

// newRand returns a generator with a fixed seed so failures reproduce.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(20240611, uint64(len(t.Name()))))
}

// randAmount returns an amount within MaxAbs, biased towards the edges and towards
// values in whole cents, where ledger bugs live.
func randAmount(r *rand.Rand) Amount {
	switch r.IntN(5) {
	case 0:
		return FromUnits(r.Int64N(2*maxAbsUnits+1) - maxAbsUnits)
	case 1:
		return FromUnits(r.Int64N(2_000_001) - 1_000_000)
	case 2:
		edge := maxAbsUnits - r.Int64N(1_000_000)
		if r.IntN(2) == 0 {
			edge = -edge
		}
		return FromUnits(edge)
	case 3:
		return FromUnits((r.Int64N(2*maxAbsUnits/100+1) - maxAbsUnits/100) * 100)
	default:
		return FromUnits(r.Int64N(20_001) - 10_000)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // String() of the result
	}{
		{in: "0", want: "0.00"},
		{in: "-0", want: "0.00"},
		{in: "-0.0000", want: "0.00"},
		{in: "150", want: "150.00"},
		{in: "150.00", want: "150.00"},
		{in: "1.5", want: "1.50"},
		{in: "-3.1", want: "-3.10"},
		{in: "0.1234", want: "0.1234"},
		{in: "1.235", want: "1.235"},
		{in: "1.2350", want: "1.235"},
		{in: "0.0001", want: "0.0001"},
		{in: "-0.0001", want: "-0.0001"},
		{in: "007.50", want: "7.50"},
		{in: "12000.00", want: "12000.00"},
		{in: "100000000000", want: "100000000000.00"},
		{in: "-100000000000.0000", want: "-100000000000.00"},
		{in: "99999999999.9999", want: "99999999999.9999"},
		{in: "0000000000000000000000000000001", want: "1.00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			a, err := Parse(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, a.String())
			back, err := Parse(a.String())
			require.NoError(t, err)
			require.Equal(t, a, back)
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want error
	}{
		{in: "", want: ErrInvalid},
		{in: " ", want: ErrInvalid},
		{in: " 1", want: ErrInvalid},
		{in: "1 ", want: ErrInvalid},
		{in: "\t1", want: ErrInvalid},
		{in: "1\n", want: ErrInvalid},
		{in: "+1", want: ErrInvalid},
		{in: "-", want: ErrInvalid},
		{in: "--1", want: ErrInvalid},
		{in: "-+1", want: ErrInvalid},
		{in: "1e3", want: ErrInvalid},
		{in: "1E3", want: ErrInvalid},
		{in: "1.5e-2", want: ErrInvalid},
		{in: "NaN", want: ErrInvalid},
		{in: "nan", want: ErrInvalid},
		{in: "Inf", want: ErrInvalid},
		{in: "-Inf", want: ErrInvalid},
		{in: "Infinity", want: ErrInvalid},
		{in: "1.", want: ErrInvalid},
		{in: "5.", want: ErrInvalid},
		{in: ".5", want: ErrInvalid},
		{in: "-.5", want: ErrInvalid},
		{in: ".", want: ErrInvalid},
		{in: "1.2.3", want: ErrInvalid},
		{in: "1,000.00", want: ErrInvalid},
		{in: "1_000", want: ErrInvalid},
		{in: "0x10", want: ErrInvalid},
		{in: "１", want: ErrInvalid},
		{in: "1.٥", want: ErrInvalid},
		{in: "$1", want: ErrInvalid},
		{in: "1.00 USD", want: ErrInvalid},
		{in: "1.00000", want: ErrTooPrecise},
		{in: "0.00001", want: ErrTooPrecise},
		{in: "-0.00000", want: ErrTooPrecise},
		{in: "1.23456", want: ErrTooPrecise},
		{in: "100000000000.0001", want: ErrOutOfRange},
		{in: "-100000000000.0001", want: ErrOutOfRange},
		{in: "100000000001", want: ErrOutOfRange},
		{in: "922337203685477.5807", want: ErrOutOfRange},
		{in: "99999999999999999999999999999999", want: ErrOutOfRange},
		{in: "1" + strings.Repeat("0", 10_000), want: ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.in)
			require.ErrorIs(t, err, tt.want)
			require.Less(t, len(err.Error()), 200, "error messages quote a bounded prefix of the input")
		})
	}
}

func TestMustParsePanics(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { MustParse("1e3") })
	require.Equal(t, FromUnits(15_000), MustParse("1.50"))
}

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		units int64
		want  string
	}{
		{units: 0, want: "0.00"},
		{units: 1, want: "0.0001"},
		{units: -1, want: "-0.0001"},
		{units: 100, want: "0.01"},
		{units: 1_000, want: "0.10"},
		{units: 15_000, want: "1.50"},
		{units: 1_500_000, want: "150.00"},
		{units: 1_234, want: "0.1234"},
		{units: 12_350, want: "1.235"},
		{units: -31_000, want: "-3.10"},
		{units: maxAbsUnits, want: "100000000000.00"},
		{units: math.MaxInt64, want: "922337203685477.5807"},
		{units: math.MinInt64, want: "-922337203685477.5808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, FromUnits(tt.units).String())
		})
	}
}

func TestStringFixed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		places int
		want   string
	}{
		{in: "150", places: 2, want: "150.00"},
		{in: "0.1234", places: 4, want: "0.1234"},
		{in: "1.5", places: 6, want: "1.500000"},
		{in: "1.5", places: 0, want: "2"},
		{in: "2.5", places: 0, want: "2"},
		{in: "-2.5", places: 0, want: "-2"},
		{in: "1.235", places: 2, want: "1.24"},
		{in: "1.225", places: 2, want: "1.22"},
		{in: "1.2251", places: 2, want: "1.23"},
		{in: "-0.0001", places: 2, want: "0.00"},
		{in: "-0.0051", places: 2, want: "-0.01"},
		{in: "99999999999.9999", places: 2, want: "100000000000.00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, MustParse(tt.in).StringFixed(tt.places))
		})
	}
	t.Run("extremes", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "-922337203685478", FromUnits(math.MinInt64).StringFixed(0))
		require.Equal(t, "922337203685477.58", FromUnits(math.MaxInt64).StringFixed(2))
		require.Panics(t, func() { FromUnits(1).StringFixed(-1) })
	})
}

func TestFromInt(t *testing.T) {
	t.Parallel()
	require.Equal(t, MustParse("150.00"), FromInt(150))
	require.Equal(t, MustParse("-7"), FromInt(-7))
	require.Equal(t, MaxAbs, FromInt(100_000_000_000))
	require.Panics(t, func() { FromInt(math.MaxInt64 / 1_000) })
	require.Panics(t, func() { FromInt(math.MinInt64 / 1_000) })
}

func TestArithmetic(t *testing.T) {
	t.Parallel()
	a, b := MustParse("150.25"), MustParse("-0.2501")
	require.Equal(t, MustParse("149.9999"), a.Add(b))
	require.Equal(t, MustParse("150.5001"), a.Sub(b))
	require.Equal(t, MustParse("-150.25"), a.Neg())
	require.Equal(t, MustParse("0.2501"), b.Abs())
	require.Equal(t, a, a.Abs())
	require.Equal(t, 1, a.Cmp(b))
	require.Equal(t, -1, b.Cmp(a))
	require.Equal(t, 0, a.Cmp(MustParse("150.2500")))
	require.Equal(t, 1, a.Sign())
	require.Equal(t, -1, b.Sign())
	require.Equal(t, 0, Amount{}.Sign())
	require.True(t, Amount{}.IsZero())
	require.True(t, a.IsPositive())
	require.False(t, a.IsNegative())
	require.True(t, b.IsNegative())
	require.False(t, Amount{}.IsPositive())
	require.Equal(t, MustParse("149.9999"), Sum(a, b))
	require.Equal(t, Amount{}, Sum())
}

func TestArithmeticOverflowPanics(t *testing.T) {
	t.Parallel()
	hi, lo := FromUnits(math.MaxInt64), FromUnits(math.MinInt64)
	one := FromUnits(1)
	tests := map[string]func(){
		"Add":    func() { hi.Add(one) },
		"AddNeg": func() { lo.Add(one.Neg()) },
		"Sub":    func() { lo.Sub(one) },
		"SubNeg": func() { hi.Sub(one.Neg()) },
		"Neg":    func() { lo.Neg() },
		"Abs":    func() { lo.Abs() },
		"Sum":    func() { Sum(hi, hi) },
		"Round":  func() { hi.Round(0, HalfUp) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Panics(t, f)
		})
	}
	t.Run("edges do not panic", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, lo, hi.Neg().Sub(one))
		require.Equal(t, hi, lo.Add(hi).Add(hi).Add(one))
		require.Equal(t, FromUnits(math.MinInt64+8), lo.Round(2, HalfEven))
	})
}

func TestAddSubInverseProperty(t *testing.T) {
	t.Parallel()
	r := newRand(t)
	for range propertyCases {
		a, b := randAmount(r), randAmount(r)
		require.Equal(t, a, a.Add(b).Sub(b), "%s + %s - %s", a, b, b)
		require.Equal(t, a, a.Sub(b).Add(b), "%s - %s + %s", a, b, b)
		require.Equal(t, a.Add(b), b.Add(a))
		require.Equal(t, a.Sub(b), b.Sub(a).Neg())
	}
}

func TestParseStringRoundTripProperty(t *testing.T) {
	t.Parallel()
	r := newRand(t)
	for range propertyCases {
		a := randAmount(r)
		back, err := Parse(a.String())
		require.NoError(t, err, a.String())
		require.Equal(t, a, back)
		// StringFixed at full scale is also a canonical spelling Parse must accept.
		back, err = Parse(a.StringFixed(Scale))
		require.NoError(t, err)
		require.Equal(t, a, back)
	}
}

func TestRound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		places int
		even   string
		up     string
	}{
		{in: "1.005", places: 2, even: "1.00", up: "1.01"},
		{in: "1.015", places: 2, even: "1.02", up: "1.02"},
		{in: "-1.005", places: 2, even: "-1.00", up: "-1.01"},
		{in: "-1.015", places: 2, even: "-1.02", up: "-1.02"},
		{in: "1.0049", places: 2, even: "1.00", up: "1.00"},
		{in: "1.0051", places: 2, even: "1.01", up: "1.01"},
		{in: "2.5", places: 0, even: "2", up: "3"},
		{in: "3.5", places: 0, even: "4", up: "4"},
		{in: "-2.5", places: 0, even: "-2", up: "-3"},
		{in: "1.2345", places: 3, even: "1.234", up: "1.235"},
		{in: "1.2345", places: 4, even: "1.2345", up: "1.2345"},
		{in: "1.2345", places: 9, even: "1.2345", up: "1.2345"},
		{in: "0.5", places: 0, even: "0", up: "1"},
		{in: "-0.4999", places: 0, even: "0", up: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			a := MustParse(tt.in)
			require.Equal(t, MustParse(tt.even), a.Round(tt.places, HalfEven), "HalfEven")
			require.Equal(t, MustParse(tt.up), a.Round(tt.places, HalfUp), "HalfUp")
		})
	}
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		require.Panics(t, func() { MustParse("1").Round(-1, HalfUp) })
		require.Panics(t, func() { MustParse("1.5").Round(0, RoundingMode(7)) })
		require.Equal(t, "RoundingMode(7)", RoundingMode(7).String())
		require.Equal(t, "HalfUp", HalfUp.String())
		require.Equal(t, "HalfEven", HalfEven.String())
	})
}

func TestMul(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		a, q   string
		places int
		mode   RoundingMode
		want   string
		err    error
	}{
		{name: "hours", a: "150.00", q: "1.25", places: 2, mode: HalfUp, want: "187.50"},
		{name: "third", a: "100.00", q: "0.333333", places: 2, mode: HalfUp, want: "33.33"},
		{name: "third at scale", a: "100.00", q: "0.333333", places: 4, mode: HalfUp, want: "33.3333"},
		{name: "half even down", a: "0.01", q: "0.5", places: 2, mode: HalfEven, want: "0.00"},
		{name: "half up", a: "0.01", q: "0.5", places: 2, mode: HalfUp, want: "0.01"},
		{name: "half up negative", a: "-0.01", q: "0.5", places: 2, mode: HalfUp, want: "-0.01"},
		{name: "negative quantity", a: "10.00", q: "-1.5", places: 2, mode: HalfUp, want: "-15.00"},
		{name: "both negative", a: "-10.00", q: "-1.5", places: 2, mode: HalfUp, want: "15.00"},
		{name: "tiny", a: "0.0001", q: "0.000001", places: 4, mode: HalfUp, want: "0.00"},
		{name: "places clamp", a: "1.2345", q: "1", places: 9, mode: HalfUp, want: "1.2345"},
		{name: "whole", a: "2.5", q: "1", places: 0, mode: HalfEven, want: "2"},
		{name: "max", a: "100000000000", q: "1", places: 2, mode: HalfUp, want: "100000000000"},
		{name: "just over max", a: "100000000000", q: "1.000001", places: 2, mode: HalfUp, err: ErrOutOfRange},
		{name: "rounds to max", a: "99999999999.9999", q: "1", places: 2, mode: HalfUp, want: "100000000000"},
		{name: "over max at whole units", a: "100000000000", q: "1.000001", places: 0, mode: HalfEven, err: ErrOutOfRange},
		{name: "huge", a: "100000000000", q: "100000000000", places: 2, mode: HalfUp, err: ErrOutOfRange},
		{name: "negative places", a: "1", q: "1", places: -1, mode: HalfUp, err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MustParse(tt.a).Mul(MustParseQuantity(tt.q), tt.places, tt.mode)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, MustParse(tt.want), got)
		})
	}
	t.Run("int64 extremes", func(t *testing.T) {
		t.Parallel()
		_, err := FromUnits(math.MinInt64).Mul(QuantityFromUnits(math.MinInt64), 0, HalfUp)
		require.ErrorIs(t, err, ErrOutOfRange)
	})
}

// TestMulProperty checks Mul against an oracle in math/big.
func TestMulProperty(t *testing.T) {
	t.Parallel()
	r := newRand(t)
	for range propertyCases {
		a := randAmount(r)
		q := QuantityFromUnits(r.Int64N(20_000_001) - 10_000_000)
		places := r.IntN(Scale + 1)
		mode := RoundingMode(r.IntN(2))

		product := new(big.Int).Mul(big.NewInt(a.Units()), big.NewInt(q.Units()))
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(Scale+QuantityScale-places)), nil)
		quo, rem := new(big.Int).QuoRem(new(big.Int).Abs(product), div, new(big.Int))
		switch new(big.Int).Lsh(rem, 1).Cmp(div) {
		case 1:
			quo.Add(quo, big.NewInt(1))
		case 0:
			if mode == HalfUp || quo.Bit(0) == 1 {
				quo.Add(quo, big.NewInt(1))
			}
		}
		want := new(big.Int).Mul(quo, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(Scale-places)), nil))
		if product.Sign() < 0 {
			want.Neg(want)
		}

		got, err := a.Mul(q, places, mode)
		if new(big.Int).Abs(want).Cmp(big.NewInt(maxAbsUnits)) > 0 {
			require.ErrorIs(t, err, ErrOutOfRange)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, want.Int64(), got.Units(), "%s × %s at %d %v", a, q, places, mode)
	}
}

func TestDecimal(t *testing.T) {
	t.Parallel()
	a := MustParse("-1234.5678")
	d := a.Decimal()
	require.Equal(t, "-1234.5678", d.String())
	d.Add(d, d) // callers own the copy
	require.Equal(t, MustParse("-1234.5678"), a)

	back, err := FromDecimal(a.Decimal())
	require.NoError(t, err)
	require.Equal(t, a, back)

	// A product of two amounts near MaxAbs needs more than the 16 digits that a zero
	// decimal.Context keeps.
	product := MustParse("99999999999.9999").Decimal()
	product.Mul(product, MustParse("1.0001").Decimal())
	require.Equal(t, "100009999999.99989999", product.String())
}

func TestFromDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{in: "1.5", want: "1.50"},
		{in: "1.50000000", want: "1.50"},
		{in: "-0.0001", want: "-0.0001"},
		{in: "1E+3", want: "1000.00"},
		{in: "1.2E+10", want: "12000000000.00"},
		{in: "0E-1000", want: "0.00"},
		{in: "-0", want: "0.00"},
		{in: "1E+11", want: "100000000000.00"},
		{in: "1.00001", err: ErrTooPrecise},
		{in: "1E-5", err: ErrTooPrecise},
		{in: "1E-1000000000", err: ErrTooPrecise},
		{in: "12345678901234567890E-19", err: ErrTooPrecise},
		{in: "1E+12", err: ErrOutOfRange},
		{in: "1E+1000000000", err: ErrOutOfRange},
		{in: "100000000000.0001", err: ErrOutOfRange},
		{in: "NaN", err: ErrInvalid},
		{in: "-Inf", err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			d, ok := new(decimal.Big).SetString(tt.in)
			require.True(t, ok)
			got, err := FromDecimal(d)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.String())
		})
	}
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		_, err := FromDecimal(nil)
		require.ErrorIs(t, err, ErrInvalid)
	})
}
