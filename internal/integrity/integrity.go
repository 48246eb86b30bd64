// Package integrity verifies a legal entity's ledger: it recomputes the entity's hash chain
// of sealed journal entries (internal/ledger's seals) from the first link, and checks the
// invariants the ledger and billing promise — every posted entry balanced, the trial balance
// balanced, Accounts Receivable equal to the open invoice balances and Customer Credits
// equal to the unapplied payments and credit memos.
//
// The database refuses edits of posted entries and of seals, but a superuser can disable
// its triggers; what such an edit changed then shows up here as a broken link. The package
// reads the tables directly and does not import internal/billing, so it checks billing
// rather than trusting it.
package integrity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"books/ent"
	"books/ent/account"
	"books/ent/creditmemo"
	"books/ent/invoice"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/ledgerseal"
	"books/ent/ledgerverification"
	"books/ent/legalentity"
	"books/ent/payment"
	"books/internal/apperr"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/money"
)

// Report is the outcome of verifying one entity.
type Report struct {
	OrganizationID string
	EntityID       string
	VerifiedAt     time.Time
	// OK is true when the chain and every invariant held.
	OK bool
	// EntriesChecked counts the posted or reversed entries checked, sealed or not.
	EntriesChecked int
	// EntriesSealed counts the links of the chain recomputed.
	EntriesSealed int
	// HeadSeq and HeadHash are the chain's last link (0 and "" for an empty chain).
	HeadSeq  int64
	HeadHash string
	// Problem describes the first broken link or invariant; "" when OK.
	Problem string
	// Problems lists every problem found, up to maxProblems, Problem first.
	Problems []string
}

// maxProblems bounds Report.Problems: past the first few, more of the same tells nobody
// anything new.
const maxProblems = 100

// batch bounds the seals and entries read per query.
const batch = 500

// openInvoiceStatuses are the invoice statuses with a balance on AR: approving posts the
// invoice to AR, and paid, void and written-off invoices have none left (ent/schema/invoice.go).
var openInvoiceStatuses = []invoice.Status{
	invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid,
}

func (r *Report) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.Problem == "" {
		r.Problem = msg
	}
	r.OK = false
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, msg)
	}
}

// Verify checks the ledger of entityID in the tenant scope of ctx (tenant.System reaches
// every organization). It changes nothing; an error means the check could not run, a
// broken ledger is a Report that is not OK.
func Verify(ctx context.Context, client *ent.Client, entityID string) (Report, error) {
	var dialectName string
	entity, err := client.LegalEntity.Query().
		Where(legalentity.ID(entityID), func(s *entsql.Selector) { dialectName = s.Dialect() }).
		Only(ctx)
	if ent.IsNotFound(err) {
		return Report{}, apperr.New(apperr.NotFound, "legal entity %q not found", entityID)
	}
	if err != nil {
		return Report{}, err
	}
	r := Report{OrganizationID: entity.OrganizationID, EntityID: entityID, VerifiedAt: time.Now().UTC(), OK: true}
	err = snapshot(ctx, client, dialectName, func(c *ent.Client) error {
		for _, check := range []func(context.Context, *ent.Client, *Report) error{
			verifyChain, verifyUnsealed, verifyAnchor, verifyBalances,
		} {
			if err := check(ctx, c, &r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("verify ledger of %s: %w", entityID, err)
	}
	return r, nil
}

// snapshot runs fn in one transaction that is REPEATABLE READ and read-only on PostgreSQL,
// so every check sees the same snapshot: an invoice approved meanwhile cannot be counted
// without its AR entry. SQLite's single writer gives that anyway. A client already in a
// transaction is used as it is.
func snapshot(ctx context.Context, client *ent.Client, dialectName string, fn func(*ent.Client) error) error {
	tx, err := client.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return fn(client)
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if dialectName == dialect.Postgres {
		// ent's BeginTx would take the level, but not every driver wrapper supports it.
		if _, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
			return errors.Join(fmt.Errorf("set snapshot isolation: %w", err), tx.Rollback())
		}
	}
	if err := fn(tx.Client()); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// verifyChain recomputes every link from seq 1 and checks each sealed entry.
func verifyChain(ctx context.Context, c *ent.Client, r *Report) error {
	prevHash := ""
	var seq int64
	for {
		seals, err := c.LedgerSeal.Query().
			Where(ledgerseal.EntityID(r.EntityID), ledgerseal.SeqGT(seq)).
			Order(ledgerseal.BySeq()).Limit(batch).All(ctx)
		if err != nil {
			return fmt.Errorf("read seals: %w", err)
		}
		if len(seals) == 0 {
			return nil
		}
		entryIDs := make([]string, len(seals))
		for i, s := range seals {
			entryIDs[i] = s.EntryID
		}
		entries, err := c.JournalEntry.Query().Where(journalentry.IDIn(entryIDs...)).
			WithLines().All(ctx)
		if err != nil {
			return fmt.Errorf("read sealed entries: %w", err)
		}
		byID := make(map[string]*ent.JournalEntry, len(entries))
		for _, e := range entries {
			byID[e.ID] = e
		}
		for _, s := range seals {
			if s.Seq != seq+1 {
				r.fail("chain broken at seq %d: the next link is seq %d (entry %s); links %d–%d are missing",
					seq+1, s.Seq, s.EntryID, seq+1, s.Seq-1)
			}
			seq = s.Seq
			if s.PrevHash != prevHash {
				r.fail("chain broken at seq %d (entry %s): prev_hash is %s, but link %d's hash is %s",
					s.Seq, s.EntryID, short(s.PrevHash), s.Seq-1, short(prevHash))
			}
			r.EntriesSealed++
			e := byID[s.EntryID]
			switch {
			case e == nil:
				r.fail("chain broken at seq %d: sealed entry %s no longer exists", s.Seq, s.EntryID)
			case e.EntityID != r.EntityID:
				r.fail("chain broken at seq %d: sealed entry %s now belongs to entity %s", s.Seq, s.EntryID, e.EntityID)
			case e.Status != journalentry.StatusPosted && e.Status != journalentry.StatusReversed:
				r.fail("chain broken at seq %d: sealed entry %s is now %s", s.Seq, s.EntryID, e.Status)
			default:
				r.EntriesChecked++
				checkEntry(r, e)
				if h := ledger.SealHash(s.PrevHash, e, e.Edges.Lines); h != s.Hash {
					r.fail("chain broken at seq %d: entry %s changed after it was sealed (its content now hashes to %s, the seal says %s)",
						s.Seq, s.EntryID, short(h), short(s.Hash))
				}
			}
			// Chain on the stored hash, so one altered entry is one problem, not one per
			// later link.
			prevHash = s.Hash
			r.HeadSeq, r.HeadHash = s.Seq, s.Hash
		}
	}
}

// verifyUnsealed checks the posted entries not sealed yet, which only the invariants
// protect.
func verifyUnsealed(ctx context.Context, c *ent.Client, r *Report) error {
	after := ""
	for {
		entries, err := c.JournalEntry.Query().
			Where(journalentry.EntityID(r.EntityID), journalentry.StatusIn(ledger.Sealable()...),
				journalentry.IDGT(after)).
			Where(ledger.Unsealed()).
			Order(journalentry.ByID()).Limit(batch).WithLines().All(ctx)
		if err != nil {
			return fmt.Errorf("read unsealed entries: %w", err)
		}
		for _, e := range entries {
			r.EntriesChecked++
			checkEntry(r, e)
		}
		if len(entries) < batch {
			return nil
		}
		after = entries[len(entries)-1].ID
	}
}

// checkEntry checks that a posted entry is balanced, as posting made it.
func checkEntry(r *Report, e *ent.JournalEntry) {
	if len(e.Edges.Lines) < 2 {
		r.fail("entry %s has %d line(s); a posted entry has at least 2", e.ID, len(e.Edges.Lines))
		return
	}
	var debit, credit money.Amount
	for _, l := range e.Edges.Lines {
		debit, credit = debit.Add(l.Debit), credit.Add(l.Credit)
	}
	if debit.Cmp(credit) != 0 || debit.Cmp(e.Total) != 0 {
		r.fail("entry %s is unbalanced: debits %s, credits %s, total %s", e.ID, debit, credit, e.Total)
	}
}

// verifyAnchor checks that the head recorded by the last good verification is still in
// the chain with the same hash: recomputing alone cannot see links cut off the end.
func verifyAnchor(ctx context.Context, c *ent.Client, r *Report) error {
	last, err := c.LedgerVerification.Query().
		Where(ledgerverification.EntityID(r.EntityID), ledgerverification.Ok(true), ledgerverification.HeadSeqGT(0)).
		Order(ent.Desc(ledgerverification.FieldVerifiedAt), ent.Desc(ledgerverification.FieldID)).
		First(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read last verification: %w", err)
	}
	if last.HeadSeq > r.HeadSeq {
		r.fail("chain truncated: verification %s saw seq %d (hash %s), the chain now ends at seq %d",
			last.ID, last.HeadSeq, short(last.HeadHash), r.HeadSeq)
		return nil
	}
	s, err := c.LedgerSeal.Query().Where(ledgerseal.EntityID(r.EntityID), ledgerseal.Seq(last.HeadSeq)).Only(ctx)
	if ent.IsNotFound(err) {
		r.fail("chain broken at seq %d: verification %s saw it, it is gone", last.HeadSeq, last.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read anchored seal: %w", err)
	}
	if s.Hash != last.HeadHash {
		r.fail("chain broken at seq %d (entry %s): hash is %s, verification %s saw %s",
			s.Seq, s.EntryID, short(s.Hash), last.ID, short(last.HeadHash))
	}
	return nil
}

type accountSums struct {
	AccountID string       `json:"account_id"`
	Debit     money.Amount `json:"debit"`
	Credit    money.Amount `json:"credit"`
}

// verifyBalances checks the trial balance and the two control accounts against the
// documents behind them.
func verifyBalances(ctx context.Context, c *ent.Client, r *Report) error {
	var rows []accountSums
	err := c.JournalLine.Query().
		Where(journalline.HasEntryWith(journalentry.EntityID(r.EntityID), journalentry.StatusIn(ledger.Sealable()...))).
		GroupBy(journalline.FieldAccountID).
		Aggregate(ent.As(ent.Sum(journalline.FieldDebit), "debit"), ent.As(ent.Sum(journalline.FieldCredit), "credit")).
		Scan(ctx, &rows)
	if err != nil {
		return fmt.Errorf("sum journal lines: %w", err)
	}
	controls, err := c.Account.Query().
		Where(account.EntityID(r.EntityID), account.SubtypeIn(account.SubtypeAccountsReceivable, account.SubtypeCustomerCredit)).
		All(ctx)
	if err != nil {
		return fmt.Errorf("read control accounts: %w", err)
	}
	subtype := make(map[string]account.Subtype, len(controls))
	for _, a := range controls {
		subtype[a.ID] = a.Subtype
	}
	var debit, credit, ar, credits money.Amount
	for _, row := range rows {
		debit, credit = debit.Add(row.Debit), credit.Add(row.Credit)
		switch subtype[row.AccountID] {
		case account.SubtypeAccountsReceivable:
			ar = ar.Add(row.Debit).Sub(row.Credit)
		case account.SubtypeCustomerCredit:
			credits = credits.Add(row.Credit).Sub(row.Debit)
		}
	}
	if debit.Cmp(credit) != 0 {
		r.fail("trial balance unbalanced: debits %s, credits %s", debit, credit)
	}

	open, err := sum(ctx, c.Invoice.Query().
		Where(invoice.EntityID(r.EntityID), invoice.StatusIn(openInvoiceStatuses...)).
		Aggregate(ent.As(ent.Sum(invoice.FieldBalance), "sum")))
	if err != nil {
		return fmt.Errorf("sum open invoices: %w", err)
	}
	if ar.Cmp(open) != 0 {
		r.fail("Accounts Receivable is %s, but open invoices (approved, sent, viewed, partially paid) owe %s", ar, open)
	}

	unapplied, err := sum(ctx, c.Payment.Query().Where(payment.EntityID(r.EntityID)).
		Aggregate(ent.As(ent.Sum(payment.FieldUnapplied), "sum")))
	if err != nil {
		return fmt.Errorf("sum unapplied payments: %w", err)
	}
	remaining, err := sum(ctx, c.CreditMemo.Query().Where(creditmemo.EntityID(r.EntityID)).
		Aggregate(ent.As(ent.Sum(creditmemo.FieldRemaining), "sum")))
	if err != nil {
		return fmt.Errorf("sum credit memos: %w", err)
	}
	if want := unapplied.Add(remaining); credits.Cmp(want) != 0 {
		r.fail("Customer Credits is %s, but unapplied payments (%s) and credit memos (%s) come to %s",
			credits, unapplied, remaining, want)
	}
	return nil
}

type scanner interface {
	Scan(ctx context.Context, v any) error
}

// sum scans a one-row SUM aggregate; no rows sum to zero.
func sum(ctx context.Context, s scanner) (money.Amount, error) {
	var rows []struct {
		Sum *money.Amount `json:"sum"`
	}
	if err := s.Scan(ctx, &rows); err != nil {
		return money.Amount{}, err
	}
	if len(rows) == 0 || rows[0].Sum == nil {
		return money.Amount{}, nil
	}
	return *rows[0].Sum, nil
}

// short abbreviates a hash for messages; the full hashes are in the tables.
func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Record stores r as a LedgerVerification of its entity and returns it.
func Record(ctx context.Context, client *ent.Client, r Report) (*ent.LedgerVerification, error) {
	at := r.VerifiedAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	create := client.LedgerVerification.Create().
		SetID(ids.New(ids.LedgerVerification)).
		SetEntityID(r.EntityID).
		SetVerifiedAt(at).
		SetOk(r.OK).
		SetEntriesChecked(r.EntriesChecked).
		SetEntriesSealed(r.EntriesSealed).
		SetHeadSeq(r.HeadSeq).
		SetHeadHash(r.HeadHash)
	if r.OrganizationID != "" {
		create.SetOrganizationID(r.OrganizationID)
	}
	if r.Problem != "" {
		create.SetProblem(truncate(r.Problem, 4000))
	}
	v, err := create.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("record verification of %s: %w", r.EntityID, err)
	}
	return v, nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// VerifyAndRecord verifies entityID, after sealing its pending entries when seal is set,
// and records the outcome. A broken ledger is a recorded verification that is not ok, not
// an error.
func VerifyAndRecord(ctx context.Context, client *ent.Client, entityID string, seal bool) (Report, *ent.LedgerVerification, error) {
	if seal {
		if _, err := ledger.SealPending(ctx, client, entityID); err != nil {
			return Report{}, nil, err
		}
	}
	r, err := Verify(ctx, client, entityID)
	if err != nil {
		return Report{}, nil, err
	}
	v, err := Record(ctx, client, r)
	return r, v, err
}

// Latest returns the latest recorded verification of entityID, or nil when there is none.
func Latest(ctx context.Context, client *ent.Client, entityID string) (*ent.LedgerVerification, error) {
	v, err := client.LedgerVerification.Query().Where(ledgerverification.EntityID(entityID)).
		Order(ent.Desc(ledgerverification.FieldVerifiedAt), ent.Desc(ledgerverification.FieldID)).
		First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}
