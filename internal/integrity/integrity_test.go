package integrity_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/invoice"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/ledgerseal"
	"books/ent/ledgerverification"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

type testBundle struct {
	db       *database.DB
	client   *ent.Client
	ctx      context.Context // scoped to the test organization
	org      string
	entity   *ent.LegalEntity
	customer *ent.Customer
}

func setup(t *testing.T, dialectName string) *testBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	ctx := tenant.WithOrg(context.Background(), org.ID)
	entity, err := ledger.CreateEntity(ctx, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	cus, err := client.Customer.Create().SetName("Acme Corp").SetDisplayName("Acme").SetCurrency("USD").Save(ctx)
	require.NoError(t, err)
	return &testBundle{db: db, client: client, ctx: ctx, org: org.ID, entity: entity, customer: cus}
}

func eachDialect(t *testing.T, fn func(t *testing.T, b *testBundle)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, d))
		})
	}
}

func amt(s string) money.Amount { return money.MustParse(s) }

// post posts a balanced entry: the debits on unbilled receivables, one credit to revenue.
func (b *testBundle) post(t *testing.T, ref string, debits ...string) *ent.JournalEntry {
	t.Helper()
	var lines []ledger.Line
	var total money.Amount
	for _, d := range debits {
		lines = append(lines, ledger.Line{AccountCode: "1250", Debit: amt(d)})
		total = total.Add(amt(d))
	}
	lines = append(lines, ledger.Line{AccountCode: "4000", Credit: total})
	res, err := ledger.Post(b.ctx, b.client, ledger.Entry{
		EntityID: b.entity.ID, Date: caldate.MustParse("2026-11-10"), Description: "test",
		Source: source.PSA, SourceRef: ref, Lines: lines,
	})
	require.NoError(t, err)
	return res.Entry
}

// docRefs are the source reference prefixes of the document types the tests post.
var docRefs = map[string]string{"invoice": "invoice:", "payment": "payment:", "credit_memo": "cm:"}

// postDocument posts the entry of document docType docID: amount from debit to credit
// (account codes), naming the customer on every line, as billing does for control accounts.
func (b *testBundle) postDocument(t *testing.T, docType, docID, debit, credit, amount string) *ent.JournalEntry {
	t.Helper()
	res, err := ledger.Post(b.ctx, b.client, ledger.Entry{
		EntityID: b.entity.ID, Date: caldate.MustParse("2026-11-10"), Source: source.Books, SourceRef: docRefs[docType] + docID,
		Document: &ledger.Document{Type: docType, ID: docID},
		Lines: []ledger.Line{
			{AccountCode: debit, Debit: amt(amount), CustomerID: b.customer.ID},
			{AccountCode: credit, Credit: amt(amount), CustomerID: b.customer.ID},
		},
	})
	require.NoError(t, err)
	return res.Entry
}

// newInvoice stores an invoice of status with balance, as billing leaves one.
func (b *testBundle) newInvoice(t *testing.T, status invoice.Status, balance string) *ent.Invoice {
	t.Helper()
	inv, err := b.client.Invoice.Create().
		SetEntityID(b.entity.ID).SetCustomerID(b.customer.ID).
		SetIssueDate(caldate.MustParse("2026-11-10")).SetDueDate(caldate.MustParse("2026-12-10")).
		SetCurrency("USD").SetSubtotal(amt(balance)).SetTotal(amt(balance)).
		SetAmountPaid(money.Amount{}).SetWrittenOff(money.Amount{}).SetBalance(amt(balance)).
		SetStatus(status).
		Save(b.ctx)
	require.NoError(t, err)
	return inv
}

// newPayment stores a payment of amount of which unapplied is not applied.
func (b *testBundle) newPayment(t *testing.T, amount, unapplied string) *ent.Payment {
	t.Helper()
	p, err := b.client.Payment.Create().
		SetEntityID(b.entity.ID).SetCustomerID(b.customer.ID).SetAmount(amt(amount)).SetCurrency("USD").
		SetReceivedDate(caldate.MustParse("2026-11-11")).SetMethod("check").
		SetApplied(amt(amount).Sub(amt(unapplied))).SetRefunded(money.Amount{}).SetReversed(money.Amount{}).
		SetUnapplied(amt(unapplied)).
		Save(b.ctx)
	require.NoError(t, err)
	return p
}

// newCreditMemo stores a credit memo of amount with remaining left to apply.
func (b *testBundle) newCreditMemo(t *testing.T, amount, remaining string) *ent.CreditMemo {
	t.Helper()
	cm, err := b.client.CreditMemo.Create().
		SetEntityID(b.entity.ID).SetCustomerID(b.customer.ID).SetDate(caldate.MustParse("2026-11-12")).
		SetAmount(amt(amount)).SetCurrency("USD").SetAccountID(b.accountID(t, "4000")).
		SetApplied(amt(amount).Sub(amt(remaining))).SetRemaining(amt(remaining)).SetJournalEntryID("je_cm").
		Save(b.ctx)
	require.NoError(t, err)
	return cm
}

func (b *testBundle) seal(t *testing.T) int {
	t.Helper()
	n, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
	require.NoError(t, err)
	return n
}

func (b *testBundle) verify(t *testing.T) integrity.Report {
	t.Helper()
	r, err := integrity.Verify(b.ctx, b.client, b.entity.ID)
	require.NoError(t, err)
	return r
}

func (b *testBundle) lines(t *testing.T, e *ent.JournalEntry) []*ent.JournalLine {
	t.Helper()
	lines, err := b.client.JournalLine.Query().Where(journalline.EntryID(e.ID)).Order(journalline.ByLineNo()).All(b.ctx)
	require.NoError(t, err)
	return lines
}

// tamper runs statements on table the way a superuser can: past the database's guards
// (session_replication_role = replica on PostgreSQL; the table's triggers dropped on
// SQLite, found in sqlite_master so a renamed guard is dropped too). Arguments bind to ?.
func (b *testBundle) tamper(t *testing.T, table, stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := b.db.SQL.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	if b.db.Dialect == dialect.Postgres {
		_, err = conn.ExecContext(ctx, `SET session_replication_role = replica`)
		require.NoError(t, err)
		defer conn.ExecContext(ctx, `RESET session_replication_role`) //nolint:errcheck // the connection is closed next
		n := 0
		stmt = replaceEach(stmt, "?", func() string { n++; return fmt.Sprintf("$%d", n) })
	} else {
		rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`, table)
		require.NoError(t, err)
		var triggers []string
		for rows.Next() {
			var name string
			require.NoError(t, rows.Scan(&name))
			triggers = append(triggers, name)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		for _, name := range triggers {
			_, err = conn.ExecContext(ctx, `DROP TRIGGER "`+name+`"`)
			require.NoError(t, err)
		}
	}
	res, err := conn.ExecContext(ctx, stmt, args...)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Positive(t, n, "the tampering statement changed nothing: %s", stmt)
}

// rewriteChain multiplies every sealed entry's amounts by ten and recomputes every link, as
// someone who can edit the tables could, and returns the new head.
func (b *testBundle) rewriteChain(t *testing.T) *ent.LedgerSeal {
	t.Helper()
	seals, err := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID)).Order(ledgerseal.BySeq()).All(b.ctx)
	require.NoError(t, err)
	prev := ""
	for _, s := range seals {
		b.tamper(t, "journal_lines", `UPDATE journal_lines SET debit = debit * 10, credit = credit * 10 WHERE entry_id = ?`, s.EntryID)
		b.tamper(t, "journal_entries", `UPDATE journal_entries SET total = total * 10 WHERE id = ?`, s.EntryID)
		e, err := b.client.JournalEntry.Query().Where(journalentry.ID(s.EntryID)).WithLines().Only(b.ctx)
		require.NoError(t, err)
		h := ledger.SealHash(prev, e, e.Edges.Lines)
		b.tamper(t, "ledger_seals", `UPDATE ledger_seals SET prev_hash = ?, hash = ? WHERE id = ?`, prev, h, s.ID)
		prev = h
	}
	head, err := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID)).Order(ent.Desc(ledgerseal.FieldSeq)).First(b.ctx)
	require.NoError(t, err)
	return head
}

func replaceEach(s, old string, next func() string) string {
	var out strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			out.WriteString(s)
			return out.String()
		}
		out.WriteString(s[:i])
		out.WriteString(next())
		s = s[i+len(old):]
	}
}

func requireProblem(t *testing.T, r integrity.Report, parts ...string) {
	t.Helper()
	require.False(t, r.OK, "tampering went unnoticed")
	require.NotEmpty(t, r.Problems)
	require.Equal(t, r.Problems[0], r.Problem)
	for _, p := range parts {
		require.Contains(t, r.Problem, p)
	}
}

func TestVerifyIntactLedger(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		r := b.verify(t)
		require.True(t, r.OK, r.Problem)
		require.Zero(t, r.HeadSeq, "an empty ledger has an empty chain")
		require.Empty(t, r.HeadHash)

		first := b.post(t, "ok-1", "100.00")
		b.post(t, "ok-2", "60.00", "40.00")
		require.Equal(t, 2, b.seal(t))
		_, err := ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: first.ID, Date: caldate.MustParse("2026-11-20")})
		require.NoError(t, err)
		require.Equal(t, 1, b.seal(t))
		b.post(t, "ok-unsealed", "5.00")

		r = b.verify(t)
		require.True(t, r.OK, r.Problem)
		require.Empty(t, r.Problems)
		require.Equal(t, b.entity.ID, r.EntityID)
		require.Equal(t, b.org, r.OrganizationID)
		require.Equal(t, 4, r.EntriesChecked, "sealed and unsealed entries")
		require.Equal(t, 3, r.EntriesSealed)
		require.Equal(t, int64(3), r.HeadSeq)
		head, err := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID), ledgerseal.Seq(3)).Only(b.ctx)
		require.NoError(t, err)
		require.Equal(t, head.Hash, r.HeadHash)

		v, err := integrity.Record(b.ctx, b.client, r)
		require.NoError(t, err)
		require.True(t, v.Ok)
		require.Equal(t, b.org, v.OrganizationID)
		require.Equal(t, r.HeadHash, v.HeadHash)
		require.Equal(t, 4, v.EntriesChecked)
		require.Equal(t, 3, v.EntriesSealed)
		require.Empty(t, v.Problem)

		integritytest.Check(t, b.client, b.org)
	})
}

// Each case edits the ledger past the database's guards, or breaks an invariant, and
// Verify must name what broke.
func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// breakIt breaks the ledger and returns the strings the first problem must contain.
		breakIt func(t *testing.T, b *testBundle) []string
	}{
		{"sealed line amounts moved, still balanced", func(t *testing.T, b *testBundle) []string {
			b.post(t, "t-1", "10.00")
			e := b.post(t, "t-2", "100.00", "50.00")
			b.seal(t)
			l := b.lines(t, e)
			// Debits still equal credits and the total: only the chain can tell.
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET debit = ? WHERE id = ?`, amt("140.00").Units(), l[0].ID)
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET debit = ? WHERE id = ?`, amt("10.00").Units(), l[1].ID)
			return []string{"seq 2", e.ID, "changed after it was sealed"}
		}},
		{"sealed line moved to another account", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.seal(t)
			l := b.lines(t, e)
			bank := b.accountID(t, "1000")
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET account_id = ? WHERE id = ?`, bank, l[0].ID)
			return []string{"seq 1", e.ID, "changed after it was sealed"}
		}},
		{"sealed entry's description edited", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.seal(t)
			b.tamper(t, "journal_entries", `UPDATE journal_entries SET description = 'nothing to see' WHERE id = ?`, e.ID)
			return []string{"seq 1", e.ID, "changed after it was sealed"}
		}},
		{"sealed entry turned back into a draft", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.seal(t)
			b.tamper(t, "journal_entries", `UPDATE journal_entries SET status = 'draft' WHERE id = ?`, e.ID)
			return []string{"seq 1", e.ID, "now draft"}
		}},
		{"sealed entry deleted", func(t *testing.T, b *testBundle) []string {
			b.post(t, "t-1", "10.00")
			e := b.post(t, "t-2", "20.00")
			b.seal(t)
			b.tamper(t, "journal_lines", `DELETE FROM journal_lines WHERE entry_id = ?`, e.ID)
			b.tamper(t, "journal_entries", `DELETE FROM journal_entries WHERE id = ?`, e.ID)
			return []string{"seq 2", e.ID, "no longer exists"}
		}},
		{"seal removed from the middle", func(t *testing.T, b *testBundle) []string {
			for i := range 3 {
				b.post(t, fmt.Sprintf("t-%d", i), "10.00")
			}
			b.seal(t)
			b.tamper(t, "ledger_seals", `DELETE FROM ledger_seals WHERE entity_id = ? AND seq = 2`, b.entity.ID)
			return []string{"seq 2", "missing"}
		}},
		{"seal hash overwritten", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.post(t, "t-2", "10.00")
			b.seal(t)
			b.tamper(t, "ledger_seals", `UPDATE ledger_seals SET hash = ? WHERE entity_id = ? AND seq = 1`,
				strings.Repeat("0", 64), b.entity.ID)
			return []string{"seq 1", e.ID, "changed after it was sealed"}
		}},
		{"chain cut short after a verification", func(t *testing.T, b *testBundle) []string {
			b.post(t, "t-1", "10.00")
			b.post(t, "t-2", "10.00")
			b.seal(t)
			_, err := integrity.Record(b.ctx, b.client, b.verify(t))
			require.NoError(t, err)
			b.tamper(t, "ledger_seals", `DELETE FROM ledger_seals WHERE entity_id = ? AND seq = 2`, b.entity.ID)
			return []string{"truncated", "seq 2"}
		}},
		{"unsealed entry unbalanced", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET debit = ? WHERE id = ?`, amt("11.00").Units(), b.lines(t, e)[0].ID)
			return []string{e.ID, "unbalanced", "debits 11.00, credits 10.00, total 10.00"}
		}},
		{"unsealed entry left with one line", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.tamper(t, "journal_lines", `DELETE FROM journal_lines WHERE id = ?`, b.lines(t, e)[1].ID)
			return []string{e.ID, "1 line(s)"}
		}},
		{"reversed entry set back to posted", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			_, err := ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: e.ID, Date: caldate.MustParse("2026-11-20")})
			require.NoError(t, err)
			b.seal(t)
			// Status is not sealed (posted entries legitimately become reversed), so only the
			// reversal bookkeeping can tell.
			b.tamper(t, "journal_entries", `UPDATE journal_entries SET status = 'posted' WHERE id = ?`, e.ID)
			return []string{e.ID, "marked posted, but a posted entry reverses it"}
		}},
		{"entry marked reversed with no reversal", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.seal(t)
			b.tamper(t, "journal_entries", `UPDATE journal_entries SET status = 'reversed' WHERE id = ?`, e.ID)
			return []string{e.ID, "marked reversed, but no posted entry reverses it"}
		}},
		{"audit event of a posting deleted", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			b.seal(t)
			b.tamper(t, "audit_events", `DELETE FROM audit_events WHERE subject_id = ?`, e.ID)
			return []string{e.ID, "lost the audit event"}
		}},
		{"line moved to another entity's account", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "10.00")
			uk, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: "UK", Name: "UK Ltd", BaseCurrency: "GBP"})
			require.NoError(t, err)
			theirs, err := b.client.Account.Query().Where(account.EntityID(uk.ID), account.Code("1250")).OnlyID(b.ctx)
			require.NoError(t, err)
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET account_id = ? WHERE id = ?`, theirs, b.lines(t, e)[0].ID)
			return []string{e.ID, "line 1", "not an account of entity " + b.entity.ID}
		}},
		{"amounts finer than a cent, still balanced", func(t *testing.T, b *testBundle) []string {
			e := b.post(t, "t-1", "100.00", "50.00")
			l := b.lines(t, e)
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET debit = ? WHERE id = ?`, amt("100.005").Units(), l[0].ID)
			b.tamper(t, "journal_lines", `UPDATE journal_lines SET debit = ? WHERE id = ?`, amt("49.995").Units(), l[1].ID)
			return []string{e.ID, "line 1", "finer than the USD minor unit"}
		}},
		{"chain rewritten consistently after a verification, newer anchor forged", func(t *testing.T, b *testBundle) []string {
			for i := range 3 {
				b.post(t, fmt.Sprintf("t-%d", i), "10.00")
			}
			b.seal(t)
			_, _, err := integrity.VerifyAndRecord(b.ctx, b.client, b.entity.ID, false)
			require.NoError(t, err)
			head := b.rewriteChain(t)
			b.tamper(t, "ledger_verifications", `INSERT INTO ledger_verifications (id, organization_id, entity_id, verified_at,
				ok, entries_checked, entries_sealed, head_seq, head_hash) VALUES ('lver_forged', ?, ?, ?, true, 3, 3, ?, ?)`,
				b.org, b.entity.ID, time.Now().UTC().Add(time.Hour), head.Seq, head.Hash)
			return []string{"chain rewritten at or before seq 3"}
		}},
		{"receivable without an open invoice", func(t *testing.T, b *testBundle) []string {
			inv := b.newInvoice(t, invoice.StatusPaid, "0.00")
			b.postDocument(t, "invoice", inv.ID, "1200", "4000", "150.00")
			return []string{"Accounts Receivable is 150.00", "owe 0.00"}
		}},
		{"customer credit without unapplied cash or credit", func(t *testing.T, b *testBundle) []string {
			p := b.newPayment(t, "25.00", "0.00")
			b.postDocument(t, "payment", p.ID, "1300", "2100", "25.00")
			return []string{"Customer Credits is 25.00", "come to 0.00"}
		}},
		{"payment deleted under its entry", func(t *testing.T, b *testBundle) []string {
			p := b.newPayment(t, "25.00", "25.00")
			e := b.postDocument(t, "payment", p.ID, "1300", "2100", "25.00")
			b.tamper(t, "payments", `DELETE FROM payments WHERE id = ?`, p.ID)
			return []string{e.ID, "payment " + p.ID + ", which does not exist"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachDialect(t, func(t *testing.T, b *testBundle) {
				parts := tt.breakIt(t, b)
				r := b.verify(t)
				requireProblem(t, r, parts...)

				v, err := integrity.Record(b.ctx, b.client, r)
				require.NoError(t, err)
				require.False(t, v.Ok)
				require.Equal(t, r.Problem, v.Problem)
			})
		})
	}
}

// One altered entry is one problem: later links chain on the stored hashes.
func TestVerifyReportsOneProblemPerBrokenLink(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		var second *ent.JournalEntry
		for i := range 5 {
			e := b.post(t, fmt.Sprintf("t-%d", i), "10.00")
			if i == 1 {
				second = e
			}
		}
		b.seal(t)
		b.tamper(t, "journal_entries", `UPDATE journal_entries SET description = 'x' WHERE id = ?`, second.ID)
		r := b.verify(t)
		requireProblem(t, r, "seq 2", second.ID)
		require.Len(t, r.Problems, 1, "%q", r.Problems)
		require.Equal(t, 5, r.EntriesSealed, "the check goes on past the broken link")
		require.Equal(t, int64(5), r.HeadSeq)
	})
}

func TestVerifyControlAccountsMatchDocuments(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.newInvoice(t, invoice.StatusDraft, "150.00")
		b.postDocument(t, "invoice", inv.ID, "1200", "4000", "150.00")
		requireProblem(t, b.verify(t), "Accounts Receivable is 150.00", "owe 0.00")

		for _, status := range []invoice.Status{invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid} {
			_, err := inv.Update().SetStatus(status).Save(b.ctx)
			require.NoError(t, err)
			r := b.verify(t)
			require.True(t, r.OK, "%s: %s", status, r.Problem)
		}
		for _, status := range []invoice.Status{invoice.StatusPaid, invoice.StatusVoid, invoice.StatusWrittenOff, invoice.StatusSubmitted} {
			_, err := inv.Update().SetStatus(status).Save(b.ctx)
			require.NoError(t, err)
			requireProblem(t, b.verify(t), "Accounts Receivable is 150.00")
		}
		_, err := inv.Update().SetStatus(invoice.StatusApproved).Save(b.ctx)
		require.NoError(t, err)

		// Money received and credit given sit in Customer Credits until applied.
		p := b.newPayment(t, "30.00", "30.00")
		b.postDocument(t, "payment", p.ID, "1300", "2100", "30.00")
		cm := b.newCreditMemo(t, "12.50", "0.00")
		b.postDocument(t, "credit_memo", cm.ID, "4000", "2100", "12.50")
		requireProblem(t, b.verify(t), "Customer Credits is 42.50", "unapplied payments (30.00)", "credit memos (0.00)")
		_, err = cm.Update().SetRemaining(amt("12.50")).SetApplied(money.Amount{}).Save(b.ctx)
		require.NoError(t, err)
		r := b.verify(t)
		require.True(t, r.OK, r.Problem)
	})
}

func TestVerifyScope(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		_, err := integrity.Verify(b.ctx, b.client, "le_missing")
		require.ErrorContains(t, err, "not found")

		other, err := b.client.Organization.Create().SetName("Other").Save(tenant.System(b.ctx))
		require.NoError(t, err)
		_, err = integrity.Verify(tenant.WithOrg(b.ctx, other.ID), b.client, b.entity.ID)
		require.ErrorContains(t, err, "not found", "another organization's entity is not found")

		b.post(t, "sys-1", "1.00")
		r, err := integrity.Verify(tenant.System(b.ctx), b.client, b.entity.ID)
		require.NoError(t, err)
		require.True(t, r.OK, r.Problem)
		require.Equal(t, b.org, r.OrganizationID)
		v, err := integrity.Record(tenant.System(b.ctx), b.client, r)
		require.NoError(t, err)
		require.Equal(t, b.org, v.OrganizationID, "a system context records for the entity's organization")
		n, err := b.client.LedgerVerification.Query().Where(ledgerverification.EntityID(b.entity.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

// Check must fail the test it is given when the ledger is broken, and only then.
func TestCheck(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		e := b.post(t, "c-1", "10.00")

		var ok fakeT
		integritytest.Check(&ok, b.client, b.org)
		require.Empty(t, ok.errors)
		n, err := b.client.LedgerSeal.Query().Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "Check seals what is pending")

		b.tamper(t, "journal_entries", `UPDATE journal_entries SET description = 'x' WHERE id = ?`, e.ID)
		var broken fakeT
		integritytest.Check(&broken, b.client, b.org)
		require.Len(t, broken.errors, 1)
		require.Contains(t, broken.errors[0], e.ID)
	})
}

// fakeT records what Check reports instead of failing the real test.
type fakeT struct {
	testing.TB
	errors []string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (b *testBundle) accountID(t *testing.T, code string) string {
	t.Helper()
	a, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID), account.Code(code)).Only(b.ctx)
	require.NoError(t, err)
	return a.ID
}
