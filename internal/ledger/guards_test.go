package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/journalentry"
	"books/internal/apperr"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

// rawDB runs hand-written SQL against the bundle's database, bypassing every application
// check, as a hostile database user would. On SQLite (one pooled connection) foreign keys are
// turned off, as any other tool that opens the file has them by default, so no refusal below
// may rely on them.
type rawDB struct {
	t       *testing.T
	db      *sql.DB
	dialect string
	org     string
}

func (b *testBundle) raw(t *testing.T) *rawDB {
	t.Helper()
	r := &rawDB{t: t, db: b.db.SQL, dialect: b.db.Dialect, org: mustOrg(b)}
	if r.dialect == dialect.SQLite {
		r.mustExec(`PRAGMA foreign_keys = OFF`)
		t.Cleanup(func() { _, _ = r.db.Exec(`PRAGMA foreign_keys = ON`) })
	}
	return r
}

// bind turns ? placeholders into $n for PostgreSQL.
func bind(dialectName, q string) string {
	if dialectName != dialect.Postgres {
		return q
	}
	var out strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&out, "$%d", n)
			continue
		}
		out.WriteRune(c)
	}
	return out.String()
}

func (r *rawDB) exec(q string, args ...any) error {
	_, err := r.db.ExecContext(context.Background(), bind(r.dialect, q), args...)
	return err
}

func (r *rawDB) mustExec(q string, args ...any) {
	r.t.Helper()
	require.NoError(r.t, r.exec(q, args...))
}

func (r *rawDB) scalar(q string, args ...any) string {
	r.t.Helper()
	var s sql.NullString
	require.NoError(r.t, r.db.QueryRowContext(context.Background(), bind(r.dialect, q), args...).Scan(&s))
	return s.String
}

const insertEntry = `INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
	description, currency, source_system, source_ref, status, total, created_by, created_via)
	VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-11-02', 'raw', 'USD', 'import', ?, ?, ?, '', '')`

const insertLine = `INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, description)
	VALUES (?, ?, ?, ?, ?, ?, ?, '')`

// fixture is what the attacks aim at: a posted entry with its lines, and the accounts and
// entities around it.
type fixture struct {
	posted          *ent.JournalEntry
	line, otherLine string // the posted entry's lines (debit, credit)
	cash, rev, ar   string // accounts of the US entity
	ukCash          string // an account of the other entity
	otherOrgAccount string // an account of another organization
	otherOrgClass   string
	ukClass         string
	draft           string // a balanced draft (100.00) of the US entity
}

func newFixture(t *testing.T, b *testBundle) fixture {
	t.Helper()
	res, err := ledger.Post(b.ctx, b.client, b.entry("raw-posted", "5000.00"))
	require.NoError(t, err)
	lines, err := res.Entry.QueryLines().Order(ent.Asc("line_no")).All(b.ctx)
	require.NoError(t, err)
	f := fixture{
		posted: res.Entry, line: lines[0].ID, otherLine: lines[1].ID,
		cash: b.accountID("US", "1000"), rev: b.accountID("US", "4000"), ar: b.accountID("US", "1200"),
		ukCash: b.accountID("UK", "1000"),
	}
	cls, err := ledger.CreateClass(b.ctx, b.client, ent.CreateClassInput{EntityID: b.other.ID, Name: "UK class"})
	require.NoError(t, err)
	f.ukClass = cls.ID

	org2, err := b.client.Organization.Create().SetName("Other org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	ctx2 := tenant.WithOrg(context.Background(), org2.ID)
	le2, err := ledger.CreateEntity(ctx2, b.client, ent.CreateLegalEntityInput{Code: "US", Name: "Other US", BaseCurrency: "USD"})
	require.NoError(t, err)
	f.otherOrgAccount = b.client.Account.Query().Where(account.EntityID(le2.ID), account.Code("1000")).OnlyIDX(ctx2)
	cls2, err := ledger.CreateClass(ctx2, b.client, ent.CreateClassInput{EntityID: le2.ID, Name: "Other class"})
	require.NoError(t, err)
	f.otherOrgClass = cls2.ID

	r := b.raw(t)
	f.draft = "je_rawdraft"
	r.mustExec(insertEntry, f.draft, r.org, b.entity.ID, "raw-draft", "draft", 1000000)
	r.mustExec(insertLine, "jl_rawdraft1", r.org, f.draft, 1, f.cash, 1000000, 0)
	r.mustExec(insertLine, "jl_rawdraft2", r.org, f.draft, 2, f.rev, 0, 1000000)
	return f
}

// TestDatabaseRefusesLedgerAttacks is the audit's attack table: every item is tried through
// raw SQL on both databases and must be refused by the database itself, with the ledger's
// code in the message, leaving the ledger as it was.
func TestDatabaseRefusesLedgerAttacks(t *testing.T) {
	t.Parallel()
	type attack struct {
		name string
		only string   // a dialect, when the attack exists on one only
		sql  []string // run in order; the last must fail (the others set it up)
		args [][]any
		want string // a code in the refusal
	}
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		org, us, uk := r.org, b.entity.ID, b.other.ID
		pid := f.posted.ID
		one := func(name, want, q string, args ...any) attack {
			return attack{name: name, sql: []string{q}, args: [][]any{args}, want: want}
		}
		attacks := []attack{
			// 1. REPLACE turned a posted entry back into a draft, and deleted a posted line.
			{name: "replace a posted entry with a draft", only: dialect.SQLite, want: "UNIQUE constraint failed|LEDGER_IMMUTABLE",
				sql: []string{`INSERT OR REPLACE INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
					description, currency, source_system, source_ref, status, total, created_by, created_via)
					VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-12-01', 'x', 'USD', 'psa', 'raw-posted', 'draft', 50000000, '', '')`},
				args: [][]any{{pid, org, us}}},
			{name: "replace a posted entry through its source reference", only: dialect.SQLite, want: "UNIQUE constraint failed",
				sql: []string{`REPLACE INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
					description, currency, source_system, source_ref, status, total, created_by, created_via)
					VALUES ('je_new', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-12-01', 'x', 'USD', 'psa', 'raw-posted', 'draft', 100, '', '')`},
				args: [][]any{{org, us}}},
			{name: "replace a posted line", only: dialect.SQLite, want: "UNIQUE constraint failed",
				sql: []string{`INSERT OR REPLACE INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, description)
					VALUES (?, ?, 'je_rawdraft', 9, ?, 100, 0, '')`}, args: [][]any{{f.line, org, f.cash}}},
			{name: "upsert a posted entry back to draft", only: dialect.Postgres, want: "LEDGER_IMMUTABLE",
				sql: []string{`INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
					description, currency, source_system, source_ref, status, total, created_by, created_via)
					VALUES ($1, now(), now(), $2, $3, '2026-12-01', 'x', 'USD', 'psa', 'raw-posted', 'draft', 100, '', '')
					ON CONFLICT (id) DO UPDATE SET status = 'draft', total = 50000000`}, args: [][]any{{pid, org, us}}},

			// 3. Ownership: accounts and classes of another entity or organization.
			one("line on another entity's account", "UNKNOWN_ACCOUNT", insertLine, "jl_a1", org, f.draft, 3, f.ukCash, 100, 0),
			one("line on another organization's account", "UNKNOWN_ACCOUNT", insertLine, "jl_a2", org, f.draft, 3, f.otherOrgAccount, 100, 0),
			one("line on a missing account", "UNKNOWN_ACCOUNT|foreign key", insertLine, "jl_a3", org, f.draft, 3, "acct_nope", 100, 0),
			one("line of another organization", "LEDGER_IMMUTABLE", insertLine, "jl_a4", "org_other", f.draft, 3, f.cash, 100, 0),
			one("line with another entity's class", "UNKNOWN_CLASS",
				`INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, class_id, debit, credit, description)
				VALUES ('jl_c1', ?, ?, 3, ?, ?, 100, 0, '')`, org, f.draft, f.cash, f.ukClass),
			one("line with another organization's class", "UNKNOWN_CLASS",
				`INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, class_id, debit, credit, description)
				VALUES ('jl_c2', ?, ?, 3, ?, ?, 100, 0, '')`, org, f.draft, f.cash, f.otherOrgClass),
			one("move an account to another entity", "LEDGER_IMMUTABLE|UNIQUE constraint failed", `UPDATE accounts SET entity_id = ? WHERE id = ?`, uk, f.cash),
			one("delete an account with postings", "ACCOUNT_IN_USE", `DELETE FROM accounts WHERE id = ?`, f.cash),

			// 4. Currency and precision.
			one("entry in EUR on a USD entity", "CURRENCY_MISMATCH", strings.Replace(insertEntry, "'USD'", "'EUR'", 1), "je_eur", org, us, "eur", "draft", 100),
			one("entry in an unknown currency", "CURRENCY_MISMATCH", strings.Replace(insertEntry, "'USD'", "'ZZZZ'", 1), "je_zz", org, us, "zz", "draft", 100),
			one("entry total of half a cent", "INVALID_AMOUNT", insertEntry, "je_half", org, us, "half", "draft", 50),
			one("line of a hundredth of a cent", "INVALID_AMOUNT", insertLine, "jl_p1", org, f.draft, 3, f.cash, 1, 0),
			one("line of half a cent", "INVALID_AMOUNT", insertLine, "jl_p2", org, f.draft, 3, f.cash, 50, 0),
			one("change an entity's base currency", "LEDGER_IMMUTABLE", `UPDATE legal_entities SET base_currency = 'EUR' WHERE id = ?`, us),

			// 5. Status and reversal.
			one("posted → reversed without a reversing entry", "LEDGER_IMMUTABLE", `UPDATE journal_entries SET status = 'reversed' WHERE id = ?`, pid),
			one("a status outside the enum", "journal_entry_status", `UPDATE journal_entries SET status = 'POSTED' WHERE id = ?`, f.draft),
			one("insert with a status outside the enum", "", insertEntry, "je_st", org, us, "st", "POSTED", 100),
			{name: "point reversal_of_id at an unrelated entry", want: "LEDGER_IMMUTABLE", sql: []string{
				`INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, description, currency,
					source_system, source_ref, status, total, created_by, created_via, reversal_of_id)
					VALUES ('je_fakerev', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-11-20', 'x', 'USD', 'psa', ?, 'draft', 50000000, '', '', ?)`,
				insertLine, insertLine,
				`UPDATE journal_entries SET status = 'posted' WHERE id = 'je_fakerev'`,
			}, args: [][]any{{org, us, "reversal:" + pid, pid},
				{"jl_fr1", org, "je_fakerev", 1, f.cash, 50000000, 0}, {"jl_fr2", org, "je_fakerev", 2, f.rev, 0, 50000000}, nil}},
			one("a reversal reference without reversal_of_id", "journal_entry_reversal_ref", insertEntry, "je_rr", org, us, "reversal:"+pid, "draft", 100),
			{name: "a draft marked reversed", want: "LEDGER_IMMUTABLE",
				sql: []string{`UPDATE journal_entries SET status = 'reversed' WHERE id = ?`}, args: [][]any{{f.draft}}},

			// 6. Types and dates.
			one("text in an amount", "", insertLine, "jl_t1", org, f.draft, 3, f.cash, "lots", 0),
			one("a REAL amount", "", insertLine, "jl_t2", org, f.draft, 3, f.cash, 100.5, 0),
			{name: "a date with a time", only: dialect.SQLite, sql: []string{strings.Replace(insertEntry, "'2026-11-02'", "'2026-11-30T00:00:00Z'", 1)}, args: [][]any{{"je_d1", org, us, "d1", "draft", 100}}},
			{name: "a date without padding", only: dialect.SQLite, sql: []string{strings.Replace(insertEntry, "'2026-11-02'", "'2026-11-5'", 1)}, args: [][]any{{"je_d2", org, us, "d2", "draft", 100}}},
			one("a date past the range", "journal_entry_dates", strings.Replace(insertEntry, "'2026-11-02'", "'9999-12-31'", 1), "je_d3", org, us, "d3", "draft", 100),
			one("a date before the range", "journal_entry_dates", strings.Replace(insertEntry, "'2026-11-02'", "'1000-01-01'", 1), "je_d4", org, us, "d4", "draft", 100),

			// 7. Append-only history.
			one("delete an audit event", "AUDIT_APPEND_ONLY", `DELETE FROM audit_events WHERE subject_id = ?`, pid),
			one("edit an audit event", "AUDIT_APPEND_ONLY", `UPDATE audit_events SET actor = 'nobody' WHERE subject_id = ?`, pid),
			{name: "replace an audit event", only: dialect.SQLite, want: "AUDIT_APPEND_ONLY",
				sql: []string{`INSERT OR REPLACE INTO audit_events (id, organization_id, at, actor, actor_type, via, action)
					VALUES (?, ?, CURRENT_TIMESTAMP, 'x', 'x', 'x', 'x')`}, args: [][]any{{"aud_" + pid, org}}},
			{name: "truncate journal lines", only: dialect.Postgres, want: "LEDGER_IMMUTABLE", sql: []string{`TRUNCATE journal_lines CASCADE`}, args: [][]any{nil}},
			{name: "truncate journal entries", only: dialect.Postgres, want: "LEDGER_IMMUTABLE", sql: []string{`TRUNCATE journal_entries CASCADE`}, args: [][]any{nil}},
			{name: "truncate audit events", only: dialect.Postgres, want: "AUDIT_APPEND_ONLY", sql: []string{`TRUNCATE audit_events`}, args: [][]any{nil}},

			// 8. Document namespace.
			one("a books reference of a document", "DOCUMENT_OWNED", strings.Replace(insertEntry, "'import'", "'books'", 1), "je_doc", org, us, "invoice:inv_x", "draft", 100),
			one("a document entry outside books", "journal_entry_document|DOCUMENT_OWNED",
				`INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, description, currency,
				source_system, source_ref, status, total, created_by, created_via, document_type, document_id)
				VALUES ('je_d', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-11-20', 'x', 'USD', 'psa', 'invoice:inv_y', 'draft', 100, '', '', 'invoice', 'inv_y')`, org, us),

			// 9. Control accounts: only documents post to them.
			one("manual line on Accounts Receivable", "CONTROL_ACCOUNT", insertLine, "jl_ar", org, f.draft, 3, f.ar, 100, 0),

			// 10. Accounts in use keep their type.
			one("reclassify an account with postings", "ACCOUNT_IN_USE", `UPDATE accounts SET type = 'revenue', subtype = 'income' WHERE id = ?`, f.cash),

			// Posted entries and lines stay as they are.
			one("change a posted entry's total", "LEDGER_IMMUTABLE", `UPDATE journal_entries SET total = 100 WHERE id = ?`, pid),
			one("change a posted entry's date", "LEDGER_IMMUTABLE", `UPDATE journal_entries SET date = '2026-01-01' WHERE id = ?`, pid),
			one("put a posted entry back to draft", "LEDGER_IMMUTABLE", `UPDATE journal_entries SET status = 'draft' WHERE id = ?`, pid),
			one("delete a posted entry", "LEDGER_IMMUTABLE", `DELETE FROM journal_entries WHERE id = ?`, pid),
			one("change a posted line's amount", "LEDGER_IMMUTABLE", `UPDATE journal_lines SET debit = 990000 WHERE id = ?`, f.line),
			one("delete a posted line", "LEDGER_IMMUTABLE", `DELETE FROM journal_lines WHERE id = ?`, f.line),
			one("add a line to a posted entry", "LEDGER_IMMUTABLE", insertLine, "jl_late", org, pid, 9, f.cash, 10000, 0),
			one("change a draft's total", "LEDGER_IMMUTABLE", `UPDATE journal_entries SET total = 5 WHERE id = ?`, f.draft),
		}
		for _, a := range attacks {
			if a.only != "" && a.only != b.db.Dialect {
				continue
			}
			t.Run(a.name, func(t *testing.T) {
				// Each attack runs in a transaction rolled back afterwards, so the setup
				// statements of one cannot help the next.
				tx, err := r.db.BeginTx(context.Background(), nil)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback() }()
				var last error
				for i, q := range a.sql {
					_, last = tx.ExecContext(context.Background(), bind(r.dialect, q), a.args[i]...)
					if i < len(a.sql)-1 {
						require.NoError(t, last, "setup statement %d", i)
					}
				}
				require.Error(t, last, "the database accepted it")
				if a.want != "" {
					// Where two guards stop the same attack, either may speak first.
					found := false
					for _, w := range strings.Split(a.want, "|") {
						found = found || strings.Contains(last.Error(), w)
					}
					require.True(t, found, "refused, but not by the guard expected (%s): %v", a.want, last)
				}
			})
		}

		// The ledger is as it was: the posted entry whole, the trial balance readable.
		got, err := b.client.JournalEntry.Query().Where(journalentry.ID(pid)).WithLines().Only(b.ctx)
		require.NoError(t, err)
		require.Equal(t, journalentry.StatusPosted, got.Status)
		require.Equal(t, "5000.00", got.Total.String())
		require.Len(t, got.Edges.Lines, 2)
		b.requireBalanced(t)
		require.Equal(t, "posted", r.scalar(`SELECT status FROM journal_entries WHERE id = ?`, pid))
	})
}

// TestDatabasePostsWhatItShould is the other side of the attack table: the raw writes the
// ledger itself makes still work, so the guards refuse attacks, not bookkeeping.
func TestDatabasePostsWhatItShould(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		// A draft's line is replaced by deleting it; the balanced draft posts.
		r.mustExec(`DELETE FROM journal_lines WHERE id = 'jl_rawdraft2'`)
		r.mustExec(insertLine, "jl_rawdraft3", r.org, f.draft, 2, f.rev, 0, 1000000)
		r.mustExec(`UPDATE journal_entries SET status = 'posted' WHERE id = ?`, f.draft)
		// A reversing entry that mirrors it posts, and marks the original reversed with it.
		r.mustExec(`INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, description, currency,
			source_system, source_ref, status, total, created_by, created_via, reversal_of_id)
			VALUES ('je_rev', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-11-20', 'x', 'USD', 'import', ?, 'draft', 1000000, '', '', ?)`,
			r.org, b.entity.ID, "reversal:"+f.draft, f.draft)
		r.mustExec(insertLine, "jl_rev1", r.org, "je_rev", 1, f.cash, 0, 1000000)
		r.mustExec(insertLine, "jl_rev2", r.org, "je_rev", 2, f.rev, 1000000, 0)
		r.mustExec(`UPDATE journal_entries SET status = 'posted' WHERE id = 'je_rev'`)
		require.Equal(t, "reversed", r.scalar(`SELECT status FROM journal_entries WHERE id = ?`, f.draft))
		// Name and code of an account in use may change.
		r.mustExec(`UPDATE accounts SET name = 'Operating Bank (renamed)', code = '1001' WHERE id = ?`, f.cash)
		b.requireBalanced(t)
	})
}

// TestConcurrentLinesAndPostingNeverUnbalance races a transaction adding a line to a draft
// against one posting it, many times and in both orders: whichever commits first, the other
// is refused (or, under REPEATABLE READ, fails to serialize), and no posted entry is ever
// unbalanced.
func TestConcurrentLinesAndPostingNeverUnbalance(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		cash, rev := b.accountID("US", "1000"), b.accountID("US", "4000")
		org := mustOrg(b)
		ctx := context.Background()
		const rounds = 30
		draft := func() string {
			id := ids.New(ids.JournalEntry)
			r := b.raw(t)
			r.mustExec(insertEntry, id, org, b.entity.ID, "race-"+id, "draft", 1000000)
			r.mustExec(insertLine, ids.New(ids.JournalLine), org, id, 1, cash, 1000000, 0)
			r.mustExec(insertLine, ids.New(ids.JournalLine), org, id, 2, rev, 0, 1000000)
			return id
		}
		addLine := func(entry string) (string, []any) {
			return insertLine, []any{ids.New(ids.JournalLine), org, entry, 3, cash, 5550000, 0}
		}
		postIt := func(entry string) (string, []any) {
			return `UPDATE journal_entries SET status = 'posted' WHERE id = ?`, []any{entry}
		}
		type step func(string) (string, []any)
		// run runs steps (each on its entry) in one transaction, holding it open a little
		// between statements so that the two transactions of a round overlap.
		run := func(isolation sql.IsolationLevel, steps []step, entries []string) error {
			tx, err := b.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: isolation})
			if err != nil {
				return err
			}
			if b.db.Dialect == dialect.Postgres {
				// The crossed round deadlocks by design; give up on a lock sooner than
				// PostgreSQL's one-second deadlock check would.
				if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
					_ = tx.Rollback()
					return err
				}
			}
			for i, st := range steps {
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				q, args := st(entries[i])
				if _, err := tx.ExecContext(ctx, bind(b.db.Dialect, q), args...); err != nil {
					_ = tx.Rollback()
					return err
				}
			}
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
			return tx.Commit()
		}
		balanced := func(round int, id string) {
			var status string
			var debit, credit, total int64
			row := b.db.SQL.QueryRowContext(ctx, bind(b.db.Dialect, `SELECT e.status, e.total,
				(SELECT coalesce(sum(debit), 0) FROM journal_lines WHERE entry_id = e.id),
				(SELECT coalesce(sum(credit), 0) FROM journal_lines WHERE entry_id = e.id)
				FROM journal_entries e WHERE e.id = ?`), id)
			require.NoError(t, row.Scan(&status, &total, &debit, &credit))
			if status == "posted" {
				require.Equal(t, debit, credit, "round %d: %s posted unbalanced", round, id)
				require.Equal(t, total, debit, "round %d: %s", round, id)
			}
		}
		for i := range rounds {
			isolation := sql.LevelReadCommitted
			if i%2 == 1 {
				isolation = sql.LevelRepeatableRead
			}
			if b.db.Dialect == dialect.SQLite {
				isolation = sql.LevelDefault
			}
			// One transaction adds a line to a draft while another posts it.
			e := draft()
			var wg sync.WaitGroup
			var lineErr, postErr error
			wg.Add(2)
			go func() { defer wg.Done(); lineErr = run(isolation, []step{addLine}, []string{e}) }()
			go func() { defer wg.Done(); postErr = run(isolation, []step{postIt}, []string{e}) }()
			wg.Wait()
			require.False(t, lineErr == nil && postErr == nil, "round %d: both the late line and the posting committed", i)
			balanced(i, e)

			// The audit's shape: each transaction adds a line to the other's draft and posts
			// its own.
			e1, e2 := draft(), draft()
			wg.Add(2)
			go func() { defer wg.Done(); _ = run(isolation, []step{addLine, postIt}, []string{e2, e1}) }()
			go func() { defer wg.Done(); _ = run(isolation, []step{addLine, postIt}, []string{e1, e2}) }()
			wg.Wait()
			balanced(i, e1)
			balanced(i, e2)
		}
		b.requireBalanced(t)
	})
}

// TestLedgerRefusesWithCodes covers the API side of the audit: each refusal carries its code
// and changes nothing.
func TestLedgerRefusesWithCodes(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		withLines := func(e ledger.Entry, amount string) ledger.Entry {
			e.Lines[0].Debit, e.Lines[1].Credit = amt(amount), amt(amount)
			return e
		}
		manualAR := b.entry("manual-ar", "77.00")
		manualAR.Lines[0] = ledger.Line{AccountCode: "1200", Debit: amt("77.00")}
		manualCredits := b.entry("manual-cc", "10.00")
		manualCredits.Lines[1] = ledger.Line{SourceCode: "customer_credit", Credit: amt("10.00")}
		manualAP := b.entry("manual-ap", "10.00")
		manualAP.Lines[1] = ledger.Line{AccountCode: "2000", Credit: amt("10.00")}
		eur := b.entry("eur", "1.00")
		eur.Currency = "EUR"
		zz := b.entry("zz", "1.00")
		zz.Currency = "ZZZZ"
		early, late := b.entry("early", "1.00"), b.entry("late", "1.00")
		early.Date, late.Date = date("0001-01-01"), date("9999-12-31")
		books := b.entry("invoice:inv_01", "1.00")
		books.Source = source.Books
		reversalRef := b.entry("reversal:je_01", "1.00")

		tests := []struct {
			name  string
			entry ledger.Entry
			code  string
		}{
			{"a hundredth of a cent", withLines(b.entry("p1", "1.00"), "0.0001"), apperr.InvalidAmount},
			{"half a cent", withLines(b.entry("p2", "1.00"), "0.005"), apperr.InvalidAmount},
			{"EUR on a USD entity", eur, apperr.CurrencyMismatch},
			{"not a currency", zz, apperr.Validation},
			{"year 1", early, apperr.Validation},
			{"year 9999", late, apperr.Validation},
			{"a document's reference", books, apperr.DocumentOwned},
			{"a reversal's reference", reversalRef, apperr.DocumentOwned},
			{"Accounts Receivable by hand", manualAR, apperr.ControlAccount},
			{"Customer Credits through a mapping", manualCredits, apperr.ControlAccount},
			{"Accounts Payable by hand", manualAP, apperr.ControlAccount},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := ledger.Post(b.ctx, b.client, tt.entry)
				requireCode(t, err, tt.code)
			})
		}
		require.Zero(t, b.entryCount(t))

		// 10. Type and subtype are frozen once an account has postings; name and code are not.
		_, err := ledger.Post(b.ctx, b.client, b.entry("used", "5.00"))
		require.NoError(t, err)
		rev := b.accountID("US", "4000")
		other := ent.UpdateAccountInput{}
		other.Type, other.Subtype = ptr(account.TypeRevenue), ptr(account.SubtypeOtherIncome)
		_, err = ledger.UpdateAccount(b.ctx, b.client, rev, other)
		requireCode(t, err, apperr.AccountInUse)
		_, err = ledger.UpdateAccount(b.ctx, b.client, rev, ent.UpdateAccountInput{Name: ptr("Consulting fees"), Code: ptr("4001")})
		require.NoError(t, err)
		b.requireBalanced(t)
	})
}

// TestReversalDating is the one rule for dating corrections: the requested date or today,
// never before the original, moved to the first open period (keeping the document date) when
// its period is closed.
func TestReversalDating(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		post := func(ref, d string) *ent.JournalEntry {
			e := b.entry(ref, "10.00")
			e.Date = date(d)
			res, err := ledger.Post(b.ctx, b.client, e)
			require.NoError(t, err)
			return res.Entry
		}
		reverse := func(id, d string) (*ent.JournalEntry, error) {
			r := ledger.Reversal{EntryID: id}
			if d != "" {
				r.Date = date(d)
			}
			return ledger.Reverse(b.ctx, b.client, r)
		}

		orig := post("dating-1", "2026-10-15")
		_, err := reverse(orig.ID, "2026-10-14")
		requireCode(t, err, apperr.Validation)

		// A closed month moves the reversal forward, keeping the requested date.
		p, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-10")
		require.NoError(t, err)
		_, err = ledger.ClosePeriod(b.ctx, b.client, p.ID, "tester")
		require.NoError(t, err)
		rev, err := reverse(orig.ID, "2026-10-20")
		require.NoError(t, err)
		require.Equal(t, "2026-11-01", rev.Date.String())
		require.NotNil(t, rev.DocumentDate)
		require.Equal(t, "2026-10-20", rev.DocumentDate.String())
		got, err := b.client.JournalEntry.Get(b.ctx, orig.ID)
		require.NoError(t, err)
		require.Equal(t, journalentry.StatusReversed, got.Status)

		// An entry dated ahead is reversed on its own date, not today.
		ahead := post("dating-2", "2099-06-30")
		rev, err = reverse(ahead.ID, "")
		require.NoError(t, err)
		require.Equal(t, "2099-06-30", rev.Date.String())

		_, err = reverse(ahead.ID, "")
		requireCode(t, err, apperr.AlreadyReversed)
		b.requireBalanced(t)
	})
}

// TestCurrenciesMatchMoney keeps the database's currency table equal to internal/money's.
func TestCurrenciesMatchMoney(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		rows, err := b.db.SQL.QueryContext(context.Background(), `SELECT code, minor_units FROM books_currencies ORDER BY code`)
		require.NoError(t, err)
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var code string
			var n int
			require.NoError(t, rows.Scan(&code, &n))
			got[code] = n
		}
		require.NoError(t, rows.Err())
		want := map[string]int{}
		for _, c := range money.Currencies() {
			want[string(c)] = c.MinorUnits()
		}
		require.Equal(t, want, got)
	})
}

func ptr[T any](v T) *T { return &v }
