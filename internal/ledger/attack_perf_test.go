package ledger_test

// Attacks on the PostgreSQL guards rewritten for speed (0006_ledger_guard_plans.sql):
// books_post_journal_entry naming the accounts itself, the merged audit/reversal AFTER
// trigger, the period check folded into the balance query, and the Go fallback that explains
// a line the database would not name.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/internal/apperr"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/tenant"
)

// perfCall calls books_post_journal_entry as a hostile database user would, with forged JSON.
func perfCall(r *rawDB, e map[string]any, lines []map[string]any) error {
	ej, err := json.Marshal(e)
	if err != nil {
		return err
	}
	lj, err := json.Marshal(lines)
	if err != nil {
		return err
	}
	var used string
	err = r.db.QueryRowContext(context.Background(), `SELECT books_post_journal_entry($1::text::jsonb, $2::text::jsonb)::text`,
		string(ej), string(lj)).Scan(&used)
	if err == nil && strings.HasPrefix(used, `{"unresolved"`) {
		// The function declined to name an account and wrote nothing.
		return fmt.Errorf("unresolved: %s", used)
	}
	return err
}

// perfEntry is a well-formed entry argument of 1.00 USD on the bundle's US entity.
func perfEntry(b *testBundle, id string) map[string]any {
	now := time.Now().UTC()
	return map[string]any{
		"id": id, "created_at": now, "organization_id": mustOrg(b), "entity_id": b.entity.ID, "date": "2026-11-10",
		"description": "forged", "currency": "USD", "source_system": "import", "source_ref": id, "total": "10000",
		"created_by": "mallory", "created_via": "api", "request_id": "req_" + id, "posted_at": now,
		"idempotency_key": nil, "request_hash": "", "reversal_of_id": nil, "document_type": nil, "document_id": nil,
	}
}

// perfLines is a balanced pair of lines of 1.00 USD: debit cash, credit revenue, by code.
func perfLines(id string) []map[string]any {
	return []map[string]any{
		{"id": id + "_1", "line_no": 1, "account_code": "1000", "debit": "10000", "credit": "0", "class_id": nil,
			"customer_id": nil, "vendor_id": nil, "description": ""},
		{"id": id + "_2", "line_no": 2, "account_code": "4000", "debit": "0", "credit": "10000", "class_id": nil,
			"customer_id": nil, "vendor_id": nil, "description": ""},
	}
}

func perfCounts(t *testing.T, r *rawDB) (entries, lines, audits string) {
	t.Helper()
	return r.scalar(`SELECT count(*) FROM journal_entries`), r.scalar(`SELECT count(*) FROM journal_lines`),
		r.scalar(`SELECT count(*) FROM audit_events WHERE action LIKE 'journal_entry.%'`)
}

// Forged calls to books_post_journal_entry: every one is refused by the database and writes
// nothing; a well-formed one posts with its audit record.
func TestAttackPerfForgedPostFunctionCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	f := newFixture(t, b)
	r := b.raw(t)

	// An inactive account, a mapping of this entity to the other entity's account, customers
	// and vendors of another organization.
	inactive := b.accountID("US", "6200")
	_, err := b.client.Account.UpdateOneID(inactive).SetActive(false).Save(b.ctx)
	require.NoError(t, err)
	mapErr := r.exec(`INSERT INTO coa_mappings (id, created_at, updated_at, organization_id, source_system, source_code, account_id, entity_id)
		VALUES ('map_evil', now(), now(), $1, 'import', 'evil', $2, $3)`, r.org, f.ukCash, b.entity.ID)
	mapErr2 := r.exec(`INSERT INTO coa_mappings (id, created_at, updated_at, organization_id, source_system, source_code, account_id, entity_id)
		VALUES ('map_evil2', now(), now(), $1, 'import', 'evil2', $2, $3)`, r.org, f.otherOrgAccount, b.entity.ID)
	t.Logf("raw mapping to another entity's account: %v; to another organization's: %v", mapErr, mapErr2)
	org2 := b.client.Account.Query().Where(account.ID(f.otherOrgAccount)).OnlyX(tenant.System(b.ctx)).OrganizationID
	ctx2 := tenant.WithOrg(context.Background(), org2)
	cus2, err := b.client.Customer.Create().SetName("Mallory Corp").SetDisplayName("Mallory").SetCurrency("USD").Save(ctx2)
	require.NoError(t, err)
	ven2, err := b.client.Vendor.Create().SetName("Mallory Supply").SetDisplayName("Mallory S").SetCurrency("USD").Save(ctx2)
	require.NoError(t, err)
	le2 := b.client.Account.Query().Where(account.ID(f.otherOrgAccount)).OnlyX(ctx2).EntityID

	type tc struct {
		name  string
		edit  func(e map[string]any, l []map[string]any) []map[string]any
		wants []string // one of
	}
	cases := []tc{
		{"account of the other entity by id", func(e map[string]any, l []map[string]any) []map[string]any {
			delete(l[0], "account_code")
			l[0]["account_id"] = f.ukCash
			return l
		}, []string{"unresolved", "UNKNOWN_ACCOUNT"}},
		{"account of another organization by id", func(e map[string]any, l []map[string]any) []map[string]any {
			delete(l[0], "account_code")
			l[0]["account_id"] = f.otherOrgAccount
			return l
		}, []string{"unresolved", "UNKNOWN_ACCOUNT"}},
		{"id of another entity's account beside a good code", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["account_id"] = f.ukCash
			return l
		}, []string{"unresolved", "UNKNOWN_ACCOUNT"}},
		{"unknown code", func(e map[string]any, l []map[string]any) []map[string]any {
			l[1]["account_code"] = "9999"
			return l
		}, []string{"unresolved"}},
		{"mapping to the other entity's account", func(e map[string]any, l []map[string]any) []map[string]any {
			delete(l[0], "account_code")
			l[0]["source_code"] = "evil"
			return l
		}, []string{"unresolved", "UNKNOWN_ACCOUNT"}},
		{"mapping to another organization's account", func(e map[string]any, l []map[string]any) []map[string]any {
			delete(l[0], "account_code")
			l[0]["source_code"] = "evil2"
			return l
		}, []string{"unresolved", "UNKNOWN_ACCOUNT"}},
		{"mapping of the other entity (its source system)", func(e map[string]any, l []map[string]any) []map[string]any {
			e["source_system"] = "psa"
			delete(l[0], "account_code")
			l[0]["source_code"] = "no_such_code"
			return l
		}, []string{"unresolved"}},
		{"inactive account by id", func(e map[string]any, l []map[string]any) []map[string]any {
			delete(l[1], "account_code")
			l[1]["account_id"] = inactive
			return l
		}, []string{"unresolved"}},
		{"inactive account by code", func(e map[string]any, l []map[string]any) []map[string]any {
			l[1]["account_code"] = "6200"
			return l
		}, []string{"unresolved"}},
		{"control account by code", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["account_code"] = "1200"
			return l
		}, []string{"unresolved", "CONTROL_ACCOUNT"}},
		{"control account through a mapping", func(e map[string]any, l []map[string]any) []map[string]any {
			e["source_system"] = "psa"
			delete(l[0], "account_code")
			l[0]["source_code"] = "ar"
			return l
		}, []string{"unresolved", "CONTROL_ACCOUNT"}},
		{"customer credit and A/P by id", func(e map[string]any, l []map[string]any) []map[string]any {
			delete(l[0], "account_code")
			delete(l[1], "account_code")
			l[0]["account_id"] = b.accountID("US", "2000")
			l[1]["account_id"] = b.accountID("US", "2100")
			return l
		}, []string{"unresolved", "CONTROL_ACCOUNT"}},
		{"control account with a made-up document", func(e map[string]any, l []map[string]any) []map[string]any {
			e["document_type"], e["document_id"], e["source_system"], e["source_ref"] = "invoice", "inv_nope", "books", "invoice:inv_nope"
			l[0]["account_code"] = "1200"
			l[0]["customer_id"] = cus2.ID
			return l
		}, []string{"DOCUMENT_OWNED", "UNKNOWN_CUSTOMER"}},
		{"class of the other entity", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["class_id"] = f.ukClass
			return l
		}, []string{"UNKNOWN_CLASS"}},
		{"class of another organization", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["class_id"] = f.otherOrgClass
			return l
		}, []string{"UNKNOWN_CLASS"}},
		{"customer of another organization", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["customer_id"] = cus2.ID
			return l
		}, []string{"UNKNOWN_CUSTOMER"}},
		{"vendor of another organization", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["vendor_id"] = ven2.ID
			return l
		}, []string{"vendor"}},
		{"organization of the entry is not the entity's", func(e map[string]any, l []map[string]any) []map[string]any {
			e["organization_id"] = org2
			return l
		}, []string{"UNKNOWN_ENTITY"}},
		{"entity of another organization, codes resolved there", func(e map[string]any, l []map[string]any) []map[string]any {
			e["entity_id"] = le2
			return l
		}, []string{"UNKNOWN_ENTITY"}},
		{"wrong currency", func(e map[string]any, l []map[string]any) []map[string]any {
			e["currency"] = "GBP"
			return l
		}, []string{"CURRENCY_MISMATCH"}},
		{"amounts not in minor units", func(e map[string]any, l []map[string]any) []map[string]any {
			e["total"] = "10050"
			l[0]["debit"], l[1]["credit"] = "10050", "10050"
			return l
		}, []string{"INVALID_AMOUNT"}},
		{"fractional amount", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["debit"] = "100.5"
			return l
		}, []string{"invalid input syntax"}},
		{"unbalanced", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["debit"] = "20000"
			return l
		}, []string{"UNBALANCED_ENTRY"}},
		{"empty lines", func(e map[string]any, l []map[string]any) []map[string]any {
			return []map[string]any{}
		}, []string{"unresolved", "UNBALANCED_ENTRY"}},
		{"one line", func(e map[string]any, l []map[string]any) []map[string]any {
			e["total"] = "0"
			return l[:1]
		}, []string{"UNBALANCED_ENTRY", "journal_line_one_side", "journal_entry_total"}},
		{"duplicate line ids", func(e map[string]any, l []map[string]any) []map[string]any {
			l[1]["id"] = l[0]["id"]
			return l
		}, []string{"duplicate key"}},
		{"duplicate line numbers", func(e map[string]any, l []map[string]any) []map[string]any {
			l[1]["line_no"] = 1
			return l
		}, []string{"duplicate key"}},
		{"line ids of the posted entry", func(e map[string]any, l []map[string]any) []map[string]any {
			l[0]["id"], l[1]["id"] = f.line, f.otherLine
			return l
		}, []string{"duplicate key"}},
		{"entry id of a draft", func(e map[string]any, l []map[string]any) []map[string]any {
			e["id"] = f.draft
			return l
		}, []string{"duplicate key"}},
		{"lines that are not objects", func(e map[string]any, l []map[string]any) []map[string]any {
			return []map[string]any{{"account_code": nil}, {}}
		}, []string{"unresolved"}},
		{"closed-period date is not posted", nil, nil}, // filled below
	}
	cases = cases[:len(cases)-1]

	e0, l0, a0 := perfCounts(t, r)
	for i, c := range cases {
		id := fmt.Sprintf("je_forged%02d", i)
		e := perfEntry(b, id)
		l := c.edit(e, perfLines(id))
		err := perfCall(r, e, l)
		require.Error(t, err, "%s: the database accepted it", c.name)
		matched := false
		for _, w := range c.wants {
			if containsFold(err.Error(), w) {
				matched = true
			}
		}
		require.True(t, matched, "%s: want one of %v, got %v", c.name, c.wants, err)
		e1, l1, a1 := perfCounts(t, r)
		require.Equal(t, []string{e0, l0, a0}, []string{e1, l1, a1}, "%s: something was written", c.name)
	}

	// The well-formed call posts, names its accounts, and leaves the audit record.
	e := perfEntry(b, "je_forgedok")
	require.NoError(t, perfCall(r, e, perfLines("je_forgedok")))
	require.Equal(t, "posted", r.scalar(`SELECT status FROM journal_entries WHERE id = 'je_forgedok'`))
	require.Equal(t, "journal_entry.post", r.scalar(`SELECT action FROM audit_events WHERE subject_id = 'je_forgedok'`))
	require.Equal(t, f.cash, r.scalar(`SELECT account_id FROM journal_lines WHERE id = 'je_forgedok_1'`))
}

// containsFold reports whether sub is in s, ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// A reversal through books_post_journal_entry marks its original reversed and writes its
// own audit record (the merged AFTER trigger); a second reversal, a reversal of a reversal,
// a reversal with other lines and one into a closed period are refused.
func TestAttackPerfReversalThroughPostFunction(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	f := newFixture(t, b)
	r := b.raw(t)
	orig := f.posted.ID
	amount := fmt.Sprint(f.posted.Total.Units())
	rev := func(id string) (map[string]any, []map[string]any) {
		e := perfEntry(b, id)
		e["reversal_of_id"], e["source_ref"], e["total"] = orig, "reversal:"+orig, amount
		e["source_system"] = string(f.posted.SourceSystem)
		e["date"] = f.posted.Date.String()
		return e, []map[string]any{
			{"id": id + "_1", "line_no": 1, "account_id": f.cash, "debit": "0", "credit": amount, "description": ""},
			{"id": id + "_2", "line_no": 2, "account_id": f.rev, "debit": amount, "credit": "0", "description": ""},
		}
	}
	// The fixture's entry is posted by source code (unbilled receivables) and class; find its lines.
	var acc1, acc2, cls1 string
	require.NoError(t, r.db.QueryRow(`SELECT l1.account_id, l2.account_id, coalesce(l1.class_id, '')
		FROM journal_lines l1, journal_lines l2 WHERE l1.id = $1 AND l2.id = $2`, f.line, f.otherLine).Scan(&acc1, &acc2, &cls1))

	// Wrong lines (accounts not swapped back exactly): refused.
	e, l := rev("je_rev_bad")
	err := perfCall(r, e, l)
	require.Error(t, err)
	require.Contains(t, err.Error(), "LEDGER_IMMUTABLE")
	require.Equal(t, "posted", r.scalar(`SELECT status FROM journal_entries WHERE id = $1`, orig))

	// The right lines: posted, original marked reversed, audit record of both.
	e, l = rev("je_rev_ok")
	l[0]["account_id"], l[1]["account_id"] = acc1, acc2
	if cls1 != "" {
		l[0]["class_id"] = cls1
	}
	require.NoError(t, perfCall(r, e, l))
	require.Equal(t, "reversed", r.scalar(`SELECT status FROM journal_entries WHERE id = $1`, orig))
	require.Equal(t, "journal_entry.reverse", r.scalar(`SELECT action FROM audit_events WHERE subject_id = 'je_rev_ok'`))
	require.Equal(t, "1", r.scalar(`SELECT count(*) FROM audit_events WHERE subject_id = $1`, orig))

	// A second reversal of the same original, and a reversal of the reversal: refused.
	e, l = rev("je_rev_twice")
	e["source_ref"] = "reversal-twice"
	l[0]["account_id"], l[1]["account_id"] = acc1, acc2
	err = perfCall(r, e, l)
	require.Error(t, err)
	e, l = rev("je_rev_rev")
	e["reversal_of_id"], e["source_ref"] = "je_rev_ok", "reversal:je_rev_ok"
	l[0]["account_id"], l[1]["account_id"] = acc2, acc1
	err = perfCall(r, e, l)
	require.Error(t, err)
	require.Equal(t, "posted", r.scalar(`SELECT status FROM journal_entries WHERE id = 'je_rev_ok'`))

	// Every posted or reversed entry has exactly one audit record.
	require.Equal(t, "0", r.scalar(`SELECT count(*) FROM journal_entries e WHERE e.status <> 'draft'
		AND (SELECT count(*) FROM audit_events a WHERE a.subject_id = e.id) <> 1`))
}

// A posting into a closed period is refused through the function and through a raw update,
// with the period check now folded into the balance query; so is a draft of the closed month
// with no lines (the balance error comes first, but nothing posts).
func TestAttackPerfClosedPeriodFolded(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	r := b.raw(t)
	_, err := ledger.Post(b.ctx, b.client, b.entry("before-close", "1.00"))
	require.NoError(t, err)
	p, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-11")
	require.NoError(t, err)
	_, err = ledger.ClosePeriod(b.ctx, b.client, p.ID, "controller")
	require.NoError(t, err)

	e := perfEntry(b, "je_closed1")
	err = perfCall(r, e, perfLines("je_closed1"))
	require.ErrorContains(t, err, "PERIOD_CLOSED")
	// Last day of the month, and the posting date given as a late posted_at.
	e = perfEntry(b, "je_closed2")
	e["date"], e["posted_at"] = "2026-11-30", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	err = perfCall(r, e, perfLines("je_closed2"))
	require.ErrorContains(t, err, "PERIOD_CLOSED")
	// The first day of the next month is open.
	e = perfEntry(b, "je_open")
	e["date"] = "2026-12-01"
	require.NoError(t, perfCall(r, e, perfLines("je_open")))

	// Raw three statements.
	r.mustExec(insertEntry, "je_closed3", r.org, b.entity.ID, "closed3", "draft", 10000)
	r.mustExec(insertLine, "jl_closed3a", r.org, "je_closed3", 1, b.accountID("US", "1000"), 10000, 0)
	r.mustExec(insertLine, "jl_closed3b", r.org, "je_closed3", 2, b.accountID("US", "4000"), 0, 10000)
	err = r.exec(`UPDATE journal_entries SET status = 'posted' WHERE id = 'je_closed3'`)
	require.ErrorContains(t, err, "PERIOD_CLOSED")
	// Through the ledger API on the one-call path.
	en := b.entry("after-close", "1.00")
	en.PlainResult = true
	_, err = ledger.Post(b.ctx, b.client, en)
	requireCode(t, err, apperr.PeriodClosed)
	r.mustExec(`DELETE FROM journal_lines WHERE entry_id = 'je_closed3'`)
	r.mustExec(`DELETE FROM journal_entries WHERE id = 'je_closed3'`)
}

// The one-call path (PlainResult on PostgreSQL) explains a bad account with the same code and
// field as every other path, also when the caller's client is already a transaction (the JE
// API's retry runs ledger.Post inside ledger.WithTx). A refused statement aborts a PostgreSQL
// transaction, so the Go fallback must not read inside it.
func TestAttackPerfPlainResultBadAccountInTx(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		_, err := b.client.Account.UpdateOneID(b.accountID("US", "6200")).SetActive(false).Save(b.ctx)
		require.NoError(t, err)
		cases := []struct {
			name, code, field string
			line              ledger.Line
		}{
			{"unknown code", apperr.UnknownAccount, "lines[1].account_code", ledger.Line{AccountCode: "9999"}},
			{"other entity's id", apperr.UnknownAccount, "lines[1].account_id", ledger.Line{AccountID: b.accountID("UK", "4000")}},
			{"unknown source code", apperr.UnknownSourceCode, "lines[1].source_code", ledger.Line{SourceCode: "nope"}},
			{"inactive", apperr.InactiveAccount, "lines[1]", ledger.Line{AccountCode: "6200"}},
			{"control", apperr.ControlAccount, "lines[1]", ledger.Line{AccountCode: "2100"}},
		}
		for _, inTx := range []bool{false, true} {
			for _, c := range cases {
				e := b.entry(fmt.Sprintf("bad-%v-%s", inTx, c.name), "1.00")
				e.PlainResult = true
				c.line.Credit = amt("1.00")
				e.Lines[1] = c.line
				var err error
				if inTx {
					err = ledger.WithTx(b.ctx, b.client, func(tc *ent.Client) error {
						_, err := ledger.Post(b.ctx, tc, e)
						return err
					})
				} else {
					_, err = ledger.Post(b.ctx, b.client, e)
				}
				require.Error(t, err, "%s (in tx %v)", c.name, inTx)
				require.Equal(t, c.code, apperr.Code(err), "%s (in tx %v): %v", c.name, inTx, err)
				ae, _ := apperr.As(err)
				require.NotNil(t, ae)
				require.Equal(t, c.field, ae.Field, "%s (in tx %v): %v", c.name, inTx, err)
			}
		}
		require.Zero(t, b.entryCount(t))
	})
}

// Concurrent postings of one source reference through the one-call path: exactly one entry
// and one audit record. A loser on the one-call path gets CONFLICT (as before these commits;
// the JE API retries it), never a second entry.
func TestAttackPerfConcurrentSameSourceRef(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		const n = 8
		var wg sync.WaitGroup
		ids := make([]string, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				e := b.entry("same-ref", "3.00")
				e.Source = source.Import
				e.PlainResult = true
				res, err := ledger.Post(b.ctx, b.client, e)
				errs[i] = err
				if err == nil {
					ids[i] = res.Entry.ID
				}
			}(i)
		}
		wg.Wait()
		var first string
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				requireCode(t, errs[i], apperr.Conflict)
				continue
			}
			if first == "" {
				first = ids[i]
			}
			require.Equal(t, first, ids[i])
		}
		require.NotEmpty(t, first)
		require.Equal(t, 1, b.entryCount(t))
		r := b.raw(t)
		require.Equal(t, "1", r.scalar(`SELECT count(*) FROM audit_events WHERE subject_id = ?`, first))
	})
}
