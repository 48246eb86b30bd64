package money

import (
	"cmp"
	"fmt"
	"math"

	"github.com/ericlagergren/decimal"
)

// QuantityScale is the number of fractional digits a Quantity keeps: enough for hours
// such as 0.333333 and for unit counts of metered services.
const QuantityScale = 6

// maxQuantityUnits bounds quantities from outside the package to 100,000,000,000, the
// same whole-number range as MaxAbs.
const maxQuantityUnits int64 = 100_000_000_000_000_000

// Quantity is an exact decimal with 6 fractional digits, such as hours worked or units
// sold, stored as int64 units of 1/1,000,000. The zero value is 0.
type Quantity struct {
	units int64
}

// ParseQuantity reads a plain decimal with at most six fractional digits, with the same
// strict syntax as Parse. Its magnitude may be at most 100,000,000,000.
func ParseQuantity(s string) (Quantity, error) {
	u, err := parseFixed(s, QuantityScale, maxQuantityUnits, "quantity")
	if err != nil {
		return Quantity{}, err
	}
	return Quantity{units: u}, nil
}

// MustParseQuantity is ParseQuantity for constants and tests; it panics on error.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

// QuantityFromUnits returns the quantity u/1,000,000.
func QuantityFromUnits(u int64) Quantity { return Quantity{units: u} }

// QuantityFromInt returns the whole quantity n. It panics if n is beyond
// ±9,223,372,036,854; use ParseQuantity for untrusted input.
func QuantityFromInt(n int64) Quantity {
	const unit = int64(1_000_000)
	if n > math.MaxInt64/unit || n < math.MinInt64/unit {
		panic(fmt.Errorf("%w: money.QuantityFromInt(%d) overflows int64 units", ErrOutOfRange, n))
	}
	return Quantity{units: n * unit}
}

// QuantityFromDecimal converts d exactly, with the same rules as FromDecimal but six
// fractional digits.
func QuantityFromDecimal(d *decimal.Big) (Quantity, error) {
	u, err := fromDecimal(d, QuantityScale, maxQuantityUnits, "quantity")
	if err != nil {
		return Quantity{}, err
	}
	return Quantity{units: u}, nil
}

// Units returns the quantity as a count of millionths, the form stored in the database.
func (q Quantity) Units() int64 { return q.units }

// Decimal returns the quantity as a newly allocated decimal.Big with Context
// decimal.Context128, like Amount.Decimal.
func (q Quantity) Decimal() *decimal.Big { return toDecimal(q.units, QuantityScale) }

// String returns the shortest plain decimal form, never exponent notation: "1.25",
// "0.333333", "2", "-0.5".
func (q Quantity) String() string { return formatFixed(q.units, QuantityScale, 0) }

// Cmp returns -1, 0 or +1 as q is less than, equal to or greater than r.
func (q Quantity) Cmp(r Quantity) int { return cmp.Compare(q.units, r.units) }

// Sign returns -1, 0 or +1 as q is negative, zero or positive.
func (q Quantity) Sign() int { return cmp.Compare(q.units, 0) }

// IsZero reports whether q is zero.
func (q Quantity) IsZero() bool { return q.units == 0 }

// IsPositive reports whether q > 0.
func (q Quantity) IsPositive() bool { return q.units > 0 }

// IsNegative reports whether q < 0.
func (q Quantity) IsNegative() bool { return q.units < 0 }
