package qbo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Batch limits: QuickBooks refuses more than 30 items (1040), a bId over 10
// characters and a batch requestid over 36 (2050).
const (
	MaxBatchItems      = 30
	maxBIDLen          = 10
	maxBatchRequestIDs = 36
)

// BatchItem is one operation of a batch: a write (Entity, Operation, Body)
// or a query (Query).
type BatchItem struct {
	// BID identifies the item in the answer; unique within the batch.
	BID string
	// Entity is the canonical entity name of a write's body.
	Entity string
	// Operation is "create", "update" or "delete". An update is a full
	// update unless Body has "sparse": true.
	Operation string
	Body      any
	// OptionsData is sent as "optionsData" (e.g. "void"); optional.
	OptionsData string
	// Query is the statement of a query item (no Entity, no Body).
	Query string
}

// BatchResult is the answer to one item: exactly one of Object, Query and
// Fault is set. A fault of one item does not fail the others.
type BatchResult struct {
	BID    string
	Entity string          // the key Object was answered under
	Object json.RawMessage // a write's entity
	Query  *QueryResult
	Fault  *Fault // Status 0: the batch itself was answered 200
}

// Batch runs up to 30 items in one request and returns one result per item
// in the order of items. requestID makes the whole batch idempotent and is
// required when any item writes.
func (c *Client) Batch(ctx context.Context, items []BatchItem, requestID string) ([]BatchResult, error) {
	if len(items) == 0 || len(items) > MaxBatchItems {
		return nil, fmt.Errorf("qbo: batch of %d items; 1 to %d allowed", len(items), MaxBatchItems)
	}
	reqs := make([]map[string]any, 0, len(items))
	index := make(map[string]int, len(items))
	writes := false
	for i, it := range items {
		if it.BID == "" || len(it.BID) > maxBIDLen {
			return nil, fmt.Errorf("qbo: batch item %d: bId must be 1 to %d characters", i, maxBIDLen)
		}
		if _, dup := index[it.BID]; dup {
			return nil, fmt.Errorf("qbo: batch bId %q used twice", it.BID)
		}
		index[it.BID] = i
		req := map[string]any{"bId": it.BID}
		switch {
		case it.Query != "" && it.Entity == "" && it.Body == nil:
			req["Query"] = it.Query
		case it.Query == "" && it.Entity != "":
			if err := checkEntity(it.Entity); err != nil {
				return nil, err
			}
			switch it.Operation {
			case "create", "update", "delete":
			default:
				return nil, fmt.Errorf("qbo: batch item %s: operation %q", it.BID, it.Operation)
			}
			body, err := marshalObject(it.Body)
			if err != nil {
				return nil, fmt.Errorf("qbo: batch item %s: %w", it.BID, err)
			}
			req["operation"] = it.Operation
			req[it.Entity] = json.RawMessage(body)
			if it.OptionsData != "" {
				req["optionsData"] = it.OptionsData
			}
			writes = true
		default:
			return nil, fmt.Errorf("qbo: batch item %s: either a query or an entity write", it.BID)
		}
		reqs = append(reqs, req)
	}
	q := url.Values{}
	if requestID != "" || writes {
		if err := checkRequestID(requestID, maxBatchRequestIDs); err != nil {
			return nil, err
		}
		q.Set("requestid", requestID)
	}
	body, err := json.Marshal(map[string]any{"BatchItemRequest": reqs})
	if err != nil {
		return nil, fmt.Errorf("qbo: batch: %w", err)
	}
	env, err := c.do(ctx, http.MethodPost, "batch", q, body)
	if err != nil {
		return nil, err
	}
	var answers []map[string]json.RawMessage
	if err := json.Unmarshal(env["BatchItemResponse"], &answers); err != nil {
		return nil, fmt.Errorf("qbo: batch answer: %w", err)
	}
	out := make([]BatchResult, len(items))
	answered := make([]bool, len(items))
	for _, a := range answers {
		res, err := parseBatchAnswer(a)
		if err != nil {
			return nil, err
		}
		i, ok := index[res.BID]
		if !ok || answered[i] {
			return nil, fmt.Errorf("qbo: batch answer for unknown or repeated bId %q", res.BID)
		}
		answered[i] = true
		out[i] = res
	}
	for i, ok := range answered {
		if !ok {
			// Whether the item ran is unknown; the caller must look it up.
			return nil, fmt.Errorf("qbo: batch answer lacks bId %q", items[i].BID)
		}
	}
	return out, nil
}

func parseBatchAnswer(a map[string]json.RawMessage) (BatchResult, error) {
	var res BatchResult
	if err := json.Unmarshal(a["bId"], &res.BID); err != nil || res.BID == "" {
		return res, errors.New("qbo: batch answer item without bId")
	}
	for k, v := range a {
		switch k {
		case "bId":
		case "Fault", "fault":
			f := &Fault{}
			wrapped, _ := json.Marshal(map[string]json.RawMessage{"Fault": v})
			if !decodeJSONFault(wrapped, f) {
				return res, fmt.Errorf("qbo: batch item %s: unreadable fault", res.BID)
			}
			res.Fault = f
		case "QueryResponse":
			qr, err := parseQueryResponse(v)
			if err != nil {
				return res, err
			}
			res.Query = qr
		default:
			if res.Object != nil {
				return res, fmt.Errorf("qbo: batch item %s answered both %s and %s", res.BID, res.Entity, k)
			}
			if firstByte(v) != '{' {
				return res, fmt.Errorf("qbo: batch item %s: %s is not an object", res.BID, k)
			}
			res.Entity, res.Object = k, v
		}
	}
	n := 0
	for _, set := range []bool{res.Fault != nil, res.Query != nil, res.Object != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return res, fmt.Errorf("qbo: batch item %s: want one of an object, a query answer or a fault", res.BID)
	}
	return res, nil
}
