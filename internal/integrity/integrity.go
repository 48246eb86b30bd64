// Package integrity verifies a legal entity's ledger. Verify recomputes the entity's hash
// chain of sealed journal entries (internal/ledger's seals) from the first link, checks every
// head a past verification recorded is still in it, and checks the invariants the ledger and
// billing promise: every posted entry balanced, on its entity's accounts, one positive side
// per line in whole minor units; status consistent with the reversing entries (status is not
// sealed); each posting's audit event and each document entry's document present; the trial
// balance balanced; Accounts Receivable equal to the open invoice balances and Customer
// Credits to the unapplied payments and credit memos.
//
// The database refuses edits of posted entries and of seals, but a superuser can disable
// its triggers; what such an edit changed then shows up here. Someone with that power can
// also recompute the whole chain: only heads recorded outside the database (the CLI prints
// them) catch that, and links appended and removed between two verifications. The package
// reads the tables directly and does not import internal/billing, so it checks billing
// rather than trusting it.
package integrity

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"books/ent"
	"books/ent/account"
	"books/ent/auditevent"
	"books/ent/chargereversal"
	"books/ent/creditapplication"
	"books/ent/creditmemo"
	"books/ent/invoice"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/ledgerseal"
	"books/ent/ledgerverification"
	"books/ent/legalentity"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/ent/refund"
	"books/ent/writeoff"
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
	entity, err := client.LegalEntity.Query().Where(legalentity.ID(entityID)).Only(ctx)
	if ent.IsNotFound(err) {
		return Report{}, apperr.New(apperr.NotFound, "legal entity %q not found", entityID)
	}
	if err != nil {
		return Report{}, err
	}
	r := Report{OrganizationID: entity.OrganizationID, EntityID: entityID, VerifiedAt: time.Now().UTC(), OK: true}
	err = snapshot(ctx, client, func(c *ent.Client) error {
		v := &verifier{r: &r, c: c}
		return v.run(ctx)
	})
	if err != nil {
		return Report{}, fmt.Errorf("verify ledger of %s: %w", entityID, err)
	}
	return r, nil
}

// verifier is one run of Verify: the report it fills and the entity's accounts.
type verifier struct {
	r *Report
	c *ent.Client
	// subtypes maps each account of the entity to its subtype; a line on an account
	// missing here is on another entity's.
	subtypes map[string]account.Subtype
}

func (v *verifier) run(ctx context.Context) (err error) {
	// Amounts far beyond anything the ledger accepts can only come from tampering; their
	// sums overflow, which money reports by panicking. That is a finding, not a crash.
	defer func() {
		if p := recover(); p != nil {
			perr, ok := p.(error)
			if !ok || !errors.Is(perr, money.ErrOutOfRange) {
				panic(p)
			}
			v.r.fail("amounts overflow the ledger's range: %v", perr)
		}
	}()
	accounts, err := v.c.Account.Query().Where(account.EntityID(v.r.EntityID)).All(ctx)
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	v.subtypes = make(map[string]account.Subtype, len(accounts))
	for _, a := range accounts {
		v.subtypes[a.ID] = a.Subtype
	}
	for _, check := range []func(context.Context) error{
		v.chain, v.unsealed, v.anchors, v.reversals, v.audited, v.documents, v.balances,
	} {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// snapshot runs fn in one transaction that is REPEATABLE READ and read-only on PostgreSQL,
// so every check sees the same snapshot: an invoice approved meanwhile cannot be counted
// without its AR entry. SQLite's single writer gives that anyway. A client already in a
// transaction is used as it is.
func snapshot(ctx context.Context, client *ent.Client, fn func(*ent.Client) error) error {
	tx, err := client.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return fn(client)
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if client.Dialect() == dialect.Postgres {
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

// chain recomputes every link from seq 1 and checks each sealed entry.
func (v *verifier) chain(ctx context.Context) error {
	r, c := v.r, v.c
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
				v.entry(e)
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

// unsealed checks the posted entries not sealed yet, which only the invariants protect.
func (v *verifier) unsealed(ctx context.Context) error {
	r, c := v.r, v.c
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
			v.entry(e)
		}
		if len(entries) < batch {
			return nil
		}
		after = entries[len(entries)-1].ID
	}
}

// entry checks a posted entry is as posting made it: at least two lines, each on one of
// the entity's accounts with one positive side in whole minor units of the currency, and
// debits equal to credits and to the total.
func (v *verifier) entry(e *ent.JournalEntry) {
	r := v.r
	if len(e.Edges.Lines) < 2 {
		r.fail("entry %s has %d line(s); a posted entry has at least 2", e.ID, len(e.Edges.Lines))
		return
	}
	cur, err := money.ParseCurrency(e.Currency)
	if err != nil {
		r.fail("entry %s has currency %q, which the ledger does not know", e.ID, e.Currency)
	}
	// A minor unit in the ledger's units of 1/10,000: 100 for cents.
	unit := int64(1)
	for range money.Scale - cur.MinorUnits() {
		unit *= 10
	}
	var debit, credit money.Amount
	for _, l := range e.Edges.Lines {
		if _, ok := v.subtypes[l.AccountID]; !ok {
			r.fail("entry %s line %d is on account %s, which is not an account of entity %s", e.ID, l.LineNo, l.AccountID, r.EntityID)
		}
		oneSide := (l.Debit.IsPositive() && l.Credit.IsZero()) || (l.Credit.IsPositive() && l.Debit.IsZero())
		if !oneSide {
			r.fail("entry %s line %d has debit %s and credit %s; a line has one positive side", e.ID, l.LineNo, l.Debit, l.Credit)
		}
		if l.Debit.Abs().Cmp(money.MaxAbs) > 0 || l.Credit.Abs().Cmp(money.MaxAbs) > 0 {
			r.fail("entry %s line %d is beyond the ledger's largest amount %s", e.ID, l.LineNo, money.MaxAbs)
			return
		}
		if err == nil && (l.Debit.Units()%unit != 0 || l.Credit.Units()%unit != 0) {
			r.fail("entry %s line %d has an amount finer than the %s minor unit", e.ID, l.LineNo, cur)
		}
		debit, credit = debit.Add(l.Debit), credit.Add(l.Credit)
	}
	if debit.Cmp(credit) != 0 || debit.Cmp(e.Total) != 0 {
		r.fail("entry %s is unbalanced: debits %s, credits %s, total %s", e.ID, debit, credit, e.Total)
	}
}

// anchors checks that every head a verification recorded is still in the chain with the
// same hash. Recomputing alone cannot see a chain cut short or rewritten from some link on;
// a recorded head can, and checking every record, not just the latest, means a forged newer
// record cannot hide the older ones. (Heads copied outside the database anchor better
// still: whoever can rewrite the chain can rewrite this table.)
func (v *verifier) anchors(ctx context.Context) error {
	r := v.r
	bad, err := v.c.LedgerVerification.Query().
		Where(ledgerverification.EntityID(r.EntityID), ledgerverification.HeadSeqGT(0), func(s *entsql.Selector) {
			seals := entsql.Table(ledgerseal.Table)
			s.Where(entsql.NotExists(entsql.Select(seals.C(ledgerseal.FieldID)).From(seals).Where(entsql.And(
				entsql.ColumnsEQ(seals.C(ledgerseal.FieldEntityID), s.C(ledgerverification.FieldEntityID)),
				entsql.ColumnsEQ(seals.C(ledgerseal.FieldSeq), s.C(ledgerverification.FieldHeadSeq)),
				entsql.ColumnsEQ(seals.C(ledgerseal.FieldHash), s.C(ledgerverification.FieldHeadHash)),
			))))
		}).
		Order(ledgerverification.ByVerifiedAt(), ledgerverification.ByID()).
		Limit(maxProblems).All(ctx)
	if err != nil {
		return fmt.Errorf("read recorded heads: %w", err)
	}
	for _, lv := range bad {
		if lv.HeadSeq > r.HeadSeq {
			r.fail("chain truncated: verification %s (%s) saw seq %d with hash %s; the chain now ends at seq %d",
				lv.ID, lv.VerifiedAt.UTC().Format(time.RFC3339), lv.HeadSeq, short(lv.HeadHash), r.HeadSeq)
			continue
		}
		r.fail("chain rewritten at or before seq %d: verification %s (%s) saw hash %s there, the chain no longer has it",
			lv.HeadSeq, lv.ID, lv.VerifiedAt.UTC().Format(time.RFC3339), short(lv.HeadHash))
	}
	return nil
}

// reversals checks status against the reversing entries, since status is left out of the
// seal: an entry is reversed exactly when a posted reversal of it exists.
func (v *verifier) reversals(ctx context.Context) error {
	reversal := journalentry.HasReversedByWith(journalentry.StatusIn(ledger.Sealable()...))
	orphans, err := v.c.JournalEntry.Query().
		Where(journalentry.EntityID(v.r.EntityID), journalentry.StatusEQ(journalentry.StatusReversed), journalentry.Not(reversal)).
		Order(journalentry.ByID()).Limit(maxProblems).IDs(ctx)
	if err != nil {
		return fmt.Errorf("read reversed entries: %w", err)
	}
	for _, id := range orphans {
		v.r.fail("entry %s is marked reversed, but no posted entry reverses it", id)
	}
	live, err := v.c.JournalEntry.Query().
		Where(journalentry.EntityID(v.r.EntityID), journalentry.StatusEQ(journalentry.StatusPosted), reversal).
		Order(journalentry.ByID()).Limit(maxProblems).IDs(ctx)
	if err != nil {
		return fmt.Errorf("read posted entries: %w", err)
	}
	for _, id := range live {
		v.r.fail("entry %s is marked posted, but a posted entry reverses it", id)
	}
	return nil
}

// audited checks every posted entry still has the audit event the database wrote when it
// was posted ("aud_<entry id>", see migrations 0002 and 0005).
func (v *verifier) audited(ctx context.Context) error {
	missing, err := v.c.JournalEntry.Query().
		Where(journalentry.EntityID(v.r.EntityID), journalentry.StatusIn(ledger.Sealable()...), func(s *entsql.Selector) {
			events := entsql.Table(auditevent.Table)
			s.Where(entsql.NotExists(entsql.Select(events.C(auditevent.FieldID)).From(events).Where(entsql.And(
				entsql.P(func(b *entsql.Builder) {
					b.Ident(events.C(auditevent.FieldID)).WriteString(" = 'aud_' || ").Ident(s.C(journalentry.FieldID))
				}),
				entsql.ColumnsEQ(events.C(auditevent.FieldSubjectID), s.C(journalentry.FieldID)),
			))))
		}).
		Order(journalentry.ByID()).Limit(maxProblems).IDs(ctx)
	if err != nil {
		return fmt.Errorf("read audit events: %w", err)
	}
	for _, id := range missing {
		v.r.fail("entry %s has lost the audit event of its posting", id)
	}
	return nil
}

// documentTables maps each document type of journal entries to its table, and says whether
// that table carries the entity (applications only carry the organization).
var documentTables = map[string]struct {
	table    string
	byEntity bool
}{
	ledger.DocInvoice:            {invoice.Table, true},
	ledger.DocPayment:            {payment.Table, true},
	ledger.DocPaymentApplication: {paymentapplication.Table, false},
	ledger.DocCreditMemo:         {creditmemo.Table, true},
	ledger.DocCreditApplication:  {creditapplication.Table, false},
	ledger.DocRefund:             {refund.Table, true},
	ledger.DocChargeReversal:     {chargereversal.Table, true},
	ledger.DocWriteOff:           {writeoff.Table, true},
}

// documents checks each document entry's document exists in its entity (or organization).
// The database can check that only for invoices when the entry is posted: the other
// documents are written after their entry, in the same transaction.
func (v *verifier) documents(ctx context.Context) error {
	unknown, err := v.c.JournalEntry.Query().
		Where(journalentry.EntityID(v.r.EntityID), journalentry.StatusIn(ledger.Sealable()...),
			journalentry.DocumentTypeNotNil(), journalentry.DocumentTypeNotIn(slices.Sorted(maps.Keys(documentTables))...)).
		Order(journalentry.ByID()).Limit(maxProblems).All(ctx)
	if err != nil {
		return fmt.Errorf("read document entries: %w", err)
	}
	for _, e := range unknown {
		v.r.fail("entry %s names a document of unknown type %q", e.ID, deref(e.DocumentType))
	}
	for _, docType := range slices.Sorted(maps.Keys(documentTables)) {
		dt := documentTables[docType]
		orphans, err := v.c.JournalEntry.Query().
			Where(journalentry.EntityID(v.r.EntityID), journalentry.StatusIn(ledger.Sealable()...),
				journalentry.DocumentType(docType), func(s *entsql.Selector) {
					docs := entsql.Table(dt.table)
					owner := entsql.ColumnsEQ(docs.C("organization_id"), s.C(journalentry.FieldOrganizationID))
					if dt.byEntity {
						owner = entsql.ColumnsEQ(docs.C("entity_id"), s.C(journalentry.FieldEntityID))
					}
					s.Where(entsql.NotExists(entsql.Select(docs.C("id")).From(docs).Where(entsql.And(
						entsql.ColumnsEQ(docs.C("id"), s.C(journalentry.FieldDocumentID)), owner))))
				}).
			Order(journalentry.ByID()).Limit(maxProblems).All(ctx)
		if err != nil {
			return fmt.Errorf("read %s entries: %w", docType, err)
		}
		for _, e := range orphans {
			v.r.fail("entry %s was posted by %s %s, which does not exist in its entity", e.ID, docType, deref(e.DocumentID))
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

type accountSums struct {
	AccountID string       `json:"account_id"`
	Debit     money.Amount `json:"debit"`
	Credit    money.Amount `json:"credit"`
}

// balances checks the trial balance and the two control accounts against the documents
// behind them.
func (v *verifier) balances(ctx context.Context) error {
	r, c := v.r, v.c
	var rows []accountSums
	err := c.JournalLine.Query().
		Where(journalline.HasEntryWith(journalentry.EntityID(r.EntityID), journalentry.StatusIn(ledger.Sealable()...))).
		GroupBy(journalline.FieldAccountID).
		Aggregate(ent.As(ent.Sum(journalline.FieldDebit), "debit"), ent.As(ent.Sum(journalline.FieldCredit), "credit")).
		Scan(ctx, &rows)
	if overflowed(err) {
		r.fail("the sums of the ledger's lines overflow: %v", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sum journal lines: %w", err)
	}
	var debit, credit, ar, credits money.Amount
	for _, row := range rows {
		debit, credit = debit.Add(row.Debit), credit.Add(row.Credit)
		switch v.subtypes[row.AccountID] {
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
	if overflowed(err) {
		r.fail("the sum of open invoices overflows: %v", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sum open invoices: %w", err)
	}
	if ar.Cmp(open) != 0 {
		r.fail("Accounts Receivable is %s, but open invoices (approved, sent, viewed, partially paid) owe %s", ar, open)
	}

	unapplied, err := sum(ctx, c.Payment.Query().Where(payment.EntityID(r.EntityID)).
		Aggregate(ent.As(ent.Sum(payment.FieldUnapplied), "sum")))
	if overflowed(err) {
		r.fail("the sum of unapplied payments overflows: %v", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sum unapplied payments: %w", err)
	}
	remaining, err := sum(ctx, c.CreditMemo.Query().Where(creditmemo.EntityID(r.EntityID)).
		Aggregate(ent.As(ent.Sum(creditmemo.FieldRemaining), "sum")))
	if overflowed(err) {
		r.fail("the sum of credit memos overflows: %v", err)
		return nil
	}
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

// overflowed reports whether err is a sum beyond int64 units: a money scan out of range
// (PostgreSQL's numeric SUM), or SQLite's integer overflow.
func overflowed(err error) bool {
	return err != nil && (errors.Is(err, money.ErrOutOfRange) || strings.Contains(err.Error(), "integer overflow"))
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
