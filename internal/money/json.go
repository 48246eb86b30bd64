package money

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MarshalJSON encodes the amount as a JSON string of String(), such as "150.00". A JSON
// number would be read as float64 by most clients and lose precision.
func (a Amount) MarshalJSON() ([]byte, error) { return quoted(a.String()), nil }

// UnmarshalJSON accepts only a JSON string that Parse accepts. JSON numbers are refused,
// even integral ones, so that clients learn to send strings before a fractional amount
// is silently rounded by their float64 encoder; null is refused too (use *Amount for an
// optional field, which encoding/json sets to nil without calling this method).
func (a *Amount) UnmarshalJSON(data []byte) error {
	s, err := jsonString(data, "Amount", `"150.00"`)
	if err != nil {
		return err
	}
	return a.UnmarshalText([]byte(s))
}

// MarshalText encodes the amount as String(), for flags, configuration and map keys.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses text with Parse.
func (a *Amount) UnmarshalText(text []byte) error {
	parsed, err := Parse(string(text))
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}

// MarshalJSON encodes the quantity as a JSON string of String(), such as "1.25".
func (q Quantity) MarshalJSON() ([]byte, error) { return quoted(q.String()), nil }

// UnmarshalJSON accepts only a JSON string that ParseQuantity accepts, for the same
// reasons as Amount.UnmarshalJSON.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	s, err := jsonString(data, "Quantity", `"1.25"`)
	if err != nil {
		return err
	}
	return q.UnmarshalText([]byte(s))
}

// MarshalText encodes the quantity as String().
func (q Quantity) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText parses text with ParseQuantity.
func (q *Quantity) UnmarshalText(text []byte) error {
	parsed, err := ParseQuantity(string(text))
	if err != nil {
		return err
	}
	*q = parsed
	return nil
}

// UnmarshalText parses text with ParseCurrency, so JSON and configuration decoding reject
// unknown codes. Marshaling needs no method: a Currency encodes as its code.
func (c *Currency) UnmarshalText(text []byte) error {
	parsed, err := ParseCurrency(string(text))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

func quoted(s string) []byte {
	// Decimal strings never contain characters that JSON or GraphQL would escape.
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonString returns the content of a JSON string literal, explaining in the error what
// to send instead when data is a number, null or anything else.
func jsonString(data []byte, typ, example string) (string, error) {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		return "", fmt.Errorf("%w: money.%s cannot be null; send a decimal string such as %s", ErrInvalid, typ, example)
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return "", fmt.Errorf("%w: money.%s: %v", ErrInvalid, typ, err)
		}
		return s, nil
	case len(data) > 0 && (data[0] == '-' || data[0] >= '0' && data[0] <= '9'):
		return "", fmt.Errorf("%w: money.%s values must be decimal strings such as %s, not JSON numbers (got %s)", ErrInvalid, typ, example, quoteInput(string(data)))
	default:
		return "", fmt.Errorf("%w: money.%s must be a JSON string such as %s (got %s)", ErrInvalid, typ, example, quoteInput(string(data)))
	}
}
