package qbo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxPageSize is QuickBooks' largest MAXRESULTS.
const maxPageSize = 1000

// QueryResult is one page of a query. TotalCount is deliberately absent:
// QuickBooks leaves it out of batch and CDC answers and it only ever counts
// the page, so nothing may rely on it.
type QueryResult struct {
	// Entity is the key the rows were answered under ("" when no rows).
	Entity string
	Rows   []json.RawMessage
	// StartPosition and MaxResults are as answered (MaxResults is the
	// number of rows returned); 0 when the page is empty.
	StartPosition int
	MaxResults    int
}

// queryResponse is the body of "QueryResponse": counts plus one entity key
// whose value is the rows. An empty page is {}.
func parseQueryResponse(raw json.RawMessage) (*QueryResult, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("qbo: QueryResponse: %w", err)
	}
	res := &QueryResult{}
	for k, v := range fields {
		switch k {
		case "startPosition":
			if err := json.Unmarshal(v, &res.StartPosition); err != nil {
				return nil, fmt.Errorf("qbo: QueryResponse startPosition: %w", err)
			}
		case "maxResults":
			if err := json.Unmarshal(v, &res.MaxResults); err != nil {
				return nil, fmt.Errorf("qbo: QueryResponse maxResults: %w", err)
			}
		case "totalCount":
		default:
			if res.Entity != "" {
				return nil, fmt.Errorf("qbo: QueryResponse has rows under both %s and %s", res.Entity, k)
			}
			if err := json.Unmarshal(v, &res.Rows); err != nil {
				return nil, fmt.Errorf("qbo: QueryResponse %s: %w", k, err)
			}
			res.Entity = k
		}
	}
	return res, nil
}

// Query runs one query statement and returns its page.
func (c *Client) Query(ctx context.Context, q string) (*QueryResult, error) {
	if strings.TrimSpace(q) == "" {
		return nil, fmt.Errorf("qbo: empty query")
	}
	env, err := c.do(ctx, http.MethodGet, "query", url.Values{"query": {q}}, nil)
	if err != nil {
		return nil, err
	}
	raw, ok := env["QueryResponse"]
	if !ok {
		return nil, fmt.Errorf("qbo: query answer has no QueryResponse")
	}
	return parseQueryResponse(raw)
}

// QueryAll returns every row of entity matching where ("" for all; the text
// after WHERE, built with Quote for values), paging by 1000 in Id order.
// QuickBooks' default order is most recently updated first, so paging
// without ORDERBY skips and repeats rows that change between pages; Id never
// changes. A row deleted between pages can still shift a later one past a
// page boundary, so a caller that must see every change reconciles with CDC.
func (c *Client) QueryAll(ctx context.Context, entity, where string) ([]json.RawMessage, error) {
	if err := checkEntity(entity); err != nil {
		return nil, err
	}
	base := "SELECT * FROM " + entity
	if strings.TrimSpace(where) != "" {
		base += " WHERE " + where
	}
	base += " ORDERBY Id"
	var all []json.RawMessage
	seen := map[string]bool{}
	for start := 1; ; start += c.pageSize {
		page, err := c.Query(ctx, fmt.Sprintf("%s STARTPOSITION %d MAXRESULTS %d", base, start, c.pageSize))
		if err != nil {
			return nil, err
		}
		if page.Entity != "" && page.Entity != entity {
			return nil, fmt.Errorf("qbo: query for %s answered %s rows", entity, page.Entity)
		}
		for _, row := range page.Rows {
			var id struct{ Id string }
			if err := json.Unmarshal(row, &id); err != nil || id.Id == "" {
				return nil, fmt.Errorf("qbo: %s row without an Id", entity)
			}
			// An insert between pages never shifts an Id-ordered page
			// back, but a repeat must never reach the caller twice.
			if !seen[id.Id] {
				seen[id.Id] = true
				all = append(all, row)
			}
		}
		if len(page.Rows) < c.pageSize {
			return all, nil
		}
	}
}

// Quote returns s as a query string literal: single-quoted, with quotes and
// backslashes escaped, so a customer named O'Brien cannot break a WHERE.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
