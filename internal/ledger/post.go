package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"books/ent"
	"books/ent/account"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/journalentry"
	"books/ent/legalentity"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/ledger/source"
	"books/internal/money"
)

// MaxLines bounds an entry so one request cannot hold a transaction open for long.
const MaxLines = 500

// Entry is a journal entry to post.
type Entry struct {
	EntityID    string
	Date        caldate.Date
	Description string
	// Currency defaults to the entity's base currency; any other currency is refused
	// because the ledger has no exchange rates yet.
	Currency money.Currency
	Source   source.System
	// SourceRef identifies the source event; (entity, Source, SourceRef) is posted at most once.
	// Empty means a fresh reference (a manual entry).
	SourceRef string
	// LateToOpenPeriod moves an entry dated in a closed period to the first day of the next
	// open period, keeping its date as the document date, instead of refusing it.
	LateToOpenPeriod bool
	Lines            []Line
	// CreatedBy and CreatedVia say who posted and through which interface.
	CreatedBy, CreatedVia string
}

// Line is one debit or credit. The account is named by exactly one of AccountID,
// AccountCode or SourceCode (resolved through the COA mapping of the entry's source system).
type Line struct {
	AccountID   string
	AccountCode string
	SourceCode  string
	Debit       money.Amount
	Credit      money.Amount
	// Currency, when set, must equal the entry's currency.
	Currency    money.Currency
	ClassID     string
	ClassName   string
	Description string
}

// Result is the outcome of Post.
type Result struct {
	Entry *ent.JournalEntry
	// Created is false when the source reference had been posted before and Entry is the
	// existing entry.
	Created bool
}

// Post validates e and writes it as a posted entry in one transaction. Nothing is written
// when any check fails. Posting a source reference again returns the first entry.
func Post(ctx context.Context, client *ent.Client, e Entry) (Result, error) {
	if err := checkShape(e); err != nil {
		return Result{}, err
	}
	var res Result
	owned, err := withTx(ctx, client, func(c *ent.Client) error {
		var err error
		res, err = post(ctx, c, e)
		return err
	})
	if err == nil && owned {
		res.Entry = res.Entry.Unwrap()
	}
	if err != nil && ent.IsConstraintError(err) && e.SourceRef != "" {
		// A concurrent request posted the same source reference first.
		if existing, ferr := findBySource(ctx, client, e.EntityID, e.Source, e.SourceRef); ferr == nil {
			return Result{Entry: existing}, nil
		}
	}
	if err != nil {
		return Result{}, mapDBError(err)
	}
	return res, nil
}

func post(ctx context.Context, c *ent.Client, e Entry) (Result, error) {
	entity, err := c.LegalEntity.Query().Where(legalentity.ID(e.EntityID)).Only(ctx)
	if ent.IsNotFound(err) {
		return Result{}, apperr.New(apperr.UnknownEntity, "legal entity %q not found", e.EntityID)
	}
	if err != nil {
		return Result{}, err
	}
	currency := money.Currency(entity.BaseCurrency)
	if e.Currency != "" && e.Currency != currency {
		return Result{}, apperr.New(apperr.CurrencyMismatch,
			"entry currency %s differs from the entity's base currency %s", e.Currency, currency)
	}
	for i, l := range e.Lines {
		if l.Currency != "" && l.Currency != currency {
			return Result{}, apperr.New(apperr.CurrencyMismatch,
				"line %d currency %s differs from the entry currency %s", i+1, l.Currency, currency).
				WithField(fmt.Sprintf("lines[%d].currency", i))
		}
	}
	if e.SourceRef != "" {
		existing, err := findBySource(ctx, c, e.EntityID, e.Source, e.SourceRef)
		if err == nil {
			return Result{Entry: existing}, nil
		}
		if !ent.IsNotFound(err) {
			return Result{}, err
		}
	}
	accounts, err := resolveAccounts(ctx, c, e)
	if err != nil {
		return Result{}, err
	}
	classes, err := resolveClasses(ctx, c, e)
	if err != nil {
		return Result{}, err
	}
	date, docDate, err := postingDate(ctx, c, e.EntityID, e.Date, e.LateToOpenPeriod)
	if err != nil {
		return Result{}, err
	}
	id := ids.New(ids.JournalEntry)
	ref := e.SourceRef
	if ref == "" {
		ref = id
	}
	create := c.JournalEntry.Create().
		SetID(id).
		SetEntityID(e.EntityID).
		SetDate(date).
		SetDescription(e.Description).
		SetCurrency(string(currency)).
		SetSourceSystem(e.Source).
		SetSourceRef(ref).
		SetStatus(journalentry.StatusDraft).
		SetTotal(total(e.Lines)).
		SetCreatedBy(e.CreatedBy).
		SetCreatedVia(e.CreatedVia)
	if docDate != nil {
		create.SetDocumentDate(*docDate)
	}
	return write(ctx, c, create, e.Lines, accounts, classes)
}

// write inserts the entry as a draft, adds its lines, then flips it to posted: the database
// accepts lines only on drafts and checks the balance at the moment an entry becomes posted.
func write(ctx context.Context, c *ent.Client, create *ent.JournalEntryCreate, lines []Line, accounts, classes []string) (Result, error) {
	je, err := create.Save(ctx)
	if err != nil {
		return Result{}, err
	}
	builders := make([]*ent.JournalLineCreate, len(lines))
	for i, l := range lines {
		b := c.JournalLine.Create().
			SetEntryID(je.ID).
			SetLineNo(i + 1).
			SetAccountID(accounts[i]).
			SetDebit(l.Debit).
			SetCredit(l.Credit).
			SetDescription(l.Description)
		if classes[i] != "" {
			b.SetClassID(classes[i])
		}
		builders[i] = b
	}
	if err := c.JournalLine.CreateBulk(builders...).Exec(ctx); err != nil {
		return Result{}, err
	}
	now := time.Now().UTC()
	n, err := c.JournalEntry.Update().
		Where(journalentry.ID(je.ID), journalentry.StatusEQ(journalentry.StatusDraft)).
		SetStatus(journalentry.StatusPosted).
		SetPostedAt(now).
		Save(ctx)
	if err != nil {
		return Result{}, err
	}
	if n != 1 {
		return Result{}, fmt.Errorf("post entry %s: draft vanished", je.ID)
	}
	je.Status = journalentry.StatusPosted
	je.PostedAt = &now
	return Result{Entry: je, Created: true}, nil
}

func findBySource(ctx context.Context, c *ent.Client, entityID string, sys source.System, ref string) (*ent.JournalEntry, error) {
	return c.JournalEntry.Query().
		Where(
			journalentry.EntityID(entityID),
			journalentry.SourceSystemEQ(sys),
			journalentry.SourceRef(ref),
		).Only(ctx)
}

// checkShape validates everything that needs no database: line count, sides, amounts and
// balance.
func checkShape(e Entry) error {
	if e.EntityID == "" {
		return apperr.New(apperr.Validation, "entity is required").WithField("entity")
	}
	if e.Date.IsZero() {
		return apperr.New(apperr.Validation, "date is required").WithField("date")
	}
	if !e.Source.Valid() {
		return apperr.New(apperr.Validation, "unknown source system %q", e.Source).WithField("source_system")
	}
	if len(e.SourceRef) > 200 {
		return apperr.New(apperr.Validation, "source reference is longer than 200 characters").WithField("source_ref")
	}
	if len(e.Description) > 1000 {
		return apperr.New(apperr.Validation, "description is longer than 1000 characters").WithField("description")
	}
	if len(e.Lines) < 2 {
		return apperr.New(apperr.UnbalancedEntry, "a journal entry needs at least two lines, got %d", len(e.Lines)).WithField("lines")
	}
	if len(e.Lines) > MaxLines {
		return apperr.New(apperr.Validation, "a journal entry has at most %d lines, got %d", MaxLines, len(e.Lines)).WithField("lines")
	}
	var debits, credits money.Amount
	for i, l := range e.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		named := 0
		for _, s := range []string{l.AccountID, l.AccountCode, l.SourceCode} {
			if s != "" {
				named++
			}
		}
		if named != 1 {
			return apperr.New(apperr.Validation, "line %d must name its account by exactly one of account id, account_code or source_code", i+1).WithField(field)
		}
		if l.Debit.IsNegative() || l.Credit.IsNegative() {
			return apperr.New(apperr.InvalidAmount, "line %d: amounts must be positive; put a negative debit on the credit side instead", i+1).WithField(field)
		}
		switch {
		case l.Debit.IsPositive() && l.Credit.IsPositive():
			return apperr.New(apperr.Validation, "line %d has both a debit and a credit; a line has exactly one side", i+1).WithField(field)
		case l.Debit.IsZero() && l.Credit.IsZero():
			return apperr.New(apperr.InvalidAmount, "line %d has no amount; a line has a positive debit or a positive credit", i+1).WithField(field)
		}
		if len(l.Description) > 1000 {
			return apperr.New(apperr.Validation, "line %d description is longer than 1000 characters", i+1).WithField(field + ".description")
		}
		debits = debits.Add(l.Debit)
		credits = credits.Add(l.Credit)
	}
	if debits.Cmp(credits) != 0 {
		return apperr.New(apperr.UnbalancedEntry, "debits %s do not equal credits %s (difference %s)",
			debits, credits, debits.Sub(credits).Abs())
	}
	return nil
}

func total(lines []Line) money.Amount {
	var t money.Amount
	for _, l := range lines {
		t = t.Add(l.Debit)
	}
	return t
}

// resolveAccounts returns the account id of each line, checking each account is an active
// account of the entity.
func resolveAccounts(ctx context.Context, c *ent.Client, e Entry) ([]string, error) {
	var byID, byCode, bySource []string
	for _, l := range e.Lines {
		switch {
		case l.AccountID != "":
			byID = append(byID, l.AccountID)
		case l.AccountCode != "":
			byCode = append(byCode, l.AccountCode)
		default:
			bySource = append(bySource, l.SourceCode)
		}
	}
	mapped := map[string]string{}
	if len(bySource) > 0 {
		maps, err := c.COAMapping.Query().
			Where(coamapping.EntityID(e.EntityID), coamapping.SourceSystemEQ(e.Source), coamapping.SourceCodeIn(bySource...)).
			All(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range maps {
			mapped[m.SourceCode] = m.AccountID
			byID = append(byID, m.AccountID)
		}
	}
	preds := []func(*ent.AccountQuery){}
	_ = preds
	q := c.Account.Query().Where(account.EntityID(e.EntityID))
	switch {
	case len(byID) > 0 && len(byCode) > 0:
		q = q.Where(account.Or(account.IDIn(byID...), account.CodeIn(byCode...)))
	case len(byID) > 0:
		q = q.Where(account.IDIn(byID...))
	case len(byCode) > 0:
		q = q.Where(account.CodeIn(byCode...))
	}
	found, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]*ent.Account, len(found))
	codes := make(map[string]*ent.Account, len(found))
	for _, a := range found {
		ids[a.ID] = a
		codes[a.Code] = a
	}
	out := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		var a *ent.Account
		switch {
		case l.AccountID != "":
			if a = ids[l.AccountID]; a == nil {
				return nil, apperr.New(apperr.UnknownAccount, "line %d: account %q is not an account of this entity", i+1, l.AccountID).WithField(field + ".account_id")
			}
		case l.AccountCode != "":
			if a = codes[l.AccountCode]; a == nil {
				return nil, apperr.New(apperr.UnknownAccount, "line %d: no account with code %q in this entity", i+1, l.AccountCode).WithField(field + ".account_code")
			}
		default:
			id, ok := mapped[l.SourceCode]
			if !ok {
				return nil, apperr.New(apperr.UnknownSourceCode, "line %d: source code %q has no COA mapping for source system %s in this entity", i+1, l.SourceCode, e.Source).WithField(field + ".source_code")
			}
			if a = ids[id]; a == nil {
				return nil, apperr.New(apperr.UnknownAccount, "line %d: source code %q maps to an account outside this entity", i+1, l.SourceCode).WithField(field + ".source_code")
			}
		}
		if !a.Active {
			return nil, apperr.New(apperr.InactiveAccount, "line %d: account %s %s is inactive", i+1, a.Code, a.Name).WithField(field)
		}
		out[i] = a.ID
	}
	return out, nil
}

// resolveClasses returns the class id of each line ("" for none).
func resolveClasses(ctx context.Context, c *ent.Client, e Entry) ([]string, error) {
	var idsWanted, names []string
	for _, l := range e.Lines {
		if l.ClassID != "" {
			idsWanted = append(idsWanted, l.ClassID)
		} else if l.ClassName != "" {
			names = append(names, l.ClassName)
		}
	}
	out := make([]string, len(e.Lines))
	if len(idsWanted)+len(names) == 0 {
		return out, nil
	}
	found, err := c.Class.Query().
		Where(class.EntityID(e.EntityID), class.Or(class.IDIn(idsWanted...), class.NameIn(names...))).
		All(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*ent.Class{}
	byName := map[string]*ent.Class{}
	for _, cl := range found {
		byID[cl.ID] = cl
		byName[strings.ToLower(cl.Name)] = cl
	}
	for i, l := range e.Lines {
		var cl *ent.Class
		switch {
		case l.ClassID != "":
			cl = byID[l.ClassID]
		case l.ClassName != "":
			cl = byName[strings.ToLower(l.ClassName)]
		default:
			continue
		}
		if cl == nil {
			return nil, apperr.New(apperr.UnknownClass, "line %d: unknown class %q", i+1, l.ClassID+l.ClassName).WithField(fmt.Sprintf("lines[%d].class", i))
		}
		if !cl.Active {
			return nil, apperr.New(apperr.UnknownClass, "line %d: class %q is inactive", i+1, cl.Name).WithField(fmt.Sprintf("lines[%d].class", i))
		}
		out[i] = cl.ID
	}
	return out, nil
}

// mapDBError turns the database's own refusals (raised by the ledger triggers) into coded
// errors; they only fire when application checks were bypassed or raced.
func mapDBError(err error) error {
	if _, ok := apperr.As(err); ok {
		return err
	}
	msg := err.Error()
	for _, code := range []string{apperr.UnbalancedEntry, apperr.LedgerImmutable} {
		if strings.Contains(msg, code) {
			return apperr.Wrap(code, err, "the database refused the entry: "+code)
		}
	}
	if ent.IsConstraintError(err) {
		return apperr.Wrap(apperr.Conflict, err, "the entry conflicts with an existing record")
	}
	if ent.IsValidationError(err) {
		var ve *ent.ValidationError
		if errors.As(err, &ve) {
			return apperr.Wrap(apperr.Validation, err, ve.Error())
		}
	}
	return err
}
