package qbotest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

func itoa(i int) string { return strconv.Itoa(i) }

// ctlDo calls the control API (no OAuth) and returns status and decoded body.
func ctlDo(t *testing.T, srv *qbotest.Server, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	require.NoError(t, err)
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(b) == 0 {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, decode(t, b)
}

// ctlPost writes an entity as a QuickBooks user and returns it.
func ctlPost(t *testing.T, srv *qbotest.Server, realm, entity, op string, body map[string]any) map[string]any {
	t.Helper()
	path := "/_control/realms/" + realm + "/" + entity
	if op != "" {
		path += "?operation=" + op
	}
	status, m := ctlDo(t, srv, http.MethodPost, path, body)
	require.Equal(t, http.StatusOK, status, "body: %v", m)
	for k, v := range m {
		if k != "time" {
			return v.(map[string]any)
		}
	}
	t.Fatalf("no entity in %v", m)
	return nil
}

func TestControlWritesFireWebhooks(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	srv := qbotest.NewServer(t, qbotest.WithWebhook(rc.URL, verifier))
	realm := srv.RealmIDs()[0]

	c := ctlPost(t, srv, realm, "customer", "", map[string]any{"DisplayName": "User Co"})
	e := rc.events(t)[0]
	require.Equal(t, "qbo.customer.created.v1", e["type"])
	require.Equal(t, c["Id"], e["intuitentityid"])

	c = ctlPost(t, srv, realm, "customer", "update", map[string]any{"Id": c["Id"], "SyncToken": "0", "sparse": true, "Notes": "edited in QBO"})
	require.Equal(t, "1", c["SyncToken"])
	require.Equal(t, "qbo.customer.updated.v1", rc.events(t)[0]["type"])

	inv := ctlPost(t, srv, realm, "invoice", "", map[string]any{"CustomerRef": map[string]any{"value": c["Id"]},
		"Line": []any{map[string]any{"DetailType": "SalesItemLineDetail", "Amount": 100}}})
	require.Equal(t, "qbo.invoice.created.v1", rc.events(t)[0]["type"])

	// Record a payment against the invoice, and one for no invoice (unapplied).
	pay := ctlPost(t, srv, realm, "payment", "", map[string]any{"CustomerRef": map[string]any{"value": c["Id"]}, "TotalAmt": 40,
		"Line": []any{map[string]any{"Amount": 40, "LinkedTxn": []any{map[string]any{"TxnId": inv["Id"], "TxnType": "Invoice"}}}}})
	rc.until(t, "qbo.payment.created.v1", pay["Id"].(string)) // the invoice's update may be announced too
	got, ok := srv.Realm(realm).Get("Invoice", inv["Id"].(string))
	require.True(t, ok)
	require.Equal(t, json.Number("60"), got["Balance"])
	unapplied := ctlPost(t, srv, realm, "payment", "", map[string]any{"CustomerRef": map[string]any{"value": c["Id"]}, "TotalAmt": 25})
	rc.until(t, "qbo.payment.created.v1", unapplied["Id"].(string))

	// Delete and void go through the same write path.
	ctlPost(t, srv, realm, "payment", "delete", map[string]any{"Id": unapplied["Id"], "SyncToken": "0"})
	rc.until(t, "qbo.payment.deleted.v1", unapplied["Id"].(string))

	status, data := ctlDo(t, srv, http.MethodGet, "/_control/realms/"+realm+"/data", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, realm, data["realmId"])
	ents := data["entities"].(map[string]any)
	require.Len(t, ents["Customer"], 1)
	require.Len(t, ents["Invoice"], 1)
	require.Len(t, ents["Payment"], 1)
	require.Equal(t, pay["Id"], ents["Payment"].([]any)[0].(map[string]any)["Id"])
	require.Len(t, ents["Account"], len(srv.Realm(realm).Accounts()))

	// Faults and errors as the API gives them.
	status, m := ctlDo(t, srv, http.MethodPost, "/_control/realms/"+realm+"/customer", map[string]any{"DisplayName": "User Co"})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "6240", requireFault(t, m)["code"])
	status, _ = ctlDo(t, srv, http.MethodPost, "/_control/realms/1/customer", map[string]any{"DisplayName": "X"})
	require.Equal(t, http.StatusNotFound, status)
	status, m = ctlDo(t, srv, http.MethodGet, "/_control/realms", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []any{realm}, m["realms"])
}

func TestControlFaultRules(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	status, m := ctlDo(t, a.srv, http.MethodPost, "/_control/faults", map[string]any{"endpoint": "customer", "kind": "500", "count": 1})
	require.Equal(t, http.StatusOK, status, "%v", m)
	status, m = ctlDo(t, a.srv, http.MethodPost, "/_control/faults", []any{
		map[string]any{"endpoint": "item", "kind": "503", "count": 2},
		map[string]any{"endpoint": "/v3/company/" + a.realm + "/account", "kind": "429"},
	})
	require.Equal(t, http.StatusOK, status)
	require.Len(t, m["faults"], 3)

	status, body := a.raw(post, "customer", map[string]any{"DisplayName": "Fails Once"})
	require.Equal(t, http.StatusInternalServerError, status)
	m = decode(t, body)
	require.Equal(t, "SystemFault", m["Fault"].(map[string]any)["type"])
	require.Equal(t, "10000", m["Fault"].(map[string]any)["Error"].([]any)[0].(map[string]any)["code"])
	require.Empty(t, a.srv.Realm(a.realm).Customers(), "the write did not happen")
	a.ok(post, "customer", map[string]any{"DisplayName": "Fails Once"}, "Customer")

	for range 2 {
		status, _ = a.raw(get, "item/1", nil)
		require.Equal(t, http.StatusServiceUnavailable, status)
	}
	status, _ = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusOK, status)
	status, body = a.raw(get, "account/1", nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, string(body), "ThrottleExceeded")

	status, m = ctlDo(t, a.srv, http.MethodGet, "/_control/faults", nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, m["faults"], 1, "count rules are removed when used up")
	status, _ = ctlDo(t, a.srv, http.MethodDelete, "/_control/faults", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = a.raw(get, "account/1", nil)
	require.Equal(t, http.StatusOK, status)

	status, _ = ctlDo(t, a.srv, http.MethodPost, "/_control/faults", map[string]any{"kind": "explode"})
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = ctlDo(t, a.srv, http.MethodPost, "/_control/faults", map[string]any{"kind": "500", "probability": 2})
	require.Equal(t, http.StatusBadRequest, status)
	require.Error(t, a.srv.InjectFault(qbotest.Fault{Kind: "nope"}))

	// The control API itself is never faulted.
	require.NoError(t, a.srv.InjectFault(qbotest.Fault{Kind: qbotest.FaultServerError, Endpoint: "/"}))
	ctlPost(t, a.srv, a.realm, "customer", "", map[string]any{"DisplayName": "Via Control"})
	status, _ = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusInternalServerError, status)
	a.srv.ClearFaults()
	require.Empty(t, a.srv.Faults())
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	t.Parallel()
	run := func() []int {
		a := newAPI(t, qbotest.WithFaults(qbotest.Fault{Endpoint: "Item", Kind: qbotest.FaultServerError, Probability: 0.5, Seed: 42}))
		var out []int
		for range 20 {
			status, _ := a.raw(get, "item/1", nil)
			out = append(out, status)
		}
		status, _ := a.raw(get, "account/1", nil)
		require.Equal(t, http.StatusOK, status, "other endpoints unaffected")
		return out
	}
	first := run()
	require.Contains(t, first, 200)
	require.Contains(t, first, 500)
	require.Equal(t, first, run())
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	a := newAPI(t, qbotest.WithFaults(qbotest.Fault{Endpoint: "item", Kind: qbotest.FaultLatency, LatencyMS: 120, Count: 1}))
	start := time.Now()
	status, _ := a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusOK, status)
	require.GreaterOrEqual(t, time.Since(start), 120*time.Millisecond)
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	a := newAPI(t, qbotest.WithFaults(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultReset, Count: 1}))
	req, err := http.NewRequest(post, a.srv.URL+"/v3/company/"+a.realm+"/customer", strings.NewReader(`{"DisplayName":"Reset Co"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := noRedirect.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	require.Empty(t, a.srv.Realm(a.realm).Customers(), "reset before the write")
	a.ok(post, "customer", map[string]any{"DisplayName": "Reset Co"}, "Customer")
}

func TestFaultTimeoutAfterCommit(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	a := newAPI(t, qbotest.WithWebhook(rc.URL, verifier),
		qbotest.WithFaults(qbotest.Fault{Endpoint: "invoice", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1}))
	c := a.ok(post, "customer", map[string]any{"DisplayName": "Slow Co"}, "Customer")
	rc.events(t)
	body := `{"CustomerRef":{"value":"` + c["Id"].(string) + `"},"Line":[{"DetailType":"SalesItemLineDetail","Amount":5}]}`
	send := func(client *http.Client) (*http.Response, error) {
		req, err := http.NewRequest(post, a.srv.URL+"/v3/company/"+a.realm+"/invoice?requestid=inv-1", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return client.Do(req)
	}
	// The client gives up; the invoice exists anyway (and was announced).
	start := time.Now()
	_, err := send(&http.Client{Timeout: 200 * time.Millisecond})
	require.Error(t, err)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Len(t, a.srv.Realm(a.realm).Invoices(), 1)
	require.Equal(t, "qbo.invoice.created.v1", rc.events(t)[0]["type"])

	// The retry with the same requestid replays the original; no second invoice.
	resp, err := send(noRedirect)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "true", resp.Header.Get("X-Qbotest-Replayed"))
	inv := decode(t, b)["Invoice"].(map[string]any)
	require.Equal(t, a.srv.Realm(a.realm).Invoices()[0]["Id"], inv["Id"])
	require.Len(t, a.srv.Realm(a.realm).Invoices(), 1)
	rc.none(t, 50*time.Millisecond)

	// With latency_ms the server closes the connection itself, without a response.
	require.NoError(t, a.srv.InjectFault(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultTimeoutAfterCommit, LatencyMS: 50, Count: 1}))
	status := 0
	req, err := http.NewRequest(post, a.srv.URL+"/v3/company/"+a.realm+"/customer", strings.NewReader(`{"DisplayName":"Closed Co"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = noRedirect.Do(req)
	if err == nil {
		status = resp.StatusCode
		resp.Body.Close()
	}
	require.Error(t, err, "status %d", status)
	_, ok := a.srv.Realm(a.realm).FindByName("Customer", "Closed Co")
	require.True(t, ok)
}

func TestFaultTimeoutAfterCommitEndsOnClose(t *testing.T) {
	t.Parallel()
	srv := qbotest.New(qbotest.WithFaults(qbotest.Fault{Kind: qbotest.FaultTimeoutAfterCommit}))
	require.NoError(t, srv.Start("127.0.0.1:0"))
	tok := srv.IssueTokens(srv.RealmIDs()[0]).AccessToken
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(post, srv.URL+"/v3/company/"+srv.RealmIDs()[0]+"/customer", strings.NewReader(`{"DisplayName":"Hung"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return len(srv.Realm(srv.RealmIDs()[0]).Customers()) == 1 }, 2*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, srv.Close())
	require.Less(t, time.Since(start), 2*time.Second)
	require.Error(t, <-errc)
}

func TestFaultRevokeRefreshTokens(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t, qbotest.WithRealms(2),
		qbotest.WithFaults(qbotest.Fault{Endpoint: "/oauth2/v1/tokens/bearer", Kind: qbotest.FaultRevokeRefreshTokens, Realm: "9341452732952867", Count: 1}))
	r1, r2 := srv.RealmIDs()[0], srv.RealmIDs()[1]
	t1, t2 := srv.IssueTokens(r1), srv.IssueTokens(r2)
	status, m := refresh(t, srv, t1.RefreshToken)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_grant", m["error"])
	status, _ = getWith(t, srv, r1, t1.AccessToken, "item/1")
	require.Equal(t, http.StatusUnauthorized, status, "the whole connection is gone")
	status, _ = refresh(t, srv, t2.RefreshToken)
	require.Equal(t, http.StatusOK, status, "other realms keep their grants")

	// The user disconnects the app at once through the control API.
	t3 := srv.IssueTokens(r2)
	status, m = ctlDo(t, srv, http.MethodPost, "/_control/realms/"+r2+"/revoke", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, json.Number("2"), m["revoked"])
	status, _ = getWith(t, srv, r2, t3.AccessToken, "item/1")
	require.Equal(t, http.StatusUnauthorized, status)

	// As an API request fault: revokes the request's realm, then answers 401.
	t4 := srv.IssueTokens(r1)
	require.NoError(t, srv.InjectFault(qbotest.Fault{Endpoint: "item", Kind: qbotest.FaultRevokeRefreshTokens, Count: 1}))
	status, _ = getWith(t, srv, r1, t4.AccessToken, "item/1")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = refresh(t, srv, t4.RefreshToken)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestFaultWebhookDropAndDuplicate(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	srv := qbotest.NewServer(t, qbotest.WithWebhook(rc.URL, verifier),
		qbotest.WithFaults(qbotest.Fault{Endpoint: "Customer", Kind: qbotest.FaultDropWebhook, Count: 1}))
	realm := srv.RealmIDs()[0]
	ctlPost(t, srv, realm, "customer", "", map[string]any{"DisplayName": "Dropped"})
	kept := ctlPost(t, srv, realm, "customer", "", map[string]any{"DisplayName": "Kept"})
	require.Equal(t, kept["Id"], rc.events(t)[0]["intuitentityid"])
	rc.none(t, 50*time.Millisecond)

	require.NoError(t, srv.InjectFault(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultDuplicateWebhook, Count: 1}))
	twice := ctlPost(t, srv, realm, "customer", "", map[string]any{"DisplayName": "Twice"})
	h1, h2 := rc.next(t), rc.next(t)
	require.Equal(t, string(h1.body), string(h2.body), "the same event (same id) twice")
	requireSigned(t, h2)
	var evs []map[string]any
	require.NoError(t, json.Unmarshal(h2.body, &evs))
	require.Equal(t, twice["Id"], evs[0]["intuitentityid"])
	rc.none(t, 50*time.Millisecond)
	require.Equal(t, qbotest.WebhookStats{Queued: 3, Dropped: 1, Attempts: 3, Delivered: 3}, srv.WebhookStats())
}
