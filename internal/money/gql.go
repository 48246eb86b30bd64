package money

import (
	"encoding/json"
	"fmt"
	"io"
)

// These methods make Amount, Quantity and Currency gqlgen custom scalars without this
// package importing gqlgen. Amounts and quantities travel as strings in GraphQL for the
// same reason as in JSON: GraphQL Float is a double.

// MarshalGQL writes the amount as a quoted String(), such as "150.00".
func (a Amount) MarshalGQL(w io.Writer) {
	// gqlgen's interface has no error result; a failed write surfaces on the response.
	w.Write(quoted(a.String()))
}

// UnmarshalGQL accepts a string that Parse accepts, or an integer (int, int32, int64, or
// a json.Number holding one) as whole currency units. A float64 is refused: by the time
// it arrives it may already have been rounded.
func (a *Amount) UnmarshalGQL(v any) error {
	u, err := unmarshalGQL(v, "Amount", `"150.00"`, Scale, maxAbsUnits, func(s string) (int64, error) {
		parsed, err := Parse(s)
		return parsed.units, err
	})
	if err != nil {
		return err
	}
	a.units = u
	return nil
}

// MarshalGQL writes the quantity as a quoted String(), such as "1.25".
func (q Quantity) MarshalGQL(w io.Writer) {
	w.Write(quoted(q.String()))
}

// UnmarshalGQL accepts a string that ParseQuantity accepts, or an integer as a whole
// quantity; like Amount.UnmarshalGQL it refuses float64.
func (q *Quantity) UnmarshalGQL(v any) error {
	u, err := unmarshalGQL(v, "Quantity", `"1.25"`, QuantityScale, maxQuantityUnits, func(s string) (int64, error) {
		parsed, err := ParseQuantity(s)
		return parsed.units, err
	})
	if err != nil {
		return err
	}
	q.units = u
	return nil
}

// MarshalGQL writes the code as a GraphQL string.
func (c Currency) MarshalGQL(w io.Writer) {
	w.Write(quoted(string(c)))
}

// UnmarshalGQL accepts a string that ParseCurrency accepts.
func (c *Currency) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%w: money.Currency must be a string such as \"USD\", got %T", ErrUnknownCurrency, v)
	}
	return c.UnmarshalText([]byte(s))
}

// unmarshalGQL converts a gqlgen input value to units of 10^-scale.
func unmarshalGQL(v any, typ, example string, scale int, maxUnits int64, parse func(string) (int64, error)) (int64, error) {
	var whole int64
	switch v := v.(type) {
	case string:
		return parse(v)
	case int:
		whole = int64(v)
	case int32:
		whole = int64(v)
	case int64:
		whole = v
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0, fmt.Errorf("%w: money.%s must be a decimal string such as %s or an integer, not the number %s", ErrInvalid, typ, example, quoteInput(v.String()))
		}
		whole = n
	case float32, float64:
		return 0, fmt.Errorf("%w: money.%s must be a decimal string such as %s, not the float %v, which may already have lost precision", ErrInvalid, typ, example, v)
	case nil:
		return 0, fmt.Errorf("%w: money.%s cannot be null; send a decimal string such as %s", ErrInvalid, typ, example)
	default:
		return 0, fmt.Errorf("%w: money.%s must be a decimal string such as %s, got %T", ErrInvalid, typ, example, v)
	}
	unit := int64(pow10[scale])
	if whole > maxUnits/unit || whole < -maxUnits/unit {
		return 0, fmt.Errorf("%w: money.%s %d exceeds %s in magnitude", ErrOutOfRange, typ, whole, formatFixed(maxUnits, scale, 0))
	}
	return whole * unit, nil
}
