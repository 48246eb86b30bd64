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

// UnmarshalGQL accepts a string that Parse accepts, such as "150.00"; a number, even an
// integer, is refused (see unmarshalGQL).
func (a *Amount) UnmarshalGQL(v any) error {
	u, err := unmarshalGQL(v, "Money", `"150.00"`, func(s string) (int64, error) {
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

// UnmarshalGQL accepts a string that ParseQuantity accepts, such as "1.25"; like
// Amount.UnmarshalGQL it refuses numbers.
func (q *Quantity) UnmarshalGQL(v any) error {
	u, err := unmarshalGQL(v, "Quantity", `"1.25"`, func(s string) (int64, error) {
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

// unmarshalGQL converts a gqlgen input value to units of 10^-scale. Only a string is an
// amount, as in the REST API: a JSON or GraphQL number, integer or not, is refused, so that
// no client ever learns to send numbers that a float would round.
func unmarshalGQL(v any, typ, example string, parse func(string) (int64, error)) (int64, error) {
	switch v := v.(type) {
	case string:
		return parse(v)
	case nil:
		return 0, fmt.Errorf("%w: %s cannot be null; send a decimal string such as %s", ErrInvalid, typ, example)
	case int, int32, int64, json.Number, float32, float64:
		return 0, fmt.Errorf("%w: %s must be a decimal string such as %s, not the number %v", ErrInvalid, typ, example, v)
	default:
		return 0, fmt.Errorf("%w: %s must be a decimal string such as %s, got %T", ErrInvalid, typ, example, v)
	}
}
