package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent/account"
	"books/internal/ledger"
)

// rawDB runs hand-written SQL against the bundle's database, bypassing every application
// check, to prove the database itself keeps the ledger's rules.
type rawDB struct {
	t       *testing.T
	db      *sql.DB
	dialect string
	org     string
}

func (b *testBundle) raw(t *testing.T) *rawDB {
	t.Helper()
	return &rawDB{t: t, db: b.db.SQL, dialect: b.db.Dialect, org: mustOrg(b)}
}

// bind turns ? placeholders into $n for PostgreSQL.
func (r *rawDB) bind(q string) string {
	if r.dialect != dialect.Postgres {
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
	_, err := r.db.ExecContext(context.Background(), r.bind(q), args...)
	return err
}

func (r *rawDB) mustExec(q string, args ...any) {
	r.t.Helper()
	require.NoError(r.t, r.exec(q, args...))
}

const insertEntry = `INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
	description, currency, source_system, source_ref, status, total, created_by, created_via)
	VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-11-02', 'raw', 'USD', 'import', ?, ?, ?, '', '')`

const insertLine = `INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, description)
	VALUES (?, ?, ?, ?, ?, ?, ?, '')`

func TestDatabaseRefusesLedgerViolations(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		r := b.raw(t)
		cash, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID), account.Code("1000")).Only(b.ctx)
		require.NoError(t, err)
		rev, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID), account.Code("4000")).Only(b.ctx)
		require.NoError(t, err)

		posted, err := ledger.Post(b.ctx, b.client, b.entry("raw-posted", "10.00"))
		require.NoError(t, err)
		pid := posted.Entry.ID
		lines, err := posted.Entry.QueryLines().All(b.ctx)
		require.NoError(t, err)
		lid := lines[0].ID

		refused := []struct {
			name string
			sql  string
			args []any
		}{
			{"insert an entry as posted", insertEntry, []any{"je_raw1", r.org, b.entity.ID, "r1", "posted", 0}},
			{"insert an entry as reversed", insertEntry, []any{"je_raw2", r.org, b.entity.ID, "r2", "reversed", 0}},
			{"change a posted entry's description", `UPDATE journal_entries SET description = 'edited' WHERE id = ?`, []any{pid}},
			{"change a posted entry's date", `UPDATE journal_entries SET date = '2026-01-01' WHERE id = ?`, []any{pid}},
			{"change a posted entry's total", `UPDATE journal_entries SET total = 1 WHERE id = ?`, []any{pid}},
			{"put a posted entry back to draft", `UPDATE journal_entries SET status = 'draft' WHERE id = ?`, []any{pid}},
			{"mark reversed while changing more", `UPDATE journal_entries SET status = 'reversed', description = 'x' WHERE id = ?`, []any{pid}},
			{"delete a posted entry", `DELETE FROM journal_entries WHERE id = ?`, []any{pid}},
			{"change a posted line's amount", `UPDATE journal_lines SET debit = 990000 WHERE id = ?`, []any{lid}},
			{"move a posted line to another account", `UPDATE journal_lines SET account_id = ? WHERE id = ?`, []any{cash.ID, lid}},
			{"delete a posted line", `DELETE FROM journal_lines WHERE id = ?`, []any{lid}},
			{"add a line to a posted entry", insertLine, []any{"jl_raw1", r.org, pid, 9, cash.ID, 10000, 0}},
		}
		for _, tt := range refused {
			err := r.exec(tt.sql, tt.args...)
			require.Error(t, err, tt.name)
			msg := err.Error()
			require.True(t, strings.Contains(msg, "LEDGER_IMMUTABLE") || strings.Contains(msg, "UNBALANCED_ENTRY"),
				"%s: refused by the ledger guard, not by accident: %v", tt.name, err)
		}

		// A draft with unbalanced lines cannot become posted.
		r.mustExec(insertEntry, "je_draft", r.org, b.entity.ID, "d1", "draft", 100000)
		r.mustExec(insertLine, "jl_d1", r.org, "je_draft", 1, cash.ID, 100000, 0)
		r.mustExec(insertLine, "jl_d2", r.org, "je_draft", 2, rev.ID, 0, 99900)
		err = r.exec(`UPDATE journal_entries SET status = 'posted' WHERE id = ?`, "je_draft")
		require.ErrorContains(t, err, "UNBALANCED_ENTRY")

		// Nor can one whose total disagrees with its lines, nor one with a single line.
		r.mustExec(`UPDATE journal_lines SET credit = 100000 WHERE id = ?`, "jl_d2")
		r.mustExec(`UPDATE journal_entries SET total = 5 WHERE id = ?`, "je_draft")
		require.ErrorContains(t, r.exec(`UPDATE journal_entries SET status = 'posted' WHERE id = ?`, "je_draft"), "UNBALANCED_ENTRY")
		r.mustExec(`UPDATE journal_entries SET total = 100000 WHERE id = ?`, "je_draft")
		r.mustExec(`DELETE FROM journal_lines WHERE id = ?`, "jl_d2")
		require.ErrorContains(t, r.exec(`UPDATE journal_entries SET status = 'posted' WHERE id = ?`, "je_draft"), "UNBALANCED_ENTRY")

		// A line has exactly one positive side.
		require.ErrorContains(t, r.exec(insertLine, "jl_both", r.org, "je_draft", 3, rev.ID, 100, 100), "journal_line_one_side")
		require.ErrorContains(t, r.exec(insertLine, "jl_none", r.org, "je_draft", 3, rev.ID, 0, 0), "journal_line_one_side")
		require.ErrorContains(t, r.exec(insertLine, "jl_neg", r.org, "je_draft", 3, rev.ID, -100, 0), "journal_line_one_side")

		// Balanced, it posts; from then on it is immutable too.
		r.mustExec(insertLine, "jl_d3", r.org, "je_draft", 2, rev.ID, 0, 100000)
		r.mustExec(`UPDATE journal_entries SET status = 'posted' WHERE id = ?`, "je_draft")
		require.ErrorContains(t, r.exec(`UPDATE journal_entries SET status = 'draft' WHERE id = ?`, "je_draft"), "LEDGER_IMMUTABLE")

		// The one change a posted entry allows: being marked reversed, nothing else.
		r.mustExec(`UPDATE journal_entries SET status = 'reversed' WHERE id = ?`, pid)
		require.ErrorContains(t, r.exec(`UPDATE journal_entries SET status = 'posted' WHERE id = ?`, pid), "LEDGER_IMMUTABLE")
		require.ErrorContains(t, r.exec(`DELETE FROM journal_entries WHERE id = ?`, pid), "LEDGER_IMMUTABLE")

		got, err := b.client.JournalEntry.Get(b.ctx, pid)
		require.NoError(t, err)
		require.Equal(t, "test", got.Description)
		require.Equal(t, "10.00", got.Total.String())
		b.requireBalanced(t)
	})
}
