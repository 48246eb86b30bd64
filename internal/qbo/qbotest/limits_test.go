package qbotest_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

// The recorded 429 body (qbo-api.md §10, ruckus/quickbooks-ruby
// too_many_requests_error.xml) with the fake clock's time.
const wantThrottle = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<IntuitResponse time="2024-06-20T13:16:17.412-07:00" xmlns="http://schema.intuit.com/finance/v3">
  <Fault type="SERVICE">
    <Error code="3001">
      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>
      <Detail>The request limit was reached.  Try again later</Detail>
    </Error>
  </Fault>
</IntuitResponse>
`

// rawResp sends a request with a bearer token and returns the response with its body read.
func rawResp(t *testing.T, method, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestLimitPerMinute(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithRealms(2), qbotest.WithClock(clk.Now),
		qbotest.WithLimits(qbotest.Limits{PerMinute: 3, Concurrent: 10, BatchPerMinute: 40}))
	for range 3 {
		status, _ := a.raw(get, "item/1", nil)
		require.Equal(t, http.StatusOK, status)
	}
	resp, body := rawResp(t, get, a.srv.URL+"/v3/company/"+a.realm+"/item/1?minorversion=75", a.token, "")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, wantThrottle, body, "XML even though JSON was requested")
	require.Equal(t, "application/xml", resp.Header.Get("Content-Type"))
	require.Equal(t, []byte(wantThrottle), a.srv.ThrottleBody(clk.Now()))

	// Throttled requests are not counted, writes are throttled too, and
	// nothing was created.
	status, _ := a.raw(post, "customer", map[string]any{"DisplayName": "Blocked"})
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Empty(t, a.srv.Realm(a.realm).Customers())

	// The other realm has its own window.
	other := a.srv.RealmIDs()[1]
	b := &apiClient{t: t, srv: a.srv, realm: other, token: a.srv.IssueTokens(other).AccessToken}
	status, _ = b.raw(get, "item/1", nil)
	require.Equal(t, http.StatusOK, status)

	// The window slides with the injected clock.
	clk.Advance(59 * time.Second)
	status, _ = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	clk.Advance(time.Second)
	for range 3 {
		status, _ = a.raw(get, "item/1", nil)
		require.Equal(t, http.StatusOK, status)
	}
	status, _ = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusTooManyRequests, status)
}

func TestLimitConcurrent(t *testing.T) {
	t.Parallel()
	a := newAPI(t, qbotest.WithLimits(qbotest.Limits{PerMinute: 500, Concurrent: 3}),
		qbotest.WithFaults(qbotest.Fault{Endpoint: "item", Kind: qbotest.FaultLatency, LatencyMS: 1000}))
	var wg sync.WaitGroup
	statuses := make([]int, 3)
	for i := range 3 {
		wg.Go(func() { statuses[i], _ = a.raw(get, "item/1", nil) })
	}
	require.Eventually(t, func() bool { return a.srv.InFlight(a.realm) == 3 }, 900*time.Millisecond, 5*time.Millisecond)
	status, body := a.raw(get, "account/1", nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, string(body), `<Error code="3001">`)
	wg.Wait()
	require.Equal(t, []int{200, 200, 200}, statuses)
	require.Equal(t, 0, a.srv.InFlight(a.realm))
	status, _ = a.raw(get, "account/1", nil)
	require.Equal(t, http.StatusOK, status)
}

func TestLimitBatch(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now), qbotest.WithLimits(qbotest.Limits{PerMinute: 100, Concurrent: 10, BatchPerMinute: 2}))
	batch := map[string]any{"BatchItemRequest": []any{map[string]any{"bId": "1", "Query": "select * from Item"}}}
	for range 2 {
		status, _ := a.raw(post, "batch", batch)
		require.NotEqual(t, http.StatusTooManyRequests, status)
	}
	status, body := a.raw(post, "batch", batch)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, wantThrottle, string(body))
	// Other requests are still admitted.
	status, _ = a.raw(get, "item/1", nil)
	require.Equal(t, http.StatusOK, status)
	clk.Advance(61 * time.Second)
	status, _ = a.raw(post, "batch", batch)
	require.NotEqual(t, http.StatusTooManyRequests, status)
}

func TestLimitsDefaultAndOff(t *testing.T) {
	t.Parallel()
	require.Equal(t, qbotest.Limits{PerMinute: 500, Concurrent: 10, BatchPerMinute: 40}, qbotest.DefaultLimits())
	a := newAPI(t, qbotest.WithLimits(qbotest.Limits{PerMinute: 1}), qbotest.WithoutLimits())
	for range 5 {
		status, _ := a.raw(get, "item/1", nil)
		require.Equal(t, http.StatusOK, status)
	}
	// OAuth endpoints are not throttled per realm.
	s := newAPI(t, qbotest.WithLimits(qbotest.Limits{PerMinute: 1}))
	for range 3 {
		status, _ := refresh(t, s.srv, "unknown")
		require.Equal(t, http.StatusBadRequest, status)
	}
}
