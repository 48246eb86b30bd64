package money

import (
	"fmt"
	"math/big"
	"slices"
)

// Allocate splits total into len(weights) parts proportional to weights, each a multiple
// of 10^-places, that add up to exactly total. Use it wherever one figure is spread over
// several (a year's fee over months by days, an invoice discount over its lines) so the
// parts never drift from the whole by a rounding cent.
//
// It uses the largest-remainder method: each exact share is truncated toward zero to
// places digits, then the minor units still missing are handed out one each to the parts
// with the largest discarded remainders, the earlier part winning a tie. A negative total
// is allocated as its magnitude and the parts negated, so the split is symmetric. Every
// part therefore lies within one minor unit of its exact share.
//
// places must be 0..Scale and total a multiple of 10^-places (else ErrTooPrecise).
// Weights must be non-negative and not all zero; they are combined in math/big, so any
// int64 weights work. Errors other than ErrTooPrecise are ErrInvalid.
func Allocate(total Amount, weights []int64, places int) ([]Amount, error) {
	if places < 0 || places > Scale {
		return nil, fmt.Errorf("%w: Allocate places %d not in 0..%d", ErrInvalid, places, Scale)
	}
	if len(weights) == 0 {
		return nil, fmt.Errorf("%w: Allocate needs at least one weight", ErrInvalid)
	}
	weightSum := new(big.Int)
	for i, w := range weights {
		if w < 0 {
			return nil, fmt.Errorf("%w: Allocate weight %d is negative (%d)", ErrInvalid, i, w)
		}
		weightSum.Add(weightSum, big.NewInt(w))
	}
	if weightSum.Sign() == 0 {
		return nil, fmt.Errorf("%w: Allocate weights are all zero", ErrInvalid)
	}
	step := pow10[Scale-places]
	abs, neg := absUnits(total.units)
	if abs%step != 0 {
		return nil, fmt.Errorf("%w: cannot allocate %s in steps of %d decimal places", ErrTooPrecise, total, places)
	}

	minor := new(big.Int).SetUint64(abs / step)
	shares := make([]uint64, len(weights))
	remainders := make([]*big.Int, len(weights))
	var allotted uint64
	for i, w := range weights {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(minor, big.NewInt(w)), weightSum, new(big.Int))
		// q is at most minor, which came from a uint64.
		shares[i] = q.Uint64()
		remainders[i] = r
		allotted += shares[i]
	}

	// Every remainder is a fraction of the same denominator, so comparing numerators
	// ranks the discarded fractions. The stable sort keeps index order among equals,
	// which is what makes the earlier part win a tie. Fewer than len(weights) units
	// remain because each part lost less than one.
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return remainders[j].Cmp(remainders[i]) })
	for _, i := range order[:abs/step-allotted] {
		shares[i]++
	}

	parts := make([]Amount, len(weights))
	for i, s := range shares {
		// s*step is at most abs, so it fits.
		parts[i].units, _ = signedUnits(s*step, neg)
	}
	return parts, nil
}
