package ledger

import (
	"context"
	"sort"

	"books/ent"
	"books/ent/account"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/legalentity"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/money"
)

// Balance is an account's activity up to a date.
type Balance struct {
	Account *ent.Account
	Debit   money.Amount
	Credit  money.Amount
}

// Net returns debit - credit: positive for a debit balance.
func (b Balance) Net() money.Amount { return b.Debit.Sub(b.Credit) }

// TrialBalance lists the accounts of an entity with activity up to and including asOf.
type TrialBalance struct {
	Entity      *ent.LegalEntity
	AsOf        caldate.Date
	Rows        []Balance
	TotalDebit  money.Amount
	TotalCredit money.Amount
}

// Balanced reports whether total debits equal total credits.
func (tb TrialBalance) Balanced() bool { return tb.TotalDebit.Cmp(tb.TotalCredit) == 0 }

type sums struct {
	AccountID string       `json:"account_id"`
	Debit     money.Amount `json:"debit"`
	Credit    money.Amount `json:"credit"`
}

// activity sums posted lines (reversed entries and their reversals both count, so a
// reversal nets to zero) per account.
func activity(ctx context.Context, c *ent.Client, entityID string, asOf caldate.Date, accountID string) ([]sums, error) {
	q := c.JournalLine.Query().Where(journalline.HasEntryWith(
		journalentry.EntityID(entityID),
		journalentry.DateLTE(asOf),
		journalentry.StatusIn(journalentry.StatusPosted, journalentry.StatusReversed),
	))
	if accountID != "" {
		q = q.Where(journalline.AccountID(accountID))
	}
	var rows []sums
	err := q.GroupBy(journalline.FieldAccountID).
		Aggregate(ent.As(ent.Sum(journalline.FieldDebit), "debit"), ent.As(ent.Sum(journalline.FieldCredit), "credit")).
		Scan(ctx, &rows)
	return rows, err
}

// GetTrialBalance returns the trial balance of entityID as of asOf.
func GetTrialBalance(ctx context.Context, c *ent.Client, entityID string, asOf caldate.Date) (TrialBalance, error) {
	entity, err := c.LegalEntity.Query().Where(legalentity.ID(entityID)).Only(ctx)
	if ent.IsNotFound(err) {
		return TrialBalance{}, apperr.New(apperr.NotFound, "legal entity %q not found", entityID)
	}
	if err != nil {
		return TrialBalance{}, err
	}
	rows, err := activity(ctx, c, entityID, asOf, "")
	if err != nil {
		return TrialBalance{}, err
	}
	idsWanted := make([]string, len(rows))
	for i, r := range rows {
		idsWanted[i] = r.AccountID
	}
	accts, err := c.Account.Query().Where(account.IDIn(idsWanted...)).All(ctx)
	if err != nil {
		return TrialBalance{}, err
	}
	byID := make(map[string]*ent.Account, len(accts))
	for _, a := range accts {
		byID[a.ID] = a
	}
	tb := TrialBalance{Entity: entity, AsOf: asOf}
	for _, r := range rows {
		tb.Rows = append(tb.Rows, Balance{Account: byID[r.AccountID], Debit: r.Debit, Credit: r.Credit})
		tb.TotalDebit = tb.TotalDebit.Add(r.Debit)
		tb.TotalCredit = tb.TotalCredit.Add(r.Credit)
	}
	sort.Slice(tb.Rows, func(i, j int) bool { return tb.Rows[i].Account.Code < tb.Rows[j].Account.Code })
	return tb, nil
}

// AccountBalance returns one account's totals as of asOf.
func AccountBalance(ctx context.Context, c *ent.Client, accountID string, asOf caldate.Date) (Balance, error) {
	a, err := c.Account.Get(ctx, accountID)
	if ent.IsNotFound(err) {
		return Balance{}, apperr.New(apperr.NotFound, "account %q not found", accountID)
	}
	if err != nil {
		return Balance{}, err
	}
	rows, err := activity(ctx, c, a.EntityID, asOf, a.ID)
	if err != nil {
		return Balance{}, err
	}
	b := Balance{Account: a}
	for _, r := range rows {
		b.Debit, b.Credit = r.Debit, r.Credit
	}
	return b, nil
}
