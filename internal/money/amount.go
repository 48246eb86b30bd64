package money

import (
	"fmt"
	"math"

	"github.com/ericlagergren/decimal"
)

// Scale is the number of fractional digits an Amount keeps.
const Scale = 4

// maxAbsUnits is MaxAbs in units. Keeping it far below math.MaxInt64 (about 9,000 times)
// lets totals of many bounded amounts stay exact in an int64.
const maxAbsUnits int64 = 1_000_000_000_000_000

// MaxAbs is the largest magnitude accepted from outside the package: 100,000,000,000
// currency units.
var MaxAbs = Amount{units: maxAbsUnits}

// Amount is an exact decimal with 4 fractional digits, stored as int64 units of
// 1/10,000. The zero value is 0.00.
//
// Amount carries no currency; pair it with one in Money where the currency matters.
type Amount struct {
	units int64
}

// Parse reads a plain decimal: an optional leading '-', one or more ASCII digits, and
// optionally '.' followed by one to four digits. Anything else, including "+1", " 1",
// "1e3", "1.", ".5", "NaN" and "1,000.00", is rejected with ErrInvalid, so that exactly
// one spelling reaches the ledger and nothing is guessed. More than four fractional
// digits is ErrTooPrecise even when they are zeros, and a magnitude above MaxAbs is
// ErrOutOfRange.
func Parse(s string) (Amount, error) {
	u, err := parseFixed(s, Scale, maxAbsUnits, "amount")
	if err != nil {
		return Amount{}, err
	}
	return Amount{units: u}, nil
}

// MustParse is Parse for constants and tests; it panics on error.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// FromUnits returns the amount u/10,000.
func FromUnits(u int64) Amount { return Amount{units: u} }

// Units returns the amount as a count of 1/10,000 currency units, the form stored in the
// database.
func (a Amount) Units() int64 { return a.units }

// FromInt returns n whole currency units. It panics if n is beyond ±922,337,203,685,477,
// which no real amount is; use Parse for untrusted input.
func FromInt(n int64) Amount {
	const unit = int64(10_000)
	if n > math.MaxInt64/unit || n < math.MinInt64/unit {
		panic(fmt.Errorf("%w: money.FromInt(%d) overflows int64 units", ErrOutOfRange, n))
	}
	return Amount{units: n * unit}
}

// FromDecimal converts d exactly. Round d to at most four fractional digits first: a
// value that would need rounding is ErrTooPrecise, NaN and infinities are ErrInvalid,
// and a magnitude above MaxAbs is ErrOutOfRange.
func FromDecimal(d *decimal.Big) (Amount, error) {
	u, err := fromDecimal(d, Scale, maxAbsUnits, "amount")
	if err != nil {
		return Amount{}, err
	}
	return Amount{units: u}, nil
}

// Decimal returns the amount as a newly allocated decimal.Big, for calculations this
// package does not offer. Its Context is decimal.Context128, so arithmetic with it as
// the receiver keeps 34 significant digits. Convert the result back with FromDecimal
// after rounding it to Scale digits.
func (a Amount) Decimal() *decimal.Big { return toDecimal(a.units, Scale) }

// String returns the canonical decimal form: never exponent notation, at least two
// fractional digits, and no trailing zeros beyond two. Examples: "150.00", "0.1234",
// "-3.10", "1.235". Parse accepts every string it returns for amounts within MaxAbs.
func (a Amount) String() string { return formatFixed(a.units, Scale, 2) }

// StringFixed returns the amount with exactly places fractional digits, padding with
// zeros or, if the amount is more precise than places, rounding half to even. It panics
// if places is negative.
func (a Amount) StringFixed(places int) string { return formatPlaces(a.units, Scale, places) }
