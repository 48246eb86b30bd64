package qbotest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Money in the emulator is exact: JSON numbers are read as json.Number,
// parsed into big.Rat (exact for any decimal literal) and amounts are held
// as int64 cents. float64 is never used for an amount.

// parseDecimal parses a JSON number (json.Number, or a string of digits)
// exactly. ok is false for anything else.
func parseDecimal(v any) (*big.Rat, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	default:
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// toCents rounds r half away from zero to whole cents.
func toCents(r *big.Rat) int64 {
	scaled := new(big.Rat).Mul(r, big.NewRat(100, 1))
	num, den := scaled.Num(), scaled.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	// |m|*2 >= den → round away from zero
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// centsNumber formats cents the way QBO prints amounts: no trailing zeros
// (150, 12.75, 0.5, -3.1).
func centsNumber(c int64) json.Number {
	neg := c < 0
	if neg {
		c = -c
	}
	s := strconv.FormatInt(c/100, 10)
	if frac := c % 100; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", frac), "0")
	}
	if neg {
		s = "-" + s
	}
	return json.Number(s)
}

// normalizeNumber reprints an exact decimal without trailing zeros or
// exponent (2.50 → 2.5, 1e2 → 100).
func normalizeNumber(r *big.Rat) json.Number {
	s := r.FloatString(10)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return json.Number(s)
}

func itoa(n int) string { return strconv.Itoa(n) }
