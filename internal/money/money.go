package money

import "fmt"

// Money is an amount in a currency. Arithmetic between Money values checks that the
// currencies agree, which bare Amounts cannot do.
type Money struct {
	Amount   Amount   `json:"amount"`
	Currency Currency `json:"currency"`
}

// New returns a in currency c.
func New(a Amount, c Currency) Money { return Money{Amount: a, Currency: c} }

// Add returns m+o, or ErrCurrencyMismatch if their currencies differ.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, mismatch("add", m, o)
	}
	return Money{Amount: m.Amount.Add(o.Amount), Currency: m.Currency}, nil
}

// Sub returns m-o, or ErrCurrencyMismatch if their currencies differ.
func (m Money) Sub(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, mismatch("subtract", m, o)
	}
	return Money{Amount: m.Amount.Sub(o.Amount), Currency: m.Currency}, nil
}

// RoundToMinor rounds m half up (away from zero) to its currency's minor unit, as
// document and line totals are rounded: 10.125 USD → 10.13 USD, 1500.5 JPY → 1501 JPY.
func (m Money) RoundToMinor() Money {
	return Money{Amount: m.Amount.Round(m.Currency.MinorUnits(), HalfUp), Currency: m.Currency}
}

// String returns the amount followed by the currency code, as in "150.00 USD". The amount
// shows at least the currency's minor digits ("150 JPY", "1.500 KWD") and any further
// non-zero digits it carries, so nothing is hidden. A code missing from the table is
// shown like Amount.String.
func (m Money) String() string {
	minFrac, ok := minorUnits[m.Currency]
	if !ok {
		minFrac = 2
	}
	return formatFixed(m.Amount.units, Scale, minFrac) + " " + string(m.Currency)
}

func mismatch(op string, m, o Money) error {
	return fmt.Errorf("%w: cannot %s %s and %s", ErrCurrencyMismatch, op, m, o)
}
