package money

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
)

// Add returns a+b exactly. It panics on int64 overflow, which takes thousands of MaxAbs
// amounts; a wrapped-around total would be a silent ledger corruption.
func (a Amount) Add(b Amount) Amount {
	s := a.units + b.units
	if (s > a.units) != (b.units > 0) {
		panic(overflow("Add", a, b))
	}
	return Amount{units: s}
}

// Sub returns a-b exactly. Like Add, it panics on int64 overflow.
func (a Amount) Sub(b Amount) Amount {
	d := a.units - b.units
	if (d < a.units) != (b.units > 0) {
		panic(overflow("Sub", a, b))
	}
	return Amount{units: d}
}

// Neg returns -a.
func (a Amount) Neg() Amount {
	if a.units == math.MinInt64 {
		panic(overflow("Neg", a))
	}
	return Amount{units: -a.units}
}

// Abs returns |a|.
func (a Amount) Abs() Amount {
	if a.units < 0 {
		return a.Neg()
	}
	return a
}

// Cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
func (a Amount) Cmp(b Amount) int { return cmp.Compare(a.units, b.units) }

// Sign returns -1, 0 or +1 as a is negative, zero or positive.
func (a Amount) Sign() int { return cmp.Compare(a.units, 0) }

// IsZero reports whether a is zero.
func (a Amount) IsZero() bool { return a.units == 0 }

// IsPositive reports whether a > 0.
func (a Amount) IsPositive() bool { return a.units > 0 }

// IsNegative reports whether a < 0.
func (a Amount) IsNegative() bool { return a.units < 0 }

// Sum returns the exact total of as, or zero if there are none. Like Add, it panics on
// int64 overflow.
func Sum(as ...Amount) Amount {
	var total Amount
	for _, a := range as {
		total = total.Add(a)
	}
	return total
}

// Mul returns a*q rounded to places fractional digits with mode. The full product is
// computed in 128 bits, so the only rounding is the one requested, and the result is
// ErrOutOfRange if its magnitude exceeds MaxAbs. places above Scale mean Scale; a
// negative places is ErrInvalid. Like Round, it panics on an unknown mode.
func (a Amount) Mul(q Quantity, places int, mode RoundingMode) (Amount, error) {
	if places < 0 {
		return Amount{}, fmt.Errorf("%w: negative number of decimal places %d", ErrInvalid, places)
	}
	places = min(places, Scale)
	au, aNeg := absUnits(a.units)
	qu, qNeg := absUnits(q.units)
	hi, lo := bits.Mul64(au, qu)
	// The product is in units of 10^-(Scale+QuantityScale); dividing by div leaves a
	// count of 10^-places.
	div := pow10[Scale+QuantityScale-places]
	step := pow10[Scale-places]
	outOfRange := func() error {
		return fmt.Errorf("%w: %s × %s exceeds %s", ErrOutOfRange, a, q, MaxAbs)
	}
	if hi >= div {
		return Amount{}, outOfRange()
	}
	quo, rem := bits.Div64(hi, lo, div)
	if quo > uint64(maxAbsUnits)/step {
		return Amount{}, outOfRange()
	}
	if roundsUp(quo, rem, div, mode) {
		quo++
	}
	abs := quo * step
	if abs > uint64(maxAbsUnits) {
		return Amount{}, outOfRange()
	}
	u, _ := signedUnits(abs, aNeg != qNeg)
	return Amount{units: u}, nil
}

func overflow(op string, operands ...Amount) error {
	return fmt.Errorf("%w: money.Amount.%s%v overflows int64 units", ErrOutOfRange, op, operands)
}
