package ledger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/journalentry"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

type testBundle struct {
	db     *database.DB
	client *ent.Client
	ctx    context.Context // scoped to the test organization
	entity *ent.LegalEntity
	other  *ent.LegalEntity // a second entity of the same organization
}

func setup(t *testing.T, dialectName string) *testBundle {
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
	// Every scenario ends with the ledger's invariants: balanced, sealed, subledgers equal.
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, client, org.ID)
		}
	})
	return &testBundle{db: db, client: client, ctx: ctx, entity: us, other: uk}
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

func date(s string) caldate.Date { return caldate.MustParse(s) }

// entry returns a balanced two-line entry of amount on the bundle's entity.
func (b *testBundle) entry(ref, amount string) ledger.Entry {
	return ledger.Entry{
		EntityID: b.entity.ID, Date: date("2026-11-10"), Description: "test", Source: source.PSA, SourceRef: ref,
		Lines: []ledger.Line{
			{SourceCode: "unbilled_receivables", Debit: amt(amount), ClassName: "Consulting"},
			{AccountCode: "4000", Credit: amt(amount)},
		},
	}
}

func (b *testBundle) entryCount(t *testing.T) int {
	t.Helper()
	n, err := b.client.JournalEntry.Query().Count(b.ctx)
	require.NoError(t, err)
	return n
}

func (b *testBundle) requireBalanced(t *testing.T) ledger.TrialBalance {
	t.Helper()
	tb, err := ledger.GetTrialBalance(b.ctx, b.client, b.entity.ID, date("2099-12-31"))
	require.NoError(t, err)
	require.True(t, tb.Balanced(), "debits %s credits %s", tb.TotalDebit, tb.TotalCredit)
	return tb
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, apperr.Code(err), "error: %v", err)
}

func TestPostWritesBalancedEntry(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		res, err := ledger.Post(b.ctx, b.client, b.entry("time-1", "150.00"))
		require.NoError(t, err)
		require.True(t, res.Created)
		require.Equal(t, journalentry.StatusPosted, res.Entry.Status)
		require.Equal(t, "150.00", res.Entry.Total.String())

		lines, err := res.Entry.QueryLines().WithAccount().WithClass().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, lines, 2)
		require.Equal(t, "1250", lines[0].Edges.Account.Code, "source code resolved through the COA mapping")
		require.Equal(t, "Consulting", lines[0].Edges.Class.Name)
		require.Equal(t, "4000", lines[1].Edges.Account.Code)

		tb := b.requireBalanced(t)
		require.Equal(t, "150.00", tb.TotalDebit.String())
	})
}

func TestPostRejectsBadEntries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(b *testBundle, e *ledger.Entry)
		code string
	}{
		{"unbalanced", func(_ *testBundle, e *ledger.Entry) { e.Lines[1].Credit = amt("150.01") }, apperr.UnbalancedEntry},
		{"one line", func(_ *testBundle, e *ledger.Entry) { e.Lines = e.Lines[:1] }, apperr.UnbalancedEntry},
		{"no lines", func(_ *testBundle, e *ledger.Entry) { e.Lines = nil }, apperr.UnbalancedEntry},
		{"both sides", func(_ *testBundle, e *ledger.Entry) { e.Lines[0].Credit = amt("1.00") }, apperr.Validation},
		{"zero amount", func(_ *testBundle, e *ledger.Entry) {
			e.Lines[0].Debit, e.Lines[1].Credit = money.Amount{}, money.Amount{}
		}, apperr.InvalidAmount},
		{"negative amount", func(_ *testBundle, e *ledger.Entry) {
			e.Lines[0].Debit, e.Lines[1].Credit = amt("-5.00"), amt("-5.00")
		}, apperr.InvalidAmount},
		{"unknown account code", func(_ *testBundle, e *ledger.Entry) { e.Lines[1].AccountCode = "9999" }, apperr.UnknownAccount},
		{"unknown source code", func(_ *testBundle, e *ledger.Entry) { e.Lines[0].SourceCode = "nope" }, apperr.UnknownSourceCode},
		{"account of another entity", func(b *testBundle, e *ledger.Entry) {
			e.Lines[1] = ledger.Line{AccountID: b.accountID("UK", "4000"), Credit: e.Lines[1].Credit}
		}, apperr.UnknownAccount},
		{"unknown class", func(_ *testBundle, e *ledger.Entry) { e.Lines[0].ClassName = "Nope" }, apperr.UnknownClass},
		{"entry currency differs", func(_ *testBundle, e *ledger.Entry) { e.Currency = "EUR" }, apperr.CurrencyMismatch},
		{"mixed line currencies", func(_ *testBundle, e *ledger.Entry) { e.Lines[1].Currency = "GBP" }, apperr.CurrencyMismatch},
		{"unknown entity", func(_ *testBundle, e *ledger.Entry) { e.EntityID = "le_nope" }, apperr.UnknownEntity},
		{"no account named", func(_ *testBundle, e *ledger.Entry) { e.Lines[1].AccountCode = "" }, apperr.Validation},
		{"two accounts named", func(_ *testBundle, e *ledger.Entry) { e.Lines[1].SourceCode = "revenue" }, apperr.Validation},
		{"no date", func(_ *testBundle, e *ledger.Entry) { e.Date = caldate.Date{} }, apperr.Validation},
		{"unknown source system", func(_ *testBundle, e *ledger.Entry) { e.Source = "sap" }, apperr.Validation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachDialect(t, func(t *testing.T, b *testBundle) {
				e := b.entry("bad-1", "150.00")
				tt.edit(b, &e)
				_, err := ledger.Post(b.ctx, b.client, e)
				requireCode(t, err, tt.code)
				require.Zero(t, b.entryCount(t), "a rejected entry writes nothing")
				lines, err := b.client.JournalLine.Query().Count(b.ctx)
				require.NoError(t, err)
				require.Zero(t, lines)
			})
		})
	}
}

// accountID returns the id of the account with code in the entity with entityCode.
func (b *testBundle) accountID(entityCode, code string) string {
	entityID := b.entity.ID
	if entityCode == b.other.Code {
		entityID = b.other.ID
	}
	return b.client.Account.Query().Where(account.EntityID(entityID), account.Code(code)).OnlyIDX(b.ctx)
}

func mustOrg(b *testBundle) string {
	org, _ := tenant.Org(b.ctx)
	return org
}

func TestPostInactiveAccount(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		_, err := b.client.Account.UpdateOneID(b.accountID("US", "4000")).SetActive(false).Save(b.ctx)
		require.NoError(t, err)
		_, err = ledger.Post(b.ctx, b.client, b.entry("t", "1.00"))
		requireCode(t, err, apperr.InactiveAccount)
		require.Zero(t, b.entryCount(t))
	})
}

func TestPostSameSourceTwiceReturnsFirst(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		first, err := ledger.Post(b.ctx, b.client, b.entry("time-7", "10.00"))
		require.NoError(t, err)
		again, err := ledger.Post(b.ctx, b.client, b.entry("time-7", "10.00"))
		require.NoError(t, err)
		require.False(t, again.Created)
		require.Equal(t, first.Entry.ID, again.Entry.ID)
		require.Equal(t, 1, b.entryCount(t))

		// The same reference from another source system is a different event.
		e := b.entry("time-7", "10.00")
		e.Source = source.Autotask
		other, err := ledger.Post(b.ctx, b.client, e)
		require.NoError(t, err)
		require.True(t, other.Created)
		require.Equal(t, 2, b.entryCount(t))
	})
}

func TestReverse(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		before := b.requireBalanced(t)
		res, err := ledger.Post(b.ctx, b.client, b.entry("time-9", "99.99"))
		require.NoError(t, err)

		rev, err := ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res.Entry.ID, Date: date("2026-11-20")})
		require.NoError(t, err)
		require.Equal(t, res.Entry.ID, *rev.ReversalOfID)
		require.Equal(t, journalentry.StatusPosted, rev.Status)

		orig, err := b.client.JournalEntry.Get(b.ctx, res.Entry.ID)
		require.NoError(t, err)
		require.Equal(t, journalentry.StatusReversed, orig.Status)
		require.Equal(t, res.Entry.Description, orig.Description, "the original is not otherwise edited")

		origLines, err := orig.QueryLines().All(b.ctx)
		require.NoError(t, err)
		revLines, err := rev.QueryLines().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, revLines, len(origLines))
		for i := range origLines {
			require.Equal(t, origLines[i].AccountID, revLines[i].AccountID)
			require.Equal(t, origLines[i].Debit, revLines[i].Credit)
			require.Equal(t, origLines[i].Credit, revLines[i].Debit)
			require.Equal(t, origLines[i].ClassID, revLines[i].ClassID)
		}

		after := b.requireBalanced(t)
		for _, row := range after.Rows {
			require.Zero(t, row.Net().Sign(), "account %s nets to zero after the reversal", row.Account.Code)
		}
		require.Len(t, before.Rows, 0)

		// Before the reversal date, only the original counts.
		bal, err := ledger.AccountBalance(b.ctx, b.client, revLines[1].AccountID, date("2026-11-15"))
		require.NoError(t, err)
		require.Equal(t, "-99.99", bal.Net().String())

		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: res.Entry.ID})
		requireCode(t, err, apperr.AlreadyReversed)
		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: rev.ID})
		requireCode(t, err, apperr.Validation)
		_, err = ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: "je_missing"})
		requireCode(t, err, apperr.NotFound)
		require.Equal(t, 2, b.entryCount(t))
	})
}

func TestClosedPeriods(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		oct, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-10")
		require.NoError(t, err)
		require.Equal(t, date("2026-10-01"), oct.StartDate)
		require.Equal(t, date("2026-10-31"), oct.EndDate)
		_, err = ledger.ClosePeriod(b.ctx, b.client, oct.ID, "tester")
		require.NoError(t, err)

		e := b.entry("late-1", "5.00")
		e.Date = date("2026-10-15")
		_, err = ledger.Post(b.ctx, b.client, e)
		requireCode(t, err, apperr.PeriodClosed)
		require.Zero(t, b.entryCount(t))

		// The other entity's October is still open.
		o := e
		o.EntityID = b.other.ID
		o.Lines = []ledger.Line{{AccountCode: "1000", Debit: amt("5.00")}, {AccountCode: "4000", Credit: amt("5.00")}}
		_, err = ledger.Post(b.ctx, b.client, o)
		require.NoError(t, err)

		e.LateToOpenPeriod = true
		res, err := ledger.Post(b.ctx, b.client, e)
		require.NoError(t, err)
		require.Equal(t, date("2026-11-01"), res.Entry.Date, "late item posts on the first day of the next open period")
		require.Equal(t, date("2026-10-15"), *res.Entry.DocumentDate)

		_, err = ledger.ReopenPeriod(b.ctx, b.client, oct.ID)
		require.NoError(t, err)
		e2 := b.entry("late-2", "5.00")
		e2.Date = date("2026-10-15")
		_, err = ledger.Post(b.ctx, b.client, e2)
		require.NoError(t, err)

		_, err = ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-13")
		requireCode(t, err, apperr.Validation)
	})
}

func TestTrialBalanceAsOf(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		for i, d := range []string{"2026-09-30", "2026-10-01", "2026-10-31"} {
			e := b.entry("tb-"+d, []string{"100.00", "20.50", "0.01"}[i])
			e.Date = date(d)
			_, err := ledger.Post(b.ctx, b.client, e)
			require.NoError(t, err)
		}
		tests := []struct{ asOf, total string }{
			{"2026-09-29", "0.00"},
			{"2026-09-30", "100.00"},
			{"2026-10-01", "120.50"},
			{"2026-10-31", "120.51"},
		}
		for _, tt := range tests {
			tb, err := ledger.GetTrialBalance(b.ctx, b.client, b.entity.ID, date(tt.asOf))
			require.NoError(t, err)
			require.True(t, tb.Balanced())
			require.Equal(t, tt.total, tb.TotalDebit.String(), "as of %s", tt.asOf)
		}
		// The other entity's ledger is separate.
		tb, err := ledger.GetTrialBalance(b.ctx, b.client, b.other.ID, date("2099-01-01"))
		require.NoError(t, err)
		require.Empty(t, tb.Rows)
	})
}

func TestTenantScoping(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		_, err := ledger.Post(b.ctx, b.client, b.entry("x", "1.00"))
		require.NoError(t, err)

		other, err := b.client.Organization.Create().SetName("Other").Save(tenant.System(context.Background()))
		require.NoError(t, err)
		octx := tenant.WithOrg(context.Background(), other.ID)
		n, err := b.client.JournalEntry.Query().Count(octx)
		require.NoError(t, err)
		require.Zero(t, n, "another organization sees none of these entries")
		_, err = ledger.Post(octx, b.client, b.entry("y", "1.00"))
		requireCode(t, err, apperr.UnknownEntity)

		_, err = b.client.JournalEntry.Query().Count(context.Background())
		require.ErrorIs(t, err, tenant.ErrMissing, "no organization, no data")
	})
}

// TestPlainResultPathMatchesEntPath posts the same entry through both write paths (on
// PostgreSQL the plain-result path is one database call) and compares what was stored.
func TestPlainResultPathMatchesEntPath(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		viaEnt, err := ledger.Post(b.ctx, b.client, b.entry("path-ent", "12.34"))
		require.NoError(t, err)
		e := b.entry("path-plain", "12.34")
		e.PlainResult, e.IdempotencyKey, e.RequestHash, e.CreatedBy, e.CreatedVia = true, "k1", "h1", "ik_1", "api"
		plain, err := ledger.Post(b.ctx, b.client, e)
		require.NoError(t, err)
		require.True(t, plain.Created)
		require.Len(t, plain.Lines, 2)
		require.Equal(t, "1250", plain.Lines[0].AccountCode)
		require.Equal(t, "Consulting", plain.Lines[0].ClassName)

		stored, err := b.client.JournalEntry.Query().Where(journalentry.ID(plain.Entry.ID)).WithLines().Only(b.ctx)
		require.NoError(t, err)
		require.Equal(t, journalentry.StatusPosted, stored.Status)
		require.Equal(t, plain.Entry.PostedAt.UTC(), stored.PostedAt.UTC(), "the returned entry is what a later read returns")
		require.Equal(t, plain.Entry.Total, stored.Total)
		require.Equal(t, "k1", *stored.IdempotencyKey)
		for i, l := range stored.Edges.Lines {
			ref := viaEnt.Entry.Edges.Lines[i]
			require.Equal(t, ref.AccountID, l.AccountID)
			require.Equal(t, ref.Debit, l.Debit)
			require.Equal(t, ref.Credit, l.Credit)
			require.Equal(t, ref.ClassID, l.ClassID)
			require.Equal(t, plain.Lines[i].ID, l.ID)
		}
		found, err := ledger.FindByIdempotencyKey(b.ctx, b.client, "ik_1", "k1")
		require.NoError(t, err)
		require.Equal(t, plain.Entry.ID, found.ID)

		// The database audited both postings.
		for _, id := range []string{viaEnt.Entry.ID, plain.Entry.ID} {
			ev, err := b.client.AuditEvent.Get(b.ctx, "aud_"+id)
			require.NoError(t, err)
			require.Equal(t, "journal_entry.post", ev.Action)
			require.Equal(t, id, ev.SubjectID)
		}
		ev, err := b.client.AuditEvent.Get(b.ctx, "aud_"+plain.Entry.ID)
		require.NoError(t, err)
		require.Equal(t, "ik_1", ev.Actor)
		require.Equal(t, "api", ev.Via.String())
		require.Equal(t, "integration_key", ev.ActorType.String())

		// The guards hold on this path too: a closed period, and a repeated source reference.
		oct, err := ledger.FindPeriod(b.ctx, b.client, b.entity.ID, "2026-10")
		require.NoError(t, err)
		_, err = ledger.ClosePeriod(b.ctx, b.client, oct.ID, "t")
		require.NoError(t, err)
		late := b.entry("path-late", "1.00")
		late.Date, late.PlainResult = date("2026-10-05"), true
		_, err = ledger.Post(b.ctx, b.client, late)
		requireCode(t, err, apperr.PeriodClosed)

		again := b.entry("path-plain", "12.34")
		again.PlainResult, again.AssumeNew = true, true
		_, err = ledger.Post(b.ctx, b.client, again)
		require.Error(t, err, "an optimistic repeat of a source reference is refused, for the caller to retry")
		require.Equal(t, 2, b.entryCount(t))
		b.requireBalanced(t)
	})
}
