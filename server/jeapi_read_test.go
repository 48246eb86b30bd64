package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/dbtest"
	"books/internal/ledger/source"
)

// jeGet reads path with key and returns the status and decoded body.
func (b *testBundle) jeGet(t *testing.T, key, path string) (int, map[string]any) {
	t.Helper()
	status, _, raw := b.apiDo(t, http.MethodGet, path, key, "", nil)
	return status, jeDecode(t, raw)
}

// jePosted posts body with key, which must create an entry, and returns the answer.
func (b *testBundle) jePosted(t *testing.T, key string, body map[string]any) map[string]any {
	t.Helper()
	status, got := b.postJE(t, key, "", body)
	require.Equal(t, http.StatusCreated, status, "body: %v", got)
	return got
}

// jeUKBody is jeBody for the GBP entity UK.
func jeUKBody(ref string) map[string]any {
	body := jeBody("UK", ref, "10.00")
	body["currency"] = "GBP"
	return body
}

func TestJEGetByID(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			cus, err := b.client.Customer.Create().SetName("Acme Corp").SetDisplayName("Acme").SetCurrency("USD").Save(orgCtx(b.orgA))
			require.NoError(t, err)
			ven, err := b.client.Vendor.Create().SetName("Initech").SetDisplayName("Initech").SetCurrency("USD").Save(orgCtx(b.orgA))
			require.NoError(t, err)
			body := jeBody("US", "time-1", "150.00")
			jeLines(body)[0]["vendor_id"] = ven.ID
			jeLines(body)[1]["description"] = "November"
			jeLines(body)[1]["customer_id"] = cus.ID
			posted := b.jePosted(t, b.orgA.Key, body)
			id := posted["id"].(string)
			lines := posted["lines"].([]any)
			require.Equal(t, ven.ID, lines[0].(map[string]any)["vendor_id"])
			require.Equal(t, cus.ID, lines[1].(map[string]any)["customer_id"])
			require.Equal(t, "November", lines[1].(map[string]any)["description"])

			status, got := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries/"+id)
			require.Equal(t, http.StatusOK, status, "body: %v", got)
			require.Equal(t, posted, got, "GET answers what POST answered")

			// A key scoped to the entry's entity and source system reads it; any other key
			// is told the entry does not exist, in the very words used for an unknown id.
			psaUS := b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, source.PSA)
			status, got = b.jeGet(t, psaUS, "/api/v1/journal-entries/"+id)
			require.Equal(t, http.StatusOK, status, "body: %v", got)
			_, missing := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries/je_01zzzzzzzzzzzzzzzzzzzzzzzz")
			require.Equal(t, "NOT_FOUND", errCode(missing))
			for _, tc := range []struct{ name, key, id string }{
				{"another organization's key", b.orgB.Key, id},
				{"a key for the other entity", b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[1].ID}, source.All()...), id},
				{"a key for other source systems", b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, source.Stripe, source.AMS), id},
				{"an account id", b.orgA.Key, b.jeAccount(t, b.orgA, b.orgA.Entities[0], "4000").ID},
				{"a NUL", b.orgA.Key, "je_%00"},
				{"bytes that are not UTF-8", b.orgA.Key, "je_%ff%fe"},
				{"a very long id", b.orgA.Key, "je_" + strings.Repeat("0", 100)},
			} {
				t.Run(tc.name, func(t *testing.T) {
					status, got := b.jeGet(t, tc.key, "/api/v1/journal-entries/"+tc.id)
					require.Equal(t, http.StatusNotFound, status, "body: %v", got)
					require.Equal(t, missing, got, "the answer must not tell a foreign entry from a missing one")
					b.jeRequireNoSecrets(t, got)
				})
			}

			status, got = b.jeGet(t, "", "/api/v1/journal-entries/"+id)
			require.Equal(t, http.StatusUnauthorized, status)
			require.Equal(t, "UNAUTHENTICATED", errCode(got))
		})
	}
}

// jeListIDs lists path with key, following next_cursor to the end, and returns the ids in
// order and the number of pages.
func (b *testBundle) jeListIDs(t *testing.T, key, path string) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	next := path
	for {
		status, page := b.jeGet(t, key, next)
		require.Equal(t, http.StatusOK, status, "%s: %v", next, page)
		pages++
		for _, e := range page["journal_entries"].([]any) {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		cursor, ok := page["next_cursor"].(string)
		if !ok {
			require.Nil(t, page["next_cursor"])
			return ids, pages
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		next = path + sep + "cursor=" + url.QueryEscape(cursor)
		require.Less(t, pages, 100, "the cursor does not advance")
	}
}

func TestJEList(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			// orgA: three psa entries and a stripe one on US, a psa one on UK; orgB: its
			// own "r1" under the same source system and reference.
			var us []string
			for _, ref := range []string{"r1", "r2", "r3"} {
				us = append(us, b.jePosted(t, b.orgA.Key, jeBody("US", ref, "1.00"))["id"].(string))
			}
			stripe := jeBody("US", "ch_1", "2.00")
			stripe["source_system"] = "stripe"
			stripeID := b.jePosted(t, b.orgA.Key, stripe)["id"].(string)
			ukID := b.jePosted(t, b.orgA.Key, jeUKBody("r1"))["id"].(string)
			orgBID := b.jePosted(t, b.orgB.Key, jeBody("US", "r1", "1.00"))["id"].(string)
			all := append(slices.Clone(us), stripeID, ukID)
			slices.Sort(all)

			// A page costs the same few statements however many entries and lines it holds:
			// the entries, their lines, the lines' accounts and classes (and the key, when
			// its cache entry has expired).
			for _, limit := range []string{"1", "5"} {
				b.counter.Reset()
				status, page := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries?limit="+limit)
				require.Equal(t, http.StatusOK, status, "body: %v", page)
				require.LessOrEqual(t, b.counter.Count(), int64(5), "statements for a page of %s", limit)
			}

			t.Run("by source reference", func(t *testing.T) {
				t.Parallel()
				status, page := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries?source_system=psa&source_ref=r1&entity=US")
				require.Equal(t, http.StatusOK, status, "body: %v", page)
				entries := page["journal_entries"].([]any)
				require.Len(t, entries, 1)
				_, one := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries/"+us[0])
				require.Equal(t, one, entries[0], "a listed entry has the shape GET gives it")
				require.Nil(t, page["next_cursor"])

				ids, _ := b.jeListIDs(t, b.orgA.Key, "/api/v1/journal-entries?source_ref=r1")
				require.Equal(t, sorted(us[0], ukID), ids, "r1 in both entities of orgA, never orgB's")
				ids, _ = b.jeListIDs(t, b.orgB.Key, "/api/v1/journal-entries?source_ref=r1")
				require.Equal(t, []string{orgBID}, ids)
				ids, _ = b.jeListIDs(t, b.orgA.Key, "/api/v1/journal-entries?source_ref=nope")
				require.Empty(t, ids)
			})

			t.Run("pages", func(t *testing.T) {
				t.Parallel()
				for _, tc := range []struct {
					limit string
					pages int
				}{{"1", 5}, {"2", 3}, {"4", 2}, {"5", 1}, {"200", 1}} {
					ids, pages := b.jeListIDs(t, b.orgA.Key, "/api/v1/journal-entries?limit="+tc.limit)
					require.Equal(t, all, ids, "limit %s: every entry once, in id order", tc.limit)
					require.Equal(t, tc.pages, pages, "limit %s", tc.limit)
				}
				ids, pages := b.jeListIDs(t, b.orgA.Key, "/api/v1/journal-entries")
				require.Equal(t, all, ids)
				require.Equal(t, 1, pages)
				ids, _ = b.jeListIDs(t, b.orgA.Key, "/api/v1/journal-entries?entity=UK")
				require.Equal(t, []string{ukID}, ids)
				ids, _ = b.jeListIDs(t, b.orgA.Key, "/api/v1/journal-entries?entity="+b.orgA.Entities[0].ID+"&source_system=stripe")
				require.Equal(t, []string{stripeID}, ids)
			})

			t.Run("confined to the key", func(t *testing.T) {
				t.Parallel()
				psaUS := b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, source.PSA)
				ids, _ := b.jeListIDs(t, psaUS, "/api/v1/journal-entries?limit=2")
				require.Equal(t, sorted(us...), ids, "only US psa entries")
				ids, _ = b.jeListIDs(t, b.orgB.Key, "/api/v1/journal-entries")
				require.Equal(t, []string{orgBID}, ids)
				for _, q := range []string{"entity=UK", "entity=" + b.orgA.Entities[1].ID, "source_system=stripe"} {
					status, got := b.jeGet(t, psaUS, "/api/v1/journal-entries?"+q)
					require.Equal(t, http.StatusForbidden, status, "%s: %v", q, got)
					require.Equal(t, "FORBIDDEN", errCode(got))
				}
				// Another organization's entity is unknown, not forbidden, by id and by code
				// alike.
				for _, q := range []string{"entity=" + b.orgB.Entities[0].ID, "entity=ZZ"} {
					status, got := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries?"+q)
					require.Equal(t, http.StatusUnprocessableEntity, status, "%s: %v", q, got)
					require.Equal(t, "UNKNOWN_ENTITY", errCode(got))
				}
				status, got := b.jeGet(t, "", "/api/v1/journal-entries")
				require.Equal(t, http.StatusUnauthorized, status)
				require.Equal(t, "UNAUTHENTICATED", errCode(got))
			})

			t.Run("bad query parameters", func(t *testing.T) {
				t.Parallel()
				for _, tc := range []struct{ query, field string }{
					{"limit=0", "limit"},
					{"limit=201", "limit"},
					{"limit=ten", "limit"},
					{"limit=-1", "limit"},
					{"cursor=nope", "cursor"},
					{"cursor=" + url.QueryEscape("acct_01"), "cursor"},
					{"sourceRef=r1", "sourceRef"},
					{"source_ref=r1&source_ref=r2", "source_ref"},
					{"source_system=quickbooks", "source_system"},
					{"source_ref=" + strings.Repeat("r", 201), "source_ref"},
					{"source_ref=%ff%fe", "source_ref"},
					{"source_ref=r%00", "source_ref"},
					{"entity=U%00S", "entity"},
				} {
					status, got := b.jeGet(t, b.orgA.Key, "/api/v1/journal-entries?"+tc.query)
					require.Equal(t, http.StatusBadRequest, status, "%s: %v", tc.query, got)
					require.Equal(t, "VALIDATION", errCode(got), tc.query)
					require.Equal(t, tc.field, got["error"].(map[string]any)["field"], tc.query)
				}
			})
		})
	}
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Amounts are decimal strings in the REST API as in GraphQL: a JSON number is refused with
// the code GraphQL gives a float, naming the field.
func TestJEAmountsAreStrings(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			for _, tc := range []struct {
				name, line, side, value string
			}{
				{"fraction", "0", "debit", "1.5"},
				{"exact cents", "0", "debit", "150.00"},
				{"integer", "1", "credit", "150"},
				{"exponent", "1", "credit", "1.5e2"},
			} {
				body := jeBody("US", "time-1", "150.00")
				raw := strings.Replace(string(jeMarshal(t, body)), `"`+tc.side+`":"150.00"`, `"`+tc.side+`":`+tc.value, 1)
				require.Contains(t, raw, `"`+tc.side+`":`+tc.value)
				before := b.jeSnap(t)
				status, got := b.postJE(t, b.orgA.Key, "", raw)
				b.jeRequireRejected(t, before, status, got, http.StatusUnprocessableEntity, "INVALID_AMOUNT")
				field := "lines[" + tc.line + "]." + tc.side
				e := got["error"].(map[string]any)
				require.Equal(t, field, e["field"], tc.name)
				require.Contains(t, e["message"], field, tc.name)
				require.Contains(t, e["message"], "decimal string", tc.name)
			}
			status, got := b.postJE(t, b.orgA.Key, "", jeBody("US", "time-1", "150.00"))
			require.Equal(t, http.StatusCreated, status, "the same entry with strings posts: %v", got)

			// GraphQL gives a float amount the same code.
			r := b.gql(t, b.orgA.Admin, `{ journalEntries(where: {totalGTE: 1.5}) { totalCount } }`, nil)
			require.Equal(t, []string{"INVALID_AMOUNT"}, r.errorCodes(), "errors: %+v", r.Errors)
			var ok struct {
				JournalEntries struct{ TotalCount int } `json:"journalEntries"`
			}
			b.gqlOK(t, b.orgA.Admin, `{ journalEntries(where: {totalGTE: "1.5"}) { totalCount } }`, nil, &ok)
			require.Equal(t, 1, ok.JournalEntries.TotalCount)
		})
	}
}
