package money

import "fmt"

// RoundingMode says how a value exactly halfway between two candidates is rounded.
// Values that are not halfway always go to the nearer candidate.
type RoundingMode int

const (
	// HalfEven rounds halfway values to the even neighbour (banker's rounding), which
	// keeps long columns of rounded figures free of upward drift.
	HalfEven RoundingMode = iota
	// HalfUp rounds halfway values away from zero, as invoices and tax authorities
	// usually require: 0.125 → 0.13 and -0.125 → -0.13.
	HalfUp
)

// String returns the mode's name.
func (m RoundingMode) String() string {
	switch m {
	case HalfEven:
		return "HalfEven"
	case HalfUp:
		return "HalfUp"
	default:
		return fmt.Sprintf("RoundingMode(%d)", int(m))
	}
}

// Round returns a rounded to places fractional digits with mode. places of Scale or more
// return a unchanged. It panics if places is negative or mode is unknown, both being
// programming errors, and on int64 overflow, which only amounts far beyond MaxAbs reach.
func (a Amount) Round(places int, mode RoundingMode) Amount {
	if places < 0 {
		panic(fmt.Sprintf("money: Amount.Round with negative places %d", places))
	}
	if places >= Scale {
		return a
	}
	abs, neg := absUnits(a.units)
	u, ok := signedUnits(roundAbs(abs, pow10[Scale-places], mode), neg)
	if !ok {
		panic(overflow("Round", a))
	}
	return Amount{units: u}
}

// roundAbs rounds the magnitude abs to a multiple of step. The result is at most
// abs+step, which fits in a uint64 for any int64 magnitude.
func roundAbs(abs, step uint64, mode RoundingMode) uint64 {
	quo, rem := abs/step, abs%step
	if roundsUp(quo, rem, step, mode) {
		quo++
	}
	return quo * step
}

// roundsUp reports whether the magnitude quo + rem/div rounds up to quo+1. Comparing
// rem with div-rem instead of 2*rem with div avoids overflow for any div.
func roundsUp(quo, rem, div uint64, mode RoundingMode) bool {
	if mode != HalfEven && mode != HalfUp {
		panic(fmt.Sprintf("money: unknown %v", mode))
	}
	switch other := div - rem; {
	case rem > other:
		return true
	case rem < other:
		return false
	case mode == HalfUp:
		return true
	default:
		return quo%2 == 1
	}
}
