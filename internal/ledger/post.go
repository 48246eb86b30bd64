package ledger

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqlgraph"

	"books/ent"
	"books/ent/account"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/legalentity"
	"books/ent/predicate"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
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
	// Mappings is the source system whose COA mappings resolve the lines' source codes;
	// empty means Source. A Books document of money that came through Stripe posts in source
	// system books (the document owns the entry) through the mappings of stripe, so an entity
	// can point Stripe's undeposited funds or revenue elsewhere.
	Mappings source.System
	// SourceRef identifies the source event; (entity, Source, SourceRef) is posted at most once.
	// Empty means a fresh reference (a manual entry).
	SourceRef string
	// LateToOpenPeriod moves an entry dated in a closed period to the first day of the next
	// open period, keeping its date as the document date, instead of refusing it.
	LateToOpenPeriod bool
	Lines            []Line
	// CreatedBy and CreatedVia say who posted and through which interface, and RequestID
	// which request; the database copies them into the posting's audit record.
	CreatedBy, CreatedVia, RequestID string
	// IdempotencyKey and RequestHash, when set, are kept on the entry; (CreatedBy,
	// IdempotencyKey) is unique. See FindByIdempotencyKey.
	IdempotencyKey, RequestHash string

	// Document is the Books document posting the entry (billing sets it). Only a document may
	// post to a control account, and only the document's own operations undo its entries.
	// A document entry is posted in source system books with a SourceRef of the form
	// "<kind>:<id>", a namespace manual and API entries cannot use (DOCUMENT_OWNED).
	Document *Document
	// StrictControl refuses a line without a Control that reaches a control account, so
	// that a document's control lines are exactly the ones it means (billing sets it).
	StrictControl bool

	// Entity optionally carries the entity the caller already loaded (in the same
	// organization), sparing a query on a hot path.
	Entity *ent.LegalEntity
	// PlainResult says the caller reads only the fields of the result, never its edges. Post
	// may then write the entry on PostgreSQL in one round trip through the database's
	// books_post_journal_entry function instead of three ent statements.
	PlainResult bool
	// AssumeNew skips the look-up of an earlier posting of the source reference. The unique
	// index still refuses a duplicate, as a constraint error that aborts the transaction; a
	// caller that sets it must retry without it to get the earlier entry. Callers on a hot
	// path where duplicates are rare set it.
	AssumeNew bool
}

// Document names the Books document an entry belongs to, e.g. {DocInvoice, "inv_…"}.
type Document struct {
	Type string
	ID   string
}

// The types of Books documents (Document.Type). Each entry belongs to its document; only the
// document's own operations undo it.
const (
	DocInvoice            = "invoice"             // approval; its void reverses that entry
	DocWriteOff           = "write_off"           // a write-off of an invoice's balance
	DocPayment            = "payment"             // a payment recorded (with its first applications)
	DocPaymentApplication = "payment_application" // a payment applied later, or unapplied
	DocCreditMemo         = "credit_memo"         // a credit memo issued
	DocCreditApplication  = "credit_application"  // a credit memo applied, or unapplied
	DocRefund             = "refund"
	DocChargeReversal     = "charge_reversal"
)

// IsDocumentType reports whether t is one of the document types above.
func IsDocumentType(t string) bool {
	switch t {
	case DocInvoice, DocWriteOff, DocPayment, DocPaymentApplication, DocCreditMemo, DocCreditApplication,
		DocRefund, DocChargeReversal:
		return true
	}
	return false
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
	// CustomerID or VendorID names the contact of the line; QuickBooks requires a customer
	// on A/R and Customer Credits lines and a vendor on A/P lines, and so does the ledger for
	// document entries.
	CustomerID, VendorID string
	// Control is the subtype of the control account the line is meant for
	// (accounts_receivable, customer_credit, accounts_payable); the line may reach no account
	// of another subtype. See Entry.StrictControl.
	Control account.Subtype
}

// PostedLine is a line written by Post with the code of its account and the name of its
// class, so callers can answer without reading them back.
type PostedLine struct {
	*ent.JournalLine
	AccountCode string
	ClassName   string
}

// Result is the outcome of Post.
type Result struct {
	Entry *ent.JournalEntry
	// Lines are the entry's lines, in order, when the entry was created by this call.
	Lines []PostedLine
	// Created is false when the source reference had been posted before and Entry is the
	// existing entry.
	Created bool
	// detached marks an Entry built as plain data (see Entry.PlainResult), which belongs to
	// no client and must not be unwrapped from one.
	detached bool
}

// Post validates e and writes it as a posted entry in one transaction. Nothing is written
// when any check fails. Posting a source reference again returns the first entry.
func Post(ctx context.Context, client *ent.Client, e Entry) (Result, error) {
	if err := checkShape(e); err != nil {
		return Result{}, err
	}
	var res Result
	var owned bool
	var err error
	if e.oneCall(client) {
		// The write is one statement, atomic by itself, and the reads before it would take no
		// locks inside a transaction either: skip BEGIN and COMMIT.
		res, err = post(ctx, client, e)
	} else {
		owned, err = InTx(ctx, client, func(c *ent.Client) error {
			var err error
			res, err = post(ctx, c, e)
			return err
		})
	}
	if err == nil && owned && !res.detached {
		res.Entry = res.Entry.Unwrap()
	}
	if err != nil && ent.IsConstraintError(err) && e.SourceRef != "" && !e.AssumeNew {
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
	entity := e.Entity
	if entity == nil || entity.ID != e.EntityID {
		var err error
		entity, err = c.LegalEntity.Query().Where(legalentity.ID(e.EntityID)).Only(ctx)
		if ent.IsNotFound(err) {
			return Result{}, apperr.New(apperr.UnknownEntity, "legal entity %q not found", e.EntityID)
		}
		if err != nil {
			return Result{}, err
		}
	}
	currency := money.Currency(entity.BaseCurrency)
	if e.Currency != "" {
		if _, err := money.ParseCurrency(string(e.Currency)); err != nil {
			return Result{}, apperr.New(apperr.Validation, "currency %q is not an ISO 4217 code", e.Currency).WithField("currency")
		}
	}
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
	if err := checkMinorUnits(e.Lines, currency); err != nil {
		return Result{}, err
	}
	if e.SourceRef != "" && !e.AssumeNew {
		// One read finds an earlier posting of the reference, or a draft holding it.
		held, err := c.JournalEntry.Query().Where(journalentry.EntityID(e.EntityID),
			journalentry.SourceSystemEQ(e.Source), journalentry.SourceRef(e.SourceRef)).Only(ctx)
		switch {
		case err == nil && held.Status != journalentry.StatusDraft:
			return Result{Entry: held}, nil
		case err == nil:
			if err := discardDrafts(ctx, c, journalentry.ID(held.ID)); err != nil {
				return Result{}, err
			}
		case !ent.IsNotFound(err):
			return Result{}, err
		}
	}
	// On the one-call path the database names the accounts as it writes the entry (see
	// postInOneCall); they are resolved here only when it cannot, to explain why.
	fast := e.oneCall(c)
	var accounts []accountRef
	if !fast {
		var err error
		if accounts, err = resolveCheckedAccounts(ctx, c, e); err != nil {
			return Result{}, err
		}
	}
	classes, err := resolveClasses(ctx, c, e)
	if err == nil {
		err = checkContacts(ctx, c, e.Lines)
	}
	if err != nil {
		if fast {
			// An account's problem is reported before a class's or a contact's, on every path.
			if _, aerr := resolveCheckedAccounts(ctx, c, e); aerr != nil {
				return Result{}, aerr
			}
		}
		return Result{}, err
	}
	// A closed period is refused by the database when the entry is posted (see the ledger
	// guards migration); only moving a late entry forward needs the periods here.
	date, docDate := e.Date, (*caldate.Date)(nil)
	if e.LateToOpenPeriod {
		if date, docDate, err = postingDate(ctx, c, e.EntityID, e.Date, true); err != nil {
			return Result{}, err
		}
	}
	id := ids.New(ids.JournalEntry)
	ref := e.SourceRef
	if ref == "" {
		ref = id
	}
	if fast {
		res, err := postInOneCall(ctx, c, e, id, ref, date, docDate, currency, nil, classes)
		if !errors.Is(err, errResolveAccounts) {
			return res, err
		}
		if accounts, err = resolveCheckedAccounts(ctx, c, e); err != nil {
			return Result{}, err
		}
		res, err = postInOneCall(ctx, c, e, id, ref, date, docDate, currency, accounts, classes)
		if errors.Is(err, errResolveAccounts) {
			return Result{}, apperr.Wrap(apperr.Conflict, err, "an account of the entry changed while it was being posted; try again")
		}
		return res, err
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
		SetCreatedVia(e.CreatedVia).
		SetRequestID(e.RequestID)
	if docDate != nil {
		create.SetDocumentDate(*docDate)
	}
	if e.IdempotencyKey != "" {
		create.SetIdempotencyKey(e.IdempotencyKey).SetRequestHash(e.RequestHash)
	}
	if e.Document != nil {
		create.SetDocumentType(e.Document.Type).SetDocumentID(e.Document.ID)
	}
	accountIDs := make([]string, len(accounts))
	classIDs := make([]string, len(classes))
	for i := range accounts {
		accountIDs[i] = accounts[i].ID
		if classes[i] != nil {
			classIDs[i] = classes[i].ID
		}
	}
	res, err := write(ctx, c, create, e.Lines, accountIDs, classIDs)
	if err != nil {
		if strings.Contains(err.Error(), apperr.PeriodClosed) {
			return Result{}, apperr.Wrap(apperr.PeriodClosed, err,
				fmt.Sprintf("the accounting period containing %s is closed; it cannot be posted into", e.Date)).WithField("date")
		}
		return Result{}, err
	}
	res.Lines = make([]PostedLine, len(res.Entry.Edges.Lines))
	for i, l := range res.Entry.Edges.Lines {
		res.Lines[i] = PostedLine{JournalLine: l, AccountCode: accounts[i].Code}
		if classes[i] != nil {
			res.Lines[i].ClassName = classes[i].Name
		}
	}
	return res, nil
}

// oneCall reports whether e is written through postInOneCall: a plain result on PostgreSQL,
// for an entry without a document (documents go through the ent path, in a transaction).
func (e Entry) oneCall(c *ent.Client) bool {
	return e.PlainResult && e.Document == nil && c.Dialect() == dialect.Postgres
}

// errResolveAccounts is books_post_journal_entry declining to name a line's account (and
// writing nothing).
var errResolveAccounts = errors.New("the database could not name every line's account")

// resolveCheckedAccounts resolves the lines' accounts and checks the control-account rule.
func resolveCheckedAccounts(ctx context.Context, c *ent.Client, e Entry) ([]accountRef, error) {
	accounts, err := resolveAccounts(ctx, c, e)
	if err != nil {
		return nil, err
	}
	if err := checkControlAccounts(e, accounts); err != nil {
		return nil, err
	}
	return accounts, nil
}

// postInOneCall writes the entry through books_post_journal_entry (see the ledger guard
// migrations), which runs the same three statements as write, and the same triggers, inside
// the database. With accounts nil the lines name their accounts as the caller did (id, code
// or source code) and the database resolves them; it writes nothing and postInOneCall returns
// errResolveAccounts when a line names no active account the entry may post to. The entry it returns
// is plain data, not bound to a client.
func postInOneCall(ctx context.Context, c *ent.Client, e Entry, id, ref string, date caldate.Date, docDate *caldate.Date,
	currency money.Currency, accounts []accountRef, classes []*ent.Class) (Result, error) {
	org, ok := tenant.Org(ctx)
	if !ok {
		return Result{}, tenant.ErrMissing
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	je := &ent.JournalEntry{
		ID: id, CreatedAt: now, UpdatedAt: now, OrganizationID: org, EntityID: e.EntityID,
		Date: date, DocumentDate: docDate, Description: e.Description, Currency: string(currency),
		SourceSystem: e.Source, SourceRef: ref, Status: journalentry.StatusPosted, Total: total(e.Lines),
		PostedAt: &now, CreatedBy: e.CreatedBy, CreatedVia: e.CreatedVia, RequestID: e.RequestID,
	}
	if e.IdempotencyKey != "" {
		je.IdempotencyKey, je.RequestHash = &e.IdempotencyKey, e.RequestHash
	}
	if e.Document != nil {
		je.DocumentType, je.DocumentID = &e.Document.Type, &e.Document.ID
	}
	type lineArg struct {
		ID          string  `json:"id"`
		LineNo      int     `json:"line_no"`
		AccountID   string  `json:"account_id,omitempty"`
		AccountCode string  `json:"account_code,omitempty"`
		SourceCode  string  `json:"source_code,omitempty"`
		Debit       int64   `json:"debit,string"`
		Credit      int64   `json:"credit,string"`
		ClassID     *string `json:"class_id"`
		CustomerID  *string `json:"customer_id"`
		VendorID    *string `json:"vendor_id"`
		Description string  `json:"description"`
	}
	args := make([]lineArg, len(e.Lines))
	res := Result{Entry: je, Created: true, Lines: make([]PostedLine, len(e.Lines)), detached: true}
	for i, l := range e.Lines {
		jl := &ent.JournalLine{
			ID: ids.New(ids.JournalLine), OrganizationID: org, EntryID: id, LineNo: i + 1,
			Debit: l.Debit, Credit: l.Credit, Description: l.Description,
		}
		res.Lines[i] = PostedLine{JournalLine: jl}
		if cl := classes[i]; cl != nil {
			jl.ClassID = &cl.ID
			res.Lines[i].ClassName = cl.Name
		}
		if l.CustomerID != "" {
			jl.CustomerID = &l.CustomerID
		}
		if l.VendorID != "" {
			jl.VendorID = &l.VendorID
		}
		args[i] = lineArg{ID: jl.ID, LineNo: jl.LineNo, Debit: l.Debit.Units(),
			Credit: l.Credit.Units(), ClassID: jl.ClassID, CustomerID: jl.CustomerID, VendorID: jl.VendorID,
			Description: l.Description}
		if accounts != nil {
			args[i].AccountID = accounts[i].ID
		} else {
			args[i].AccountID, args[i].AccountCode, args[i].SourceCode = l.AccountID, l.AccountCode, l.SourceCode
		}
		je.Edges.Lines = append(je.Edges.Lines, jl)
	}
	entryArg := map[string]any{
		"id": id, "created_at": now, "organization_id": org, "entity_id": e.EntityID, "date": date.String(),
		"description": e.Description, "currency": string(currency), "source_system": string(e.Source),
		"source_ref": ref, "total": strconv.FormatInt(je.Total.Units(), 10), "created_by": e.CreatedBy,
		"created_via": e.CreatedVia, "request_id": e.RequestID, "posted_at": now,
		"idempotency_key": je.IdempotencyKey, "request_hash": e.RequestHash, "reversal_of_id": nil,
		"document_type": je.DocumentType, "document_id": je.DocumentID,
	}
	if docDate != nil {
		entryArg["document_date"] = docDate.String()
	}
	ej, err := json.Marshal(entryArg)
	if err != nil {
		return Result{}, err
	}
	lj, err := json.Marshal(args)
	if err != nil {
		return Result{}, err
	}
	// Text parameters cast in SQL: lib/pq would send []byte in binary, which jsonb rejects.
	rows, err := c.QueryContext(ctx, `SELECT books_post_journal_entry($1::text::jsonb, $2::text::jsonb)::text`, string(ej), string(lj))
	var used []struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	if err == nil {
		err = scanUsedAccounts(rows, &used)
	}
	if err != nil {
		if strings.Contains(err.Error(), apperr.PeriodClosed) {
			return Result{}, apperr.Wrap(apperr.PeriodClosed, err,
				fmt.Sprintf("the accounting period containing %s is closed; it cannot be posted into", e.Date)).WithField("date")
		}
		if sqlgraph.IsUniqueConstraintError(err) {
			// The source reference or idempotency key was posted first by someone else.
			return Result{}, apperr.Wrap(apperr.Conflict, err, "the entry conflicts with an existing entry")
		}
		return Result{}, err
	}
	if len(used) != len(res.Lines) {
		return Result{}, fmt.Errorf("books_post_journal_entry named %d accounts for %d lines", len(used), len(res.Lines))
	}
	for i, a := range used {
		res.Lines[i].AccountID, res.Lines[i].AccountCode = a.ID, a.Code
	}
	return res, nil
}

// scanUsedAccounts reads the one JSON row books_post_journal_entry returns into used, or
// returns errResolveAccounts when the database wrote nothing because it could not name every
// line's account.
func scanUsedAccounts(rows *stdsql.Rows, used any) error {
	defer rows.Close()
	var text string
	if rows.Next() {
		if err := rows.Scan(&text); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if strings.HasPrefix(text, "{") {
		return fmt.Errorf("%w: %s", errResolveAccounts, text)
	}
	return json.Unmarshal([]byte(text), used)
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
		if l.CustomerID != "" {
			b.SetCustomerID(l.CustomerID)
		}
		if l.VendorID != "" {
			b.SetVendorID(l.VendorID)
		}
		builders[i] = b
	}
	created, err := c.JournalLine.CreateBulk(builders...).Save(ctx)
	if err != nil {
		return Result{}, err
	}
	// PostgreSQL keeps microseconds; truncate so the returned entry matches what a later read
	// (a replay of the same source reference) returns.
	now := time.Now().UTC().Truncate(time.Microsecond)
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
	je.Edges.Lines = created
	return Result{Entry: je, Created: true}, nil
}

// discardDrafts deletes the drafts matching where, with their lines. Books writes a draft and
// posts it in one transaction, so a draft another transaction can see was written by hand; left
// in place it would hold a reference (an invoice's, a reversal's) that only a posting may take.
func discardDrafts(ctx context.Context, c *ent.Client, where ...predicate.JournalEntry) error {
	drafts, err := c.JournalEntry.Query().Where(append(where, journalentry.StatusEQ(journalentry.StatusDraft))...).IDs(ctx)
	if err != nil || len(drafts) == 0 {
		return err
	}
	if _, err := c.JournalLine.Delete().Where(journalline.EntryIDIn(drafts...)).Exec(ctx); err != nil {
		return err
	}
	_, err = c.JournalEntry.Delete().Where(journalentry.IDIn(drafts...), journalentry.StatusEQ(journalentry.StatusDraft)).Exec(ctx)
	return err
}

// FindByIdempotencyKey returns the entry createdBy posted under key.
func FindByIdempotencyKey(ctx context.Context, c *ent.Client, createdBy, key string) (*ent.JournalEntry, error) {
	return c.JournalEntry.Query().
		Where(journalentry.CreatedBy(createdBy), journalentry.IdempotencyKey(key)).
		Only(ctx)
}

// findBySource returns the posted (or reversed) entry of a source reference. Books never
// leaves a draft behind, so a draft holding the reference was written by hand: it is not an
// earlier posting to answer with, and the unique index refuses the new entry (CONFLICT).
func findBySource(ctx context.Context, c *ent.Client, entityID string, sys source.System, ref string) (*ent.JournalEntry, error) {
	return c.JournalEntry.Query().
		Where(
			journalentry.EntityID(entityID),
			journalentry.SourceSystemEQ(sys),
			journalentry.SourceRef(ref),
			journalentry.StatusNEQ(journalentry.StatusDraft),
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
	if err := CheckDate(e.Date, "date"); err != nil {
		return err
	}
	if e.Mappings != "" && !e.Mappings.Valid() {
		return apperr.New(apperr.Validation, "unknown source system %q", e.Mappings).WithField("source_system")
	}
	if !e.Source.Valid() {
		return apperr.New(apperr.Validation, "unknown source system %q", e.Source).WithField("source_system")
	}
	if len(e.SourceRef) > 200 {
		return apperr.New(apperr.Validation, "source reference is longer than 200 characters").WithField("source_ref")
	}
	if err := checkNamespace(e); err != nil {
		return err
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

// accountRef is what posting needs to know of an account.
type accountRef struct {
	ID      string         `json:"id"`
	Code    string         `json:"code"`
	Name    string         `json:"name"`
	Active  bool           `json:"active"`
	Subtype string         `json:"subtype"`
	Mapped  sql.NullString `json:"mapped_source_code"`
}

// resolveAccounts returns the account of each line, checking each is an active account of
// the entity. Accounts named by id, by code, and through the COA mapping come back from one
// query: the accounts of the entity, left-joined to the mappings of the source codes asked for.
func resolveAccounts(ctx context.Context, c *ent.Client, e Entry) ([]accountRef, error) {
	var byID, byCode, bySource []any
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
	var found []accountRef
	err := c.Account.Query().
		Where(account.EntityID(e.EntityID)).
		Modify(func(s *sql.Selector) {
			s.Select(s.C(account.FieldID), s.C(account.FieldCode), s.C(account.FieldName), s.C(account.FieldActive),
				s.C(account.FieldSubtype))
			var wanted []*sql.Predicate
			if len(byID) > 0 {
				wanted = append(wanted, sql.In(s.C(account.FieldID), byID...))
			}
			if len(byCode) > 0 {
				wanted = append(wanted, sql.In(s.C(account.FieldCode), byCode...))
			}
			if len(bySource) > 0 {
				m := sql.Table(coamapping.Table)
				s.LeftJoin(m).OnP(sql.And(
					sql.ColumnsEQ(m.C(coamapping.FieldAccountID), s.C(account.FieldID)),
					sql.EQ(m.C(coamapping.FieldEntityID), e.EntityID),
					sql.EQ(m.C(coamapping.FieldSourceSystem), string(e.mappings())),
					sql.In(m.C(coamapping.FieldSourceCode), bySource...),
				))
				s.AppendSelectAs(m.C(coamapping.FieldSourceCode), "mapped_source_code")
				wanted = append(wanted, sql.NotNull(m.C(coamapping.FieldSourceCode)))
			} else {
				s.AppendSelectExprAs(sql.Expr("NULL"), "mapped_source_code")
			}
			s.Where(sql.Or(wanted...))
		}).Scan(ctx, &found)
	if err != nil {
		return nil, err
	}
	byIDs := make(map[string]accountRef, len(found))
	byCodes := make(map[string]accountRef, len(found))
	mapped := make(map[string]accountRef, len(bySource))
	for _, a := range found {
		byIDs[a.ID] = a
		byCodes[a.Code] = a
		if a.Mapped.Valid {
			mapped[a.Mapped.String] = a
		}
	}
	out := make([]accountRef, len(e.Lines))
	for i, l := range e.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		var a accountRef
		var ok bool
		switch {
		case l.AccountID != "":
			if a, ok = byIDs[l.AccountID]; !ok {
				return nil, apperr.New(apperr.UnknownAccount, "line %d: account %q is not an account of this entity", i+1, l.AccountID).WithField(field + ".account_id")
			}
		case l.AccountCode != "":
			if a, ok = byCodes[l.AccountCode]; !ok {
				return nil, apperr.New(apperr.UnknownAccount, "line %d: no account with code %q in this entity", i+1, l.AccountCode).WithField(field + ".account_code")
			}
		default:
			if a, ok = mapped[l.SourceCode]; !ok {
				return nil, apperr.New(apperr.UnknownSourceCode, "line %d: source code %q has no COA mapping for source system %s in this entity", i+1, l.SourceCode, e.mappings()).WithField(field + ".source_code")
			}
		}
		if !a.Active {
			return nil, apperr.New(apperr.InactiveAccount, "line %d: account %s %s is inactive", i+1, a.Code, a.Name).WithField(field)
		}
		out[i] = a
	}
	return out, nil
}

// resolveClasses returns the class of each line (nil for none).
func resolveClasses(ctx context.Context, c *ent.Client, e Entry) ([]*ent.Class, error) {
	var idsWanted, names []string
	for _, l := range e.Lines {
		if l.ClassID != "" {
			idsWanted = append(idsWanted, l.ClassID)
		} else if l.ClassName != "" {
			names = append(names, l.ClassName)
		}
	}
	out := make([]*ent.Class, len(e.Lines))
	if len(idsWanted)+len(names) == 0 {
		return out, nil
	}
	// Class names are unique per entity ignoring case (CreateClass), so a name matches
	// whatever its case; each distinct name is asked for once.
	match := []predicate.Class{class.IDIn(idsWanted...)}
	seen := map[string]bool{}
	for _, n := range names {
		if k := strings.ToLower(n); !seen[k] {
			seen[k] = true
			match = append(match, class.NameEqualFold(n))
		}
	}
	found, err := c.Class.Query().
		Where(class.EntityID(e.EntityID), class.Or(match...)).
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
		out[i] = cl
	}
	return out, nil
}

// mapDBError turns the database's own refusals (raised by the ledger triggers) into coded
// errors; they only fire when application checks were bypassed or raced.
func mapDBError(err error) error {
	if _, ok := apperr.As(err); ok {
		return err
	}
	if code, ok := dbCode(err); ok {
		return apperr.Wrap(code, err, "the database refused the entry: "+code)
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

// mappings is the source system whose COA mappings resolve the entry's source codes.
func (e Entry) mappings() source.System {
	if e.Mappings != "" {
		return e.Mappings
	}
	return e.Source
}
