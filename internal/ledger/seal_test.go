package ledger_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/journalentry"
	"books/ent/ledgerseal"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

// chain returns the entity's seals in order.
func (b *testBundle) chain(t *testing.T, entityID string) []*ent.LedgerSeal {
	t.Helper()
	seals, err := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(entityID)).Order(ledgerseal.BySeq()).All(b.ctx)
	require.NoError(t, err)
	return seals
}

// requireChainIntact recomputes the chain from the stored entries and checks it links up.
func (b *testBundle) requireChainIntact(t *testing.T, entityID string) []*ent.LedgerSeal {
	t.Helper()
	seals := b.chain(t, entityID)
	prev := ""
	for i, s := range seals {
		require.Equal(t, int64(i+1), s.Seq, "seq")
		require.Equal(t, prev, s.PrevHash, "prev_hash of seq %d", s.Seq)
		e, err := b.client.JournalEntry.Query().Where(journalentry.ID(s.EntryID)).WithLines().Only(b.ctx)
		require.NoError(t, err)
		require.Equal(t, entityID, e.EntityID)
		require.Equal(t, ledger.SealHash(prev, e, e.Edges.Lines), s.Hash, "hash of seq %d", s.Seq)
		prev = s.Hash
	}
	return seals
}

func TestSealPending(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		n, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Zero(t, n, "an empty ledger has nothing to seal")

		var posted []string
		for i := range 3 {
			res, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("seal-%d", i), "10.00"))
			require.NoError(t, err)
			posted = append(posted, res.Entry.ID)
		}
		// Another entity's entries belong to its own chain.
		_, err = ledger.Post(b.ctx, b.client, ledger.Entry{
			EntityID: b.other.ID, Date: date("2026-11-10"), Source: source.PSA, SourceRef: "other-1",
			Lines: []ledger.Line{{AccountCode: "1000", Debit: amt("5.00")}, {AccountCode: "4000", Credit: amt("5.00")}},
		})
		require.NoError(t, err)

		n, err = ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		seals := b.requireChainIntact(t, b.entity.ID)
		require.Len(t, seals, 3)
		for i, s := range seals {
			require.Equal(t, posted[i], s.EntryID, "sealed in posting order")
			require.Equal(t, b.entity.OrganizationID, s.OrganizationID)
		}
		require.Empty(t, b.chain(t, b.other.ID), "sealing one entity leaves the others alone")

		n, err = ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Zero(t, n, "sealed entries are not sealed again")

		// A reversal flips the original to reversed; its seal must still hold, and the
		// reversing entry joins the chain.
		rev, err := ledger.Reverse(b.ctx, b.client, ledger.Reversal{EntryID: posted[0], Date: date("2026-11-20")})
		require.NoError(t, err)
		n, err = ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		seals = b.requireChainIntact(t, b.entity.ID)
		require.Len(t, seals, 4)
		require.Equal(t, rev.ID, seals[3].EntryID)
		require.Equal(t, seals[2].Hash, seals[3].PrevHash)
	})
}

func TestSealPendingUnknownEntity(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		_, err := ledger.SealPending(b.ctx, b.client, "le_missing")
		requireCode(t, err, "NOT_FOUND")

		otherOrg, err := b.client.Organization.Create().SetName("Other").Save(tenant.System(b.ctx))
		require.NoError(t, err)
		_, err = ledger.SealPending(tenant.WithOrg(b.ctx, otherOrg.ID), b.client, b.entity.ID)
		requireCode(t, err, "NOT_FOUND")
	})
}

func TestSealPendingIgnoresDrafts(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		r := b.raw(t)
		r.mustExec(insertEntry, "je_rawdraft", r.org, b.entity.ID, "draft-1", "draft", 1000)
		_, err := ledger.Post(b.ctx, b.client, b.entry("posted-1", "1.00"))
		require.NoError(t, err)

		n, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		for _, s := range b.chain(t, b.entity.ID) {
			require.NotEqual(t, "je_rawdraft", s.EntryID)
		}
	})
}

// A backlog larger than one transaction's batch is sealed across several, in order.
func TestSealPendingBatches(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		const count = 1003 // two full batches of 500 and a partial one
		for i := range count {
			_, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("batch-%04d", i), "1.00"))
			require.NoError(t, err)
		}
		n, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Equal(t, count, n)
		require.Len(t, b.requireChainIntact(t, b.entity.ID), count)
	})
}

// Sealers racing on one entity must leave one unforked chain with every entry sealed once.
func TestSealPendingConcurrent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		const entries, sealers = 40, 4
		var wg sync.WaitGroup
		errs := make(chan error, sealers+1)
		var sealed atomic.Int64
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stop)
			for i := range entries {
				if _, err := ledger.Post(b.ctx, b.client, b.entry(fmt.Sprintf("race-%d", i), "2.00")); err != nil {
					errs <- err
					return
				}
			}
		}()
		for range sealers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
					if err != nil {
						errs <- err
						return
					}
					sealed.Add(int64(n))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		n, err := ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Equal(t, entries, int(sealed.Load())+n, "each entry is counted by exactly one sealer")
		require.Len(t, b.requireChainIntact(t, b.entity.ID), entries)
	})
}

func TestSealAll(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		_, err := ledger.Post(b.ctx, b.client, b.entry("all-1", "3.00"))
		require.NoError(t, err)
		_, err = ledger.Post(b.ctx, b.client, ledger.Entry{
			EntityID: b.other.ID, Date: date("2026-11-10"), Source: source.PSA, SourceRef: "all-2",
			Lines: []ledger.Line{{AccountCode: "1000", Debit: amt("5.00")}, {AccountCode: "4000", Credit: amt("5.00")}},
		})
		require.NoError(t, err)

		n, err := ledger.SealAll(b.ctx, b.client)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 2, "other tests' organizations share no database, so at least ours")
		require.Len(t, b.requireChainIntact(t, b.entity.ID), 1)
		require.Len(t, b.requireChainIntact(t, b.other.ID), 1)
	})
}

// sealFixture is a fully populated entry whose encoding is pinned below.
func sealFixture() (*ent.JournalEntry, []*ent.JournalLine) {
	docDate := caldate.MustParse("2026-10-31")
	posted := time.Date(2026, 11, 10, 9, 30, 15, 123456789, time.FixedZone("EST", -5*3600))
	rev, docType, docID, class, cus := "je_orig", "invoice", "inv_1", "cls_1", "cus_1"
	e := &ent.JournalEntry{
		ID: "je_1", OrganizationID: "org_1", EntityID: "le_1",
		Date: caldate.MustParse("2026-11-10"), DocumentDate: &docDate,
		Description: "Café, 10:1", Currency: "USD", SourceSystem: source.Books, SourceRef: "inv_1",
		Status: journalentry.StatusPosted, Total: money.MustParse("150.25"), PostedAt: &posted,
		ReversalOfID: &rev, CreatedBy: "alice", CreatedVia: "graphql", RequestID: "req-1",
		DocumentType: &docType, DocumentID: &docID,
		UpdatedAt: posted,
	}
	lines := []*ent.JournalLine{
		{ID: "jl_2", LineNo: 2, AccountID: "acct_rev", Credit: money.MustParse("150.25")},
		{ID: "jl_1", LineNo: 1, AccountID: "acct_ar", Debit: money.MustParse("150.25"), ClassID: &class, CustomerID: &cus, Description: "AR"},
	}
	return e, lines
}

// The encoding is a stored format: every seal ever written depends on it, so a change
// must be a new version, never an edit of v1.
func TestSealContentIsPinned(t *testing.T) {
	t.Parallel()
	e, lines := sealFixture()
	want := "20:books-ledger-seal/v1," + "3:abc," +
		"4:je_1,5:org_1,4:le_1,10:2026-11-10,10:2026-10-31,11:Café, 10:1,3:USD,5:books,5:inv_1,7:1502500," +
		"27:2026-11-10T14:30:15.123456Z,7:je_orig,5:alice,7:graphql,5:req-1,7:invoice,5:inv_1," +
		"1:2," +
		"4:jl_1,1:1,7:acct_ar,5:cls_1,5:cus_1,~,7:1502500,1:0,2:AR," +
		"4:jl_2,1:2,8:acct_rev,~,~,~,1:0,7:1502500,0:,"
	require.Equal(t, want, string(ledger.SealContent("abc", e, lines)))
	require.Equal(t, "8e6c7c4c2bcafd99877b507f9d51a3b765b167e9ef11493f7ceba054bdd55b5a", ledger.SealHash("abc", e, lines))
}

func TestSealHashCoversContent(t *testing.T) {
	t.Parallel()
	base, baseLines := sealFixture()
	baseHash := ledger.SealHash("", base, baseLines)
	tests := []struct {
		name    string
		edit    func(e *ent.JournalEntry, lines []*ent.JournalLine)
		changes bool
	}{
		{"status is left out: posted entries become reversed", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.Status = journalentry.StatusReversed }, false},
		{"updated_at is left out", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.UpdatedAt = e.UpdatedAt.Add(time.Hour) }, false},
		{"posted_at beyond microseconds is left out", func(e *ent.JournalEntry, _ []*ent.JournalLine) { t := e.PostedAt.Add(100); e.PostedAt = &t }, false},
		{"line order is by line_no", func(_ *ent.JournalEntry, l []*ent.JournalLine) { l[0], l[1] = l[1], l[0] }, false},
		{"a debit", func(_ *ent.JournalEntry, l []*ent.JournalLine) { l[1].Debit = money.MustParse("150.26") }, true},
		{"a line's account", func(_ *ent.JournalEntry, l []*ent.JournalLine) { l[1].AccountID = "acct_other" }, true},
		{"a line's class cleared", func(_ *ent.JournalEntry, l []*ent.JournalLine) { l[1].ClassID = nil }, true},
		{"a line's class empty rather than NULL", func(_ *ent.JournalEntry, l []*ent.JournalLine) { s := ""; l[0].ClassID = &s }, true},
		{"a line's description", func(_ *ent.JournalEntry, l []*ent.JournalLine) { l[0].Description = "x" }, true},
		{"a line removed", func(_ *ent.JournalEntry, l []*ent.JournalLine) { l[1] = l[0] }, true},
		{"the total", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.Total = money.MustParse("150.24") }, true},
		{"the date", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.Date = caldate.MustParse("2026-11-11") }, true},
		{"the description", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.Description += " " }, true},
		{"posted_at", func(e *ent.JournalEntry, _ []*ent.JournalLine) {
			t := e.PostedAt.Add(time.Microsecond)
			e.PostedAt = &t
		}, true},
		{"the document", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.DocumentID = nil }, true},
		{"the creator", func(e *ent.JournalEntry, _ []*ent.JournalLine) { e.CreatedBy = "mallory" }, true},
		// Field boundaries cannot move: the same bytes split differently hash differently.
		{"bytes moved between fields", func(e *ent.JournalEntry, _ []*ent.JournalLine) {
			e.CreatedBy, e.CreatedVia = "alicegraph", "ql"
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, lines := sealFixture()
			tt.edit(e, lines)
			got := ledger.SealHash("", e, lines)
			if tt.changes {
				require.NotEqual(t, baseHash, got)
			} else {
				require.Equal(t, baseHash, got)
			}
		})
	}
	require.NotEqual(t, baseHash, ledger.SealHash("0", base, baseLines), "the previous hash is part of the link")
}

// A windowed pass reads only entries posted shortly before the chain's last seal; an entry
// whose transaction committed long after it was posted waits for the next full pass, and is
// then sealed after the entries that overtook it.
func TestSealRecent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		first, err := ledger.Post(b.ctx, b.client, b.entry("recent-1", "10.00"))
		require.NoError(t, err)
		n, err := ledger.SealRecent(b.ctx, b.client, b.entity.ID, 10*time.Minute)
		require.NoError(t, err)
		require.Equal(t, 1, n, "an empty chain has no window yet: everything pending is sealed")

		// Posted (by its own clock) an hour before the chain's head was sealed.
		r := b.raw(t)
		r.mustExec(insertEntry, "je_late", r.org, b.entity.ID, "late", "draft", 70000)
		r.mustExec(insertLine, "jl_late1", r.org, "je_late", 1, b.accountID("US", "1000"), 70000, 0)
		r.mustExec(insertLine, "jl_late2", r.org, "je_late", 2, b.accountID("US", "4000"), 0, 70000)
		r.mustExec(`UPDATE journal_entries SET status = 'posted', posted_at = ? WHERE id = ?`,
			time.Now().UTC().Add(-time.Hour), "je_late")
		recent, err := ledger.Post(b.ctx, b.client, b.entry("recent-2", "20.00"))
		require.NoError(t, err)

		n, err = ledger.SealRecent(b.ctx, b.client, b.entity.ID, 10*time.Minute)
		require.NoError(t, err)
		require.Equal(t, 1, n, "only the recent entry is in the window")
		n, err = ledger.SealPending(b.ctx, b.client, b.entity.ID)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the full pass seals the late entry")

		seals := b.requireChainIntact(t, b.entity.ID)
		require.Len(t, seals, 3)
		require.Equal(t, []string{first.Entry.ID, recent.Entry.ID, "je_late"},
			[]string{seals[0].EntryID, seals[1].EntryID, seals[2].EntryID})
	})
}
