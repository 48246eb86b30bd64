package money

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/ericlagergren/decimal"
)

// pow10 holds the powers of ten that fit in a uint64.
var pow10 = [...]uint64{
	1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000,
	1_000_000_000, 10_000_000_000, 100_000_000_000, 1_000_000_000_000,
	10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
	10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
	10_000_000_000_000_000_000,
}

// parseFixed parses a plain decimal into units of 10^-scale, rejecting anything but
// -?[0-9]+(\.[0-9]+)?. Amount and Quantity share it so both accept exactly the same
// syntax. It never panics: digits are accumulated only while the value stays at or
// below maxUnits, which is far enough below the uint64 limit that v*10+9 cannot wrap.
func parseFixed(s string, scale int, maxUnits int64, kind string) (int64, error) {
	body, neg := strings.CutPrefix(s, "-")
	intPart, fracPart, hasDot := strings.Cut(body, ".")
	if !isDigits(intPart) || (hasDot && !isDigits(fracPart)) {
		return 0, fmt.Errorf("%w: %s %s is not a plain decimal like \"-1234.5\"", ErrInvalid, kind, quoteInput(s))
	}
	if len(fracPart) > scale {
		return 0, fmt.Errorf("%w: %s %s has more than %d fractional digits", ErrTooPrecise, kind, quoteInput(s), scale)
	}
	var v uint64
	for _, digits := range []string{intPart, fracPart, strings.Repeat("0", scale-len(fracPart))} {
		for i := 0; i < len(digits); i++ {
			v = v*10 + uint64(digits[i]-'0')
			if v > uint64(maxUnits) {
				return 0, fmt.Errorf("%w: %s %s exceeds %s in magnitude", ErrOutOfRange, kind, quoteInput(s), formatFixed(maxUnits, scale, 0))
			}
		}
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// isDigits reports whether s is a non-empty run of ASCII digits. Non-ASCII digits are
// rejected so that only one spelling of each value is accepted.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoteInput quotes untrusted input for an error message, shortening it so that a huge
// request body does not end up in the logs verbatim.
func quoteInput(s string) string {
	const limit = 40
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// absUnits returns |u| as a uint64, which is exact even for math.MinInt64.
func absUnits(u int64) (abs uint64, neg bool) {
	if u < 0 {
		return -uint64(u), true
	}
	return uint64(u), false
}

// signedUnits is the inverse of absUnits; ok is false if the result does not fit in an
// int64.
func signedUnits(abs uint64, neg bool) (u int64, ok bool) {
	switch {
	case neg && abs == 1<<63:
		return math.MinInt64, true
	case abs > math.MaxInt64:
		return 0, false
	case neg:
		return -int64(abs), true
	default:
		return int64(abs), true
	}
}

// formatFixed renders units of 10^-scale in plain decimal notation, keeping at least
// minFrac fractional digits and dropping trailing zeros beyond them.
func formatFixed(units int64, scale, minFrac int) string {
	abs, neg := absUnits(units)
	frac := strconv.FormatUint(abs%pow10[scale]+pow10[scale], 10)[1:]
	for len(frac) > minFrac && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	return joinFixed(neg && abs != 0, abs/pow10[scale], frac)
}

// formatPlaces renders units of 10^-scale with exactly places fractional digits,
// rounding half to even when places < scale. The rounding is done on the uint64
// magnitude, which has room for the carry, so it cannot overflow for any int64.
func formatPlaces(units int64, scale, places int) string {
	if places < 0 {
		panic(fmt.Sprintf("money: negative number of decimal places %d", places))
	}
	abs, neg := absUnits(units)
	if places < scale {
		abs = roundAbs(abs, pow10[scale-places], HalfEven)
	}
	frac := strconv.FormatUint(abs%pow10[scale]+pow10[scale], 10)[1:]
	if places < scale {
		frac = frac[:places]
	} else {
		frac += strings.Repeat("0", places-scale)
	}
	return joinFixed(neg && abs != 0, abs/pow10[scale], frac)
}

func joinFixed(neg bool, whole uint64, frac string) string {
	b := make([]byte, 0, 24+len(frac))
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, whole, 10)
	if frac != "" {
		b = append(b, '.')
		b = append(b, frac...)
	}
	return string(b)
}

// toDecimal converts units of 10^-scale to a freshly allocated decimal.Big. The zero
// Context would round every later result to 16 significant digits, fewer than an
// Amount near MaxAbs already has, so the copy carries Decimal128's 34 instead.
func toDecimal(units int64, scale int) *decimal.Big {
	d := decimal.New(units, scale)
	d.Context = decimal.Context128
	return d
}

// fromDecimal converts d to units of 10^-scale without rounding. The exponent is checked
// before anything is scaled because a decimal.Big can carry an exponent in the billions,
// and materializing 10^exponent would exhaust memory.
func fromDecimal(d *decimal.Big, scale int, maxUnits int64, kind string) (int64, error) {
	if d == nil {
		return 0, fmt.Errorf("%w: nil %s decimal", ErrInvalid, kind)
	}
	if !d.IsFinite() {
		return 0, fmt.Errorf("%w: %s decimal %v is not finite", ErrInvalid, kind, d)
	}
	if d.Sign() == 0 {
		return 0, nil
	}
	outOfRange := func() error {
		return fmt.Errorf("%w: %s decimal %v exceeds %s in magnitude", ErrOutOfRange, kind, d, formatFixed(maxUnits, scale, 0))
	}
	// units = coefficient * 10^shift, and the coefficient is at least 1.
	shift := scale - d.Scale()
	if shift > 18 {
		return 0, outOfRange()
	}
	if shift < 0 && -shift >= d.Precision() {
		// The coefficient has fewer digits than must be divided away, so it cannot be a
		// multiple of 10^-shift.
		return 0, fmt.Errorf("%w: %s decimal %v has more than %d fractional digits", ErrTooPrecise, kind, d, scale)
	}
	_, neg, coefBytes, _ := d.Decompose(nil)
	coef := new(big.Int).SetBytes(coefBytes)
	if shift >= 0 {
		coef.Mul(coef, new(big.Int).SetUint64(pow10[shift]))
	} else {
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-shift)), nil)
		if _, rem := coef.QuoRem(coef, div, new(big.Int)); rem.Sign() != 0 {
			return 0, fmt.Errorf("%w: %s decimal %v has more than %d fractional digits", ErrTooPrecise, kind, d, scale)
		}
	}
	if !coef.IsInt64() || coef.Int64() > maxUnits {
		return 0, outOfRange()
	}
	if neg {
		return -coef.Int64(), nil
	}
	return coef.Int64(), nil
}
