package money

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Value implements driver.Valuer. Amounts are stored as int64 units in a BIGINT column,
// so the database sums and compares them exactly and never sees a fraction.
func (a Amount) Value() (driver.Value, error) { return a.units, nil }

// Scan implements sql.Scanner for a BIGINT column of units and for aggregates over one.
// It accepts integers; PostgreSQL's numeric text ("12345", or "12345.00" after a cast),
// which is what SUM(bigint) returns; and a float64 only if it is an integer of at most
// 2^53, because SQLite may report a SUM as REAL and a larger float may already have
// been rounded. NULL is an error: scan nullable columns into sql.Null[money.Amount].
//
// Scan does not enforce MaxAbs, since a legitimate SUM may exceed it.
func (a *Amount) Scan(src any) error {
	u, err := scanUnits(src, "Amount")
	if err != nil {
		return err
	}
	a.units = u
	return nil
}

// Value implements driver.Valuer, storing the quantity as int64 millionths.
func (q Quantity) Value() (driver.Value, error) { return q.units, nil }

// Scan implements sql.Scanner with the same rules as Amount.Scan, for a BIGINT column of
// millionths.
func (q *Quantity) Scan(src any) error {
	u, err := scanUnits(src, "Quantity")
	if err != nil {
		return err
	}
	q.units = u
	return nil
}

// Value implements driver.Valuer. It refuses codes missing from the table, so that a
// Currency built by conversion cannot plant an unknown code in the database.
func (c Currency) Value() (driver.Value, error) {
	if _, err := ParseCurrency(string(c)); err != nil {
		return nil, err
	}
	return string(c), nil
}

// Scan implements sql.Scanner for a text column holding a code ParseCurrency accepts.
func (c *Currency) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case nil:
		return fmt.Errorf("%w: cannot scan NULL into money.Currency; use sql.Null[money.Currency]", ErrUnknownCurrency)
	default:
		return fmt.Errorf("%w: cannot scan %T into money.Currency", ErrUnknownCurrency, src)
	}
	parsed, err := ParseCurrency(s)
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

// maxExactFloat is the largest magnitude below which every integer is a float64, so a
// float64 integer at or below it is not the rounded image of a different integer.
const maxExactFloat = 1 << 53

// scanUnits converts src to units for the named type, Amount or Quantity.
func scanUnits(src any, typ string) (int64, error) {
	switch v := src.(type) {
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) {
			return 0, fmt.Errorf("%w: cannot scan float %v into money.%s units: not a whole number of units", ErrInvalid, v, typ)
		}
		if math.Abs(v) > maxExactFloat {
			return 0, fmt.Errorf("%w: cannot scan float %v into money.%s units: beyond 2^53 it may have been rounded", ErrOutOfRange, v, typ)
		}
		return int64(v), nil
	case []byte:
		return parseUnitsText(string(v), typ)
	case string:
		return parseUnitsText(v, typ)
	case nil:
		return 0, fmt.Errorf("%w: cannot scan NULL into money.%s; use sql.Null[money.%s] for a nullable column, or COALESCE(SUM(...), 0)", ErrInvalid, typ, typ)
	default:
		return 0, fmt.Errorf("%w: cannot scan %T into money.%s", ErrInvalid, src, typ)
	}
}

// parseUnitsText parses an integer count of units as a database prints it. A fraction
// of zeros is tolerated because PostgreSQL keeps the scale of a numeric cast such as
// SUM(units)::numeric(20,2).
func parseUnitsText(s, typ string) (int64, error) {
	digits := s
	if whole, frac, ok := strings.Cut(s, "."); ok {
		if frac == "" || strings.Trim(frac, "0") != "" {
			return 0, fmt.Errorf("%w: cannot scan %s into money.%s units: not a whole number of units", ErrInvalid, quoteInput(s), typ)
		}
		digits = whole
	}
	if !isDigits(strings.TrimPrefix(digits, "-")) {
		return 0, fmt.Errorf("%w: cannot scan %s into money.%s units: not an integer", ErrInvalid, quoteInput(s), typ)
	}
	u, err := strconv.ParseInt(digits, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%w: cannot scan %s into money.%s units: exceeds int64", ErrOutOfRange, quoteInput(s), typ)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: cannot scan %s into money.%s units: %v", ErrInvalid, quoteInput(s), typ, err)
	}
	return u, nil
}
