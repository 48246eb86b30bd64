package money

import (
	"encoding/json"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAmountJSON(t *testing.T) {
	t.Parallel()
	type doc struct {
		Total    Amount  `json:"total"`
		Discount *Amount `json:"discount"`
	}
	data, err := json.Marshal(doc{Total: MustParse("150")})
	require.NoError(t, err)
	require.JSONEq(t, `{"total":"150.00","discount":null}`, string(data))

	var got doc
	require.NoError(t, json.Unmarshal([]byte(`{"total":"0.1234","discount":null}`), &got))
	require.Equal(t, doc{Total: MustParse("0.1234")}, got)

	tests := []struct {
		name, in, contains string
		want               error
	}{
		{name: "integer number", in: `{"total":150}`, want: ErrInvalid, contains: `decimal strings such as "150.00"`},
		{name: "fractional number", in: `{"total":150.5}`, want: ErrInvalid, contains: "not JSON numbers"},
		{name: "negative number", in: `{"total":-1}`, want: ErrInvalid, contains: "not JSON numbers"},
		{name: "null", in: `{"total":null}`, want: ErrInvalid, contains: "cannot be null"},
		{name: "bool", in: `{"total":true}`, want: ErrInvalid, contains: "must be a JSON string"},
		{name: "object", in: `{"total":{}}`, want: ErrInvalid, contains: "must be a JSON string"},
		{name: "exponent", in: `{"total":"1e3"}`, want: ErrInvalid},
		{name: "too precise", in: `{"total":"1.00000"}`, want: ErrTooPrecise},
		{name: "out of range", in: `{"total":"100000000000.01"}`, want: ErrOutOfRange},
		{name: "escaped", in: `{"total":"\u0031.50"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got doc
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.want == nil {
				require.NoError(t, err)
				require.Equal(t, MustParse("1.5"), got.Total)
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.contains)
		})
	}
}

func TestQuantityJSON(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(MustParseQuantity("1.25"))
	require.NoError(t, err)
	require.Equal(t, `"1.25"`, string(data))

	var q Quantity
	require.NoError(t, json.Unmarshal([]byte(`"0.333333"`), &q))
	require.Equal(t, MustParseQuantity("0.333333"), q)
	err = json.Unmarshal([]byte(`1.25`), &q)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, `"1.25"`)
	require.ErrorIs(t, json.Unmarshal([]byte(`"0.1234567"`), &q), ErrTooPrecise)
	require.ErrorIs(t, q.UnmarshalJSON([]byte(`null`)), ErrInvalid)
}

func TestMoneyJSON(t *testing.T) {
	t.Parallel()
	m := New(MustParse("150"), MustParseCurrency("USD"))
	data, err := json.Marshal(m)
	require.NoError(t, err)
	require.JSONEq(t, `{"amount":"150.00","currency":"USD"}`, string(data))

	var got Money
	require.NoError(t, json.Unmarshal(data, &got))
	require.Equal(t, m, got)

	err = json.Unmarshal([]byte(`{"amount":"1.00","currency":"usd"}`), &got)
	require.ErrorIs(t, err, ErrUnknownCurrency)
}

func TestText(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var limit Amount
	var hours Quantity
	fs.TextVar(&limit, "limit", MustParse("10"), "spending limit")
	fs.TextVar(&hours, "hours", MustParseQuantity("8"), "hours per day")
	require.NoError(t, fs.Parse([]string{"-limit", "250.5", "-hours", "7.5"}))
	require.Equal(t, MustParse("250.50"), limit)
	require.Equal(t, MustParseQuantity("7.5"), hours)

	text, err := limit.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "250.50", string(text))
	text, err = hours.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "7.5", string(text))

	require.ErrorIs(t, limit.UnmarshalText([]byte("1e3")), ErrInvalid)
	require.Equal(t, MustParse("250.50"), limit, "a failed decode leaves the value alone")
	require.ErrorIs(t, hours.UnmarshalText([]byte("")), ErrInvalid)

	var c Currency
	require.NoError(t, c.UnmarshalText([]byte("CHF")))
	require.Equal(t, Currency("CHF"), c)
	require.ErrorIs(t, c.UnmarshalText([]byte("chf")), ErrUnknownCurrency)
}
