package qbotest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

// faultErrors returns the Error list of a JSON fault in either spelling
// (Fault/Error, or the gateway's fault/error).
func faultErrors(t *testing.T, m map[string]any) []any {
	t.Helper()
	if f, ok := m["Fault"].(map[string]any); ok {
		return f["Error"].([]any)
	}
	f, ok := m["fault"].(map[string]any)
	require.True(t, ok, "no fault in %v", m)
	return f["error"].([]any)
}

// Every fault the emulator writes holds exactly one Error, as QuickBooks
// answers (a client may read only the first).
func TestFaultsHoldOneError(t *testing.T) {
	t.Parallel()
	a := newAPI(t, qbotest.WithRealms(2))
	a.ok(post, "customer", map[string]any{"DisplayName": "Taken"}, "Customer")
	cases := []struct {
		name, method, path string
		body               any
		token              string
		fault              *qbotest.Fault
		status             int
		code               string
	}{
		{name: "several problems at once: the first is answered", method: post, path: "invoice",
			body: map[string]any{"Line": []any{map[string]any{"DetailType": "Bogus", "Amount": "x"}}}, status: http.StatusBadRequest,
			code: "2020"}, // CustomerRef missing is found before the bad line
		{name: "duplicate name", method: post, path: "customer", body: map[string]any{"DisplayName": "Taken"},
			status: http.StatusBadRequest, code: "6240"},
		{name: "stale", method: post, path: "customer", body: map[string]any{"Id": "1", "SyncToken": "9", "DisplayName": "Taken"},
			status: http.StatusBadRequest, code: "5010"},
		{name: "query", method: get, path: "query?query=" + urlQuery("select from"), status: http.StatusBadRequest, code: "4000"},
		{name: "unsupported path", method: get, path: "invoice/1/pdf", status: http.StatusBadRequest, code: "500"},
		{name: "system fault", method: get, path: "item/1", fault: &qbotest.Fault{Endpoint: "item", Kind: qbotest.FaultServerError, Count: 1},
			status: http.StatusInternalServerError, code: "10000"},
		{name: "unavailable", method: get, path: "class", fault: &qbotest.Fault{Endpoint: "class", Kind: qbotest.FaultUnavailable, Count: 1},
			status: http.StatusServiceUnavailable, code: "10000"},
		{name: "authentication", method: get, path: "item/1", token: "bad-token-value-here", status: http.StatusUnauthorized, code: "3200"},
	}
	// Sequential: an injected fault would hit a parallel case's request.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *a
			c.t = t
			if tc.token != "" {
				c.token = tc.token
			}
			if tc.fault != nil {
				require.NoError(t, a.srv.InjectFault(*tc.fault))
			}
			status, m := c.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, "body: %v", m)
			errs := faultErrors(t, m)
			require.Len(t, errs, 1)
			if tc.code != "" {
				require.Equal(t, tc.code, errs[0].(map[string]any)["code"])
			}
		})
	}

	// Another realm's token: the 403 gateway fault.
	c := *a
	c.realm = a.srv.RealmIDs()[1]
	status, m := c.do(get, "item/1", nil)
	require.Equal(t, http.StatusForbidden, status)
	errs := faultErrors(t, m)
	require.Len(t, errs, 1)
	require.Equal(t, "3100", errs[0].(map[string]any)["code"])
}

// Older accounts are throttled with 403 and code 3001; the form is chosen
// per realm (Go API or control endpoint) and applies to the limits and to
// injected 429 faults.
func TestThrottle403Form(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithRealms(2), qbotest.WithClock(clk.Now),
		qbotest.WithLimits(qbotest.Limits{PerMinute: 1, Concurrent: 10, BatchPerMinute: 40}))
	other := a.srv.RealmIDs()[1]

	status, m := ctlDo(t, a.srv, http.MethodGet, "/_control/realms/"+a.realm+"/throttle", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, json.Number("429"), m["status"])

	status, m = ctlDo(t, a.srv, http.MethodPost, "/_control/realms/"+a.realm+"/throttle", map[string]any{"status": 403})
	require.Equal(t, http.StatusOK, status, "%v", m)
	require.Equal(t, http.StatusForbidden, a.srv.ThrottleStatus(a.realm))
	require.Equal(t, http.StatusTooManyRequests, a.srv.ThrottleStatus(other), "per realm")

	for _, bad := range []any{500, 200, "x"} {
		status, _ = ctlDo(t, a.srv, http.MethodPost, "/_control/realms/"+a.realm+"/throttle", map[string]any{"status": bad})
		require.Equal(t, http.StatusBadRequest, status)
	}
	require.Error(t, a.srv.SetThrottleStatus("nope", http.StatusForbidden))
	status, _ = ctlDo(t, a.srv, http.MethodPost, "/_control/realms/nope/throttle", map[string]any{"status": 403})
	require.Equal(t, http.StatusNotFound, status)

	status, _ = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusOK, status)
	for _, accept := range []string{"application/json", "application/xml", ""} {
		status, ct, b := a.send(get, "item/1", accept, "")
		require.Equal(t, http.StatusForbidden, status, "body: %s", b)
		require.Equal(t, "application/xml", ct, "XML even when JSON was asked for")
		typ, code := requireXMLFault(t, b)
		require.Equal(t, "SERVICE", typ)
		require.Equal(t, "3001", code)
		require.Contains(t, string(b), "statusCode=403")
	}

	// The other realm keeps 429; an injected 429 fault on the first realm
	// answers 403 too.
	o := *a
	o.realm = other
	o.token = a.srv.IssueTokens(other).AccessToken
	status, _ = o.raw(get, "item/1", nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = o.raw(get, "item/1", nil)
	require.Equal(t, http.StatusTooManyRequests, status)

	clk.Advance(time.Minute + time.Second)
	require.NoError(t, a.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultThrottle, Realm: a.realm, Count: 1}))
	status, body := a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusForbidden, status)
	_, code := requireXMLFault(t, body)
	require.Equal(t, "3001", code)

	// Back to 429.
	require.NoError(t, a.srv.SetThrottleStatus(a.realm, http.StatusTooManyRequests))
	clk.Advance(time.Minute + time.Second)
	a.raw(get, "item/1", nil)
	status, body = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.True(t, strings.Contains(string(body), "statusCode=429"))
}
