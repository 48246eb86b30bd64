package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/journalline"
	"books/ent/ledgerverification"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

type ledgerBundle struct {
	url    string
	db     *database.DB
	client *ent.Client
	ctx    context.Context
	us, uk *ent.LegalEntity
}

func ledgerSetup(t *testing.T, dialectName string) *ledgerBundle {
	t.Helper()
	url := dbtest.URL(t, dialectName)
	db, err := database.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	ctx := tenant.WithOrg(context.Background(), org.ID)
	us, err := ledger.CreateEntity(ctx, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	uk, err := ledger.CreateEntity(ctx, client, ent.CreateLegalEntityInput{Code: "UK", Name: "UK Ltd", BaseCurrency: "GBP"})
	require.NoError(t, err)
	return &ledgerBundle{url: url, db: db, client: client, ctx: ctx, us: us, uk: uk}
}

// post posts DR unbilled receivables (one line per debit) / CR revenue on entity.
func (b *ledgerBundle) post(t *testing.T, entity *ent.LegalEntity, ref string, debits ...string) *ent.JournalEntry {
	t.Helper()
	var lines []ledger.Line
	var total money.Amount
	for _, d := range debits {
		lines = append(lines, ledger.Line{AccountCode: "1250", Debit: money.MustParse(d)})
		total = total.Add(money.MustParse(d))
	}
	lines = append(lines, ledger.Line{AccountCode: "4000", Credit: total})
	res, err := ledger.Post(b.ctx, b.client, ledger.Entry{
		EntityID: entity.ID, Date: caldate.MustParse("2026-11-10"), Source: source.PSA, SourceRef: ref, Lines: lines,
	})
	require.NoError(t, err)
	return res.Entry
}

func (b *ledgerBundle) verify(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := ledgerVerify(context.Background(), append([]string{"--database-url", b.url}, args...), &out)
	return out.String(), err
}

func (b *ledgerBundle) seals(t *testing.T) int {
	t.Helper()
	n, err := b.client.LedgerSeal.Query().Count(b.ctx)
	require.NoError(t, err)
	return n
}

// tamper runs stmts on table the way a superuser can: with PostgreSQL's triggers off for the
// session, or SQLite's guards on the table dropped (looked up, not named, so a migration
// renaming them does not silently make this test pass).
func (b *ledgerBundle) tamper(t *testing.T, table string, stmts []string, args [][]any) {
	t.Helper()
	ctx := context.Background()
	conn, err := b.db.SQL.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	if b.db.Dialect == dialect.Postgres {
		_, err = conn.ExecContext(ctx, `SET session_replication_role = replica`)
		require.NoError(t, err)
		defer conn.ExecContext(ctx, `RESET session_replication_role`) //nolint:errcheck // the connection is closed next
	} else {
		var triggers []string
		rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`, table)
		require.NoError(t, err)
		for rows.Next() {
			var name string
			require.NoError(t, rows.Scan(&name))
			triggers = append(triggers, name)
		}
		require.NoError(t, rows.Close())
		require.NotEmpty(t, triggers, "%s has no guards to drop", table)
		for _, name := range triggers {
			_, err := conn.ExecContext(ctx, `DROP TRIGGER "`+name+`"`)
			require.NoError(t, err)
		}
	}
	for i, stmt := range stmts {
		if b.db.Dialect == dialect.Postgres {
			stmt = strings.NewReplacer("?1", "$1", "?2", "$2").Replace(stmt)
		} else {
			stmt = strings.NewReplacer("?1", "?", "?2", "?").Replace(stmt)
		}
		res, err := conn.ExecContext(ctx, stmt, args[i]...)
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
	}
}

func TestLedgerVerifyCatchesEditWithTriggersOff(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := ledgerSetup(t, d)
			b.post(t, b.us, "cli-1", "10.00")
			target := b.post(t, b.us, "cli-2", "100.00", "50.00")
			b.post(t, b.uk, "cli-3", "7.00")

			out, err := b.verify(t)
			require.NoError(t, err, out)
			require.Zero(t, b.seals(t), "verify seals nothing unless asked")
			require.Contains(t, out, "OK    "+b.us.ID+" US  head seq 0")

			out, err = b.verify(t, "--seal")
			require.NoError(t, err, out)
			require.Equal(t, 3, b.seals(t))
			require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, "one line per entity:\n%s", out)
			require.Contains(t, out, "OK    "+b.us.ID+" US  head seq 2 hash ")
			require.Contains(t, out, "OK    "+b.uk.ID+" UK  head seq 1 hash ")

			// Move 40.00 between the entry's two debit lines: debits, credits, the total and
			// every balance stay as they were, so only the seal can tell.
			lines, err := b.client.JournalLine.Query().Where(journalline.EntryID(target.ID)).
				Order(journalline.ByLineNo()).All(b.ctx)
			require.NoError(t, err)
			b.tamper(t, "journal_lines",
				[]string{`UPDATE journal_lines SET debit = ?1 WHERE id = ?2`, `UPDATE journal_lines SET debit = ?1 WHERE id = ?2`},
				[][]any{{money.MustParse("140.00").Units(), lines[0].ID}, {money.MustParse("10.00").Units(), lines[1].ID}})

			// main exits with status 1 on the error run returns, which is ledgerVerify's.
			out, err = b.verify(t)
			require.ErrorIs(t, err, errLedgerBroken, out)
			require.ErrorContains(t, err, "1 of 2 entities")
			require.Contains(t, out, fmt.Sprintf("FAIL  %s US  chain broken at seq 2: entry %s changed after it was sealed", b.us.ID, target.ID))
			require.Contains(t, out, "OK    "+b.uk.ID+" UK", "the other entity is unaffected")

			out, err = b.verify(t, "--entity", b.uk.ID)
			require.NoError(t, err, out)
			require.NotContains(t, out, b.us.ID)

			// Every run is recorded, failures with their problem.
			vs, err := b.client.LedgerVerification.Query().
				Where(ledgerverification.EntityID(b.us.ID)).Order(ledgerverification.ByVerifiedAt()).All(b.ctx)
			require.NoError(t, err)
			require.Len(t, vs, 3)
			require.True(t, vs[1].Ok)
			require.False(t, vs[2].Ok)
			require.Contains(t, vs[2].Problem, target.ID)
		})
	}
}

// An entity whose rows cannot even be read is reported and counted as failed, and the other
// entities are still verified.
func TestLedgerVerifyUnreadableEntity(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := ledgerSetup(t, d)
			e := b.post(t, b.us, "bad-1", "10.00")
			b.post(t, b.uk, "ok-1", "10.00")
			bad := "lots"
			if d == dialect.Postgres {
				bad = "infinity"
			}
			b.tamper(t, "journal_entries", []string{`UPDATE journal_entries SET posted_at = ?1 WHERE id = ?2`}, [][]any{{bad, e.ID}})

			out, err := b.verify(t, "--seal")
			require.ErrorIs(t, err, errLedgerBroken, out)
			require.ErrorContains(t, err, "1 of 2 entities")
			require.Contains(t, out, "ERROR "+b.us.ID+" US  could not verify")
			require.Contains(t, out, "OK    "+b.uk.ID+" UK  head seq 1")
		})
	}
}

func TestLedgerVerifyArguments(t *testing.T) {
	t.Parallel()
	b := ledgerSetup(t, dialect.SQLite)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown entity", []string{"verify", "--database-url", b.url, "--entity", "le_missing"}, `legal entity "le_missing" not found`},
		{"stray argument", []string{"verify", "--database-url", b.url, "extra"}, "unexpected arguments"},
		{"unknown subcommand", []string{"fix"}, `unknown ledger command "fix"`},
		{"no subcommand", nil, "usage: books ledger verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(context.Background(), append([]string{"ledger"}, tt.args...))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestLedgerVerifyNeedsMigratedDatabase(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := ledgerVerify(context.Background(), []string{"--database-url", dbtest.URL(t, dialect.SQLite)}, &out)
	require.ErrorContains(t, err, "run 'books migrate' first")
}
