package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/auditevent"
	"books/ent/class"
	"books/ent/coamapping"
	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
)

// The JE API tests post over real HTTP to a fresh database per test (per dialect) and check
// both the response and the ledger. Every rejected request is followed by a check that
// nothing changed in either organization.

// jeSnapshot is the state a rejected request must leave as it was.
type jeSnapshot struct{ EntriesA, EntriesB int }

func (b *testBundle) jeSnap(t *testing.T) jeSnapshot {
	t.Helper()
	return jeSnapshot{EntriesA: b.entryCount(t, b.orgA), EntriesB: b.entryCount(t, b.orgB)}
}

// jeRequireUnchanged checks the entry counts of both organizations are as in before and
// every trial balance still balances.
func (b *testBundle) jeRequireUnchanged(t *testing.T, before jeSnapshot) {
	t.Helper()
	require.Equal(t, before, b.jeSnap(t), "a rejected request changed the journal")
	b.requireLedgerBalanced(t, b.orgA)
	b.requireLedgerBalanced(t, b.orgB)
}

// jeRequireNoSecrets checks no integration key secret, key hash or bearer token of the
// bundle (nor any of extra) appears in body.
func (b *testBundle) jeRequireNoSecrets(t *testing.T, body any, extra ...string) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	secrets := append([]string{}, extra...)
	for _, o := range []testOrg{b.orgA, b.orgB} {
		secrets = append(secrets, o.Key, o.Admin, o.FinanceLead, o.Accountant, o.Viewer)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		sum := sha256.Sum256([]byte(s))
		require.NotContains(t, string(raw), s, "a secret leaked into a response")
		require.NotContains(t, string(raw), hex.EncodeToString(sum[:]), "a secret's hash leaked into a response")
	}
}

// jeRequireRejected checks a refused request: status, error code, a message, no secrets,
// and no change to either organization since before.
func (b *testBundle) jeRequireRejected(t *testing.T, before jeSnapshot, status int, body map[string]any, wantStatus int, wantCode string, extraSecrets ...string) {
	t.Helper()
	require.Equal(t, wantStatus, status, "body: %v", body)
	require.Equal(t, wantCode, errCode(body), "body: %v", body)
	e, _ := body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	require.NotEmpty(t, msg, "error without a message: %v", body)
	b.jeRequireNoSecrets(t, body, extraSecrets...)
	b.jeRequireUnchanged(t, before)
}

// jeDo posts raw to the JE API without a *testing.T, for use from goroutines.
func (b *testBundle) jeDo(key, idemKey string, raw []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, b.server.URL+"/api/v1/journal-entries", bytes.NewReader(raw))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Integration-Key", key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// jePostRaw posts raw and returns the status, headers and undecoded body.
func (b *testBundle) jePostRaw(t *testing.T, key, idemKey string, raw []byte) (int, http.Header, []byte) {
	t.Helper()
	status, h, data, err := b.jeDo(key, idemKey, raw)
	require.NoError(t, err)
	return status, h, data
}

// jeMarshal is json.Marshal for test bodies.
func jeMarshal(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}

// jeDecode decodes a JSON response body into a map.
func jeDecode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	return out
}

// jeLines returns the lines of a body made by jeBody, for editing.
func jeLines(body map[string]any) []map[string]any { return body["lines"].([]map[string]any) }

// jeNewKey creates an integration key for org scoped to entities and systems and returns
// its secret.
func (b *testBundle) jeNewKey(t *testing.T, org testOrg, entities []string, systems ...source.System) string {
	t.Helper()
	k, err := auth.CreateIntegrationKey(orgCtx(org), b.client, "scoped key", entities, systems, "test")
	require.NoError(t, err)
	return k.Secret
}

// jeAccount returns the account with code in entity le of org.
func (b *testBundle) jeAccount(t *testing.T, org testOrg, le *ent.LegalEntity, code string) *ent.Account {
	t.Helper()
	a, err := b.client.Account.Query().
		Where(account.EntityID(le.ID), account.Code(code)).Only(orgCtx(org))
	require.NoError(t, err)
	return a
}

// jeClass returns the "Consulting" class of entity le of org.
func (b *testBundle) jeClass(t *testing.T, org testOrg, le *ent.LegalEntity) *ent.Class {
	t.Helper()
	cl, err := b.client.Class.Query().
		Where(class.EntityID(le.ID), class.Name("Consulting")).Only(orgCtx(org))
	require.NoError(t, err)
	return cl
}

// jeRequireBalance checks the balance of account code in entity le as of 2099.
func (b *testBundle) jeRequireBalance(t *testing.T, org testOrg, le *ent.LegalEntity, code, debit, credit string) {
	t.Helper()
	bal, err := ledger.AccountBalance(orgCtx(org), b.client, b.jeAccount(t, org, le, code).ID, mustDate("2099-12-31"))
	require.NoError(t, err)
	require.Equal(t, money.MustParse(debit), bal.Debit, "debit of %s %s", le.Code, code)
	require.Equal(t, money.MustParse(credit), bal.Credit, "credit of %s %s", le.Code, code)
}

func TestJEPostCreated(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				body func(t *testing.T, b *testBundle) map[string]any
			}{
				{"entity by id", func(_ *testing.T, b *testBundle) map[string]any {
					return jeBody(b.orgA.Entities[0].ID, "time-123", "150.00")
				}},
				{"entity by code", func(*testing.T, *testBundle) map[string]any {
					return jeBody("US", "time-123", "150.00")
				}},
				{"amounts with 4 decimals", func(*testing.T, *testBundle) map[string]any {
					body := jeBody("US", "time-123", "150.0000")
					jeLines(body)[1]["credit"] = "150.0"
					return body
				}},
				{"currency omitted", func(*testing.T, *testBundle) map[string]any {
					body := jeBody("US", "time-123", "150.00")
					delete(body, "currency")
					return body
				}},
				{"class by id", func(t *testing.T, b *testBundle) map[string]any {
					body := jeBody("US", "time-123", "150.00")
					jeLines(body)[0]["class"] = b.jeClass(t, b.orgA, b.orgA.Entities[0]).ID
					return body
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					us := b.orgA.Entities[0]
					status, h, raw := b.jePostRaw(t, b.orgA.Key, "", jeMarshal(t, tc.body(t, b)))
					require.Equal(t, http.StatusCreated, status, "body: %s", raw)
					require.Equal(t, "application/json", h.Get("Content-Type"))
					got := jeDecode(t, raw)

					id, _ := got["id"].(string)
					require.True(t, strings.HasPrefix(id, "je_"), "id %q", id)
					require.Equal(t, "/api/v1/journal-entries/"+id, h.Get("Location"))
					require.Equal(t, us.ID, got["entity_id"])
					require.Equal(t, "posted", got["status"])
					require.Equal(t, "2026-11-21", got["date"])
					require.Equal(t, "Consulting time", got["description"])
					require.Equal(t, "USD", got["currency"])
					require.Equal(t, "psa", got["source_system"])
					require.Equal(t, "time-123", got["source_ref"])
					require.Equal(t, "150.00", got["total"])
					require.NotEmpty(t, got["posted_at"])

					lines, _ := got["lines"].([]any)
					require.Len(t, lines, 2)
					l0, l1 := lines[0].(map[string]any), lines[1].(map[string]any)
					require.EqualValues(t, 1, l0["line_no"])
					require.Equal(t, "1250", l0["account_code"])
					require.Equal(t, b.jeAccount(t, b.orgA, us, "1250").ID, l0["account_id"])
					require.Equal(t, "150.00", l0["debit"])
					require.Equal(t, "0.00", l0["credit"])
					require.Equal(t, "Consulting", l0["class"])
					require.Equal(t, b.jeClass(t, b.orgA, us).ID, l0["class_id"])
					require.EqualValues(t, 2, l1["line_no"])
					require.Equal(t, "4000", l1["account_code"])
					require.Equal(t, "0.00", l1["debit"])
					require.Equal(t, "150.00", l1["credit"])
					require.NotContains(t, l1, "class")
					require.NotContains(t, l1, "class_id")

					// The ledger: one entry, 1250 debited and 4000 credited, everything balanced,
					// the other entity and organization untouched.
					require.Equal(t, jeSnapshot{EntriesA: 1, EntriesB: 0}, b.jeSnap(t))
					b.jeRequireBalance(t, b.orgA, us, "1250", "150.00", "0")
					b.jeRequireBalance(t, b.orgA, us, "4000", "0", "150.00")
					b.requireLedgerBalanced(t, b.orgA)
					b.requireLedgerBalanced(t, b.orgB)
					tb, err := ledger.GetTrialBalance(orgCtx(b.orgA), b.client, us.ID, mustDate("2099-12-31"))
					require.NoError(t, err)
					require.Equal(t, money.MustParse("150.00"), tb.TotalDebit)
					uk, err := ledger.GetTrialBalance(orgCtx(b.orgA), b.client, b.orgA.Entities[1].ID, mustDate("2099-12-31"))
					require.NoError(t, err)
					require.Empty(t, uk.Rows)

					// The stored entry says which key posted it and through which interface,
					// with an audit record written alongside.
					je, err := b.client.JournalEntry.Get(orgCtx(b.orgA), id)
					require.NoError(t, err)
					require.Equal(t, "api", je.CreatedVia)
					require.True(t, strings.HasPrefix(je.CreatedBy, "ik_"), "created_by %q", je.CreatedBy)
					ev, err := b.client.AuditEvent.Query().Where(auditevent.SubjectID(id)).Only(orgCtx(b.orgA))
					require.NoError(t, err)
					require.Equal(t, "journal_entry.post", ev.Action)
					require.Equal(t, auditevent.ViaAPI, ev.Via)
					require.Equal(t, auditevent.ActorTypeIntegrationKey, ev.ActorType)
					require.Equal(t, je.CreatedBy, ev.Actor)
				})
			}
		})
	}
}

// On PostgreSQL a new entry is posted in one statement: books_post_journal_entry names the
// accounts, writes the entry and its lines and posts it. A class by name costs one read more;
// a line the database cannot name falls back to resolving in Go, which explains the problem.
func TestJEPostStatements(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			noClass := func(ref string) map[string]any {
				body := jeBody("US", ref, "150.00")
				delete(jeLines(body)[0], "class")
				return body
			}
			// Warm the key and entity caches.
			status, body := b.postJE(t, b.orgA.Key, "", noClass("warm-up"))
			require.Equal(t, http.StatusCreated, status, "body: %v", body)

			want := map[string][3]int64{ // without a class, with a class by name, unknown account
				"postgres": {1, 2, 2},
				"sqlite3":  {4, 5, 1},
			}[d]
			for i, tc := range []struct {
				name   string
				body   map[string]any
				status int
			}{
				{"plain", noClass("plain"), http.StatusCreated},
				{"class by name", jeBody("US", "classy", "150.00"), http.StatusCreated},
				{"unknown account code", func() map[string]any {
					body := noClass("unknown")
					jeLines(body)[1]["account_code"] = "9999"
					return body
				}(), http.StatusUnprocessableEntity},
			} {
				b.counter.Reset()
				status, body := b.postJE(t, b.orgA.Key, "", tc.body)
				require.Equal(t, tc.status, status, "%s: body: %v", tc.name, body)
				require.Equal(t, want[i], b.counter.Count(), "%s: statements", tc.name)
				if status == http.StatusUnprocessableEntity {
					errBody, _ := body["error"].(map[string]any)
					require.Equal(t, "UNKNOWN_ACCOUNT", errBody["code"])
					require.Equal(t, "lines[1].account_code", errBody["field"])
				}
			}
			require.Equal(t, jeSnapshot{EntriesA: 3, EntriesB: 0}, b.jeSnap(t))
			b.requireLedgerBalanced(t, b.orgA)
		})
	}
}

// Class names are unique per entity ignoring case (ledger.CreateClass refuses "consulting"
// next to "Consulting"), so a line may name its class in any case.
func TestJEClassNameAnyCase(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, name := range []string{"consulting", "CONSULTING", "cOnSuLtInG"} {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					_, err := ledger.CreateClass(orgCtx(b.orgA), b.client, ent.CreateClassInput{EntityID: b.orgA.Entities[0].ID, Name: name})
					require.Error(t, err, "a class name differing only in case is a duplicate")
					body := jeBody("US", "time-123", "150.00")
					jeLines(body)[0]["class"] = name
					jeLines(body)[1]["class"] = "Consulting"
					status, got := b.postJE(t, b.orgA.Key, "", body)
					require.Equal(t, http.StatusCreated, status, "body: %v", got)
					want := b.jeClass(t, b.orgA, b.orgA.Entities[0]).ID
					for _, l := range got["lines"].([]any) {
						require.Equal(t, want, l.(map[string]any)["class_id"])
						require.Equal(t, "Consulting", l.(map[string]any)["class"])
					}
				})
			}
		})
	}
}

// jeFirst is what a follow-up case starts from: a bundle where orgA's key has posted one
// entry (time-123, 150.00, under Idempotency-Key idem-1), and that first response.
type jeFirst struct {
	b    *testBundle
	raw  []byte // the request body
	resp []byte // the 201 response body
	body map[string]any
}

func jeSetupFirst(t *testing.T, d string) jeFirst {
	t.Helper()
	b := setup(t, d)
	raw := jeMarshal(t, jeBody("US", "time-123", "150.00"))
	status, _, resp := b.jePostRaw(t, b.orgA.Key, "idem-1", raw)
	require.Equal(t, http.StatusCreated, status, "body: %s", resp)
	require.Equal(t, 1, b.entryCount(t, b.orgA))
	return jeFirst{b: b, raw: raw, resp: resp, body: jeDecode(t, resp)}
}

func TestJEIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			t.Run("same key and body replays", func(t *testing.T) {
				t.Parallel()
				f := jeSetupFirst(t, d)
				for range 2 {
					status, h, again := f.b.jePostRaw(t, f.b.orgA.Key, "idem-1", f.raw)
					require.Equal(t, http.StatusOK, status, "body: %s", again)
					require.Equal(t, string(f.resp), string(again), "a replay is the first response, byte for byte")
					require.Empty(t, h.Get("Location"))
				}
				require.Equal(t, jeSnapshot{EntriesA: 1}, f.b.jeSnap(t))
				f.b.jeRequireBalance(t, f.b.orgA, f.b.orgA.Entities[0], "1250", "150.00", "0")
			})

			t.Run("same key and body, reformatted, replays", func(t *testing.T) {
				t.Parallel()
				f := jeSetupFirst(t, d)
				var pretty bytes.Buffer
				require.NoError(t, json.Indent(&pretty, f.raw, "", "  "))
				status, _, again := f.b.jePostRaw(t, f.b.orgA.Key, "idem-1", pretty.Bytes())
				require.Equal(t, http.StatusOK, status, "body: %s", again)
				require.JSONEq(t, string(f.resp), string(again))
				require.Equal(t, jeSnapshot{EntriesA: 1}, f.b.jeSnap(t))
			})

			for _, tc := range []struct {
				name string
				body func(b *testBundle) map[string]any
			}{
				{"different amount", func(*testBundle) map[string]any { return jeBody("US", "time-123", "200.00") }},
				{"different source_ref", func(*testBundle) map[string]any { return jeBody("US", "time-124", "150.00") }},
				{"different description", func(*testBundle) map[string]any {
					body := jeBody("US", "time-123", "150.00")
					body["description"] = "changed"
					return body
				}},
				{"entity by id instead of code", func(b *testBundle) map[string]any {
					return jeBody(b.orgA.Entities[0].ID, "time-123", "150.00")
				}},
			} {
				t.Run("same key, "+tc.name+", conflicts", func(t *testing.T) {
					t.Parallel()
					f := jeSetupFirst(t, d)
					before := f.b.jeSnap(t)
					status, body := f.b.postJE(t, f.b.orgA.Key, "idem-1", tc.body(f.b))
					f.b.jeRequireRejected(t, before, status, body, http.StatusConflict, "IDEMPOTENCY_CONFLICT")
					// The key still replays its own request.
					status, _, again := f.b.jePostRaw(t, f.b.orgA.Key, "idem-1", f.raw)
					require.Equal(t, http.StatusOK, status)
					require.Equal(t, string(f.resp), string(again))
				})
			}

			t.Run("replay survives closing the period", func(t *testing.T) {
				t.Parallel()
				f := jeSetupFirst(t, d)
				p, err := ledger.FindPeriod(orgCtx(f.b.orgA), f.b.client, f.b.orgA.Entities[0].ID, "2026-11")
				require.NoError(t, err)
				_, err = ledger.ClosePeriod(orgCtx(f.b.orgA), f.b.client, p.ID, "test")
				require.NoError(t, err)
				status, _, again := f.b.jePostRaw(t, f.b.orgA.Key, "idem-1", f.raw)
				require.Equal(t, http.StatusOK, status, "body: %s", again)
				require.Equal(t, string(f.resp), string(again))
				// A new request into the closed period is refused.
				before := f.b.jeSnap(t)
				status, body := f.b.postJE(t, f.b.orgA.Key, "idem-2", jeBody("US", "time-200", "10.00"))
				f.b.jeRequireRejected(t, before, status, body, http.StatusUnprocessableEntity, "PERIOD_CLOSED")
			})

			t.Run("another key's same Idempotency-Key does not replay", func(t *testing.T) {
				t.Parallel()
				f := jeSetupFirst(t, d)
				other := f.b.jeNewKey(t, f.b.orgA, []string{f.b.orgA.Entities[0].ID}, source.PSA)
				status, body := f.b.postJE(t, other, "idem-1", jeBody("US", "time-300", "5.00"))
				require.Equal(t, http.StatusCreated, status, "body: %v", body)
				require.Equal(t, "time-300", body["source_ref"])
				require.Equal(t, jeSnapshot{EntriesA: 2}, f.b.jeSnap(t))
			})

			t.Run("an over-long Idempotency-Key is refused", func(t *testing.T) {
				t.Parallel()
				f := jeSetupFirst(t, d)
				before := f.b.jeSnap(t)
				status, body := f.b.postJE(t, f.b.orgA.Key, strings.Repeat("k", 256), jeBody("US", "time-400", "5.00"))
				f.b.jeRequireRejected(t, before, status, body, http.StatusUnprocessableEntity, "VALIDATION")
			})
		})
	}
}

func TestJESourceRefDeduplicates(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name    string
				idemKey string
				body    func(b *testBundle) map[string]any
			}{
				{"same body", "", func(*testBundle) map[string]any { return jeBody("US", "time-123", "150.00") }},
				{"different amount and entity spelling", "", func(b *testBundle) map[string]any {
					return jeBody(b.orgA.Entities[0].ID, "time-123", "999.00")
				}},
				{"fresh Idempotency-Key", "fresh", func(*testBundle) map[string]any { return jeBody("US", "time-123", "150.00") }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					status, first := b.postJE(t, b.orgA.Key, "", jeBody("US", "time-123", "150.00"))
					require.Equal(t, http.StatusCreated, status, "body: %v", first)
					for range 2 {
						status, again := b.postJE(t, b.orgA.Key, tc.idemKey, tc.body(b))
						require.Equal(t, http.StatusOK, status, "body: %v", again)
						require.Equal(t, first, again, "the answer is the first entry")
					}
					require.Equal(t, jeSnapshot{EntriesA: 1}, b.jeSnap(t))
					b.jeRequireBalance(t, b.orgA, b.orgA.Entities[0], "1250", "150.00", "0")
					b.requireLedgerBalanced(t, b.orgA)
				})
			}

			t.Run("same ref in another source system or entity is a new entry", func(t *testing.T) {
				t.Parallel()
				b := setup(t, d)
				status, first := b.postJE(t, b.orgA.Key, "", jeBody("US", "time-123", "150.00"))
				require.Equal(t, http.StatusCreated, status, "body: %v", first)

				stripe := jeBody("US", "time-123", "150.00")
				stripe["source_system"] = "stripe"
				status, body := b.postJE(t, b.orgA.Key, "", stripe)
				require.Equal(t, http.StatusCreated, status, "body: %v", body)
				require.NotEqual(t, first["id"], body["id"])

				uk := jeBody("UK", "time-123", "150.00")
				uk["currency"] = "GBP"
				status, body = b.postJE(t, b.orgA.Key, "", uk)
				require.Equal(t, http.StatusCreated, status, "body: %v", body)
				require.NotEqual(t, first["id"], body["id"])
				require.Equal(t, jeSnapshot{EntriesA: 3}, b.jeSnap(t))
				b.requireLedgerBalanced(t, b.orgA)
			})
		})
	}
}

func TestJEConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	const n = 8
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name    string
				idemKey func(i int) string
			}{
				{"same Idempotency-Key", func(int) string { return "same-key" }},
				{"same source_ref", func(int) string { return "" }},
				{"same source_ref, different Idempotency-Keys", func(i int) string { return fmt.Sprintf("key-%d", i) }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					raw := jeMarshal(t, jeBody("US", "time-123", "150.00"))
					type result struct {
						status int
						body   []byte
						err    error
					}
					results := make([]result, n)
					start := make(chan struct{})
					var wg sync.WaitGroup
					for i := range n {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							status, _, body, err := b.jeDo(b.orgA.Key, tc.idemKey(i), raw)
							results[i] = result{status, body, err}
						}()
					}
					close(start)
					wg.Wait()

					created := 0
					ids := map[string]bool{}
					for _, r := range results {
						require.NoError(t, r.err)
						require.Contains(t, []int{http.StatusCreated, http.StatusOK}, r.status, "body: %s", r.body)
						if r.status == http.StatusCreated {
							created++
						}
						ids[jeDecode(t, r.body)["id"].(string)] = true
					}
					require.Equal(t, 1, created, "exactly one request creates the entry")
					require.Len(t, ids, 1, "every request answers with the same entry")
					require.Equal(t, jeSnapshot{EntriesA: 1}, b.jeSnap(t))
					b.jeRequireBalance(t, b.orgA, b.orgA.Entities[0], "1250", "150.00", "0")
					b.requireLedgerBalanced(t, b.orgA)
				})
			}
		})
	}
}

func TestJEUnauthenticated(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				// key returns the key to post with; it may prepare the bundle.
				key func(t *testing.T, b *testBundle) string
			}{
				{"missing", func(*testing.T, *testBundle) string { return "" }},
				{"not a key", func(*testing.T, *testBundle) string { return "Bearer something" }},
				{"unknown", func(*testing.T, *testBundle) string {
					return "bk_int_" + strings.Repeat("a", 52)
				}},
				{"a bearer token", func(_ *testing.T, b *testBundle) string { return b.orgA.Admin }},
				{"revoked through GraphQL after use", func(t *testing.T, b *testBundle) string {
					// Use the key first so the server has it cached.
					status, body := b.postJE(t, b.orgA.Key, "", jeBody("US", "before-revoke", "1.00"))
					require.Equal(t, http.StatusCreated, status, "body: %v", body)
					jeRevokeViaGraphQL(t, b, b.orgA)
					return b.orgA.Key
				}},
				{"revoked by another process", func(t *testing.T, b *testBundle) string {
					k, err := auth.CreateIntegrationKey(orgCtx(b.orgA), b.client, "other", []string{b.orgA.Entities[0].ID}, source.All(), "test")
					require.NoError(t, err)
					_, err = auth.NewService(b.tokens, b.client).RevokeIntegrationKey(orgCtx(b.orgA), b.client, k.Key.ID)
					require.NoError(t, err)
					return k.Secret
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					key := tc.key(t, b)
					before := b.jeSnap(t)
					status, body := b.postJE(t, key, "", jeBody("US", "time-123", "150.00"))
					b.jeRequireRejected(t, before, status, body, http.StatusUnauthorized, "UNAUTHENTICATED", key)
					// Still refused on a second try, and with an Idempotency-Key.
					status, body = b.postJE(t, key, "idem", jeBody("US", "time-123", "150.00"))
					b.jeRequireRejected(t, before, status, body, http.StatusUnauthorized, "UNAUTHENTICATED", key)
				})
			}
		})
	}
}

// A revocation through GraphQL takes effect as soon as the mutation answers, even while
// other requests keep using (and caching) the key during the revoking transaction.
func TestJERevokeUnderLoad(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						// An empty object passes authentication and is refused after it.
						_, _, _, _ = b.jeDo(b.orgA.Key, "", []byte(`{}`))
					}
				}()
			}
			jeRevokeViaGraphQL(t, b, b.orgA)
			accepted := 0
			for range 50 {
				status, _, _, err := b.jeDo(b.orgA.Key, "", []byte(`{}`))
				require.NoError(t, err)
				if status != http.StatusUnauthorized {
					accepted++
				}
			}
			stop.Store(true)
			wg.Wait()
			require.Zero(t, accepted, "requests authenticated with a revoked key")
			require.Equal(t, jeSnapshot{}, b.jeSnap(t))
		})
	}
}

// jeRevokeViaGraphQL revokes org's test key with the admin token, finding its id through
// the integrationKeys query.
func jeRevokeViaGraphQL(t *testing.T, b *testBundle, org testOrg) {
	t.Helper()
	var list struct {
		IntegrationKeys struct {
			Edges []struct {
				Node struct {
					ID, Prefix string
					RevokedAt  *string
				}
			}
		} `json:"integrationKeys"`
	}
	b.gqlOK(t, org.Admin, `{ integrationKeys { edges { node { id prefix revokedAt } } } }`, nil, &list)
	id := ""
	for _, e := range list.IntegrationKeys.Edges {
		if strings.HasPrefix(org.Key, e.Node.Prefix) {
			require.Empty(t, id, "two keys share the prefix %s", e.Node.Prefix)
			id = e.Node.ID
			require.Nil(t, e.Node.RevokedAt)
		}
	}
	require.NotEmpty(t, id, "the test key is not listed")
	var revoked struct {
		RevokeIntegrationKey struct {
			IntegrationKey struct {
				ID        string
				RevokedAt *string
			} `json:"integrationKey"`
		} `json:"revokeIntegrationKey"`
	}
	b.gqlOK(t, org.Admin, `mutation($id: ID!) { revokeIntegrationKey(input: {integrationKeyId: $id}) { integrationKey { id revokedAt } } }`,
		map[string]any{"id": id}, &revoked)
	require.Equal(t, id, revoked.RevokeIntegrationKey.IntegrationKey.ID)
	require.NotNil(t, revoked.RevokeIntegrationKey.IntegrationKey.RevokedAt)
}

func TestJEForbidden(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				key  func(t *testing.T, b *testBundle) string
				body func(b *testBundle) map[string]any
				// allowed is a body the same key may post, to show the key works.
				allowed func(b *testBundle) map[string]any
			}{
				{
					name: "US-only key posts to UK",
					key: func(t *testing.T, b *testBundle) string {
						return b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, source.All()...)
					},
					body: func(b *testBundle) map[string]any {
						body := jeBody("UK", "time-123", "150.00")
						body["currency"] = "GBP"
						return body
					},
					allowed: func(b *testBundle) map[string]any { return jeBody("US", "time-123", "150.00") },
				},
				{
					name: "US-only key posts to UK by id",
					key: func(t *testing.T, b *testBundle) string {
						return b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, source.All()...)
					},
					body: func(b *testBundle) map[string]any {
						body := jeBody(b.orgA.Entities[1].ID, "time-123", "150.00")
						body["currency"] = "GBP"
						return body
					},
					allowed: func(b *testBundle) map[string]any { return jeBody(b.orgA.Entities[0].ID, "time-123", "150.00") },
				},
				{
					name: "US-only key posts to UK with an unknown source system",
					key: func(t *testing.T, b *testBundle) string {
						return b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID}, source.All()...)
					},
					body: func(b *testBundle) map[string]any {
						body := jeBody("UK", "time-123", "150.00")
						body["currency"] = "GBP"
						body["source_system"] = "quickbooks"
						return body
					},
					allowed: func(b *testBundle) map[string]any { return jeBody("US", "time-123", "150.00") },
				},
				{
					name: "psa-only key posts as stripe",
					key: func(t *testing.T, b *testBundle) string {
						return b.jeNewKey(t, b.orgA, []string{b.orgA.Entities[0].ID, b.orgA.Entities[1].ID}, source.PSA)
					},
					body: func(b *testBundle) map[string]any {
						body := jeBody("US", "ch_123", "150.00")
						body["source_system"] = "stripe"
						return body
					},
					allowed: func(b *testBundle) map[string]any { return jeBody("US", "ch_123", "150.00") },
				},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					key := tc.key(t, b)
					before := b.jeSnap(t)
					status, body := b.postJE(t, key, "", tc.body(b))
					b.jeRequireRejected(t, before, status, body, http.StatusForbidden, "FORBIDDEN", key)
					status, body = b.postJE(t, key, "idem", tc.body(b))
					b.jeRequireRejected(t, before, status, body, http.StatusForbidden, "FORBIDDEN", key)

					status, body = b.postJE(t, key, "", tc.allowed(b))
					require.Equal(t, http.StatusCreated, status, "body: %v", body)
				})
			}
		})
	}
}

// jeCase is a request the API must refuse with a code, changing nothing.
type jeCase struct {
	name string
	// edit changes a valid jeBody("US", …) body; it may prepare the bundle.
	edit func(t *testing.T, b *testBundle, body map[string]any)
	code string
}

func TestJEUnprocessable(t *testing.T) {
	t.Parallel()
	setLine := func(i int, kv ...any) func(*testing.T, *testBundle, map[string]any) {
		return func(_ *testing.T, _ *testBundle, body map[string]any) {
			for j := 0; j < len(kv); j += 2 {
				if kv[j+1] == nil {
					delete(jeLines(body)[i], kv[j].(string))
				} else {
					jeLines(body)[i][kv[j].(string)] = kv[j+1]
				}
			}
		}
	}
	set := func(kv ...any) func(*testing.T, *testBundle, map[string]any) {
		return func(_ *testing.T, _ *testBundle, body map[string]any) {
			for j := 0; j < len(kv); j += 2 {
				body[kv[j].(string)] = kv[j+1]
			}
		}
	}
	amounts := func(debit, credit any) func(*testing.T, *testBundle, map[string]any) {
		return func(_ *testing.T, _ *testBundle, body map[string]any) {
			jeLines(body)[0]["debit"] = debit
			jeLines(body)[1]["credit"] = credit
		}
	}
	cases := []jeCase{
		{"unbalanced", amounts("150.00", "149.99"), "UNBALANCED_ENTRY"},
		{"single line", func(_ *testing.T, _ *testBundle, body map[string]any) {
			body["lines"] = jeLines(body)[:1]
		}, "UNBALANCED_ENTRY"},
		{"single zero-sum line", func(_ *testing.T, _ *testBundle, body map[string]any) {
			body["lines"] = []map[string]any{{"account_code": "1250", "debit": "150.00"}}
		}, "UNBALANCED_ENTRY"},
		{"no lines", set("lines", []any{}), "UNBALANCED_ENTRY"},
		{"lines null", set("lines", nil), "UNBALANCED_ENTRY"},
		{"unknown source code", setLine(0, "source_code", "no_such_code"), "UNKNOWN_SOURCE_CODE"},
		{"source code mapped only for other source systems", func(t *testing.T, b *testBundle, _ map[string]any) {
			n, err := b.client.COAMapping.Delete().Where(
				coamapping.EntityID(b.orgA.Entities[0].ID),
				coamapping.SourceSystemEQ(source.PSA),
				coamapping.SourceCode("unbilled_receivables"),
			).Exec(orgCtx(b.orgA))
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}, "UNKNOWN_SOURCE_CODE"},
		{"unknown account code", setLine(1, "account_code", "9999"), "UNKNOWN_ACCOUNT"},
		{"account id of the other entity", func(t *testing.T, b *testBundle, body map[string]any) {
			delete(jeLines(body)[1], "account_code")
			jeLines(body)[1]["account_id"] = b.jeAccount(t, b.orgA, b.orgA.Entities[1], "4000").ID
		}, "UNKNOWN_ACCOUNT"},
		{"account id of the other organization", func(t *testing.T, b *testBundle, body map[string]any) {
			delete(jeLines(body)[1], "account_code")
			jeLines(body)[1]["account_id"] = b.jeAccount(t, b.orgB, b.orgB.Entities[0], "4000").ID
		}, "UNKNOWN_ACCOUNT"},
		{"inactive account by code", func(t *testing.T, b *testBundle, body map[string]any) {
			jeDeactivateAccount(t, b, "4000")
		}, "INACTIVE_ACCOUNT"},
		{"inactive account by source code", func(t *testing.T, b *testBundle, body map[string]any) {
			jeDeactivateAccount(t, b, "1250")
		}, "INACTIVE_ACCOUNT"},
		{"negative amounts", amounts("-150.00", "-150.00"), "INVALID_AMOUNT"},
		{"negative debit balanced by the other side", func(_ *testing.T, _ *testBundle, body map[string]any) {
			body["lines"] = []map[string]any{
				{"account_code": "1250", "debit": "-150.00"},
				{"account_code": "4000", "debit": "150.00"},
				{"account_code": "4000", "credit": "0.01"},
				{"account_code": "1250", "debit": "0.01"},
			}
		}, "INVALID_AMOUNT"},
		{"negative number", amounts(json.Number("-150"), json.Number("-150")), "INVALID_AMOUNT"},
		{"zero amounts", amounts("0", "0"), "INVALID_AMOUNT"},
		{"zero with decimals", amounts("0.00", "0.0000"), "INVALID_AMOUNT"},
		{"negative zero", amounts("-0", "-0.00"), "INVALID_AMOUNT"},
		{"no amount on a line", setLine(0, "debit", nil), "INVALID_AMOUNT"},
		{"null amounts", amounts(nil, nil), "INVALID_AMOUNT"},
		{"more than 4 decimals", amounts("1.23456", "1.23456"), "INVALID_AMOUNT"},
		{"more than 4 decimals as a number", amounts(json.Number("1.23456"), json.Number("1.23456")), "INVALID_AMOUNT"},
		{"not a number", amounts("abc", "abc"), "INVALID_AMOUNT"},
		{"empty string", amounts("", ""), "INVALID_AMOUNT"},
		{"exponent", amounts(json.Number("1.5e2"), json.Number("1.5e2")), "INVALID_AMOUNT"},
		{"exponent in a string", amounts("1.5e2", "1.5e2"), "INVALID_AMOUNT"},
		{"thousands separator", amounts("1,500.00", "1,500.00"), "INVALID_AMOUNT"},
		{"leading plus", amounts("+150.00", "+150.00"), "INVALID_AMOUNT"},
		{"surrounding spaces", amounts(" 150.00", " 150.00"), "INVALID_AMOUNT"},
		{"huge", amounts("999999999999999999999999", "999999999999999999999999"), "INVALID_AMOUNT"},
		{"huge number", amounts(json.Number("1e400"), json.Number("1e400")), "INVALID_AMOUNT"},
		{"boolean amount", amounts(true, true), "INVALID_AMOUNT"},
		{"object amount", amounts(map[string]any{"value": "150.00"}, map[string]any{}), "INVALID_AMOUNT"},
		{"array amount", amounts([]any{"150.00"}, []any{}), "INVALID_AMOUNT"},
		{"debit and credit on one line", func(_ *testing.T, _ *testBundle, body map[string]any) {
			jeLines(body)[0]["credit"] = "150.00"
			jeLines(body)[1]["debit"] = "150.00"
		}, "VALIDATION"},
		{"line names two accounts", setLine(0, "account_code", "1250"), "VALIDATION"},
		{"line names no account", setLine(1, "account_code", nil), "VALIDATION"},
		{"half a cent", amounts("150.005", "150.005"), "INVALID_AMOUNT"},
		{"a hundredth of a cent", amounts("0.0001", "0.0001"), "INVALID_AMOUNT"},
		{"date in year 0", set("date", "0000-01-01"), "VALIDATION"},
		{"date in year 9999", set("date", "9999-12-31"), "VALIDATION"},
		{"Accounts Receivable through its source code", setLine(0, "source_code", "ar"), "CONTROL_ACCOUNT"},
		{"Customer Credits by account code", func(_ *testing.T, _ *testBundle, body map[string]any) {
			delete(jeLines(body)[1], "account_code")
			jeLines(body)[1]["account_code"] = "2100"
		}, "CONTROL_ACCOUNT"},
		{"a reversal's source reference", set("source_ref", "reversal:je_01zzzzzzzzzzzzzzzzzzzzzzzz"), "DOCUMENT_OWNED"},
		{"entry currency not ISO", set("currency", "ZZZZ"), "VALIDATION"},
		{"entry currency EUR on the USD entity", set("currency", "EUR"), "CURRENCY_MISMATCH"},
		{"entry currency GBP on the USD entity", set("currency", "GBP"), "CURRENCY_MISMATCH"},
		{"line currency EUR", setLine(1, "currency", "EUR"), "CURRENCY_MISMATCH"},
		{"not a currency", set("currency", "DOLLARS"), "VALIDATION"},
		{"lower-case currency", set("currency", "usd"), "VALIDATION"},
		{"line currency not a currency", setLine(0, "currency", "??"), "VALIDATION"},
		{"period closed", func(t *testing.T, b *testBundle, _ map[string]any) {
			p, err := ledger.FindPeriod(orgCtx(b.orgA), b.client, b.orgA.Entities[0].ID, "2026-11")
			require.NoError(t, err)
			_, err = ledger.ClosePeriod(orgCtx(b.orgA), b.client, p.ID, "test")
			require.NoError(t, err)
		}, "PERIOD_CLOSED"},
		{"earlier period closed", func(t *testing.T, b *testBundle, body map[string]any) {
			p, err := ledger.FindPeriod(orgCtx(b.orgA), b.client, b.orgA.Entities[0].ID, "2026-03")
			require.NoError(t, err)
			_, err = ledger.ClosePeriod(orgCtx(b.orgA), b.client, p.ID, "test")
			require.NoError(t, err)
			body["date"] = "2026-03-31"
		}, "PERIOD_CLOSED"},
		{"unknown class", setLine(0, "class", "Nope"), "UNKNOWN_CLASS"},
		{"unknown class id", setLine(0, "class", "cls_nope"), "UNKNOWN_CLASS"},
		{"class name with extra space", setLine(0, "class", "Consulting "), "UNKNOWN_CLASS"},
		{"class name as a LIKE pattern", setLine(0, "class", "Consult%"), "UNKNOWN_CLASS"},
		{"class name as a LIKE wildcard", setLine(0, "class", "Consult_ng"), "UNKNOWN_CLASS"},
		{"class of the other entity", func(t *testing.T, b *testBundle, body map[string]any) {
			jeLines(body)[0]["class"] = b.jeClass(t, b.orgA, b.orgA.Entities[1]).ID
		}, "UNKNOWN_CLASS"},
		{"class of the other organization", func(t *testing.T, b *testBundle, body map[string]any) {
			jeLines(body)[0]["class"] = b.jeClass(t, b.orgB, b.orgB.Entities[0]).ID
		}, "UNKNOWN_CLASS"},
		{"inactive class", func(t *testing.T, b *testBundle, _ map[string]any) {
			require.NoError(t, b.client.Class.UpdateOne(b.jeClass(t, b.orgA, b.orgA.Entities[0])).
				SetActive(false).Exec(orgCtx(b.orgA)))
		}, "UNKNOWN_CLASS"},
		{"bad date", set("date", "2026-13-01"), "VALIDATION"},
		{"impossible date", set("date", "2026-02-30"), "VALIDATION"},
		{"date in another format", set("date", "21/11/2026"), "VALIDATION"},
		{"date with a time", set("date", "2026-11-21T10:00:00Z"), "VALIDATION"},
		{"missing date", set("date", ""), "VALIDATION"},
		{"unknown source system", set("source_system", "quickbooks"), "VALIDATION"},
		{"missing source system", set("source_system", ""), "VALIDATION"},
		{"unknown entity", set("entity", "ZZ"), "UNKNOWN_ENTITY"},
		{"missing entity", set("entity", ""), "VALIDATION"},
		{"source_ref too long", set("source_ref", strings.Repeat("r", 201)), "VALIDATION"},
		{"description too long", set("description", strings.Repeat("d", 1001)), "VALIDATION"},
		{"line description too long", setLine(0, "description", strings.Repeat("d", 1001)), "VALIDATION"},
		{"NUL in the description", set("description", "a\x00b"), "VALIDATION"},
		{"NUL in the source_ref", set("source_ref", "time\x00123"), "VALIDATION"},
		{"NUL in the entity", set("entity", "U\x00S"), "VALIDATION"},
		{"NUL in a line description", setLine(1, "description", "x\x00"), "VALIDATION"},
		{"NUL in an account code", setLine(1, "account_code", "4000\x00"), "VALIDATION"},
		{"NUL in a source code", setLine(0, "source_code", "unbilled_receivables\x00"), "VALIDATION"},
		{"NUL in a class", setLine(0, "class", "Consulting\x00"), "VALIDATION"},
		{"too many lines", func(_ *testing.T, _ *testBundle, body map[string]any) {
			lines := make([]map[string]any, 0, ledger.MaxLines+2)
			for range ledger.MaxLines/2 + 1 {
				lines = append(lines,
					map[string]any{"account_code": "1250", "debit": "1.00"},
					map[string]any{"account_code": "4000", "credit": "1.00"})
			}
			body["lines"] = lines
		}, "VALIDATION"},
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					body := jeBody("US", "time-123", "150.00")
					tc.edit(t, b, body)
					before := b.jeSnap(t)
					status, got := b.postJE(t, b.orgA.Key, "", body)
					b.jeRequireRejected(t, before, status, got, http.StatusUnprocessableEntity, tc.code)
					// The same request under an Idempotency-Key is refused the same way and
					// leaves no record to replay.
					status, got = b.postJE(t, b.orgA.Key, "idem", body)
					b.jeRequireRejected(t, before, status, got, http.StatusUnprocessableEntity, tc.code)
				})
			}
		})
	}
}

// jeDeactivateAccount marks account code of orgA's US entity inactive.
func jeDeactivateAccount(t *testing.T, b *testBundle, code string) {
	t.Helper()
	n, err := b.client.Account.Update().
		Where(account.EntityID(b.orgA.Entities[0].ID), account.Code(code)).
		SetActive(false).Save(orgCtx(b.orgA))
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestJEBadRequest(t *testing.T) {
	t.Parallel()
	valid := `{"entity":"US","date":"2026-11-21","description":"x","source_system":"psa","source_ref":"time-1","currency":"USD","lines":[{"source_code":"unbilled_receivables","debit":"1.00"},{"account_code":"4000","credit":"1.00"}]}`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name, body, code, field string
				message                 string // part of the message, when set
			}{
				{name: "empty body", body: "", code: "MALFORMED_JSON"},
				{name: "whitespace only", body: " \n\t", code: "MALFORMED_JSON"},
				{name: "not JSON", body: "entity=US&date=2026-11-21", code: "MALFORMED_JSON"},
				{name: "truncated", body: valid[:len(valid)/2], code: "MALFORMED_JSON"},
				{name: "unterminated string", body: `{"entity":"US`, code: "MALFORMED_JSON"},
				{name: "trailing comma", body: strings.TrimSuffix(valid, "}") + ",}", code: "MALFORMED_JSON"},
				{name: "single quotes", body: `{'entity':'US'}`, code: "MALFORMED_JSON"},
				{name: "trailing garbage", body: valid + " garbage", code: "MALFORMED_JSON"},
				{name: "trailing brace", body: valid + "}", code: "MALFORMED_JSON"},
				{name: "two objects", body: valid + valid, code: "MALFORMED_JSON"},
				{name: "two objects on two lines", body: valid + "\n" + valid, code: "MALFORMED_JSON"},
				{name: "lines is a string", body: `{"entity":"US","date":"2026-11-21","source_system":"psa","lines":"x"}`, code: "VALIDATION", field: "lines"},
				{name: "date is a number", body: strings.Replace(valid, `"date":"2026-11-21"`, `"date":20261121`, 1), code: "VALIDATION", field: "date"},
				{name: "entity is a number", body: strings.Replace(valid, `"entity":"US"`, `"entity":1`, 1), code: "VALIDATION", field: "entity"},
				{name: "entity is an object", body: strings.Replace(valid, `"entity":"US"`, `"entity":{"code":"US"}`, 1), code: "VALIDATION", field: "entity"},
				{name: "line is a number", body: strings.Replace(valid, `"lines":[`, `"lines":[1,`, 1), code: "VALIDATION"},
				{name: "class is a boolean", body: strings.Replace(valid, `"debit":"1.00"}`, `"debit":"1.00","class":true}`, 1), code: "VALIDATION"},
				{name: "body is an array", body: "[" + valid + "]", code: "VALIDATION", message: "request body must be a JSON object, not a JSON array"},
				{name: "body is a string", body: `"hello"`, code: "VALIDATION", message: "request body must be a JSON object, not a JSON string"},
				{name: "body is a number", body: `42`, code: "VALIDATION", message: "request body must be a JSON object, not a JSON number"},
				{name: "unknown field", body: strings.Replace(valid, `{"entity"`, `{"amount":"1.00","entity"`, 1), code: "VALIDATION"},
				{name: "misspelled field", body: strings.Replace(valid, `"source_ref"`, `"sourceRef"`, 1), code: "VALIDATION"},
				{name: "unknown line field", body: strings.Replace(valid, `"account_code":"4000"`, `"acount_code":"4000"`, 1), code: "VALIDATION"},
				{name: "organization field", body: strings.Replace(valid, `{"entity"`, `{"organization_id":"org_x","entity"`, 1), code: "VALIDATION"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					before := b.jeSnap(t)
					status, body := b.postJE(t, b.orgA.Key, "", tc.body)
					b.jeRequireRejected(t, before, status, body, http.StatusBadRequest, tc.code)
					if tc.field != "" {
						require.Equal(t, tc.field, body["error"].(map[string]any)["field"], "body: %v", body)
					}
					if tc.message != "" {
						require.Contains(t, body["error"].(map[string]any)["message"], tc.message)
					}
				})
			}
			t.Run("valid body control", func(t *testing.T) {
				t.Parallel()
				b := setup(t, d)
				status, body := b.postJE(t, b.orgA.Key, "", valid)
				require.Equal(t, http.StatusCreated, status, "body: %v", body)
			})
		})
	}
}

func TestJEPayloadTooLarge(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				body func(t *testing.T) []byte
			}{
				{"huge description", func(t *testing.T) []byte {
					body := jeBody("US", "time-123", "150.00")
					body["description"] = strings.Repeat("x", 1<<20)
					return jeMarshal(t, body)
				}},
				{"huge garbage", func(*testing.T) []byte { return bytes.Repeat([]byte("{"), 2<<20) }},
				{"whitespace padding after a valid body", func(t *testing.T) []byte {
					return append(jeMarshal(t, jeBody("US", "time-123", "150.00")), bytes.Repeat([]byte(" "), 1<<20)...)
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					before := b.jeSnap(t)
					raw := tc.body(t)
					require.Greater(t, len(raw), 1<<20)
					status, _, data := b.jePostRaw(t, b.orgA.Key, "", raw)
					b.jeRequireRejected(t, before, status, jeDecode(t, data), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
				})
			}
		})
	}
}

func TestJECrossOrganization(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				body func(t *testing.T, b *testBundle) map[string]any
			}{
				{"B's US entity by id", func(_ *testing.T, b *testBundle) map[string]any {
					return jeBody(b.orgB.Entities[0].ID, "time-123", "150.00")
				}},
				{"B's UK entity by id", func(_ *testing.T, b *testBundle) map[string]any {
					body := jeBody(b.orgB.Entities[1].ID, "time-123", "150.00")
					body["currency"] = "GBP"
					return body
				}},
				{"B's entity id, B's accounts", func(t *testing.T, b *testBundle) map[string]any {
					body := jeBody(b.orgB.Entities[0].ID, "time-123", "150.00")
					body["lines"] = []map[string]any{
						{"account_id": b.jeAccount(t, b.orgB, b.orgB.Entities[0], "1250").ID, "debit": "150.00"},
						{"account_id": b.jeAccount(t, b.orgB, b.orgB.Entities[0], "4000").ID, "credit": "150.00"},
					}
					return body
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					body := tc.body(t, b)
					before := b.jeSnap(t)
					for _, idem := range []string{"", "idem"} {
						status, got := b.postJE(t, b.orgA.Key, idem, body)
						require.NotEqual(t, http.StatusCreated, status, "an orgA key wrote into orgB: %v", got)
						require.NotEqual(t, http.StatusOK, status, "an orgA key read orgB: %v", got)
						b.jeRequireRejected(t, before, status, got, http.StatusUnprocessableEntity, "UNKNOWN_ENTITY")
						require.NotContains(t, fmt.Sprint(got), b.orgB.Entities[0].Name)
					}
				})
			}

			t.Run("B's source_ref and Idempotency-Key do not replay for A", func(t *testing.T) {
				t.Parallel()
				b := setup(t, d)
				status, bBody := b.postJE(t, b.orgB.Key, "shared", jeBody("US", "time-123", "150.00"))
				require.Equal(t, http.StatusCreated, status, "body: %v", bBody)
				status, aBody := b.postJE(t, b.orgA.Key, "shared", jeBody("US", "time-123", "150.00"))
				require.Equal(t, http.StatusCreated, status, "body: %v", aBody)
				require.NotEqual(t, bBody["id"], aBody["id"])
				require.Equal(t, b.orgA.Entities[0].ID, aBody["entity_id"])
				require.Equal(t, jeSnapshot{EntriesA: 1, EntriesB: 1}, b.jeSnap(t))
				// Each replays its own.
				status, again := b.postJE(t, b.orgB.Key, "shared", jeBody("US", "time-123", "150.00"))
				require.Equal(t, http.StatusOK, status)
				require.Equal(t, bBody["id"], again["id"])
			})
		})
	}
}
