package ledger

import (
	"context"
	"fmt"
	"strings"

	"books/ent"
	"books/ent/account"
	"books/ent/customer"
	"books/ent/vendor"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/ledger/source"
	"books/internal/money"
)

// The documented range of ledger dates. A date outside it is a typo (0026 for 2026) far more
// often than history, and the database refuses it too (journal_entry_dates).
var (
	MinDate = caldate.New(1900, 1, 1)
	MaxDate = caldate.New(2199, 12, 31)
)

// ReversalRefPrefix starts the source reference of every reversing entry
// ("reversal:<original id>"); no other entry may use it.
const ReversalRefPrefix = "reversal:"

// controlSubtypes are the control accounts: each equals a subledger (open invoices, unapplied
// cash and credits, open bills), so only documents post to them.
var controlSubtypes = map[string]bool{
	string(account.SubtypeAccountsReceivable): true,
	string(account.SubtypeCustomerCredit):     true,
	string(account.SubtypeAccountsPayable):    true,
}

// CheckDate refuses a date outside MinDate … MaxDate, naming field.
func CheckDate(d caldate.Date, field string) error {
	if d.Before(MinDate) || d.After(MaxDate) {
		return apperr.New(apperr.Validation, "date %s is outside the ledger's range %s … %s", d, MinDate, MaxDate).WithField(field)
	}
	return nil
}

// checkNamespace keeps the source references of documents and reversals to them: a manual or
// API entry that took "invoice:<id>" would block that invoice's approval forever.
func checkNamespace(e Entry) error {
	if e.Document != nil {
		if e.Source != source.Books || e.Document.Type == "" || e.Document.ID == "" || !strings.Contains(e.SourceRef, ":") {
			return fmt.Errorf("ledger: document entry %s:%s needs source system books and a kind:id reference", e.Document.Type, e.Document.ID)
		}
		return nil
	}
	if strings.HasPrefix(e.SourceRef, ReversalRefPrefix) {
		return apperr.New(apperr.DocumentOwned, "source references starting with %q are reserved for reversing entries", ReversalRefPrefix).WithField("source_ref")
	}
	if e.Source == source.Books && strings.Contains(e.SourceRef, ":") {
		return apperr.New(apperr.DocumentOwned, "source references of the form kind:id in source system books belong to Books documents; use another reference or source system").WithField("source_ref")
	}
	return nil
}

// checkMinorUnits refuses amounts finer than the currency's minor unit (0.005 USD): every
// posting is a whole number of cents, as the database also checks.
func checkMinorUnits(lines []Line, cur money.Currency) error {
	places := cur.MinorUnits()
	for i, l := range lines {
		side, a := "debit", l.Debit
		if a.IsZero() {
			side, a = "credit", l.Credit
		}
		if a.Round(places, money.HalfEven).Cmp(a) != 0 {
			return apperr.New(apperr.InvalidAmount, "line %d: %s %s has more than the %d decimal places of %s", i+1, side, a, places, cur).
				WithField(fmt.Sprintf("lines[%d].%s", i, side))
		}
	}
	return nil
}

// checkControlAccounts refuses a manual or API line on a control account, and a document
// line on one without its customer or vendor (QuickBooks needs them on A/R and A/P lines). A
// line with a Control reaches only an account of that subtype, and with StrictControl no
// other line reaches a control account: the COA mapping is configurable per entity, and a
// mapping pointed at the wrong account would otherwise move AR or Customer Credits away from
// the documents behind them.
func checkControlAccounts(e Entry, accounts []accountRef) error {
	for i, a := range accounts {
		l := e.Lines[i]
		field := fmt.Sprintf("lines[%d]", i)
		what := "the line's account"
		if l.SourceCode != "" {
			what = fmt.Sprintf("the %q mapping of source system %s", l.SourceCode, e.mappings())
		}
		control := controlSubtypes[a.Subtype]
		switch {
		case l.Control != "" && a.Subtype != string(l.Control):
			return apperr.New(apperr.ControlAccount, "line %d: %s points to account %s (%s), not to an account of subtype %s; fix the COA mapping",
				i+1, what, a.Code, a.Subtype, l.Control).WithField(field)
		case l.Control == "" && control && e.StrictControl:
			return apperr.New(apperr.ControlAccount, "line %d: %s is control account %s (%s), which this entry posts to only through the lines meant for it; fix the COA mapping or the account",
				i+1, what, a.Code, a.Subtype).WithField(field)
		}
		if !control {
			continue
		}
		if e.Document == nil {
			return apperr.New(apperr.ControlAccount, "line %d: %s %s is a control account; only Books documents (invoices, payments, credits, refunds, write-offs) post to it", i+1, a.Code, a.Name).WithField(field)
		}
		if a.Subtype == string(account.SubtypeAccountsPayable) {
			if l.VendorID == "" {
				return apperr.New(apperr.Validation, "line %d: a line on %s %s names its vendor", i+1, a.Code, a.Name).WithField(field + ".vendor")
			}
		} else if l.CustomerID == "" {
			return apperr.New(apperr.Validation, "line %d: a line on %s %s names its customer", i+1, a.Code, a.Name).WithField(field + ".customer")
		}
	}
	return nil
}

// checkContacts checks the customers and vendors lines name are the organization's.
func checkContacts(ctx context.Context, c *ent.Client, lines []Line) error {
	var cus, ven []string
	for _, l := range lines {
		if l.CustomerID != "" {
			cus = append(cus, l.CustomerID)
		}
		if l.VendorID != "" {
			ven = append(ven, l.VendorID)
		}
	}
	if len(cus)+len(ven) == 0 {
		return nil
	}
	known := map[string]bool{}
	if len(cus) > 0 {
		found, err := c.Customer.Query().Where(customer.IDIn(cus...)).IDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range found {
			known[id] = true
		}
	}
	if len(ven) > 0 {
		found, err := c.Vendor.Query().Where(vendor.IDIn(ven...)).IDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range found {
			known[id] = true
		}
	}
	for i, l := range lines {
		if l.CustomerID != "" && !known[l.CustomerID] {
			return apperr.New(apperr.UnknownCustomer, "line %d: customer %q not found", i+1, l.CustomerID).WithField(fmt.Sprintf("lines[%d].customer", i))
		}
		if l.VendorID != "" && !known[l.VendorID] {
			return apperr.New(apperr.NotFound, "line %d: vendor %q not found", i+1, l.VendorID).WithField(fmt.Sprintf("lines[%d].vendor", i))
		}
	}
	return nil
}

// dbCodes are the codes the ledger's triggers start their refusals with.
var dbCodes = []string{
	apperr.UnbalancedEntry, apperr.LedgerImmutable, apperr.PeriodClosed, apperr.AlreadyReversed,
	apperr.DocumentOwned, apperr.ControlAccount, apperr.AccountInUse, apperr.CurrencyMismatch,
	apperr.InvalidAmount, apperr.UnknownAccount, apperr.UnknownClass, apperr.UnknownCustomer,
	apperr.UnknownEntity, apperr.Validation,
}

// dbCode returns the code a database trigger refused with ("CODE: …" in its message). A
// refused REPLACE reads as SQLite's own unique violation and is left to the caller.
func dbCode(err error) (string, bool) {
	msg := err.Error()
	if strings.Contains(msg, "UNIQUE constraint failed") {
		return "", false
	}
	for _, code := range dbCodes {
		if strings.Contains(msg, code+":") {
			return code, true
		}
	}
	return "", false
}
