package qbotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

// sendCT makes an API write with the given Content-Type ("" sends none)
// and returns the status and decoded body.
func (a *apiClient) sendCT(path, contentType, body string) (int, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(post, a.srv.URL+"/v3/company/"+a.realm+"/"+path, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirect.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, decode(a.t, b)
}

// include is a comma-separated option list: void is recognised next to
// other options and only as a whole name; unknown options are ignored.
func TestPaymentVoidIncludeOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		void  bool
	}{
		{"void", "include=void", true},
		{"void with allowduplicatedocnum", "include=void,allowduplicatedocnum", true},
		{"allowduplicatedocnum first, spaces, case", "include=allowduplicatedocnum,%20Void", true},
		{"repeated parameter", "include=allowduplicatedocnum&include=void", true},
		{"void next to an unknown option", "include=enhancedAllCustomFields,void", true},
		{"allowduplicatedocnum alone", "include=allowduplicatedocnum", false},
		{"a longer name containing void", "include=voided", false},
		{"unknown options only", "include=novoid,whatever", false},
		{"no include", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			cust := createCustomer(t, a, "Include Co")
			invID := a.ok(post, "invoice", invoiceBody(cust, "", 3, "10"), "Invoice")["Id"].(string)
			p := a.ok(post, "payment", paymentBody(cust, "30", payLine("30", "Invoice", invID)), "Payment")

			path := "payment?operation=update"
			if tt.query != "" {
				path += "&" + tt.query
			}
			got := a.ok(post, path, map[string]any{"Id": p["Id"], "SyncToken": p["SyncToken"], "sparse": true}, "Payment")
			inv := a.ok(get, "invoice/"+invID, nil, "Invoice")
			if tt.void {
				require.Equal(t, json.Number("0"), got["TotalAmt"])
				require.Equal(t, "Voided", got["PrivateNote"])
				require.Equal(t, json.Number("30"), inv["Balance"], "the void re-opens the invoice")
			} else {
				require.Equal(t, json.Number("30"), got["TotalAmt"], "a plain sparse update")
				require.NotEqual(t, "Voided", got["PrivateNote"])
				require.Equal(t, json.Number("0"), inv["Balance"])
			}
		})
	}
}

// A batch item's optionsData is parsed the same way.
func TestBatchOptionsDataList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		options string
		void    bool
	}{
		{"allowduplicatedocnum,void", true},
		{"void", true},
		{"allowduplicatedocnum", false},
		{"voided", false},
	}
	for _, tt := range tests {
		t.Run(tt.options, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			cust := createCustomer(t, a, "Batch Opts Co")
			invID := a.ok(post, "invoice", invoiceBody(cust, "", 3, "10"), "Invoice")["Id"].(string)
			p := a.ok(post, "payment", paymentBody(cust, "30", payLine("30", "Invoice", invID)), "Payment")
			status, m := a.do(post, "batch", map[string]any{"BatchItemRequest": []any{map[string]any{
				"bId": "1", "operation": "update", "optionsData": tt.options,
				"Payment": map[string]any{"Id": p["Id"], "SyncToken": p["SyncToken"], "sparse": true},
			}}})
			require.Equal(t, http.StatusOK, status, "%v", m)
			items := m["BatchItemResponse"].([]any)
			require.Len(t, items, 1)
			got, ok := items[0].(map[string]any)["Payment"].(map[string]any)
			require.True(t, ok, "%v", items[0])
			want := json.Number("30")
			if tt.void {
				want = json.Number("0")
			}
			require.Equal(t, want, got["TotalAmt"])
		})
	}
}

// requestids are unique per company (qbo-api.md §9): a retry of the same
// request replays its answer; the id reused for a different request is
// fault 600 and neither executes nor replays the first answer.
func TestRequestIDScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		first  string // path of the request that uses the requestid first
		body   func(cust string) any
		second string // path of the reuse
		body2  func(cust string) any
	}{
		{"customer then invoice", "customer", func(string) any { return map[string]any{"DisplayName": "First Co"} },
			"invoice", func(c string) any { return invoiceBody(c, "", 1, "10") }},
		{"invoice then customer", "invoice", func(c string) any { return invoiceBody(c, "", 1, "10") },
			"customer", func(string) any { return map[string]any{"DisplayName": "Second Co"} }},
		{"create then delete of the same entity", "invoice", func(c string) any { return invoiceBody(c, "", 1, "10") },
			"invoice?operation=delete", func(string) any { return map[string]any{"Id": "1", "SyncToken": "0"} }},
		{"batch then customer", "batch", func(string) any {
			return map[string]any{"BatchItemRequest": []any{map[string]any{"bId": "1", "operation": "create", "Customer": map[string]any{"DisplayName": "Batch Co"}}}}
		}, "customer", func(string) any { return map[string]any{"DisplayName": "Second Co"} }},
		{"customer then batch", "customer", func(string) any { return map[string]any{"DisplayName": "First Co"} },
			"batch", func(string) any {
				return map[string]any{"BatchItemRequest": []any{map[string]any{"bId": "1", "operation": "create", "Customer": map[string]any{"DisplayName": "Batch Co"}}}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			realm := a.srv.Realm(a.realm)
			cust := createCustomer(t, a, "Scope Co")
			sep := func(p string) string {
				if strings.Contains(p, "?") {
					return p + "&requestid=rid-1"
				}
				return p + "?requestid=rid-1"
			}

			s1, b1 := a.raw(post, sep(tt.first), tt.body(cust))
			require.Equal(t, http.StatusOK, s1, "%s", b1)
			customers, invoices := len(realm.Customers()), len(realm.Invoices())

			// The same request again replays the first answer byte for byte.
			s2, b2 := a.raw(post, sep(tt.first), tt.body(cust))
			require.Equal(t, s1, s2)
			require.Equal(t, string(b1), string(b2))

			// Another request with the id is refused and changes nothing.
			require.Equal(t, "600", a.fault(post, sep(tt.second), tt.body2(cust))["code"])
			require.Len(t, realm.Customers(), customers)
			require.Len(t, realm.Invoices(), invoices)

			// The refusal did not replace the stored answer.
			s3, b3 := a.raw(post, sep(tt.first), tt.body(cust))
			require.Equal(t, s1, s3)
			require.Equal(t, string(b1), string(b3))
		})
	}
}

// Writes must declare a JSON body; anything else is the "cannot consume
// content type" Unsupported Operation fault, before the requestid is used.
func TestWriteContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ct   string
		ok   bool
	}{
		{"none", "", false},
		{"text/plain", "text/plain", false},
		{"form", "application/x-www-form-urlencoded", false},
		{"application/text", "application/text", false},
		{"xml (not emulated)", "application/xml", false},
		{"json", "application/json", true},
		{"json with charset", "application/json; charset=UTF-8", true},
		{"json upper case", "Application/JSON", true},
	}
	for _, tt := range tests {
		for _, path := range []string{"customer", "batch"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				t.Parallel()
				a := newAPI(t)
				body := `{"DisplayName":"Typed Co"}`
				if path == "batch" {
					body = `{"BatchItemRequest":[{"bId":"1","operation":"create","Customer":{"DisplayName":"Typed Co"}}]}`
				}
				status, m := a.sendCT(path+"?requestid=ct-1&minorversion=75", tt.ct, body)
				_, made := a.srv.Realm(a.realm).FindByName("Customer", "Typed Co")
				if tt.ok {
					require.Equal(t, http.StatusOK, status, "%v", m)
					require.True(t, made)
					return
				}
				require.Equal(t, http.StatusBadRequest, status, "%v", m)
				require.Equal(t, "500", requireFault(t, m)["code"])
				require.False(t, made)

				// The refused request did not use up its requestid.
				status, m = a.sendCT(path+"?requestid=ct-1&minorversion=75", "application/json", body)
				require.Equal(t, http.StatusOK, status, "%v", m)
				_, made = a.srv.Realm(a.realm).FindByName("Customer", "Typed Co")
				require.True(t, made)
			})
		}
	}
}

// QuickBooks documents no Retry-After on throttle answers (the limits page
// says to wait 60 seconds); neither form sends one.
func TestThrottleHasNoRetryAfter(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			require.NoError(t, a.srv.SetThrottleStatus(a.realm, status))
			require.NoError(t, a.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultThrottle, Realm: a.realm, Count: 1}))
			resp, body := rawResp(t, get, a.srv.URL+"/v3/company/"+a.realm+"/item/1?minorversion=75", a.token, "")
			require.Equal(t, status, resp.StatusCode, body)
			require.Contains(t, body, `code="3001"`)
			require.Empty(t, resp.Header.Values("Retry-After"))
		})
	}
}
