package server_test

// Attacks on the JE API's one-statement PostgreSQL path (books_post_journal_entry names the
// accounts; Go explains a line it would not name): the same coded errors and field paths as
// the ent path, nothing written, and concurrent twins posting once.

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/dbtest"
)

func TestAttackPerfJEBadAccountsCoded(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			us, uk := b.orgA.Entities[0], b.orgA.Entities[1]
			inactive := b.jeAccount(t, b.orgA, us, "6200")
			_, err := b.client.Account.UpdateOneID(inactive.ID).SetActive(false).Save(orgCtx(b.orgA))
			require.NoError(t, err)
			ukRev := b.jeAccount(t, b.orgA, uk, "4000")
			otherOrg := b.jeAccount(t, b.orgB, b.orgB.Entities[0], "4000")
			before := b.jeSnap(t)
			cases := []struct {
				name        string
				line        map[string]any
				code, field string
			}{
				{"unknown code", map[string]any{"account_code": "9999"}, "UNKNOWN_ACCOUNT", "lines[1].account_code"},
				{"other entity's account id", map[string]any{"account_id": ukRev.ID}, "UNKNOWN_ACCOUNT", "lines[1].account_id"},
				{"other organization's account id", map[string]any{"account_id": otherOrg.ID}, "UNKNOWN_ACCOUNT", "lines[1].account_id"},
				{"unknown source code", map[string]any{"source_code": "nope"}, "UNKNOWN_SOURCE_CODE", "lines[1].source_code"},
				{"inactive by code", map[string]any{"account_code": "6200"}, "INACTIVE_ACCOUNT", "lines[1]"},
				{"inactive by id", map[string]any{"account_id": inactive.ID}, "INACTIVE_ACCOUNT", "lines[1]"},
				{"A/R by code", map[string]any{"account_code": "1200"}, "CONTROL_ACCOUNT", "lines[1]"},
				{"customer credit by mapping", map[string]any{"source_code": "customer_credit"}, "CONTROL_ACCOUNT", "lines[1]"},
				{"A/P by code", map[string]any{"account_code": "2000"}, "CONTROL_ACCOUNT", "lines[1]"},
				{"bad account and bad class", map[string]any{"account_code": "9999", "class": "No such class"}, "UNKNOWN_ACCOUNT", "lines[1].account_code"},
			}
			for i, c := range cases {
				body := jeBody("US", fmt.Sprintf("bad-%d", i), "10.00")
				c.line["credit"] = "10.00"
				jeLines(body)[1] = c.line
				status, resp := b.postJE(t, b.orgA.Key, "", body)
				require.Equal(t, http.StatusUnprocessableEntity, status, "%s: %v", c.name, resp)
				eb, _ := resp["error"].(map[string]any)
				require.Equal(t, c.code, eb["code"], "%s: %v", c.name, resp)
				require.Equal(t, c.field, eb["field"], "%s: %v", c.name, resp)
			}
			b.jeRequireUnchanged(t, before)
		})
	}
}

// Concurrent twins: the same source reference without a key, and the same Idempotency-Key
// with different references, post exactly one entry each, and every twin is answered with it.
func TestAttackPerfJEConcurrentTwins(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			before := b.jeSnap(t)
			const n = 8
			run := func(body func(i int) map[string]any, key string) []string {
				var wg sync.WaitGroup
				ids := make([]string, n)
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						status, resp := b.postJE(t, b.orgA.Key, key, body(i))
						if status == http.StatusCreated || status == http.StatusOK {
							ids[i], _ = resp["id"].(string)
						} else {
							ids[i] = fmt.Sprintf("status %d: %v", status, resp)
						}
					}(i)
				}
				wg.Wait()
				return ids
			}
			ids := run(func(int) map[string]any { return jeBody("US", "twin-ref", "10.00") }, "")
			require.Contains(t, ids[0], "je_")
			for _, id := range ids {
				require.Equal(t, ids[0], id)
			}
			ids = run(func(int) map[string]any { return jeBody("US", "twin-key", "20.00") }, "twin-key-1")
			require.Contains(t, ids[0], "je_")
			for _, id := range ids {
				require.Equal(t, ids[0], id)
			}
			require.Equal(t, jeSnapshot{EntriesA: before.EntriesA + 2, EntriesB: before.EntriesB}, b.jeSnap(t))
			b.requireLedgerBalanced(t, b.orgA)
		})
	}
}
