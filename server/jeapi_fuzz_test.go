package server

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"books/internal/apperr"
	"books/internal/money"
)

// FuzzDecodeJERequest feeds arbitrary bodies to the JE API's decoding and conversion: they
// must never panic, must fail only with coded errors, and must never let through an amount
// that is not a JSON string, is negative or finer than money.Scale, or differs from the
// text sent.
func FuzzDecodeJERequest(f *testing.F) {
	valid := `{"entity":"US","date":"2026-11-21","description":"Consulting time","source_system":"psa","source_ref":"time-123","currency":"USD","lines":[{"source_code":"unbilled_receivables","debit":"150.00","class":"Consulting"},{"account_code":"4000","credit":"150.00"}]}`
	withAmounts := func(debit, credit string) string {
		return fmt.Sprintf(`{"entity":"US","date":"2026-11-21","source_system":"psa","lines":[{"account_code":"1250","debit":%s},{"account_code":"4000","credit":%s}]}`, debit, credit)
	}
	for _, seed := range []string{
		valid,
		valid[:len(valid)/2],
		valid[:len(valid)-1],
		valid + "x",
		strings.Replace(valid, "Consulting time", `a\u0000b`, 1),
		strings.Replace(valid, `"4000"`, `"4000\u0000"`, 1),
		strings.Replace(valid, `"entity"`, `"ENTITY"`, 1),
		valid + valid,
		"",
		"null",
		"[]",
		`"x"`,
		"{}",
		`{"lines":null}`,
		`{"lines":"x"}`,
		`{"date":20261121}`,
		`{"nope":1}`,
		`{"lines":[{"nope":1}]}`,
		withAmounts(`150`, `150.00`),
		withAmounts(`150.0000`, `"150.0000"`),
		withAmounts(`1.23456`, `"1.23456"`),
		withAmounts(`-150`, `"-150.00"`),
		withAmounts(`-0`, `"-0.00"`),
		withAmounts(`0`, `"0"`),
		withAmounts(`1e2`, `"1E2"`),
		withAmounts(`1e999999999`, `"1e-999999999"`),
		withAmounts(`99999999999999999999999999999999`, `"-99999999999999999999999999999999"`),
		withAmounts(`922337203685477.5807`, `"922337203685477.5808"`),
		withAmounts(`"007.50"`, `"7.5"`),
		withAmounts(`"1."`, `".5"`),
		withAmounts(`"+1"`, `" 1"`),
		withAmounts(`"١٢٣"`, `"１２３"`),
		withAmounts(`"\u0031\u0035\u0030"`, `"150"`),
		withAmounts(`true`, `null`),
		withAmounts(`{}`, `[]`),
		withAmounts(`[[[[[[[[[[]]]]]]]]]]`, `{"a":{"b":{"c":[1,2,{"d":null}]}}}`),
		withAmounts(`""`, `"abc"`),
		`{"entity":"ÜS","date":"２０２６-11-21","description":"日本語 \ud83d\ude00 \u0000","source_system":"psa","currency":"€UR","lines":[]}`,
		`{"entity":"US","date":"2026-11-21","source_system":"psa","currency":"usd","lines":[{"account_code":"1250","debit":"1","currency":"EUR","class":"cls_x"}]}`,
		`{"entity":"US","date":"2026-02-30","source_system":"psa","lines":[]}`,
		`{"entity":"US","date":"2026-11-21","source_system":"PSA","lines":[]}`,
		"{\"entity\":\"\xff\xfe\",\"lines\":[]}",
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeJERequest(body)
		if err != nil {
			requireJECoded(t, err, apperr.MalformedJSON, apperr.Validation)
			return
		}
		e, err := req.toEntry("le_fuzz")
		if err != nil {
			requireJECoded(t, err, apperr.Validation, apperr.InvalidAmount)
			return
		}
		if e.Date.IsZero() || !e.Source.Valid() || len(e.Lines) != len(req.Lines) {
			t.Fatalf("toEntry accepted an incomplete entry: %+v", e)
		}
		texts := []string{e.Description, e.SourceRef}
		for _, l := range e.Lines {
			texts = append(texts, l.AccountID, l.AccountCode, l.SourceCode, l.ClassID, l.ClassName, l.Description)
		}
		for _, s := range texts {
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("toEntry accepted text with a NUL character: %q", s)
			}
		}
		for i, l := range req.Lines {
			requireJEAmount(t, fmt.Sprintf("lines[%d].debit", i), l.Debit, e.Lines[i].Debit)
			requireJEAmount(t, fmt.Sprintf("lines[%d].credit", i), l.Credit, e.Lines[i].Credit)
		}
	})
}

// requireJECoded checks err is an *apperr.Error with a message and one of codes.
func requireJECoded(t *testing.T, err error, codes ...string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok {
		t.Fatalf("uncoded error %T: %v", err, err)
	}
	if e.Code == "" || e.Message == "" {
		t.Fatalf("error without a code or message: %#v", e)
	}
	for _, c := range codes {
		if e.Code == c {
			return
		}
	}
	t.Fatalf("error code %s, want one of %v: %s", e.Code, codes, e.Message)
}

// requireJEAmount checks an accepted amount: not negative, and exactly the value of the text
// sent (so at most money.Scale decimals, never rounded through a float).
func requireJEAmount(t *testing.T, field string, raw json.RawMessage, got money.Amount) {
	t.Helper()
	if got.IsNegative() {
		t.Fatalf("%s: negative amount %s accepted from %s", field, got, raw)
	}
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		if !got.IsZero() {
			t.Fatalf("%s: absent amount became %s", field, got)
		}
		return
	}
	if !strings.HasPrefix(text, `"`) {
		t.Fatalf("%s: accepted %s, which is not a JSON string", field, raw)
	}
	if err := json.Unmarshal(raw, &text); err != nil {
		t.Fatalf("%s: accepted %s that is not a JSON string: %v", field, raw, err)
	}
	if _, frac, ok := strings.Cut(text, "."); ok && len(frac) > money.Scale {
		t.Fatalf("%s: %q has more than %d decimals but was accepted", field, text, money.Scale)
	}
	want, ok := new(big.Rat).SetString(text)
	if !ok {
		t.Fatalf("%s: accepted %q, which is not a number", field, text)
	}
	if have := big.NewRat(got.Units(), 10_000); have.Cmp(want) != 0 {
		t.Fatalf("%s: %q became %s", field, text, got.StringFixed(money.Scale))
	}
}
