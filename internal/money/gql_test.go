package money

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMarshalGQL(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	MustParse("-150").MarshalGQL(&buf)
	buf.WriteByte(' ')
	MustParseQuantity("1.25").MarshalGQL(&buf)
	buf.WriteByte(' ')
	MustParseCurrency("USD").MarshalGQL(&buf)
	require.Equal(t, `"-150.00" "1.25" "USD"`, buf.String())
}

func TestAmountUnmarshalGQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       any
		want     string
		err      error
		contains string
	}{
		{name: "string", in: "150.00", want: "150.00"},
		{name: "big string", in: "100000000000", want: "100000000000.00"},
		// Numbers are refused, integers too: one rule for amounts in GraphQL and REST.
		{name: "int", in: 150, err: ErrInvalid, contains: `decimal string such as "150.00", not the number 150`},
		{name: "int32", in: int32(-3), err: ErrInvalid, contains: "not the number"},
		{name: "int64", in: int64(100_000_000_000), err: ErrInvalid, contains: "not the number"},
		{name: "json integer", in: json.Number("42"), err: ErrInvalid, contains: "not the number 42"},
		{name: "json fraction", in: json.Number("1.5"), err: ErrInvalid, contains: `decimal string such as "150.00"`},
		{name: "json exponent", in: json.Number("1e3"), err: ErrInvalid},
		{name: "float", in: 1.5, err: ErrInvalid, contains: "not the number 1.5"},
		{name: "integral float", in: 2.0, err: ErrInvalid, contains: "not the number"},
		{name: "float32", in: float32(1), err: ErrInvalid, contains: "not the number"},
		{name: "nil", in: nil, err: ErrInvalid, contains: "null"},
		{name: "bool", in: true, err: ErrInvalid, contains: "bool"},
		{name: "bad string", in: "1e3", err: ErrInvalid},
		{name: "too precise", in: "0.00001", err: ErrTooPrecise},
		{name: "too big", in: "100000000001", err: ErrOutOfRange},
		{name: "huge json", in: json.Number("99999999999999999999"), err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a Amount
			err := a.UnmarshalGQL(tt.in)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				require.ErrorContains(t, err, tt.contains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, a.String())
		})
	}
}

func TestQuantityUnmarshalGQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want string
		err  error
	}{
		{name: "string", in: "0.333333", want: "0.333333"},
		{name: "whole", in: "8", want: "8"},
		{name: "int", in: 8, err: ErrInvalid},
		{name: "json integer", in: json.Number("-2"), err: ErrInvalid},
		{name: "float", in: 0.5, err: ErrInvalid},
		{name: "too precise", in: "0.1234567", err: ErrTooPrecise},
		{name: "nil", in: nil, err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var q Quantity
			err := q.UnmarshalGQL(tt.in)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, q.String())
		})
	}
}

func TestCurrencyUnmarshalGQL(t *testing.T) {
	t.Parallel()
	var c Currency
	require.NoError(t, c.UnmarshalGQL("JPY"))
	require.Equal(t, Currency("JPY"), c)
	require.ErrorIs(t, c.UnmarshalGQL("jpy"), ErrUnknownCurrency)
	require.ErrorIs(t, c.UnmarshalGQL(392), ErrUnknownCurrency)
}
