package ledger_test

// Independent attack review of the ledger's integrity guarantees (see the issue "The ledger
// promises that an unbalanced or edited posted entry cannot exist even through raw SQL").
// Every test tries one family of attacks and asserts it is REFUSED (or, for the verifier,
// DETECTED).

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/journalentry"
	"books/ent/ledgerseal"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/dbtest"
	"books/internal/integrity"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

// uncheckedBundle is setup without the integrity check at cleanup, for the verifier attacks
// that break the ledger on purpose and then ask the verifier whether it noticed.
func uncheckedBundle(t *testing.T, dialectName string) *testBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	ctx := tenant.WithOrg(context.Background(), org.ID)
	us, err := ledger.CreateEntity(ctx, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	uk, err := ledger.CreateEntity(ctx, client, ent.CreateLegalEntityInput{Code: "UK", Name: "UK Ltd", BaseCurrency: "GBP"})
	require.NoError(t, err)
	_, err = ledger.CreateClass(ctx, client, ent.CreateClassInput{EntityID: us.ID, Name: "Consulting"})
	require.NoError(t, err)
	return &testBundle{db: db, client: client, ctx: ctx, entity: us, other: uk}
}

func eachDialectUnchecked(t *testing.T, fn func(t *testing.T, b *testBundle)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, uncheckedBundle(t, d))
		})
	}
}

// dialectCase runs fn as subtest name on a fresh unchecked bundle of each dialect.
func dialectCase(t *testing.T, name string, fn func(t *testing.T, b *testBundle)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		eachDialectUnchecked(t, fn)
	})
}

// step is one raw SQL statement (? placeholders).
type step struct {
	q    string
	args []any
}

func st(q string, args ...any) step { return step{q: q, args: args} }

// insertEntryFull inserts a draft entry with every column an attack may want to set.
// Arguments: id, org, entity, date, currency, source_system, source_ref, total,
// reversal_of_id, document_type, document_id.
const insertEntryFull = `INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
	description, currency, source_system, source_ref, status, total, created_by, created_via,
	reversal_of_id, document_type, document_id)
	VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, ?, 'attack', ?, ?, ?, 'draft', ?, '', '', ?, ?, ?)`

// insertLineFull: id, org, entry, line_no, account, debit, credit, class, customer, vendor.
const insertLineFull = `INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit,
	description, class_id, customer_id, vendor_id) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)`

const postRaw = `UPDATE journal_entries SET status = 'posted', posted_at = CURRENT_TIMESTAMP WHERE id = ?`

// attempt runs steps in one transaction on a pinned connection and rolls it back, returning
// the first step's error: an attack is refused when any of its steps is, since a guard that
// stops it earlier still stops it. When every step succeeds, damage (if set) runs inside the
// same transaction to describe what the attack achieved. pragmas run on the connection before
// the transaction and are undone after it (SQLite).
func (r *rawDB) attempt(t *testing.T, pragmas [][2]string, steps []step, damage func(q func(string, ...any) string) string) (error, string) {
	t.Helper()
	return r.run(t, pragmas, steps, damage, true)
}

// attemptAll is attempt where any step may be the one refused.
func (r *rawDB) attemptAll(t *testing.T, steps []step, damage func(q func(string, ...any) string) string) (error, string) {
	t.Helper()
	return r.run(t, nil, steps, damage, true)
}

func (r *rawDB) run(t *testing.T, pragmas [][2]string, steps []step, damage func(q func(string, ...any) string) string, anyStep bool) (error, string) {
	t.Helper()
	ctx := context.Background()
	conn, err := r.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, p := range pragmas {
		_, err := conn.ExecContext(ctx, p[0])
		require.NoError(t, err)
		defer conn.ExecContext(ctx, p[1]) //nolint:errcheck // best effort, the test fails anyway
	}
	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	var last error
	for i, s := range steps {
		_, last = tx.ExecContext(ctx, bind(r.dialect, s.q), s.args...)
		if anyStep && last != nil {
			return last, ""
		}
		if i < len(steps)-1 {
			require.NoError(t, last, "setup step %d: %s", i, s.q)
		}
	}
	desc := ""
	if last == nil && damage != nil {
		desc = damage(func(q string, args ...any) string {
			var v sql.NullString
			if err := tx.QueryRowContext(ctx, bind(r.dialect, q), args...).Scan(&v); err != nil {
				return "error: " + err.Error()
			}
			if !v.Valid {
				return "NULL"
			}
			return v.String
		})
	}
	return last, desc
}

// requireRefused fails with the attack's damage when the database accepted it.
func requireRefused(t *testing.T, err error, damage string, want ...string) {
	t.Helper()
	require.Error(t, err, "the database accepted the attack: %s", damage)
	for _, w := range want {
		require.Contains(t, err.Error(), w)
	}
}

// billingFixture is what the document attacks need: two people (one submits, the other
// approves), a customer and an item of the US entity.
type billingFixture struct {
	alice, bob context.Context
	customer   *ent.Customer
	item       *ent.Item
}

func newBilling(t *testing.T, b *testBundle) billingFixture {
	t.Helper()
	org := mustOrg(b)
	bf := billingFixture{
		alice: auth.WithPrincipal(context.Background(), &auth.Principal{
			Kind: auth.KindUser, Subject: "alice", Org: org, Roles: []auth.Role{auth.RoleAccountant}}),
		bob: auth.WithPrincipal(context.Background(), &auth.Principal{
			Kind: auth.KindUser, Subject: "bob", Org: org, Roles: []auth.Role{auth.RoleFinanceLead}}),
	}
	email := "acme@example.com"
	var err error
	bf.customer, err = billing.CreateCustomer(bf.alice, b.client, ent.CreateCustomerInput{
		Name: "Acme Corp", DisplayName: "Acme", Email: &email, Currency: "USD"})
	require.NoError(t, err)
	bf.item, err = billing.CreateItem(bf.alice, b.client, ent.CreateItemInput{
		Name: "Consulting hour", EntityID: b.entity.ID, IncomeAccountID: b.accountID("US", "4000"), DefaultRate: amt("150.00")})
	require.NoError(t, err)
	return bf
}

func (bf billingFixture) submitted(t *testing.T, b *testBundle, amount string) *ent.Invoice {
	t.Helper()
	price := amt(amount)
	inv, err := billing.CreateInvoice(bf.alice, b.client, billing.InvoiceInput{
		EntityID: b.entity.ID, CustomerID: bf.customer.ID,
		IssueDate: date("2026-11-01"), DueDate: date("2026-12-01"),
		Lines: []billing.LineInput{{ItemID: bf.item.ID, Quantity: qtyOne(), UnitPrice: &price}},
	})
	require.NoError(t, err)
	_, err = billing.SubmitInvoice(bf.alice, b.client, inv.ID)
	require.NoError(t, err)
	return inv
}

func (bf billingFixture) approved(t *testing.T, b *testBundle, amount string) *ent.Invoice {
	t.Helper()
	inv := bf.submitted(t, b, amount)
	inv, err := billing.ApproveInvoice(bf.bob, b.client, inv.ID)
	require.NoError(t, err)
	return inv
}

// ---------------------------------------------------------------------------------------
// 1. REPLACE and its cousins on SQLite
// ---------------------------------------------------------------------------------------

// Found in review, now refused or detected: UPDATE OR REPLACE deletes the conflicting row without firing delete triggers
// (recursive_triggers is off), exactly like INSERT OR REPLACE, which the migration guards;
// but the *_no_replace triggers are BEFORE INSERT only. Renaming an unused account onto the
// code of an account with postings deletes the account in use; the same on classes and legal
// entities deletes a class with postings and an entity with entries.
func TestAttackSQLiteUpdateOrReplaceDeletesRowsInUse(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.SQLite)
	f := newFixture(t, b)
	spareAcct, err := ledger.CreateAccount(b.ctx, b.client, ent.CreateAccountInput{
		EntityID: b.entity.ID, Code: "1999", Name: "Spare", Type: account.TypeAsset, Subtype: account.SubtypeOtherCurrentAsset})
	require.NoError(t, err)
	spareClass, err := ledger.CreateClass(b.ctx, b.client, ent.CreateClassInput{EntityID: b.entity.ID, Name: "Spare"})
	require.NoError(t, err)
	consulting := b.client.Class.Query().Where().AllX(b.ctx)
	var consultingID string
	for _, c := range consulting {
		if c.Name == "Consulting" && c.EntityID == b.entity.ID {
			consultingID = c.ID
		}
	}
	require.NotEmpty(t, consultingID)
	r := b.raw(t)

	t.Run("account", func(t *testing.T) {
		err, damage := r.attempt(t, nil, []step{st(`UPDATE OR REPLACE accounts SET code = '4000' WHERE id = ?`, spareAcct.ID)},
			func(q func(string, ...any) string) string {
				return fmt.Sprintf("account 4000 (%s) with posted lines still exists: %s rows; posted lines pointing at no account: %s",
					f.rev, q(`SELECT count(*) FROM accounts WHERE id = ?`, f.rev),
					q(`SELECT count(*) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
						WHERE e.status = 'posted' AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = l.account_id)`))
			})
		requireRefused(t, err, damage)
	})
	t.Run("account in use reborn as another entity's receivable (items 3, 10)", func(t *testing.T) {
		err, damage := r.attempt(t, nil, []step{
			st(`UPDATE OR REPLACE accounts SET code = '4000' WHERE id = ?`, spareAcct.ID),
			st(`INSERT INTO accounts (id, created_at, updated_at, organization_id, code, name, type, subtype, active, entity_id)
				VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, '1201', 'Receivable', 'asset', 'accounts_receivable', 1, ?)`, f.rev, r.org, b.other.ID),
		}, func(q func(string, ...any) string) string {
			return "the US entry's posted revenue line " + f.otherLine + " is now on account " +
				q(`SELECT a.code || ' ' || a.subtype || ' of entity ' || a.entity_id FROM journal_lines l JOIN accounts a ON a.id = l.account_id WHERE l.id = ?`, f.otherLine) +
				" (US is " + b.entity.ID + ")"
		})
		requireRefused(t, err, damage)
	})
	t.Run("class", func(t *testing.T) {
		err, damage := r.attempt(t, nil, []step{st(`UPDATE OR REPLACE classes SET name = 'Consulting' WHERE id = ?`, spareClass.ID)},
			func(q func(string, ...any) string) string {
				return fmt.Sprintf("class Consulting with postings still exists: %s rows",
					q(`SELECT count(*) FROM classes WHERE id = ?`, consultingID))
			})
		requireRefused(t, err, damage)
	})
	t.Run("legal entity", func(t *testing.T) {
		err, damage := r.attempt(t, nil, []step{st(`UPDATE OR REPLACE legal_entities SET code = 'US' WHERE id = ?`, b.other.ID)},
			func(q func(string, ...any) string) string {
				return fmt.Sprintf("entity US with entries still exists: %s rows; its entries: %s",
					q(`SELECT count(*) FROM legal_entities WHERE id = ?`, b.entity.ID),
					q(`SELECT count(*) FROM journal_entries WHERE entity_id = ?`, b.entity.ID))
			})
		requireRefused(t, err, damage)
	})
}

// The REPLACE family on the tables the migration does guard: all refused.
func TestAttackSQLiteReplaceFamilyHeld(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.SQLite)
	f := newFixture(t, b)
	// An entry with an idempotency key, reversed, so both unique keys are taken.
	ie := b.entry("idem", "1.00")
	ie.CreatedBy, ie.IdempotencyKey, ie.RequestHash = "key-user", "k-1", "h"
	res, err := ledger.Post(b.ctx, b.client, ie)
	require.NoError(t, err)
	idemEntry := res.Entry
	_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: idemEntry.ID, Date: date("2026-11-30")})
	require.NoError(t, err)
	r := b.raw(t)
	org, us, pid := r.org, b.entity.ID, f.posted.ID
	seal := func() string {
		_, err := ledger.SealPending(b.ctx, b.client, us)
		require.NoError(t, err)
		return b.client.LedgerSeal.Query().Where(ledgerseal.EntryID(pid)).OnlyIDX(b.ctx)
	}()
	attacks := []struct {
		name  string
		steps []step
	}{
		{"UPDATE OR REPLACE a draft onto a posted entry's id", []step{st(`UPDATE OR REPLACE journal_entries SET id = ? WHERE id = ?`, pid, f.draft)}},
		{"UPDATE OR REPLACE a draft onto a posted entry's source", []step{st(`UPDATE OR REPLACE journal_entries SET source_system = 'psa', source_ref = 'raw-posted' WHERE id = ?`, f.draft)}},
		{"UPDATE OR REPLACE a draft's line onto a posted line id", []step{st(`UPDATE OR REPLACE journal_lines SET id = ? WHERE id = 'jl_rawdraft1'`, f.line)}},
		{"UPDATE OR REPLACE a period onto a closed period's start", []step{
			st(`INSERT INTO accounting_periods (id, created_at, updated_at, organization_id, entity_id, name, start_date, end_date, status, closed_by)
				VALUES ('ap_closed', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-10', '2026-10-01', '2026-10-31', 'closed', 'x')`, org, us),
			st(`INSERT INTO accounting_periods (id, created_at, updated_at, organization_id, entity_id, name, start_date, end_date, status, closed_by)
				VALUES ('ap_open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-09', '2026-09-01', '2026-09-30', 'open', '')`, org, us),
			st(`UPDATE OR REPLACE accounting_periods SET start_date = '2026-10-01' WHERE id = 'ap_open'`)}},
		{"UPDATE OR REPLACE a seal", []step{st(`UPDATE OR REPLACE ledger_seals SET seq = 99 WHERE id = ?`, seal)}},
		{"INSERT OR REPLACE a seal", []step{st(`INSERT OR REPLACE INTO ledger_seals (id, organization_id, entity_id, seq, entry_id, prev_hash, hash, sealed_at)
			VALUES ('ls_x', ?, ?, 1, ?, '', 'x', CURRENT_TIMESTAMP)`, org, us, pid)}},
		{"REPLACE a currency", []step{st(`REPLACE INTO books_currencies (code, minor_units, unit) VALUES ('USD', 4, 1)`)}},
		{"UPDATE OR REPLACE a currency", []step{st(`UPDATE OR REPLACE books_currencies SET code = 'USD' WHERE code = 'EUR'`)}},
		{"upsert a posted entry back to draft", []step{st(`INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
			description, currency, source_system, source_ref, status, total, created_by, created_via)
			VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-12-01', 'x', 'USD', 'psa', 'zzz', 'draft', 100, '', '')
			ON CONFLICT (id) DO UPDATE SET status = 'draft', total = 100`, pid, org, us)}},
		{"upsert a posted line", []step{st(`INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, description)
			VALUES (?, ?, ?, 1, ?, 100, 0, '') ON CONFLICT (id) DO UPDATE SET debit = 1`, f.line, org, pid, f.cash)}},
		{"upsert an account in use into another type", []step{st(`INSERT INTO accounts (id, created_at, updated_at, organization_id, code, name, type, subtype, active, entity_id)
			VALUES ('acct_x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, '1000', 'x', 'revenue', 'income', 1, ?)
			ON CONFLICT (entity_id, code) DO UPDATE SET type = 'revenue', subtype = 'income'`, org, us)}},
		{"REPLACE a posted entry through its idempotency key", []step{
			st(`INSERT OR REPLACE INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, description, currency,
				source_system, source_ref, status, total, created_by, created_via, idempotency_key)
				VALUES ('je_idem', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-12-01', 'x', 'USD', 'psa', 'other-ref', 'draft', 100, 'key-user', 'api', 'k-1')`, org, us)}},
		{"REPLACE a reversing entry through reversal_of_id", []step{
			st(`INSERT OR REPLACE INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, description, currency,
				source_system, source_ref, status, total, created_by, created_via, reversal_of_id)
				VALUES ('je_rrep', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, '2026-12-01', 'x', 'USD', 'import', ?, 'draft', 100, '', '', ?)`, org, us, "reversal:"+idemEntry.ID, idemEntry.ID)}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			err, _ := r.attempt(t, nil, a.steps, nil)
			require.Error(t, err, "the database accepted it")
		})
	}
	got := b.client.JournalEntry.Query().Where(journalentry.ID(pid)).WithLines().OnlyX(b.ctx)
	require.Equal(t, journalentry.StatusPosted, got.Status)
	require.Len(t, got.Edges.Lines, 2)
}

// ---------------------------------------------------------------------------------------
// 2/3/4/9. Orphaned lines on SQLite: the line checks run when a line is inserted, against
// the entry it names then; with foreign keys off (any other tool), a draft can be deleted
// from under its lines and an entry with the same id inserted afterwards adopts them.
// ---------------------------------------------------------------------------------------

// Found in review, now refused or detected: lines checked against one entry are adopted by another entry inserted later
// under the same id (SQLite, foreign keys off): a UK entry posts US accounts, a manual entry
// posts Accounts Receivable, a JPY entry posts hundredths of a yen.
func TestAttackSQLiteOrphanedLinesAdoptedByNewEntry(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.SQLite)
	f := newFixture(t, b)
	r := b.raw(t)
	org, us, uk := r.org, b.entity.ID, b.other.ID

	t.Run("another entity's accounts (item 3)", func(t *testing.T) {
		err, damage := r.attempt(t, nil, []step{
			st(insertEntryFull, "je_orph", org, us, "2026-11-02", "USD", "import", "orph", 1000000, nil, nil, nil),
			st(insertLineFull, "jl_orph1", org, "je_orph", 1, f.cash, 1000000, 0, nil, nil, nil),
			st(insertLineFull, "jl_orph2", org, "je_orph", 2, f.rev, 0, 1000000, nil, nil, nil),
			st(`DELETE FROM journal_entries WHERE id = 'je_orph'`),
			st(insertEntryFull, "je_orph", org, uk, "2026-11-02", "GBP", "import", "orph", 1000000, nil, nil, nil),
			st(postRaw, "je_orph"),
		}, func(q func(string, ...any) string) string {
			return "posted UK entry has lines on accounts of entity " +
				q(`SELECT group_concat(DISTINCT a.entity_id) FROM journal_lines l JOIN accounts a ON a.id = l.account_id WHERE l.entry_id = 'je_orph'`) +
				" (UK is " + uk + ")"
		})
		requireRefused(t, err, damage)
	})

	t.Run("manual posting on Accounts Receivable (item 9)", func(t *testing.T) {
		err, damage := r.attempt(t, nil, []step{
			// A reversal draft may hold control-account lines (the mirror check runs at posting).
			st(insertEntryFull, "je_ctl", org, us, "2026-11-20", "USD", "import", "reversal:"+f.posted.ID, f.posted.Total.Units(), f.posted.ID, nil, nil),
			st(insertLineFull, "jl_ctl1", org, "je_ctl", 1, f.ar, 770000, 0, nil, nil, nil),
			st(insertLineFull, "jl_ctl2", org, "je_ctl", 2, f.rev, 0, 770000, nil, nil, nil),
			st(`DELETE FROM journal_entries WHERE id = 'je_ctl'`),
			st(insertEntryFull, "je_ctl", org, us, "2026-11-20", "USD", "import", "manual-ar", 770000, nil, nil, nil),
			st(postRaw, "je_ctl"),
		}, func(q func(string, ...any) string) string {
			return "manual entry posted to AR: AR debit " + q(`SELECT sum(debit) FROM journal_lines WHERE entry_id = 'je_ctl' AND account_id = ?`, f.ar) +
				", document_type " + q(`SELECT document_type FROM journal_entries WHERE id = 'je_ctl'`)
		})
		requireRefused(t, err, damage)
	})

	t.Run("hundredths of a yen (item 4)", func(t *testing.T) {
		jp, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: "JP", Name: "JP KK", BaseCurrency: "USD"})
		require.NoError(t, err)
		jpCash := b.client.Account.Query().Where(account.EntityID(jp.ID), account.Code("1000")).OnlyIDX(b.ctx)
		jpRev := b.client.Account.Query().Where(account.EntityID(jp.ID), account.Code("4000")).OnlyIDX(b.ctx)
		err, damage := r.attempt(t, nil, []step{
			st(insertEntryFull, "je_yen", org, jp.ID, "2026-11-02", "USD", "import", "yen", 10000, nil, nil, nil),
			st(insertLineFull, "jl_yen1", org, "je_yen", 1, jpCash, 100, 0, nil, nil, nil),
			st(insertLineFull, "jl_yen2", org, "je_yen", 2, jpCash, 9900, 0, nil, nil, nil),
			st(insertLineFull, "jl_yen3", org, "je_yen", 3, jpRev, 0, 10000, nil, nil, nil),
			st(`DELETE FROM journal_entries WHERE id = 'je_yen'`),
			// The entity has no entry any more, so its base currency may change.
			st(`UPDATE legal_entities SET base_currency = 'JPY' WHERE id = ?`, jp.ID),
			st(insertEntryFull, "je_yen", org, jp.ID, "2026-11-02", "JPY", "import", "yen", 10000, nil, nil, nil),
			st(postRaw, "je_yen"),
		}, func(q func(string, ...any) string) string {
			return "JPY entry posted with line amounts (1/10000 units) " +
				q(`SELECT group_concat(debit + credit) FROM journal_lines WHERE entry_id = 'je_yen'`)
		})
		requireRefused(t, err, damage)
	})
}

// ---------------------------------------------------------------------------------------
// 5/6/4/8. CHECK constraints on SQLite can be switched off per connection by any client
// (PRAGMA ignore_check_constraints), just like foreign keys.
// ---------------------------------------------------------------------------------------

// Found in review, now refused or detected: every rule the migration states as a CHECK (status enum, date range, one-sided
// positive line amounts, positive total, the reversal reference, document entries only in
// books) is gone once a client runs PRAGMA ignore_check_constraints = ON; the triggers do not
// restate them.
func TestAttackSQLiteIgnoreCheckConstraints(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.SQLite)
	f := newFixture(t, b)
	r := b.raw(t)
	org, us, pid := r.org, b.entity.ID, f.posted.ID
	off := [][2]string{{`PRAGMA ignore_check_constraints = ON`, `PRAGMA ignore_check_constraints = OFF`}}
	attacks := []struct {
		name   string
		steps  []step
		damage func(q func(string, ...any) string) string
	}{
		{"a status outside the enum (item 5)", []step{st(`UPDATE journal_entries SET status = 'POSTED' WHERE id = ?`, f.draft)},
			func(q func(string, ...any) string) string {
				return "status is now " + q(`SELECT status FROM journal_entries WHERE id = ?`, f.draft)
			}},
		{"half a cent through negative amounts (item 4)", []step{
			st(insertEntryFull, "je_neg", org, us, "2026-11-02", "USD", "import", "neg", 100, nil, nil, nil),
			st(insertLineFull, "jl_neg1", org, "je_neg", 1, f.cash, 150, -50, nil, nil, nil),
			st(insertLineFull, "jl_neg2", org, "je_neg", 2, f.rev, -50, 150, nil, nil, nil),
			st(postRaw, "je_neg"),
		}, func(q func(string, ...any) string) string {
			return "posted lines (debit/credit): " + q(`SELECT group_concat(debit || '/' || credit, ' ') FROM journal_lines WHERE entry_id = 'je_neg'`)
		}},
		{"a date before 1900 (item 6)", []step{
			st(insertEntryFull, "je_old", org, us, "0026-11-02", "USD", "import", "old", 1000000, nil, nil, nil),
			st(insertLineFull, "jl_old1", org, "je_old", 1, f.cash, 1000000, 0, nil, nil, nil),
			st(insertLineFull, "jl_old2", org, "je_old", 2, f.rev, 0, 1000000, nil, nil, nil),
			st(postRaw, "je_old"),
		}, func(q func(string, ...any) string) string {
			return "posted on " + q(`SELECT date FROM journal_entries WHERE id = 'je_old'`)
		}},
		{"squat a reversal reference (item 8)", []step{
			st(insertEntryFull, "je_sq", org, us, "2026-11-02", "USD", "psa", "reversal:"+pid, 1000000, nil, nil, nil),
			st(insertLineFull, "jl_sq1", org, "je_sq", 1, f.cash, 1000000, 0, nil, nil, nil),
			st(insertLineFull, "jl_sq2", org, "je_sq", 2, f.rev, 0, 1000000, nil, nil, nil),
			st(postRaw, "je_sq"),
		}, func(q func(string, ...any) string) string {
			return "a manual entry took source psa:" + q(`SELECT source_ref FROM journal_entries WHERE id = 'je_sq'`) +
				", the reference the reversal of " + pid + " needs"
		}},
		{"a zero entry", []step{
			st(insertEntryFull, "je_zero", org, us, "2026-11-02", "USD", "import", "zero", 0, nil, nil, nil),
			st(insertLineFull, "jl_z1", org, "je_zero", 1, f.cash, 0, 0, nil, nil, nil),
			st(insertLineFull, "jl_z2", org, "je_zero", 2, f.rev, 0, 0, nil, nil, nil),
			st(postRaw, "je_zero"),
		}, func(q func(string, ...any) string) string {
			return "posted an entry of total " + q(`SELECT total FROM journal_entries WHERE id = 'je_zero'`)
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			err, damage := r.attempt(t, off, a.steps, a.damage)
			requireRefused(t, err, damage)
		})
	}
}

// ---------------------------------------------------------------------------------------
// Type affinity, NULLs, odd spellings: SQLite (and PostgreSQL where it applies).
// ---------------------------------------------------------------------------------------

// Type and spelling tricks on the values the triggers compare: all refused.
func TestAttackTypeAndSpellingTricksHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		org, us := r.org, b.entity.ID
		type attack struct {
			name  string
			only  string
			steps []step
		}
		withDate := func(name string, d any) attack {
			return attack{name: "date " + name, only: dialect.SQLite, steps: []step{st(`INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date,
				description, currency, source_system, source_ref, status, total, created_by, created_via)
				VALUES ('je_ty', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, ?, ?, 'x', 'USD', 'import', 'ty', 'draft', 100, '', '')`, org, us, d)}}
		}
		line := func(name string, debit any) attack {
			return attack{name: "line amount " + name, steps: []step{st(insertLine, "jl_ty", org, f.draft, 3, f.cash, debit, 0)}}
		}
		attacks := []attack{
			withDate("with a trailing space", "2026-11-02 "),
			withDate("as an integer", 20261102),
			withDate("with a leading +", "+2026-11-02"),
			withDate("as a julian day", 2461000.5),
			withDate("as a blob", []byte("2026-11-02")),
			withDate("2026-02-30", "2026-02-30"),
			withDate("with a time", "2026-11-02 00:00:00"),
			withDate("NULL", nil),
			line("as a blob", []byte{0x64}),
			line("as a numeric text with a fraction", "100.5"),
			line("as a float that is not whole", 1.5),
			line("NULL", nil),
			line("negative", -100),
			line("beyond int64 as text", "99999999999999999999"),
			{name: "entry total as text", only: dialect.SQLite, steps: []step{st(insertEntry, "je_tt", org, us, "tt", "draft", "lots")}},
			{name: "entry total REAL", only: dialect.SQLite, steps: []step{st(insertEntry, "je_tr", org, us, "tr", "draft", 100.5)}},
			{name: "status with a trailing space", steps: []step{st(`UPDATE journal_entries SET status = 'posted ' WHERE id = ?`, f.draft)}},
			{name: "status NULL", steps: []step{st(`UPDATE journal_entries SET status = NULL WHERE id = ?`, f.draft)}},
			{name: "status Posted", steps: []step{st(`UPDATE journal_entries SET status = 'Posted' WHERE id = ?`, f.draft)}},
			{name: "currency in lower case", steps: []step{st(strings.Replace(insertEntry, "'USD'", "'usd'", 1), "je_lc", org, us, "lc", "draft", 100)}},
			{name: "currency with a trailing space", steps: []step{st(strings.Replace(insertEntry, "'USD'", "'USD '", 1), "je_ls", org, us, "ls", "draft", 100)}},
			{name: "books reference with a capital source", steps: []step{
				st(strings.Replace(insertEntry, "'import'", "'books'", 1), "je_cap", org, us, "Invoice:inv_x", "draft", 100)}},
			{name: "books reference with a leading space", steps: []step{
				st(strings.Replace(insertEntry, "'import'", "'books'", 1), "je_sp", org, us, " invoice:inv_x", "draft", 100)}},
			{name: "a reversal reference in capitals", steps: []step{st(insertEntry, "je_rc", org, us, "REVERSAL:x", "draft", 100)}},
			{name: "a line of another organization's entry id", steps: []step{st(insertLine, "jl_ox", "org_x", f.draft, 3, f.cash, 100, 0)}},
			{name: "a line on an entry that does not exist", steps: []step{st(insertLine, "jl_nx", org, "je_missing", 1, f.cash, 100, 0)}},
			{name: "a line whose account id differs in case", steps: []step{st(insertLine, "jl_case", org, f.draft, 3, strings.ToUpper(f.cash), 100, 0)}},
		}
		// Spellings that are merely harmless (they name no document) may be accepted; they
		// must not be mistaken for the reserved namespaces.
		harmless := map[string]bool{"books reference with a capital source": true, "a reversal reference in capitals": true}
		for _, a := range attacks {
			if a.only != "" && a.only != b.db.Dialect {
				continue
			}
			t.Run(a.name, func(t *testing.T) {
				err, _ := r.attempt(t, nil, a.steps, nil)
				if harmless[a.name] {
					return
				}
				require.Error(t, err, "the database accepted it")
			})
		}
	})
}

// ---------------------------------------------------------------------------------------
// 8/9. Documents: the database cannot tell a document's entry from anyone else's.
// ---------------------------------------------------------------------------------------

// Found in review, now refused or detected: raw SQL that simply fills document_type/document_id passes every document rule:
// it posts to Accounts Receivable (item 9) with no invoice behind it, so AR no longer equals
// what customers owe, and it takes an invoice's "invoice:<id>" reference (item 8). Nothing
// ties document_type/document_id to an existing document, nor source_ref to document_id.
func TestAttackRawDocumentClaim(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		org, us := r.org, b.entity.ID
		cus, err := b.client.Customer.Create().SetName("Acme Corp").SetDisplayName("Acme").SetCurrency("USD").Save(b.ctx)
		require.NoError(t, err)

		t.Run("post to AR as a made-up invoice", func(t *testing.T) {
			err, damage := r.attempt(t, nil, []step{
				st(insertEntryFull, "je_claim", org, us, "2026-11-02", "USD", "books", "invoice:inv_madeup", 1000000, nil, "invoice", "inv_madeup"),
				st(insertLineFull, "jl_claim1", org, "je_claim", 1, f.ar, 1000000, 0, nil, cus.ID, nil),
				st(insertLineFull, "jl_claim2", org, "je_claim", 2, f.rev, 0, 1000000, nil, nil, nil),
				st(postRaw, "je_claim"),
			}, func(q func(string, ...any) string) string {
				return "AR now " + q(`SELECT sum(debit) - sum(credit) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
					WHERE l.account_id = ? AND e.status IN ('posted', 'reversed')`, f.ar) + " units with no invoice at all"
			})
			requireRefused(t, err, damage)
		})
		t.Run("document id that does not match the reference", func(t *testing.T) {
			err, damage := r.attempt(t, nil, []step{
				st(insertEntryFull, "je_claim2", org, us, "2026-11-02", "USD", "books", "invoice:inv_victim", 1000000, nil, "payment", "pmt_whatever"),
			}, func(q func(string, ...any) string) string {
				return "a draft now holds books:invoice:inv_victim for document " + q(`SELECT document_type || ' ' || document_id FROM journal_entries WHERE id = 'je_claim2'`)
			})
			requireRefused(t, err, damage)
		})
	})
}

// Found in review, now refused or detected: a draft is never checked, so raw SQL can leave a draft holding a real invoice's
// "invoice:<id>" reference (approval then fails forever) or the "reversal:<id>" of its
// approval entry (the void then fails with ALREADY_REVERSED although nothing was reversed).
func TestAttackDraftSquatsDocumentReferences(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		org, us := r.org, b.entity.ID
		bf := newBilling(t, b)

		t.Run("approval", func(t *testing.T) {
			inv := bf.submitted(t, b, "100.00")
			err := r.exec(insertEntryFull, "je_sqa", org, us, "2026-11-02", "USD", "books", "invoice:"+inv.ID, 1000000, nil, "invoice", inv.ID)
			if err == nil {
				defer r.exec(`DELETE FROM journal_entries WHERE id = 'je_sqa'`) //nolint:errcheck
			}
			_, aerr := billing.ApproveInvoice(bf.bob, b.client, inv.ID)
			require.True(t, err != nil || aerr == nil,
				"a raw draft took books:invoice:%s; approving the invoice now fails: %v", inv.ID, aerr)
		})
		t.Run("void", func(t *testing.T) {
			inv := bf.approved(t, b, "100.00")
			orig := b.client.JournalEntry.GetX(b.ctx, *inv.JournalEntryID)
			err := r.exec(insertEntryFull, "je_sqv", org, us, "2026-11-02", "USD", "books", "reversal:"+orig.ID,
				orig.Total.Units(), orig.ID, "invoice", inv.ID)
			if err == nil {
				defer r.exec(`DELETE FROM journal_entries WHERE id = 'je_sqv'`) //nolint:errcheck
			}
			_, verr := billing.VoidInvoice(bf.bob, b.client, inv.ID, "attack")
			require.True(t, err != nil || verr == nil,
				"a raw draft took books:reversal:%s; voiding the invoice now fails: %v", orig.ID, verr)
			_ = f
		})
		t.Run("an integration's source reference", func(t *testing.T) {
			err := r.exec(insertEntryFull, "je_sqp", org, us, "2026-11-02", "USD", "psa", "time-99", 1000000, nil, nil, nil)
			require.NoError(t, err)
			defer r.exec(`DELETE FROM journal_entries WHERE id = 'je_sqp'`) //nolint:errcheck
			res, perr := ledger.Post(b.ctx, b.client, b.entry("time-99", "10.00"))
			require.NoError(t, perr)
			require.Equal(t, journalentry.StatusPosted, res.Entry.Status,
				"posting psa:time-99 answered with the squatting draft %s as the existing entry (created=%v)", res.Entry.ID, res.Created)
		})
	})
}

// ---------------------------------------------------------------------------------------
// 3 (SQLite): customers and vendors on posted lines.
// ---------------------------------------------------------------------------------------

// Found in review, now refused or detected: the customer named on posted AR lines can be deleted on SQLite with foreign keys
// off (customers have no delete guard; the FK's ON DELETE SET NULL would be refused by
// journal_lines_no_update only when foreign keys are on), and another organization's
// customer can then take its id: the posted AR lines of organization A name a customer of
// organization B. On PostgreSQL the same DELETE is refused (the FK action updates the line).
func TestAttackCustomerOfPostedLinesReplaced(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		bf := newBilling(t, b)
		bf.approved(t, b, "100.00")
		r := b.raw(t)
		org2, err := b.client.Organization.Create().SetName("Other org").Save(tenant.System(context.Background()))
		require.NoError(t, err)
		err, damage := r.attemptAll(t, []step{
			st(`DELETE FROM customers WHERE id = ?`, bf.customer.ID),
			st(`INSERT INTO customers (id, created_at, updated_at, organization_id, name, display_name, currency, active)
				VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?, 'Mallory Corp', 'Mallory', 'USD', true)`, bf.customer.ID, org2.ID),
		}, func(q func(string, ...any) string) string {
			return "posted AR lines now name a customer of organization " +
				q(`SELECT group_concat(DISTINCT c.organization_id) FROM journal_lines l JOIN customers c ON c.id = l.customer_id WHERE l.organization_id = ?`, r.org) +
				" (the lines' organization is " + r.org + ")"
		})
		requireRefused(t, err, damage)
	})
}

// ---------------------------------------------------------------------------------------
// Amounts the API would never write.
// ---------------------------------------------------------------------------------------

// Found in review (availability), now refused: the database accepts line amounts far beyond the API's maximum
// (money.MaxAbs = 10^18 units); two such postings on one account make the sums overflow
// (SQLite: "integer overflow"; PostgreSQL: a numeric that does not fit money.Amount), so the
// trial balance and the verifier can no longer be computed for the entity.
func TestAttackHugeAmountsBreakSums(t *testing.T) {
	t.Parallel()
	eachDialectUnchecked(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		org, us := r.org, b.entity.ID
		const huge = int64(9_000_000_000_000_000_000)
		var accepted bool
		for i := range 2 {
			id := fmt.Sprintf("je_huge%d", i)
			err := r.exec(insertEntryFull, id, org, us, "2026-11-02", "USD", "import", id, huge, nil, nil, nil)
			if err != nil {
				break
			}
			if r.exec(insertLine, id+"_1", org, id, 1, f.cash, huge, 0) != nil ||
				r.exec(insertLine, id+"_2", org, id, 2, f.rev, 0, huge) != nil ||
				r.exec(postRaw, id) != nil {
				break
			}
			accepted = i == 1
		}
		if !accepted {
			return // refused: the guarantee holds
		}
		_, tbErr := ledger.GetTrialBalance(b.ctx, b.client, us, date("2099-12-31"))
		_, vErr := integrity.Verify(b.ctx, b.client, us)
		require.Fail(t, "the database accepted two postings of 9e14 USD each",
			"trial balance: %v; verify: %v", tbErr, vErr)
	})
}

func qtyOne() money.Quantity { return money.MustParseQuantity("1") }

// ---------------------------------------------------------------------------------------
// 2. PostgreSQL concurrency: checks made against rows another transaction changes.
// ---------------------------------------------------------------------------------------

// async runs fn in a goroutine and returns its result channel.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// waitFor returns fn's result, or blocked = true when it has not finished within d.
func waitFor(ch <-chan error, d time.Duration) (err error, blocked bool) {
	select {
	case err := <-ch:
		return err, false
	case <-time.After(d):
		return nil, true
	}
}

// rawDraft inserts a balanced draft of amount units on the US entity's cash and revenue,
// dated d, inside tx.
func rawDraft(t *testing.T, tx *sql.Tx, b *testBundle, id, d string, units int64) {
	t.Helper()
	org := mustOrg(b)
	cash, rev := b.accountID("US", "1000"), b.accountID("US", "4000")
	ctx := context.Background()
	for _, s := range []step{
		st(insertEntryFull, id, org, b.entity.ID, d, "USD", "import", id, units, nil, nil, nil),
		st(insertLine, id+"_1", org, id, 1, cash, units, 0),
		st(insertLine, id+"_2", org, id, 2, rev, 0, units),
	} {
		_, err := tx.ExecContext(ctx, bind(b.db.Dialect, s.q), s.args...)
		require.NoError(t, err)
	}
}

// postedInClosedPeriod counts the entity's posted entries dated inside closed period name.
func postedInClosedPeriod(t *testing.T, b *testBundle, name string) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.SQL.QueryRowContext(context.Background(), bind(b.db.Dialect, `SELECT count(*) FROM journal_entries e
		JOIN accounting_periods p ON p.entity_id = e.entity_id AND p.status = 'closed' AND e.date BETWEEN p.start_date AND p.end_date
		WHERE e.entity_id = ? AND p.name = ? AND e.status IN ('posted', 'reversed')`), b.entity.ID, name).Scan(&n))
	return n
}

// Found in review, now refused or detected: on PostgreSQL the closed-period check runs once, when the entry is posted, and
// reads accounting_periods without a lock; nothing re-checks it at commit and closing a
// period does not wait for postings in flight. A period closed while a posting into it is
// uncommitted (either order) ends up closed with that posting inside it.
func TestAttackPostgresPeriodCloseRacesPosting(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	ctx := context.Background()

	t.Run("close commits while the posting is in flight", func(t *testing.T) {
		p, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-11")
		require.NoError(t, err)
		tx, err := b.db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		rawDraft(t, tx, b, "je_race1", "2026-11-15", 1000000)
		_, err = tx.ExecContext(ctx, `UPDATE journal_entries SET status = 'posted', posted_at = now() WHERE id = 'je_race1'`)
		require.NoError(t, err, "the period is open: the posting is accepted")
		closed := async(func() error { _, err := ledger.ClosePeriod(b.ctx, b.client, p.ID, "controller"); return err })
		closeErr, blocked := waitFor(closed, 2*time.Second)
		commitErr := tx.Commit()
		if blocked {
			closeErr = <-closed
		}
		// A close that waited for the posting closed a period that already held it, as any
		// close of a month with entries does; one that did not wait must not find it.
		if closeErr == nil && commitErr == nil && !blocked {
			require.Zero(t, postedInClosedPeriod(t, b, "2026-11"), "period 2026-11 was closed and the posting into it committed")
		}
		require.True(t, blocked || commitErr != nil || closeErr != nil, "the close neither waited for the posting nor was refused")
	})

	t.Run("posting while the close is uncommitted", func(t *testing.T) {
		p, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-12")
		require.NoError(t, err)
		tx, err := b.db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, `UPDATE accounting_periods SET status = 'closed', closed_by = 'controller' WHERE id = $1`, p.ID)
		require.NoError(t, err)
		posted := async(func() error {
			e := b.entry("race-dec", "10.00")
			e.Date = date("2026-12-15")
			_, err := ledger.Post(b.ctx, b.client, e)
			return err
		})
		postErr, blocked := waitFor(posted, 2*time.Second)
		commitErr := tx.Commit()
		if blocked {
			postErr = <-posted
		}
		if postErr == nil && commitErr == nil {
			require.Zero(t, postedInClosedPeriod(t, b, "2026-12"), "period 2026-12 was closed and a posting into it committed (blocked: %v)", blocked)
		}
	})
}

// Found in review, now refused or detected: on PostgreSQL under REPEATABLE READ (or SERIALIZABLE) the legal entity guard
// checks "no entries" against the transaction's old snapshot, and posting only takes a
// FOR SHARE lock on the entity (no write), so no serialization failure saves it: an entity
// whose first entry committed after the snapshot gets a new base currency, leaving posted
// CAD entries on an EUR entity (item 4). The account guard refuses exactly this case for
// reclassification ("reclassify under READ COMMITTED"); the entity guard does not.
func TestAttackPostgresBaseCurrencyChangeUnderStaleSnapshot(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	ctx := context.Background()
	for _, iso := range []sql.IsolationLevel{sql.LevelRepeatableRead, sql.LevelSerializable} {
		t.Run(iso.String(), func(t *testing.T) {
			code := "C" + strings.ToUpper(iso.String()[:2])
			le, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: code, Name: code, BaseCurrency: "CAD"})
			require.NoError(t, err)
			tx, err := b.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: iso})
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			_, err = tx.ExecContext(ctx, `SELECT count(*) FROM legal_entities`) // the snapshot
			require.NoError(t, err)

			_, err = ledger.Post(b.ctx, b.client, ledger.Entry{EntityID: le.ID, Date: date("2026-11-10"), Source: source.PSA,
				SourceRef: "cad-1", Lines: []ledger.Line{{AccountCode: "1000", Debit: amt("10.00")}, {AccountCode: "4000", Credit: amt("10.00")}}})
			require.NoError(t, err)

			_, err = tx.ExecContext(ctx, `UPDATE legal_entities SET base_currency = 'EUR' WHERE id = $1`, le.ID)
			if err == nil {
				err = tx.Commit()
			}
			var base string
			require.NoError(t, b.db.SQL.QueryRowContext(ctx, `SELECT base_currency FROM legal_entities WHERE id = $1`, le.ID).Scan(&base))
			require.Error(t, err, "entity %s now has base currency %s and a posted CAD entry", code, base)
		})
	}
}

// Reclassification against posting on PostgreSQL, in both orders and under both isolation
// levels: held (the line holds the account FOR SHARE; a stale snapshot is refused).
func TestAttackPostgresReclassifyRacesPostingHeld(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	ctx := context.Background()
	org := mustOrg(b)
	newAccount := func(code string) string {
		a, err := ledger.CreateAccount(b.ctx, b.client, ent.CreateAccountInput{EntityID: b.entity.ID, Code: code, Name: code,
			Type: account.TypeAsset, Subtype: account.SubtypeOtherCurrentAsset})
		require.NoError(t, err)
		return a.ID
	}
	rev := b.accountID("US", "4000")
	toAR := `UPDATE accounts SET subtype = 'accounts_receivable' WHERE id = $1`

	t.Run("line first, reclassify waits", func(t *testing.T) {
		x := newAccount("1801")
		tx, err := b.db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		for _, s := range []step{
			st(insertEntryFull, "je_rc1", org, b.entity.ID, "2026-11-02", "USD", "import", "rc1", 10000, nil, nil, nil),
			st(insertLine, "jl_rc1a", org, "je_rc1", 1, x, 10000, 0),
			st(insertLine, "jl_rc1b", org, "je_rc1", 2, rev, 0, 10000),
		} {
			_, err := tx.ExecContext(ctx, bind(dialect.Postgres, s.q), s.args...)
			require.NoError(t, err)
		}
		re := async(func() error { _, err := b.db.SQL.ExecContext(ctx, toAR, x); return err })
		_, blocked := waitFor(re, 500*time.Millisecond)
		require.True(t, blocked, "the reclassification did not wait for the line in flight")
		_, err = tx.ExecContext(ctx, `UPDATE journal_entries SET status = 'posted' WHERE id = 'je_rc1'`)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.ErrorContains(t, <-re, "ACCOUNT_IN_USE")
	})
	t.Run("reclassify first, line waits", func(t *testing.T) {
		x := newAccount("1802")
		tx, err := b.db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, toAR, x)
		require.NoError(t, err)
		posted := async(func() error {
			_, err := ledger.Post(b.ctx, b.client, ledger.Entry{EntityID: b.entity.ID, Date: date("2026-11-10"), Source: source.PSA,
				SourceRef: "rc2", Lines: []ledger.Line{{AccountID: x, Debit: amt("1.00")}, {AccountCode: "4000", Credit: amt("1.00")}}})
			return err
		})
		_, blocked := waitFor(posted, 500*time.Millisecond)
		require.NoError(t, tx.Commit())
		err = <-posted
		require.Error(t, err, "a manual line reached an account that became Accounts Receivable (blocked: %v)", blocked)
	})
	t.Run("stale snapshot", func(t *testing.T) {
		x := newAccount("1803")
		tx, err := b.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, `SELECT 1 FROM accounts LIMIT 1`)
		require.NoError(t, err)
		_, err = ledger.Post(b.ctx, b.client, ledger.Entry{EntityID: b.entity.ID, Date: date("2026-11-10"), Source: source.PSA,
			SourceRef: "rc3", Lines: []ledger.Line{{AccountID: x, Debit: amt("1.00")}, {AccountCode: "4000", Credit: amt("1.00")}}})
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, toAR, x)
		require.ErrorContains(t, err, "READ COMMITTED", "reclassifying runs under READ COMMITTED only")
	})
	t.Run("delete an account in use under a stale snapshot", func(t *testing.T) {
		x := newAccount("1804")
		tx, err := b.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, `SELECT 1 FROM accounts LIMIT 1`)
		require.NoError(t, err)
		_, err = ledger.Post(b.ctx, b.client, ledger.Entry{EntityID: b.entity.ID, Date: date("2026-11-10"), Source: source.PSA,
			SourceRef: "rc4", Lines: []ledger.Line{{AccountID: x, Debit: amt("1.00")}, {AccountCode: "4000", Credit: amt("1.00")}}})
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = $1`, x)
		if err == nil {
			err = tx.Commit()
		}
		require.Error(t, err, "an account with a posting was deleted")
	})
}

// Lines against posting under SERIALIZABLE and with SET CONSTRAINTS ALL IMMEDIATE/DEFERRED,
// deterministic orders: held.
func TestAttackPostgresLinesAgainstPostingHeld(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	ctx := context.Background()
	org := mustOrg(b)
	cash := b.accountID("US", "1000")
	for i, mode := range []string{"SET CONSTRAINTS ALL IMMEDIATE", "SET CONSTRAINTS ALL DEFERRED"} {
		for j, iso := range []sql.IsolationLevel{sql.LevelReadCommitted, sql.LevelRepeatableRead, sql.LevelSerializable} {
			t.Run(fmt.Sprintf("%s/%s", mode, iso), func(t *testing.T) {
				id := fmt.Sprintf("je_lp%d%d", i, j)
				setupTx, err := b.db.SQL.BeginTx(ctx, nil)
				require.NoError(t, err)
				rawDraft(t, setupTx, b, id, "2026-11-02", 1000000)
				require.NoError(t, setupTx.Commit())

				// The line's transaction takes its snapshot first, the posting commits, then
				// the line arrives.
				lineTx, err := b.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: iso})
				require.NoError(t, err)
				defer func() { _ = lineTx.Rollback() }()
				_, err = lineTx.ExecContext(ctx, mode)
				require.NoError(t, err)
				_, err = lineTx.ExecContext(ctx, `SELECT status FROM journal_entries WHERE id = $1`, id)
				require.NoError(t, err)

				postTx, err := b.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: iso})
				require.NoError(t, err)
				defer func() { _ = postTx.Rollback() }()
				_, err = postTx.ExecContext(ctx, mode)
				require.NoError(t, err)
				_, err = postTx.ExecContext(ctx, `UPDATE journal_entries SET status = 'posted' WHERE id = $1`, id)
				if iso != sql.LevelReadCommitted {
					// Ledger writes run under READ COMMITTED only: a snapshot older than the
					// locks a write waited for never judges it.
					require.ErrorContains(t, err, "READ COMMITTED")
					_, err = lineTx.ExecContext(ctx, bind(dialect.Postgres, insertLine), id+"_late", org, id, 3, cash, 5550000, 0)
					require.ErrorContains(t, err, "READ COMMITTED")
					return
				}
				require.NoError(t, err)

				added := async(func() error {
					_, err := lineTx.ExecContext(ctx, bind(dialect.Postgres, insertLine), id+"_late", org, id, 3, cash, 5550000, 0)
					if err != nil {
						return err
					}
					return lineTx.Commit()
				})
				_, _ = waitFor(added, 300*time.Millisecond)
				require.NoError(t, postTx.Commit())
				require.Error(t, <-added, "a line reached an entry posted concurrently")
				var d, c int64
				require.NoError(t, b.db.SQL.QueryRowContext(ctx, `SELECT sum(debit), sum(credit) FROM journal_lines WHERE entry_id = $1`, id).Scan(&d, &c))
				require.Equal(t, d, c)
			})
		}
	}
}

// Concurrent reversals of one entry: exactly one wins, on both databases.
func TestAttackConcurrentReversalsHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		res, err := ledger.Post(b.ctx, b.client, b.entry("rev-race", "42.00"))
		require.NoError(t, err)
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res.Entry.ID, Date: date("2026-11-20")})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		require.Equal(t, 1, ok, "%v", errs)
		n2, err := b.client.JournalEntry.Query().Where(journalentry.ReversalOfID(res.Entry.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n2)
	})
}

// Two (and more) sealers racing each other and posting: one chain, every entry once.
func TestAttackConcurrentSealersHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		for i := range 20 {
			_, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("seal-%d", i), "1.00"))
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		deadline := time.Now().Add(3 * time.Second)
		for s := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 10 && time.Now().Before(deadline); k++ {
					if _, err := ledger.SealPending(b.ctx, b.client, b.entity.ID); err != nil {
						errs <- fmt.Errorf("sealer %d: %w", s, err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if _, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("seal-late-%d", i), "1.00")); err != nil {
					errs <- err
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		_, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		seals, err := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, b.entryCount(t), seals)
		r, err := integrity.Verify(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.True(t, r.OK, r.Problem)
	})
}

// ---------------------------------------------------------------------------------------
// Tamper evidence: the sealer and the verifier.
// ---------------------------------------------------------------------------------------

// tamper runs stmt past the database's guards, as a superuser can: session_replication_role
// = replica on PostgreSQL; on SQLite the table's triggers are dropped.
func tamper(t *testing.T, b *testBundle, table, stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := b.db.SQL.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	if b.db.Dialect == dialect.Postgres {
		_, err = conn.ExecContext(ctx, `SET session_replication_role = replica`)
		require.NoError(t, err)
		defer conn.ExecContext(ctx, `RESET session_replication_role`) //nolint:errcheck
	} else {
		rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`, table)
		require.NoError(t, err)
		var names []string
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			names = append(names, n)
		}
		require.NoError(t, rows.Close())
		for _, n := range names {
			_, err := conn.ExecContext(ctx, `DROP TRIGGER "`+n+`"`)
			require.NoError(t, err)
		}
	}
	res, err := conn.ExecContext(ctx, bind(b.db.Dialect, stmt), args...)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Positive(t, n, "tampering changed nothing: %s", stmt)
}

func (b *testBundle) sealAll(t *testing.T) {
	t.Helper()
	_, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
	require.NoError(t, err)
}

func (b *testBundle) verifyReport(t *testing.T) integrity.Report {
	t.Helper()
	r, err := integrity.Verify(b.ctx, b.client, b.entity.ID)
	require.NoError(t, err)
	return r
}

func requireDetected(t *testing.T, r integrity.Report, what string) {
	t.Helper()
	require.False(t, r.OK, "the verifier did not notice: %s", what)
}

// Found in review, now refused or detected: status is left out of the seal on purpose (posted → reversed is legitimate), but
// the verifier then never checks status against the chain: a sealed original set back from
// reversed to posted while its reversal stays posted, or a sealed entry marked reversed with
// no reversing entry (item 5's exact attack, done past the triggers), verifies OK.
func TestAttackVerifierMissesStatusEdits(t *testing.T) {
	t.Parallel()
	eachDialectUnchecked(t, func(t *testing.T, b *testBundle) {
		t.Run("reversed back to posted", func(t *testing.T) {
			res, err := ledger.Post(b.ctx, b.client, b.entry("st-1", "10.00"))
			require.NoError(t, err)
			_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res.Entry.ID, Date: date("2026-11-20")})
			require.NoError(t, err)
			b.sealAll(t)
			tamper(t, b, "journal_entries", `UPDATE journal_entries SET status = 'posted' WHERE id = ?`, res.Entry.ID)
			requireDetected(t, b.verifyReport(t), "entry "+res.Entry.ID+" is posted again while its reversal is posted")
		})
		t.Run("posted to reversed without a reversing entry", func(t *testing.T) {
			res, err := ledger.Post(b.ctx, b.client, b.entry("st-2", "10.00"))
			require.NoError(t, err)
			b.sealAll(t)
			tamper(t, b, "journal_entries", `UPDATE journal_entries SET status = 'reversed' WHERE id = ?`, res.Entry.ID)
			requireDetected(t, b.verifyReport(t), "entry "+res.Entry.ID+" is reversed with no reversing entry")
		})
	})
}

// The chain is a plain SHA-256 chain over public content (as the issue specifies): whoever
// can edit a posted entry with triggers disabled can recompute its seal and every later link.
// Every head a verification recorded anchors the chain, so a rewrite after one is caught, even
// with a forged "ok" verification of the new head INSERTed. What no in-database check can
// catch — a rewrite before the first verification, or the newest entries deleted with their
// seals between two verifications — needs the head hash kept outside the database, which
// `books ledger verify` prints for that purpose (docs/architecture.md).
func TestAttackVerifierConsistentRewrite(t *testing.T) {
	t.Parallel()
	rewrite := func(t *testing.T, b *testBundle, victim *ent.JournalEntry) {
		t.Helper()
		lines := b.client.JournalEntry.QueryLines(victim).AllX(b.ctx)
		for _, l := range lines {
			col := "debit"
			if l.Credit.IsPositive() {
				col = "credit"
			}
			tamper(t, b, "journal_lines", `UPDATE journal_lines SET `+col+` = `+col+` * 10 WHERE id = ?`, l.ID)
		}
		tamper(t, b, "journal_entries", `UPDATE journal_entries SET total = total * 10 WHERE id = ?`, victim.ID)
		// Recompute the victim's link and every later one.
		seals := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID)).Order(ent.Asc(ledgerseal.FieldSeq)).AllX(b.ctx)
		prev := ""
		for _, s := range seals {
			e := b.client.JournalEntry.Query().Where(journalentry.ID(s.EntryID)).WithLines().OnlyX(b.ctx)
			h := ledger.SealHash(prev, e, e.Edges.Lines)
			if h != s.Hash || prev != s.PrevHash {
				tamper(t, b, "ledger_seals", `UPDATE ledger_seals SET prev_hash = ?, hash = ? WHERE id = ?`, prev, h, s.ID)
			}
			prev = h
		}
	}
	dialectCase(t, "after a verification, with a forged anchor", func(t *testing.T, b *testBundle) {
		var victim *ent.JournalEntry
		for i := range 3 {
			res, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("rw-%d", i), "10.00"))
			require.NoError(t, err)
			if i == 1 {
				victim = res.Entry
			}
		}
		b.sealAll(t)
		_, _, err := integrity.VerifyAndRecord(b.ctx, b.client, b.entity.ID, false)
		require.NoError(t, err)
		rewrite(t, b, victim)
		requireDetected(t, b.verifyReport(t), "the anchor must notice the rewrite") // held so far
		// The forged anchor needs no privilege: INSERT is allowed on ledger_verifications.
		head := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID)).Order(ent.Desc(ledgerseal.FieldSeq)).FirstX(b.ctx)
		r := b.raw(t)
		r.mustExec(`INSERT INTO ledger_verifications (id, organization_id, entity_id, verified_at, ok, entries_checked,
			entries_sealed, head_seq, head_hash) VALUES ('lv_forged', ?, ?, ?, true, 3, 3, ?, ?)`,
			r.org, b.entity.ID, time.Now().UTC().Add(time.Hour), head.Seq, head.Hash)
		requireDetected(t, b.verifyReport(t), "entry "+victim.ID+" posted at 10× its amount, chain recomputed, anchor forged")
	})
}

// Edits the chain does catch: held.
func TestAttackVerifierDetectsHeld(t *testing.T) {
	t.Parallel()
	dialectCase(t, "last seal and entry deleted after a verification", func(t *testing.T, b *testBundle) {
		var es []*ent.JournalEntry
		for i := range 3 {
			res, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("h-%d", i), "10.00"))
			require.NoError(t, err)
			es = append(es, res.Entry)
		}
		b.sealAll(t)
		_, _, err := integrity.VerifyAndRecord(b.ctx, b.client, b.entity.ID, false)
		require.NoError(t, err)
		tamper(t, b, "ledger_seals", `DELETE FROM ledger_seals WHERE entry_id = ?`, es[2].ID)
		requireDetected(t, b.verifyReport(t), "the head seal deleted")
	})
	dialectCase(t, "two links swapped", func(t *testing.T, b *testBundle) {
		var es []*ent.JournalEntry
		for i := range 3 {
			res, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("h-%d", i), "10.00"))
			require.NoError(t, err)
			es = append(es, res.Entry)
		}
		b.sealAll(t)
		tamper(t, b, "ledger_seals", `UPDATE ledger_seals SET entry_id = CASE WHEN entry_id = ? THEN ? ELSE ? END WHERE entry_id IN (?, ?)`,
			es[0].ID, "tmp_swap", es[0].ID, es[0].ID, es[1].ID)
		tamper(t, b, "ledger_seals", `UPDATE ledger_seals SET entry_id = ? WHERE entry_id = 'tmp_swap'`, es[1].ID)
		requireDetected(t, b.verifyReport(t), "links 1 and 2 swapped")
	})
	dialectCase(t, "an open invoice's balance edited (billing tables have no guard)", func(t *testing.T, b *testBundle) {
		bf := newBilling(t, b)
		inv := bf.approved(t, b, "100.00")
		b.sealAll(t)
		r := b.raw(t)
		r.mustExec(`UPDATE invoices SET balance = balance - 500000 WHERE id = ?`, inv.ID)
		requireDetected(t, b.verifyReport(t), "AR no longer equals the open invoices")
	})
}

// Found in review, now refused or detected: posted_at is written by whoever posts (raw SQL included) and neither type- nor
// range-checked; an entry posted with a posted_at the application cannot read ('lots' on
// SQLite, 'infinity' on PostgreSQL) cannot be sealed, and SealPending fails for the entity
// from then on, so nothing posted afterwards is ever sealed; Verify cannot run either.
func TestAttackUnreadablePostedAtStopsSealing(t *testing.T) {
	t.Parallel()
	eachDialectUnchecked(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		b.sealAll(t)
		r := b.raw(t)
		bad := "lots"
		if b.db.Dialect == dialect.Postgres {
			bad = "infinity"
		}
		err := r.exec(`UPDATE journal_entries SET status = 'posted', posted_at = ? WHERE id = ?`, bad, f.draft)
		if err != nil {
			return // refused: held
		}
		_, err = ledger.Post(b.ctx, b.client, b.entry("after", "1.00"))
		require.NoError(t, err)
		_, sealErr := ledger.SealPending(b.ctx, b.client, b.entity.ID)
		_, verifyErr := integrity.Verify(b.ctx, b.client, b.entity.ID)
		require.NoError(t, sealErr, "posted_at %q was accepted; the sealer is now stuck (verify: %v)", bad, verifyErr)
		require.NoError(t, verifyErr)
	})
}

// ---------------------------------------------------------------------------------------
// 11/12. Dating of corrections, unapplyCredit (application paths).
// ---------------------------------------------------------------------------------------

// Found in review, now refused or detected: unapplyPayment and unapplyCredit are dated laterOf(today, the payment's or memo's
// own date), not against the application entry they undo, and do not go through the ledger's
// correction-dating rule (Reverse clamps to the original's posted date). An application
// moved forward to the first open period (its month closed), then the month reopened,
// is unapplied on a date *before* the application (item 11: "never before the original").
func TestAttackUnapplyDatedBeforeTheApplication(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		bf := newBilling(t, b)
		june, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2099-06")
		require.NoError(t, err)
		entryDate := func(id string) string { return b.client.JournalEntry.GetX(b.ctx, id).Date.String() }

		t.Run("payment", func(t *testing.T) {
			inv := bf.approved(t, b, "100.00")
			_, err := ledger.ClosePeriod(b.ctx, b.client, june.ID, "controller")
			require.NoError(t, err)
			p, err := billing.RecordPayment(bf.alice, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: bf.customer.ID,
				Amount: amt("100.00"), ReceivedDate: date("2099-06-15"), Method: "ach"})
			require.NoError(t, err)
			_, err = billing.ApplyPayment(bf.alice, b.client, p.ID, []billing.Application{{InvoiceID: inv.ID, Amount: amt("100.00")}})
			require.NoError(t, err)
			app := b.client.PaymentApplication.Query().AllX(b.ctx)[0]
			applied := entryDate(app.JournalEntryID)
			_, err = ledger.ReopenPeriod(b.ctx, b.client, june.ID)
			require.NoError(t, err)
			_, err = billing.UnapplyPayment(bf.alice, b.client, app.ID)
			require.NoError(t, err)
			app = b.client.PaymentApplication.GetX(b.ctx, app.ID)
			unapplied := entryDate(*app.UnapplyEntryID)
			require.GreaterOrEqual(t, unapplied, applied, "the application was posted on %s, its unapplication on %s", applied, unapplied)
		})
		t.Run("credit memo", func(t *testing.T) {
			inv := bf.approved(t, b, "100.00")
			_, err := ledger.ClosePeriod(b.ctx, b.client, june.ID, "controller")
			require.NoError(t, err)
			cm, err := billing.IssueCreditMemo(bf.alice, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: bf.customer.ID,
				Date: date("2099-06-15"), Amount: amt("40.00"), Reason: "goodwill"})
			require.NoError(t, err)
			_, err = billing.ApplyCreditMemo(bf.alice, b.client, cm.ID, []billing.Application{{InvoiceID: inv.ID, Amount: amt("40.00")}})
			require.NoError(t, err)
			app := b.client.CreditApplication.Query().AllX(b.ctx)[0]
			applied := entryDate(app.JournalEntryID)
			_, err = ledger.ReopenPeriod(b.ctx, b.client, june.ID)
			require.NoError(t, err)
			_, err = billing.UnapplyCredit(bf.alice, b.client, app.ID)
			require.NoError(t, err)
			app = b.client.CreditApplication.GetX(b.ctx, app.ID)
			unapplied := entryDate(*app.UnapplyEntryID)
			require.GreaterOrEqual(t, unapplied, applied, "the application was posted on %s, its unapplication on %s", applied, unapplied)
		})
	})
}

// A correction pushed past the documented range by closed periods is refused with a code
// that says so, never as ALREADY_REVERSED (the entry is not reversed).
func TestAttackReversalPushedPastTheRange(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		e := b.entry("edge", "10.00")
		e.Date = date("2199-12-10")
		res, err := ledger.Post(b.ctx, b.client, e)
		require.NoError(t, err)
		p, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2199-12")
		require.NoError(t, err)
		_, err = ledger.ClosePeriod(b.ctx, b.client, p.ID, "controller")
		require.NoError(t, err)
		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res.Entry.ID})
		require.Error(t, err)
		assert.NotEqual(t, apperr.AlreadyReversed, apperr.Code(err), "reversal: %v", err)
		got := b.client.JournalEntry.GetX(b.ctx, res.Entry.ID)
		require.Equal(t, journalentry.StatusPosted, got.Status)

		// The same for a late posting moved past the range.
		late := b.entry("edge-late", "10.00")
		late.Date, late.LateToOpenPeriod = date("2199-12-20"), true
		_, err = ledger.Post(b.ctx, b.client, late)
		require.Error(t, err)
		assert.Contains(t, []string{apperr.Validation, apperr.PeriodClosed}, apperr.Code(err), "late posting: %v", err)
	})
}

// Item 12 and its neighbours through the billing API: held.
func TestAttackUnapplyCreditThenVoidHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		bf := newBilling(t, b)
		inv := bf.approved(t, b, "100.00")
		cm, err := billing.IssueCreditMemo(bf.alice, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: bf.customer.ID,
			Date: date("2026-11-05"), Amount: amt("30.00"), Reason: "goodwill",
			Applications: []billing.Application{{InvoiceID: inv.ID, Amount: amt("30.00")}}})
		require.NoError(t, err)
		_, err = billing.VoidInvoice(bf.bob, b.client, inv.ID, "with a credit applied")
		requireCode(t, err, apperr.InvalidTransition)
		app := b.client.CreditApplication.Query().AllX(b.ctx)[0]

		// The application's entries belong to their documents: no direct reversal.
		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: app.JournalEntryID})
		requireCode(t, err, apperr.DocumentOwned)
		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: *inv.JournalEntryID})
		requireCode(t, err, apperr.DocumentOwned)

		// Concurrent unapplications: one wins.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = billing.UnapplyCredit(bf.alice, b.client, app.ID) }()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.Contains(t, []string{apperr.InvalidTransition, apperr.Conflict}, apperr.Code(err), "%v", err)
			}
		}
		require.Equal(t, 1, ok, "%v", errs)
		app = b.client.CreditApplication.GetX(b.ctx, app.ID)
		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: *app.UnapplyEntryID})
		requireCode(t, err, apperr.DocumentOwned)

		_, err = billing.VoidInvoice(bf.bob, b.client, inv.ID, "after the unapplication")
		require.NoError(t, err)
		_, err = billing.UnapplyCredit(bf.alice, b.client, app.ID)
		requireCode(t, err, apperr.InvalidTransition)
		_, err = billing.VoidInvoice(bf.bob, b.client, inv.ID, "twice")
		require.Error(t, err)
		got := b.client.CreditMemo.GetX(b.ctx, cm.ID)
		require.Equal(t, "30.00", got.Remaining.String())
	})
}

// ---------------------------------------------------------------------------------------
// Application paths: namespaces, control accounts, other tenants.
// ---------------------------------------------------------------------------------------

// What a JE-API or GraphQL caller controls in ledger.Entry (everything but Document): held.
func TestAttackLedgerAPIHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		bf := newBilling(t, b)
		inv := bf.submitted(t, b, "100.00")
		withRef := func(sys source.System, ref string) ledger.Entry {
			e := b.entry(ref, "1.00")
			e.Source = sys
			return e
		}
		ar := func(customer string) ledger.Entry {
			e := b.entry("ar-"+customer, "1.00")
			e.Lines[0] = ledger.Line{AccountCode: "1200", Debit: amt("1.00"), CustomerID: customer}
			return e
		}
		cc := b.entry("cc", "1.00")
		cc.Lines[1] = ledger.Line{AccountCode: "2100", Credit: amt("1.00"), CustomerID: bf.customer.ID}
		long := b.entry(strings.Repeat("r", 201), "1.00")
		tests := []struct {
			name  string
			entry ledger.Entry
			code  string
		}{
			{"books kind:id of a real invoice", withRef(source.Books, "invoice:"+inv.ID), apperr.DocumentOwned},
			{"books reference with a leading space", withRef(source.Books, " invoice:"+inv.ID), apperr.DocumentOwned},
			{"books reference of an unapplication", withRef(source.Books, "cunapply:x"), apperr.DocumentOwned},
			{"reversal prefix in another system", withRef(source.Stripe, "reversal:"+inv.ID), apperr.DocumentOwned},
			{"AR naming the customer", ar(bf.customer.ID), apperr.ControlAccount},
			{"Customer Credits naming the customer", cc, apperr.ControlAccount},
			{"a source reference over 200 characters", long, apperr.Validation},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := ledger.Post(b.ctx, b.client, tt.entry)
				requireCode(t, err, tt.code)
			})
		}
		// A look-alike reference is accepted but takes nothing from the invoice.
		_, err := ledger.Post(b.ctx, b.client, withRef(source.PSA, "invoice:"+inv.ID))
		require.NoError(t, err)
		_, err = ledger.Post(b.ctx, b.client, withRef(source.Books, "invoice\uff1a"+inv.ID))
		require.NoError(t, err)
		_, err = billing.ApproveInvoice(bf.bob, b.client, inv.ID)
		require.NoError(t, err)
	})
}

// Ids of another organization, through every ledger entry point: held.
func TestAttackOtherOrganizationIDsHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		// The other organization's own posted entry, mapping and period.
		org2 := b.client.Account.Query().Where(account.ID(f.otherOrgAccount)).OnlyX(tenant.System(b.ctx)).OrganizationID
		ctx2 := tenant.WithOrg(context.Background(), org2)
		le2 := b.client.Account.Query().Where(account.ID(f.otherOrgAccount)).OnlyX(ctx2).EntityID
		res2, err := ledger.Post(ctx2, b.client, ledger.Entry{EntityID: le2, Date: date("2026-11-10"), Source: source.PSA, SourceRef: "o2",
			Lines: []ledger.Line{{AccountCode: "1000", Debit: amt("5.00")}, {AccountCode: "4000", Credit: amt("5.00")}}})
		require.NoError(t, err)
		p2, err := ledger.FindPeriod(ctx2, b.client, le2, "2026-11")
		require.NoError(t, err)
		m2 := b.client.COAMapping.Query().FirstX(ctx2)
		cus2, err := b.client.Customer.Create().SetName("Mallory Corp").SetDisplayName("Mallory").SetCurrency("USD").Save(ctx2)
		require.NoError(t, err)

		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res2.Entry.ID})
		requireCode(t, err, apperr.NotFound)
		e := b.entry("x1", "1.00")
		e.EntityID = le2
		_, err = ledger.Post(b.ctx, b.client, e)
		requireCode(t, err, apperr.UnknownEntity)
		e = b.entry("x2", "1.00")
		e.Lines[1] = ledger.Line{AccountID: f.otherOrgAccount, Credit: amt("1.00")}
		_, err = ledger.Post(b.ctx, b.client, e)
		requireCode(t, err, apperr.UnknownAccount)
		e = b.entry("x3", "1.00")
		e.Lines[1].ClassID = f.otherOrgClass
		_, err = ledger.Post(b.ctx, b.client, e)
		requireCode(t, err, apperr.UnknownClass)
		e = b.entry("x4", "1.00")
		e.Lines[1].CustomerID = cus2.ID
		_, err = ledger.Post(b.ctx, b.client, e)
		requireCode(t, err, apperr.UnknownCustomer)
		_, err = ledger.UpdateAccount(b.ctx, b.client, f.otherOrgAccount, ent.UpdateAccountInput{Name: ptr("mine")})
		requireCode(t, err, apperr.NotFound)
		_, err = ledger.CreateMapping(b.ctx, b.client, ent.CreateCOAMappingInput{EntityID: b.entity.ID, SourceSystem: source.PSA,
			SourceCode: "stolen", AccountID: f.otherOrgAccount})
		requireCode(t, err, apperr.NotFound)
		_, err = ledger.UpdateMapping(b.ctx, b.client, m2.ID, ent.UpdateCOAMappingInput{AccountID: &f.cash})
		requireCode(t, err, apperr.NotFound)
		m1 := b.client.COAMapping.Query().FirstX(b.ctx)
		_, err = ledger.UpdateMapping(b.ctx, b.client, m1.ID, ent.UpdateCOAMappingInput{AccountID: &f.otherOrgAccount})
		requireCode(t, err, apperr.NotFound)
		_, err = ledger.UpdateMapping(b.ctx, b.client, m1.ID, ent.UpdateCOAMappingInput{AccountID: &f.ukCash})
		requireCode(t, err, apperr.NotFound)
		_, err = ledger.ClosePeriod(b.ctx, b.client, p2.ID, "x")
		requireCode(t, err, apperr.NotFound)
		_, err = ledger.SealPending(b.ctx, b.client, le2)
		requireCode(t, err, apperr.NotFound)
		_, err = integrity.Verify(b.ctx, b.client, le2)
		require.ErrorContains(t, err, "not found")
		got := b.client.JournalEntry.GetX(ctx2, res2.Entry.ID)
		require.Equal(t, journalentry.StatusPosted, got.Status)
	})
}

// The seal trigger checks that a link extends the chain, not that its hash is the entry's
// (SQLite has no SHA-256 to check it with): any client may INSERT the next link of a pending
// entry with a made-up hash. That is tampering, and the verifier reports it, naming the link;
// seals are never deleted, so the entity's chain stays broken until a person looks, which is
// what tamper evidence is for.
func TestAttackForgedSealIsDetected(t *testing.T) {
	t.Parallel()
	eachDialectUnchecked(t, func(t *testing.T, b *testBundle) {
		res, err := ledger.Post(b.ctx, b.client, b.entry("fs-1", "10.00"))
		require.NoError(t, err)
		r := b.raw(t)
		r.mustExec(`INSERT INTO ledger_seals (id, organization_id, entity_id, seq, entry_id, prev_hash, hash, sealed_at)
			VALUES ('ls_forged', ?, ?, 1, ?, '', ?, CURRENT_TIMESTAMP)`, r.org, b.entity.ID, res.Entry.ID, strings.Repeat("0", 64))
		requireDetected(t, b.verifyReport(t), "a link with a made-up hash was appended for "+res.Entry.ID)
	})
}

// Found in review, now refused or detected: audit events are append-only by trigger only, and are not covered by the chain or
// by the verifier: with the guard dropped or disabled (the same power the chain is meant to
// expose) the audit record of a sealed posting disappears and Verify still says OK. Nothing
// checks that every posted entry has its "aud_<id>" event.
func TestAttackVerifierMissesDeletedAuditEvents(t *testing.T) {
	t.Parallel()
	eachDialectUnchecked(t, func(t *testing.T, b *testBundle) {
		res, err := ledger.Post(b.ctx, b.client, b.entry("ae-1", "10.00"))
		require.NoError(t, err)
		b.sealAll(t)
		tamper(t, b, "audit_events", `DELETE FROM audit_events WHERE subject_id = ?`, res.Entry.ID)
		requireDetected(t, b.verifyReport(t), "the audit event of posted entry "+res.Entry.ID+" was deleted")
	})
}

// Found in review, now refused or detected: the verifier re-checks balance, the chain and the two control totals, but none of
// the per-line rules: a posted entry whose lines are on another entity's accounts, amounts
// finer than the currency's minor unit, or a line with both sides, verifies OK once sealed
// (here produced with the SQLite attacks above, committed).
func TestAttackVerifierMissesRuleBreaks(t *testing.T) {
	t.Parallel()
	b := uncheckedBundle(t, dialect.SQLite)
	f := newFixture(t, b)
	r := b.raw(t)
	org, us, uk := r.org, b.entity.ID, b.other.ID
	// The database refuses both attacks now; a superuser who drops the triggers can still
	// commit them, and the verifier must then see them.
	var names []string
	rows, err := r.db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('journal_entries', 'journal_lines')`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	for _, n := range names {
		r.mustExec(`DROP TRIGGER ` + n)
	}
	// A UK entry with US lines, adopted from a deleted draft.
	r.mustExec(insertEntryFull, "je_adopt0", org, us, "2026-11-02", "USD", "import", "adopt0", 1000000, nil, nil, nil)
	r.mustExec(insertLineFull, "jl_ad3", org, "je_adopt0", 1, f.cash, 1000000, 0, nil, nil, nil)
	r.mustExec(insertLineFull, "jl_ad4", org, "je_adopt0", 2, f.rev, 0, 1000000, nil, nil, nil)
	r.mustExec(`DELETE FROM journal_entries WHERE id = 'je_adopt0'`)
	r.mustExec(insertEntryFull, "je_adopt0", org, uk, "2026-11-02", "GBP", "import", "adopt0", 1000000, nil, nil, nil)
	r.mustExec(postRaw, "je_adopt0")
	// A half-cent, two-sided posting with CHECKs ignored.
	ctx := context.Background()
	conn, err := r.db.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `PRAGMA ignore_check_constraints = ON`)
	require.NoError(t, err)
	for _, s := range []step{
		st(insertEntryFull, "je_half", org, us, "2026-11-02", "USD", "import", "half", 100, nil, nil, nil),
		st(insertLineFull, "jl_h1", org, "je_half", 1, f.cash, 150, -50, nil, nil, nil),
		st(insertLineFull, "jl_h2", org, "je_half", 2, f.rev, -50, 150, nil, nil, nil),
		st(postRaw, "je_half"),
	} {
		_, err := conn.ExecContext(ctx, s.q, s.args...)
		require.NoError(t, err)
	}
	_, err = conn.ExecContext(ctx, `PRAGMA ignore_check_constraints = OFF`)
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	for _, le := range []string{us, uk} {
		_, err := ledger.SealPending(b.ctx, b.client, le)
		require.NoError(t, err)
	}
	for _, le := range []string{us, uk} {
		rep, err := integrity.Verify(b.ctx, b.client, le)
		require.NoError(t, err)
		require.False(t, rep.OK, "entity %s verifies OK with a UK entry on US accounts and a posting of 150/-50 units", le)
	}
}

// Found in review, now refused or detected: customers have no guard: the customer named on posted Accounts Receivable lines
// moves to another organization with a plain UPDATE (both databases, triggers on), so the
// organization's posted lines name another organization's customer (item 3 is checked only
// when the line is written).
func TestAttackCustomerMovesToAnotherOrganization(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		bf := newBilling(t, b)
		bf.approved(t, b, "100.00")
		org2, err := b.client.Organization.Create().SetName("Other org").Save(tenant.System(context.Background()))
		require.NoError(t, err)
		r := b.raw(t)
		err, damage := r.attemptAll(t, []step{st(`UPDATE customers SET organization_id = ? WHERE id = ?`, org2.ID, bf.customer.ID)},
			func(q func(string, ...any) string) string {
				return "posted AR lines of " + r.org + " now name a customer of " +
					q(`SELECT organization_id FROM customers WHERE id = ?`, bf.customer.ID)
			})
		requireRefused(t, err, damage)
	})
}

// TRUNCATE reaching the ledger through CASCADE on PostgreSQL: refused.
func TestAttackPostgresTruncateCascadeHeld(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.Postgres)
	newFixture(t, b)
	bf := newBilling(t, b)
	bf.approved(t, b, "10.00")
	r := b.raw(t)
	for _, table := range []string{"customers", "organizations", "legal_entities", "accounts", "classes", "vendors", "journal_entries"} {
		t.Run(table, func(t *testing.T) {
			err, _ := r.attempt(t, nil, []step{st(`TRUNCATE ` + table + ` CASCADE`)}, nil)
			require.Error(t, err, "TRUNCATE %s CASCADE accepted", table)
		})
	}
}

// Deleting a draft that a reversing draft references, then posting the reversal: refused on
// both databases (PostgreSQL refuses the delete, whose ON DELETE SET NULL would edit the
// reversing draft; SQLite, foreign keys off, refuses to post a reversal of nothing).
func TestAttackDeleteOriginalOfAReversalDraftHeld(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		f := newFixture(t, b)
		r := b.raw(t)
		org, us := r.org, b.entity.ID
		err, damage := r.attemptAll(t, []step{
			st(insertEntryFull, "je_rv", org, us, "2026-11-20", "USD", "import", "reversal:"+f.draft, 1000000, f.draft, nil, nil),
			st(insertLine, "jl_rv1", org, "je_rv", 1, f.cash, 0, 1000000),
			st(insertLine, "jl_rv2", org, "je_rv", 2, f.rev, 1000000, 0),
			st(`DELETE FROM journal_lines WHERE entry_id = ?`, f.draft),
			st(`DELETE FROM journal_entries WHERE id = ?`, f.draft),
			st(postRaw, "je_rv"),
		}, func(q func(string, ...any) string) string {
			return "a reversal of a deleted draft posted: " + q(`SELECT status FROM journal_entries WHERE id = 'je_rv'`)
		})
		requireRefused(t, err, damage)
	})
}
