package money

import (
	"errors"
	"strings"
	"testing"

	"github.com/ericlagergren/decimal"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"0", "-0", "1", "-1", "150.00", "0.1234", "1.235", "-3.10", "007.50",
		"100000000000", "-100000000000.0000", "100000000000.0001", "99999999999.9999",
		"922337203685477.5807", "-922337203685477.5808", "9223372036854775808",
		"18446744073709551616", strings.Repeat("9", 40), "0." + strings.Repeat("0", 30) + "1",
		"", " ", "-", "+1", ".5", "5.", ".", "-.", "1.2.3", "1e3", "1E-3", "NaN", "-Inf",
		"Infinity", "0x1p3", "1_000", "1,5", "１", "1.00000", "-0.00000", "\x00", "1\x00",
		"--1", "-+1", "1-", "٣", "1.0\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooPrecise) && !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("Parse(%q) error %v wraps no sentinel", s, err)
			}
		} else {
			checkParsed(t, s, a)
		}

		q, err := ParseQuantity(s)
		if err == nil {
			back, err := ParseQuantity(q.String())
			if err != nil || back != q {
				t.Fatalf("ParseQuantity(%q) = %s, which reparses as %v, %v", s, q, back, err)
			}
		}
	})
}

// checkParsed verifies an Amount that Parse accepted from s.
func checkParsed(t *testing.T, s string, a Amount) {
	t.Helper()
	back, err := Parse(a.String())
	if err != nil || back != a {
		t.Fatalf("Parse(%q) = %s, which reparses as %v, %v", s, a, back, err)
	}
	if a.Cmp(MaxAbs) > 0 || a.Cmp(MaxAbs.Neg()) < 0 {
		t.Fatalf("Parse(%q) = %s, beyond MaxAbs", s, a)
	}
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > Scale {
		t.Fatalf("Parse(%q) accepted more than %d fractional digits", s, Scale)
	}
	// An independent decimal parser must agree on the value.
	d, ok := new(decimal.Big).SetString(s)
	if !ok || d.Cmp(a.Decimal()) != 0 {
		t.Fatalf("Parse(%q) = %s, but decimal.Big reads %v (ok=%v)", s, a, d, ok)
	}
}
