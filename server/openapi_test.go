package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"books/internal/dbtest"
	"books/internal/ledger/source"
)

// contract checks requests to the JE API against the OpenAPI document the server serves:
// each response's status must be documented for its operation and its body and headers must
// validate against the documented schema; a request that succeeded must validate against
// the documented request schema. It records which (operation, status) pairs it saw.
type contract struct {
	b      *testBundle
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool // "METHOD /path status"
}

// newContract fetches the served document, checks it is a valid OpenAPI 3.1 document and
// builds a router over it.
func newContract(t *testing.T, b *testBundle) *contract {
	t.Helper()
	status, h, raw := b.apiDo(t, http.MethodGet, "/api/v1/openapi.json", "", "", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater(), "the document is OpenAPI %s", doc.OpenAPI)
	require.NoError(t, doc.Validate(loader.Context))
	// The document's server is "/": the host it was fetched from, which here is the test's.
	require.Len(t, doc.Servers, 1)
	require.Equal(t, "/", doc.Servers[0].URL)
	doc.Servers = openapi3.Servers{{URL: b.server.URL}}
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return &contract{b: b, doc: doc, router: router, seen: map[string]bool{}}
}

// do sends a request and checks the exchange against the document.
func (c *contract) do(t *testing.T, method, path, key, idemKey string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	return c.doAs(t, method, path, key, idemKey, "application/json", body)
}

// doAs is do with the body sent as contentType.
func (c *contract) doAs(t *testing.T, method, path, key, idemKey, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	status, h, raw := c.b.apiDoAs(t, method, path, key, idemKey, contentType, body)

	req, err := http.NewRequest(method, c.b.server.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("X-Integration-Key", key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	route, params, err := c.router.FindRoute(req)
	require.NoError(t, err, "%s %s is not in the document", method, path)
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: requireKeyHeader},
	}
	if status < 300 {
		require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in),
			"%s %s succeeded (%d) with a request the document does not allow", method, path, status)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 h,
		Body:                   io.NopCloser(bytes.NewReader(raw)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	require.NoError(t, err, "%s %s answered %d, not as documented: %s", method, path, status, raw)
	c.seen[fmt.Sprintf("%s %s %d", method, route.Path, status)] = true
	return status, h, jeDecode(t, raw)
}

// requireKeyHeader stands for the integration-key security scheme: the header is there.
func requireKeyHeader(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.RequestValidationInput.Request.Header.Get(in.SecurityScheme.Name) == "" {
		return errors.New("no " + in.SecurityScheme.Name + " header")
	}
	return nil
}

// operations returns "METHOD /path" of every documented operation.
func (c *contract) operations() []string {
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// requireEveryStatusSeen fails for a documented (operation, status) pair that no request
// produced, so the document lists nothing the handlers cannot answer. Statuses no test can
// cause on purpose are excused.
func (c *contract) requireEveryStatusSeen(t *testing.T, excused map[string]string) {
	t.Helper()
	for _, op := range c.operations() {
		method, path, _ := strings.Cut(op, " ")
		for status := range c.doc.Paths.Value(path).GetOperation(method).Responses.Map() {
			if _, ok := excused[status]; ok {
				continue
			}
			require.True(t, c.seen[op+" "+status], "%s documents %s, which no request produced", op, status)
		}
	}
}

// apiDo sends a request to the JE API and returns the status, headers and body.
func (b *testBundle) apiDo(t *testing.T, method, path, key, idemKey string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	return b.apiDoAs(t, method, path, key, idemKey, "application/json", body)
}

// apiDoAs is apiDo with the body sent as contentType.
func (b *testBundle) apiDoAs(t *testing.T, method, path, key, idemKey, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.server.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("X-Integration-Key", key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, raw
}

// The OpenAPI document describes the handlers as they are: every request below, one per
// success and error class of each operation, is answered as the document says; every
// documented operation is routed; every documented status is produced by some request.
func TestOpenAPIContract(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			c := newContract(t, b)
			key := b.orgA.Key
			ukOnly := b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[1].ID}, source.All()...)
			const entries = "/api/v1/journal-entries"

			// POST: created, replayed, and each error class.
			status, h, created := c.do(t, http.MethodPost, entries, key, "k-1", jeMarshal(t, jeBody("US", "time-1", "150.00")))
			require.Equal(t, http.StatusCreated, status, "body: %v", created)
			id := created["id"].(string)
			require.Equal(t, entries+"/"+id, h.Get("Location"))
			status, _, replay := c.do(t, http.MethodPost, entries, key, "k-1", jeMarshal(t, jeBody("US", "time-1", "150.00")))
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, created, replay)
			status, _, got := c.do(t, http.MethodPost, entries, key, "k-1", jeMarshal(t, jeBody("US", "time-2", "150.00")))
			require.Equal(t, http.StatusConflict, status)
			require.Equal(t, "IDEMPOTENCY_CONFLICT", errCode(got))
			for _, tc := range []struct {
				name, key string
				body      []byte
				status    int
				code      string
			}{
				{"not JSON", key, []byte("entity=US"), http.StatusBadRequest, "MALFORMED_JSON"},
				{"unknown field", key, []byte(`{"amount":"1.00"}`), http.StatusBadRequest, "VALIDATION"},
				{"no key", "", jeMarshal(t, jeBody("US", "time-3", "1.00")), http.StatusUnauthorized, "UNAUTHENTICATED"},
				{"entity outside the key", ukOnly, jeMarshal(t, jeBody("US", "time-3", "1.00")), http.StatusForbidden, "FORBIDDEN"},
				{"unknown vendor", key, func() []byte {
					body := jeBody("US", "time-3", "1.00")
					jeLines(body)[1]["vendor_id"] = "ven_01zzzzzzzzzzzzzzzzzzzzzzzz"
					return jeMarshal(t, body)
				}(), http.StatusNotFound, "NOT_FOUND"},
				{"too large", key, bytes.Repeat([]byte(" "), 2<<20), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
				{"empty body", key, []byte{}, http.StatusBadRequest, "MALFORMED_JSON"},
				{"amount as a JSON number", key, []byte(strings.Replace(string(jeMarshal(t, jeBody("US", "time-3", "1.00"))), `"debit":"1.00"`, `"debit":1.5`, 1)), http.StatusUnprocessableEntity, "INVALID_AMOUNT"},
				{"debits and credits differ", key, func() []byte {
					body := jeBody("US", "time-3", "1.00")
					jeLines(body)[1]["credit"] = "0.99"
					return jeMarshal(t, body)
				}(), http.StatusUnprocessableEntity, "UNBALANCED_ENTRY"},
			} {
				status, _, got := c.do(t, http.MethodPost, entries, tc.key, "", tc.body)
				require.Equal(t, tc.status, status, "%s: %v", tc.name, got)
				require.Equal(t, tc.code, errCode(got), tc.name)
			}
			// A valid entry in any body but JSON posts nothing: curl -d sends a form.
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml"} {
				status, _, got := c.doAs(t, http.MethodPost, entries, key, "", ct, jeMarshal(t, jeBody("US", "time-ct", "1.00")))
				require.Equal(t, http.StatusUnsupportedMediaType, status, "%s: %v", ct, got)
				require.Equal(t, "UNSUPPORTED_MEDIA_TYPE", errCode(got), ct)
			}

			// GET by id.
			status, _, got = c.do(t, http.MethodGet, entries+"/"+id, key, "", nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, created, got)
			for _, tc := range []struct {
				name, key, id string
				status        int
			}{
				{"no key", "", id, http.StatusUnauthorized},
				{"entry outside the key", ukOnly, id, http.StatusNotFound},
				{"another organization's key", b.orgB.Key, id, http.StatusNotFound},
				{"no such entry", key, "je_01zzzzzzzzzzzzzzzzzzzzzzzz", http.StatusNotFound},
			} {
				status, _, _ := c.do(t, http.MethodGet, entries+"/"+tc.id, tc.key, "", nil)
				require.Equal(t, tc.status, status, tc.name)
			}

			// The list: a full page, a last page, and each error class.
			_, _, second := c.do(t, http.MethodPost, entries, key, "", jeMarshal(t, jeBody("US", "time-2", "2.00")))
			status, _, page := c.do(t, http.MethodGet, entries+"?limit=1&source_system=psa", key, "", nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, []any{created}, page["journal_entries"])
			require.NotNil(t, page["next_cursor"])
			status, _, page = c.do(t, http.MethodGet, entries+"?limit=1&source_system=psa&cursor="+url.QueryEscape(page["next_cursor"].(string)), key, "", nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, []any{second}, page["journal_entries"])
			require.Nil(t, page["next_cursor"])
			for _, tc := range []struct {
				name, key, query string
				status           int
				code             string
			}{
				{"bad limit", key, "?limit=0", http.StatusBadRequest, "VALIDATION"},
				{"no key", "", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
				{"entity outside the key", ukOnly, "?entity=US", http.StatusForbidden, "FORBIDDEN"},
				{"unknown entity", key, "?entity=ZZ", http.StatusUnprocessableEntity, "UNKNOWN_ENTITY"},
			} {
				status, _, got := c.do(t, http.MethodGet, entries+tc.query, tc.key, "", nil)
				require.Equal(t, tc.status, status, "%s: %v", tc.name, got)
				require.Equal(t, tc.code, errCode(got), tc.name)
			}

			// Every documented operation is routed: none falls through to the catch-all.
			for _, op := range c.operations() {
				method, path, _ := strings.Cut(op, " ")
				var body []byte
				if method == http.MethodPost {
					body = jeMarshal(t, jeBody("US", "time-routed", "1.00"))
				}
				status, _, got := c.do(t, method, strings.ReplaceAll(path, "{id}", id), key, "", body)
				require.Less(t, status, 300, "%s: %v", op, got)
			}

			// The database goes away: every operation that needs it answers 503 with
			// Retry-After, as documented.
			require.NoError(t, b.db.Close())
			for _, op := range []struct{ method, path string }{
				{http.MethodPost, entries}, {http.MethodGet, entries + "/" + id}, {http.MethodGet, entries},
			} {
				var body []byte
				if op.method == http.MethodPost {
					body = jeMarshal(t, jeBody("US", "time-outage", "1.00"))
				}
				status, h, got := c.do(t, op.method, op.path, key, "", body)
				require.Equal(t, http.StatusServiceUnavailable, status, "%s %s: %v", op.method, op.path, got)
				require.Equal(t, "UNAVAILABLE", errCode(got))
				require.NotEmpty(t, h.Get("Retry-After"))
			}

			c.requireEveryStatusSeen(t, map[string]string{
				"429": "rate limiting answers it; it is tested where it is built",
				"500": "no request causes an internal error on purpose",
			})
		})
	}
}

// The document's enumerations are the code's.
func TestOpenAPISourceSystems(t *testing.T) {
	t.Parallel()
	b := setup(t, dbtest.Dialects(t)[0])
	c := newContract(t, b)
	var want []any
	for _, s := range source.All() {
		want = append(want, string(s))
	}
	got := c.doc.Components.Schemas["SourceSystem"].Value.Enum
	require.ElementsMatch(t, want, got)
	require.ElementsMatch(t, []string{"integrationKey"}, slices.Collect(maps.Keys(c.doc.Components.SecuritySchemes)))
}
