package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql/sqlgraph"

	"books/ent"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/ids"
)

// Reversal describes the reversing entry to post.
type Reversal struct {
	EntryID string
	// Date defaults to today in the entity's time zone; a closed period moves it forward.
	Date                             caldate.Date
	Description                      string
	CreatedBy, CreatedVia, RequestID string
	// Document is the document undoing its own entry (an invoice's void). An entry posted by a
	// document can only be reversed by that document (DOCUMENT_OWNED otherwise).
	Document *Document
}

// Reverse posts the mirror of a posted entry (same lines, sides swapped) linked to the
// original; the database marks the original reversed in the same statement. The original is
// never edited otherwise.
//
// The reversal is dated on r.Date or today (the entity's time zone), never before the
// original: a requested date before it is VALIDATION, and today before it (an entry dated
// ahead) becomes the original's date. When that date's period is closed the reversal moves to
// the first open period and keeps the date as its document date — one rule for reversals,
// voids and unapplications.
func Reverse(ctx context.Context, client *ent.Client, r Reversal) (*ent.JournalEntry, error) {
	var out *ent.JournalEntry
	owned, err := InTx(ctx, client, func(c *ent.Client) error {
		orig, err := c.JournalEntry.Query().
			Where(journalentry.ID(r.EntryID)).
			WithLines(func(q *ent.JournalLineQuery) { q.Order(journalline.ByLineNo()) }).
			WithEntity().
			Only(ctx)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "journal entry %q not found", r.EntryID)
		}
		if err != nil {
			return err
		}
		switch orig.Status {
		case journalentry.StatusReversed:
			return apperr.New(apperr.AlreadyReversed, "journal entry %s is already reversed", orig.ID)
		case journalentry.StatusDraft:
			return apperr.New(apperr.Validation, "journal entry %s is not posted", orig.ID)
		}
		if orig.ReversalOfID != nil {
			return apperr.New(apperr.Validation, "journal entry %s is itself a reversal; post a new entry instead", orig.ID)
		}
		if orig.DocumentType != nil && (r.Document == nil || r.Document.Type != *orig.DocumentType || r.Document.ID != *orig.DocumentID) {
			return apperr.New(apperr.DocumentOwned, "journal entry %s was posted by %s %s; undo it through that document (void, unapply, refund)",
				orig.ID, strings.ReplaceAll(*orig.DocumentType, "_", " "), *orig.DocumentID)
		}
		if orig.DocumentType == nil && r.Document != nil {
			return fmt.Errorf("ledger: document %s %s cannot reverse entry %s, which it did not post", r.Document.Type, r.Document.ID, orig.ID)
		}
		date := r.Date
		if date.IsZero() {
			loc, err := time.LoadLocation(orig.Edges.Entity.TimeZone)
			if err != nil {
				loc = time.UTC
			}
			if date = caldate.Today(loc); date.Before(orig.Date) {
				date = orig.Date
			}
		} else if date.Before(orig.Date) {
			return apperr.New(apperr.Validation, "a reversal cannot be dated %s, before the entry it reverses (%s)", date, orig.Date).WithField("date")
		}
		if err := CheckDate(date, "date"); err != nil {
			return err
		}
		posted, doc, err := postingDate(ctx, c, orig.EntityID, date, true)
		if err != nil {
			return err
		}
		desc := r.Description
		if desc == "" {
			desc = fmt.Sprintf("Reversal of %s", orig.ID)
			if orig.Description != "" {
				desc += ": " + orig.Description
			}
		}
		if len(desc) > 1000 {
			return apperr.New(apperr.Validation, "description is longer than 1000 characters").WithField("description")
		}
		lines := make([]Line, len(orig.Edges.Lines))
		accounts := make([]string, len(lines))
		classes := make([]string, len(lines))
		for i, l := range orig.Edges.Lines {
			lines[i] = Line{Debit: l.Credit, Credit: l.Debit, Description: l.Description,
				CustomerID: deref(l.CustomerID), VendorID: deref(l.VendorID)}
			accounts[i] = l.AccountID
			classes[i] = deref(l.ClassID)
		}
		if err := discardDrafts(ctx, c, journalentry.ReversalOfID(orig.ID)); err != nil {
			return err
		}
		create := c.JournalEntry.Create().
			SetID(ids.New(ids.JournalEntry)).
			SetEntityID(orig.EntityID).
			SetDate(posted).
			SetDescription(desc).
			SetCurrency(orig.Currency).
			SetSourceSystem(orig.SourceSystem).
			SetSourceRef(ReversalRefPrefix + orig.ID).
			SetStatus(journalentry.StatusDraft).
			SetTotal(orig.Total).
			SetReversalOfID(orig.ID).
			SetCreatedBy(r.CreatedBy).
			SetCreatedVia(r.CreatedVia).
			SetRequestID(r.RequestID)
		if doc != nil {
			create.SetDocumentDate(*doc)
		}
		if orig.DocumentType != nil {
			create.SetDocumentType(*orig.DocumentType).SetDocumentID(*orig.DocumentID)
		}
		res, err := write(ctx, c, create, lines, accounts, classes)
		if err != nil {
			return err
		}
		out = res.Entry
		return nil
	})
	if err != nil {
		if sqlgraph.IsUniqueConstraintError(err) {
			return nil, apperr.New(apperr.AlreadyReversed, "journal entry %s is already reversed (or a reversing draft holds its reference)", r.EntryID)
		}
		return nil, mapDBError(err)
	}
	if owned {
		out = out.Unwrap()
	}
	return out, nil
}
