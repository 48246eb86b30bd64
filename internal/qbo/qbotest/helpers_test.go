package qbotest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

// fakeClock is an injectable, advanceable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 6, 20, 20, 16, 17, 412_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// apiClient calls one realm's API with a bearer token.
type apiClient struct {
	t     *testing.T
	srv   *qbotest.Server
	realm string
	token string
}

func newAPI(t *testing.T, opts ...qbotest.Option) *apiClient {
	t.Helper()
	srv := qbotest.NewServer(t, opts...)
	realm := srv.RealmIDs()[0]
	return &apiClient{t: t, srv: srv, realm: realm, token: srv.IssueTokens(realm).AccessToken}
}

// raw sends a request to /v3/company/{realm}/{path} and returns status and body.
func (a *apiClient) raw(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, a.srv.URL+"/v3/company/"+a.realm+"/"+path+sep+"minorversion=75", rd)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := noRedirect.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, b
}

// do is raw plus JSON decoding (numbers as json.Number).
func (a *apiClient) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	status, b := a.raw(method, path, body)
	return status, decode(a.t, b)
}

// ok requires HTTP 200 and returns the entity under key.
func (a *apiClient) ok(method, path string, body any, key string) map[string]any {
	a.t.Helper()
	status, m := a.do(method, path, body)
	require.Equal(a.t, http.StatusOK, status, "body: %v", m)
	e, isMap := m[key].(map[string]any)
	require.True(a.t, isMap, "no %s in %v", key, m)
	return e
}

// fault requires an HTTP 400 ValidationFault and returns its single error.
func (a *apiClient) fault(method, path string, body any) map[string]any {
	a.t.Helper()
	status, m := a.do(method, path, body)
	require.Equal(a.t, http.StatusBadRequest, status, "body: %v", m)
	return requireFault(a.t, m)
}

func requireFault(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	require.Len(t, m, 2, "envelope is Fault + time: %v", m)
	require.Regexp(t, timeMillisRE, m["time"])
	f, ok := m["Fault"].(map[string]any)
	require.True(t, ok, "no Fault in %v", m)
	require.Equal(t, "ValidationFault", f["type"])
	errs, ok := f["Error"].([]any)
	require.True(t, ok)
	require.Len(t, errs, 1)
	e := errs[0].(map[string]any)
	require.ElementsMatch(t, []string{"Message", "Detail", "code", "element"}, keys(e))
	for _, k := range []string{"Message", "Detail", "code", "element"} {
		require.IsType(t, "", e[k], k)
	}
	return e
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "body: %s", b)
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

const (
	timeMillisRE = `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[-+]\d{2}:\d{2}$`
	metaTimeRE   = `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[-+]\d{2}:\d{2}$`
)

// postForm sends a form to the token endpoint with Basic client auth.
func postForm(t *testing.T, srv *qbotest.Server, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/v1/tokens/bearer", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, decode(t, b)
}

func refresh(t *testing.T, srv *qbotest.Server, rt string) (int, map[string]any) {
	t.Helper()
	return postForm(t, srv, srv.ClientID(), srv.ClientSecret(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// getWith calls GET on a realm path with the given access token.
func getWith(t *testing.T, srv *qbotest.Server, realm, token, path string) (int, map[string]any) {
	t.Helper()
	a := &apiClient{t: t, srv: srv, realm: realm, token: token}
	return a.do(http.MethodGet, path, nil)
}
