package qbo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bodies in the shapes QuickBooks sends (qbo-api.md §5, §10, §11 and the
// emulator's recorded fixtures).
const (
	staleJSON   = `{"Fault":{"Error":[{"Message":"Stale Object Error","Detail":"Stale Object Error : You and Jo were working on this at the same time.","code":"5010","element":""}],"type":"ValidationFault"},"time":"2015-07-28T13:33:09.453-07:00"}`
	gateway401  = `{"fault":{"error":[{"message":"message=AuthenticationFailed; errorCode=003200; statusCode=401","detail":"Token expired: eyJsecret-token-text","code":"3200","element":null}],"type":"AUTHENTICATION"},"time":1719000000000}`
	throttleXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<IntuitResponse time="2024-06-20T13:16:17.412-07:00" xmlns="http://schema.intuit.com/finance/v3">
  <Fault type="SERVICE">
    <Error code="3001">
      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>
      <Detail>The request limit was reached.  Try again later</Detail>
    </Error>
  </Fault>
</IntuitResponse>`
	duplicateXML = `<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2013-04-23T08:30:33.626-07:00"><Fault type="ValidationFault"><Error code="6240" element=""><Message>Duplicate Name Exists Error</Message><Detail>The name supplied already exists. : Another customer, vendor or employee is already using this name.</Detail></Error></Fault></IntuitResponse>`
)

func TestDecodeFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   Fault
		check  func(error) bool
	}{
		{"json validation", 400, nil, staleJSON,
			Fault{Status: 400, Type: "ValidationFault", Code: "5010", Message: "Stale Object Error",
				Detail: "Stale Object Error : You and Jo were working on this at the same time."}, IsStaleObject},
		{"gateway lowercase, null element", 401, nil, gateway401,
			Fault{Status: 401, Type: "AUTHENTICATION", Code: "3200", Message: "message=AuthenticationFailed; errorCode=003200; statusCode=401",
				Detail: "Token expired: eyJsecret-token-text"}, IsAuth},
		{"xml throttle 429", 429, http.Header{"Retry-After": {"7"}}, throttleXML,
			Fault{Status: 429, Type: "SERVICE", Code: "3001", Message: "message=ThrottleExceeded; errorCode=003001; statusCode=429",
				Detail: "The request limit was reached.  Try again later", RetryAfter: 7 * time.Second}, IsThrottled},
		{"xml throttle 403", 403, nil, strings.Replace(throttleXML, "statusCode=429", "statusCode=403", 1),
			Fault{Status: 403, Type: "SERVICE", Code: "3001", Message: "message=ThrottleExceeded; errorCode=003001; statusCode=403",
				Detail: "The request limit was reached.  Try again later"}, IsThrottled},
		{"xml validation", 400, nil, duplicateXML,
			Fault{Status: 400, Type: "ValidationFault", Code: "6240", Message: "Duplicate Name Exists Error",
				Detail: "The name supplied already exists. : Another customer, vendor or employee is already using this name."}, IsDuplicateName},
		{"numeric code", 400, nil, `{"Fault":{"Error":[{"Message":"Object Not Found","code":610}],"type":"ValidationFault"}}`,
			Fault{Status: 400, Type: "ValidationFault", Code: "610", Message: "Object Not Found"}, IsNotFound},
		{"html from a proxy", 502, nil, `<html><body>Bad Gateway</body></html>`,
			Fault{Status: 502, Message: "answer without a QuickBooks fault (Bad Gateway)"}, Retryable},
		{"empty 401", 401, nil, ``,
			Fault{Status: 401, Message: "answer without a QuickBooks fault (Unauthorized)"}, IsAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			f := decodeFault(tt.status, h, []byte(tt.body))
			require.Equal(t, tt.want, *f)
			require.True(t, tt.check(fmt.Errorf("wrapped: %w", f)), "helpers see through wrapping")
		})
	}
}

func TestFaultErrorLeavesOutGatewayDetail(t *testing.T) {
	t.Parallel()
	f := decodeFault(401, http.Header{}, []byte(gateway401))
	require.NotContains(t, f.Error(), "secret-token")
	require.Contains(t, f.Error(), "3200")
	v := decodeFault(400, http.Header{}, []byte(staleJSON))
	require.Contains(t, v.Error(), "You and Jo", "validation details help the person fixing the record")
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Mon, 01 Jun 2026 12:00:10 GMT": 10 * time.Second,
		"Mon, 01 Jun 2026 11:00:00 GMT": 0,
	} {
		require.Equal(t, want, parseRetryAfter(v, now), "%q", v)
	}
}

type tokenError struct{}

func (tokenError) Error() string { return "oauth2: invalid_grant" }

func TestRetryable(t *testing.T) {
	t.Parallel()
	reqErr := func(err error) error { return &RequestError{Method: "POST", Path: "invoice", Err: err} }
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "http://x", Err: err} }
	for name, tt := range map[string]struct {
		err  error
		want bool
	}{
		"reset":           {reqErr(urlErr(syscall.ECONNRESET)), true},
		"eof":             {reqErr(urlErr(io.EOF)), true},
		"deadline":        {reqErr(urlErr(context.DeadlineExceeded)), true},
		"canceled":        {reqErr(urlErr(context.Canceled)), false},
		"token refresh":   {reqErr(urlErr(tokenError{})), false},
		"500":             {&Fault{Status: 500}, true},
		"validation":      {&Fault{Status: 400, Code: "6240"}, false},
		"batch throttled": {&Fault{Code: "3001"}, true},
		"other error":     {errors.New("x"), false},
	} {
		require.Equal(t, tt.want, Retryable(tt.err), name)
	}
}

// FuzzDecodeFault: any body gives a fault with the status kept, never a
// panic, and a body that decodes gives the same fault as JSON or XML alike.
func FuzzDecodeFault(f *testing.F) {
	for _, s := range []string{staleJSON, gateway401, throttleXML, duplicateXML, ``, `{}`, `<x/>`, `{"Fault":{"Error":[]}}`, `{"fault":null}`, `{"fAult":{"error":[{}]}}`, `<IntuitResponse><Fault><Error/></Fault></IntuitResponse>`} {
		f.Add(400, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		got := decodeFault(status, http.Header{}, []byte(body))
		require.Equal(t, status, got.Status)
		_ = got.Error()
		if got.Code == "" && got.Message == "" {
			t.Fatalf("fault without code or message for %q", body)
		}
	})
}
