package qbo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxCDCObjects is the most objects one CDC answer holds, across entities.
// An answer that reaches it may be cut short: ask again with a shorter
// window.
const MaxCDCObjects = 1000

// Changed is one object of a CDC answer: its current state, or a stub with
// "status":"Deleted" for a deleted one.
type Changed struct {
	ID      string
	Deleted bool
	Object  json.RawMessage
}

// CDCResult holds the changes of each requested entity; every requested
// entity has an entry (empty when nothing changed).
type CDCResult struct {
	Changes map[string][]Changed
	// Total counts the objects; at MaxCDCObjects the window was too long.
	Total int
	// Time is QuickBooks' clock when it answered (the envelope's "time"); zero when the answer
	// has none. A poller keeps it as its watermark, so the two clocks need not agree.
	Time time.Time
}

// CDC returns the objects of entities changed since since (QuickBooks looks
// back at most 30 days).
func (c *Client) CDC(ctx context.Context, entities []string, since time.Time) (*CDCResult, error) {
	if len(entities) == 0 {
		return nil, fmt.Errorf("qbo: CDC needs at least one entity")
	}
	var names []string
	seen := map[string]bool{}
	for _, e := range entities {
		if err := checkEntity(e); err != nil {
			return nil, err
		}
		if !seen[e] {
			seen[e] = true
			names = append(names, e)
		}
	}
	q := url.Values{"entities": {strings.Join(names, ",")}, "changedSince": {since.Format(time.RFC3339)}}
	env, err := c.do(ctx, http.MethodGet, "cdc", q, nil)
	if err != nil {
		return nil, err
	}
	var blocks []struct {
		QueryResponse []json.RawMessage
	}
	if err := json.Unmarshal(env["CDCResponse"], &blocks); err != nil {
		return nil, fmt.Errorf("qbo: CDC answer: %w", err)
	}
	// QuickBooks answers one QueryResponse per requested entity, in order;
	// an empty one ({}) cannot say which entity it is, so position counts.
	var qrs []json.RawMessage
	for _, b := range blocks {
		qrs = append(qrs, b.QueryResponse...)
	}
	if len(qrs) != len(names) {
		return nil, fmt.Errorf("qbo: CDC answered %d entity blocks for %d entities", len(qrs), len(names))
	}
	res := &CDCResult{Changes: make(map[string][]Changed, len(names))}
	var at string
	if json.Unmarshal(env["time"], &at) == nil {
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			res.Time = t
		}
	}
	for i, raw := range qrs {
		page, err := parseQueryResponse(raw)
		if err != nil {
			return nil, err
		}
		if page.Entity != "" && page.Entity != names[i] {
			return nil, fmt.Errorf("qbo: CDC block %d is %s, want %s", i, page.Entity, names[i])
		}
		changes := make([]Changed, 0, len(page.Rows))
		for _, row := range page.Rows {
			// Exact keys: encoding/json would also take an entity's own
			// "Status" property for the stub's "status".
			var head map[string]json.RawMessage
			var id, status string
			if err := json.Unmarshal(row, &head); err != nil || json.Unmarshal(head["Id"], &id) != nil || id == "" {
				return nil, fmt.Errorf("qbo: CDC %s object without an Id", names[i])
			}
			_ = json.Unmarshal(head["status"], &status)
			changes = append(changes, Changed{ID: id, Deleted: status == "Deleted", Object: row})
		}
		res.Changes[names[i]] = changes
		res.Total += len(changes)
	}
	return res, nil
}
