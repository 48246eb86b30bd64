// Package qbo is a small, strict client for the QuickBooks Online Accounting
// API v3: reads, idempotent writes, queries, batch, change data capture and
// company info for one company (realm). It holds no sync logic and no
// storage; the sync jobs decide what to send and what a failure means.
//
// Bodies stay JSON (json.RawMessage) so that amounts are never decoded into
// float64 here; callers decode them with json.Number or into strings.
//
// Every failure is either a *Fault (QuickBooks answered with a fault, JSON or
// XML) or a *RequestError (no usable answer: connection reset, timeout, a
// body that could not be read). IsThrottled, IsAuth, IsStaleObject,
// IsDuplicateName, IsNotFound, RetryAfter and Retryable classify both.
package qbo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Intuit's API hosts.
const (
	ProductionBaseURL = "https://quickbooks.api.intuit.com"
	SandboxBaseURL    = "https://sandbox-quickbooks.api.intuit.com"
)

// DefaultMinorVersion is sent with every request: since August 2025
// QuickBooks treats every lower minor version as 75, so asking for anything
// else would only hide which behaviour we get.
const DefaultMinorVersion = 75

// maxResponseBytes bounds a response body; a page of 1000 invoices is a few
// megabytes, so this only stops a runaway answer.
const maxResponseBytes = 64 << 20

// maxRequestIDLen is the longest requestid QuickBooks accepts on a single
// write (longer ones are refused with 2050).
const maxRequestIDLen = 50

// Config configures a Client.
type Config struct {
	// BaseURL is scheme://host of the API, without a trailing slash
	// (ProductionBaseURL, SandboxBaseURL, or an emulator's URL).
	BaseURL string
	// RealmID is the company the client talks to.
	RealmID string
	// HTTPClient sends the requests and must add the bearer token, e.g. the
	// client oauth2.NewClient returns for the connection's TokenSource. The
	// Client never sees the token, so it can never log or return it.
	HTTPClient *http.Client
	// MinorVersion defaults to DefaultMinorVersion.
	MinorVersion int
	// Limiter, when set, paces every request (see Limiter); share one per
	// process across all clients. Without one the caller paces requests.
	Limiter *Limiter
}

// Client calls the Accounting API of one realm. It is safe for concurrent use.
// With Config.Limiter every request waits for the realm's limits and writes
// go one at a time; without it that is the caller's.
type Client struct {
	base     string
	realm    string
	hc       *http.Client
	minor    string
	lim      *Limiter // nil: not paced
	pageSize int      // QueryAll's MAXRESULTS; a variable only so tests can page small
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.HTTPClient == nil {
		return nil, errors.New("qbo: Config.HTTPClient is required (it adds the bearer token)")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("qbo: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.RealmID == "" || strings.ContainsAny(cfg.RealmID, "/?#") {
		return nil, fmt.Errorf("qbo: RealmID %q is not a realm id", cfg.RealmID)
	}
	minor := cfg.MinorVersion
	if minor == 0 {
		minor = DefaultMinorVersion
	}
	return &Client{
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		realm:    cfg.RealmID,
		hc:       cfg.HTTPClient,
		minor:    strconv.Itoa(minor),
		lim:      cfg.Limiter,
		pageSize: maxPageSize,
	}, nil
}

// RealmID returns the realm the client talks to.
func (c *Client) RealmID() string { return c.realm }

// Read returns the entity with the given Id (e.g. Read(ctx, "Invoice", "131")).
func (c *Client) Read(ctx context.Context, entity, id string) (json.RawMessage, error) {
	if err := checkEntity(entity); err != nil {
		return nil, err
	}
	if id == "" || strings.ContainsAny(id, "/?#") {
		return nil, fmt.Errorf("qbo: read %s: bad Id %q", entity, id)
	}
	env, err := c.do(ctx, http.MethodGet, strings.ToLower(entity)+"/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return nil, err
	}
	return envelopeEntity(env, entity)
}

// Create creates an entity. requestID makes the write idempotent: QuickBooks
// answers a repeat with the first answer instead of creating again, so a
// create whose answer was lost is retried with the same requestID.
func (c *Client) Create(ctx context.Context, entity string, body any, requestID string) (json.RawMessage, error) {
	raw, err := marshalObject(body)
	if err != nil {
		return nil, fmt.Errorf("qbo: create %s: %w", entity, err)
	}
	return c.write(ctx, entity, nil, raw, requestID)
}

// SparseUpdate changes only the fields in body, which must hold the Id and
// the current SyncToken; "sparse": true is set here so that a forgotten flag
// can never turn into a full update that nulls every omitted field.
func (c *Client) SparseUpdate(ctx context.Context, entity string, body any, requestID string) (json.RawMessage, error) {
	raw, err := marshalObject(body)
	if err != nil {
		return nil, fmt.Errorf("qbo: update %s: %w", entity, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("qbo: update %s: %w", entity, err)
	}
	for _, k := range []string{"Id", "SyncToken"} {
		var s string
		if err := json.Unmarshal(fields[k], &s); err != nil || s == "" {
			return nil, fmt.Errorf("qbo: update %s: body needs %s as a non-empty string", entity, k)
		}
	}
	fields["sparse"] = json.RawMessage("true")
	if raw, err = json.Marshal(fields); err != nil {
		return nil, fmt.Errorf("qbo: update %s: %w", entity, err)
	}
	return c.write(ctx, entity, nil, raw, requestID)
}

// Delete deletes a transaction; QuickBooks answers a stub with
// "status":"Deleted". List entities (Customer, Item, …) cannot be deleted:
// they are made inactive with a sparse update ("Active": false).
func (c *Client) Delete(ctx context.Context, entity, id, syncToken, requestID string) (json.RawMessage, error) {
	body, err := idBody(id, syncToken, false)
	if err != nil {
		return nil, fmt.Errorf("qbo: delete %s: %w", entity, err)
	}
	return c.write(ctx, entity, url.Values{"operation": {"delete"}}, body, requestID)
}

// Void voids an Invoice (operation=void) or a Payment (a sparse update with
// include=void, the form QuickBooks documents for payments). The record stays,
// with its amounts zeroed.
func (c *Client) Void(ctx context.Context, entity, id, syncToken, requestID string) (json.RawMessage, error) {
	q := url.Values{"operation": {"void"}}
	if entity == "Payment" {
		q = url.Values{"operation": {"update"}, "include": {"void"}}
	}
	body, err := idBody(id, syncToken, entity == "Payment")
	if err != nil {
		return nil, fmt.Errorf("qbo: void %s: %w", entity, err)
	}
	return c.write(ctx, entity, q, body, requestID)
}

func idBody(id, syncToken string, sparse bool) ([]byte, error) {
	if id == "" || syncToken == "" {
		return nil, errors.New("Id and SyncToken are required")
	}
	m := map[string]any{"Id": id, "SyncToken": syncToken}
	if sparse {
		m["sparse"] = true
	}
	return json.Marshal(m)
}

// write POSTs an entity body with ?requestid= and returns the entity answered.
func (c *Client) write(ctx context.Context, entity string, q url.Values, body []byte, requestID string) (json.RawMessage, error) {
	if err := checkEntity(entity); err != nil {
		return nil, err
	}
	if err := checkRequestID(requestID, maxRequestIDLen); err != nil {
		return nil, err
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("requestid", requestID)
	env, err := c.do(ctx, http.MethodPost, strings.ToLower(entity), q, body)
	if err != nil {
		return nil, err
	}
	return envelopeEntity(env, entity)
}

// CompanyInfo returns the realm's CompanyInfo: the usual "is this connection
// alive?" call.
func (c *Client) CompanyInfo(ctx context.Context) (json.RawMessage, error) {
	env, err := c.do(ctx, http.MethodGet, "companyinfo/"+url.PathEscape(c.realm), nil, nil)
	if err != nil {
		return nil, err
	}
	return envelopeEntity(env, "CompanyInfo")
}

// do sends one request to /v3/company/{realm}/{path}, paced by the limiter
// if there is one, and returns the top-level keys of a 200 JSON answer. Any
// other answer becomes a *Fault; no usable answer (or a context ended while
// waiting for the limiter) a *RequestError.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (map[string]json.RawMessage, error) {
	if c.lim == nil {
		return c.send(ctx, method, path, q, body)
	}
	kind := CallRead
	if method != http.MethodGet {
		kind = CallWrite
		if path == "batch" {
			kind = CallBatch
		}
	}
	done, err := c.lim.Acquire(ctx, c.realm, kind)
	if err != nil {
		return nil, &RequestError{Method: method, Path: path, Err: err}
	}
	env, err := c.send(ctx, method, path, q, body)
	done(err)
	return env, err
}

// send sends one request; see do.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte) (map[string]json.RawMessage, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("minorversion", c.minor)
	u := c.base + "/v3/company/" + url.PathEscape(c.realm) + "/" + path + "?" + q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, &RequestError{Method: method, Path: path, Err: err}
	}
	// QuickBooks answers XML unless JSON is asked for.
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &RequestError{Method: method, Path: path, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		// The status line arrived but the body did not: the request may have
		// been served, so this is a request error, not a fault.
		return nil, &RequestError{Method: method, Path: path, Err: err}
	}
	if len(b) > maxResponseBytes {
		return nil, &RequestError{Method: method, Path: path, Err: fmt.Errorf("response larger than %d bytes", maxResponseBytes)}
	}
	if resp.StatusCode != http.StatusOK || firstByte(b) == '<' {
		return nil, decodeFault(resp.StatusCode, resp.Header, b)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, &RequestError{Method: method, Path: path, Err: fmt.Errorf("decoding the answer: %w", err)}
	}
	// The envelope allows a fault in a 200 answer; never take it for data.
	if _, ok := env["Fault"]; ok {
		return nil, decodeFault(resp.StatusCode, resp.Header, b)
	}
	if _, ok := env["fault"]; ok {
		return nil, decodeFault(resp.StatusCode, resp.Header, b)
	}
	return env, nil
}

// envelopeEntity returns env[entity] from {"<Entity>":{…},"time":…}.
func envelopeEntity(env map[string]json.RawMessage, entity string) (json.RawMessage, error) {
	raw, ok := env[entity]
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("qbo: answer has no %s object", entity)
	}
	return raw, nil
}

// marshalObject returns body as JSON and insists that it is an object.
func marshalObject(body any) ([]byte, error) {
	var raw []byte
	switch b := body.(type) {
	case json.RawMessage:
		raw = b
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, errors.New("body is not a JSON object")
	}
	return raw, nil
}

// checkEntity insists on the canonical entity name ("Customer", "Invoice",
// "JournalEntry"): it is the key of every answer, so a lowercase name would
// make a successful answer look empty.
func checkEntity(entity string) error {
	if entity == "" || entity[0] < 'A' || entity[0] > 'Z' {
		return fmt.Errorf("qbo: entity %q is not a canonical entity name", entity)
	}
	for _, r := range entity {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return fmt.Errorf("qbo: entity %q is not a canonical entity name", entity)
		}
	}
	return nil
}

// checkRequestID insists on a requestid for every write: without one a
// retried create after a lost answer makes a duplicate.
func checkRequestID(id string, max int) error {
	if id == "" {
		return errors.New("qbo: a write needs a requestid")
	}
	if len(id) > max {
		return fmt.Errorf("qbo: requestid longer than %d characters", max)
	}
	return nil
}
