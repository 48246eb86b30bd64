package ledger

import (
	"context"
	"fmt"
	"time"

	"books/ent"
	"books/ent/journalentry"
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
}

// Reverse posts the mirror of a posted entry (same lines, sides swapped), links it to the
// original and marks the original reversed. The original is never edited otherwise.
func Reverse(ctx context.Context, client *ent.Client, r Reversal) (*ent.JournalEntry, error) {
	var out *ent.JournalEntry
	owned, err := InTx(ctx, client, func(c *ent.Client) error {
		orig, err := c.JournalEntry.Query().
			Where(journalentry.ID(r.EntryID)).
			WithLines().WithEntity().
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
		date, late := r.Date, false
		if date.IsZero() {
			loc, err := time.LoadLocation(orig.Edges.Entity.TimeZone)
			if err != nil {
				loc = time.UTC
			}
			date, late = caldate.Today(loc), true
		}
		posted, doc, err := postingDate(ctx, c, orig.EntityID, date, late)
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
		lines := make([]Line, len(orig.Edges.Lines))
		accounts := make([]string, len(lines))
		classes := make([]string, len(lines))
		for i, l := range orig.Edges.Lines {
			lines[i] = Line{Debit: l.Credit, Credit: l.Debit, Description: l.Description}
			accounts[i] = l.AccountID
			if l.ClassID != nil {
				classes[i] = *l.ClassID
			}
		}
		create := c.JournalEntry.Create().
			SetID(ids.New(ids.JournalEntry)).
			SetEntityID(orig.EntityID).
			SetDate(posted).
			SetDescription(desc).
			SetCurrency(orig.Currency).
			SetSourceSystem(orig.SourceSystem).
			SetSourceRef("reversal:" + orig.ID).
			SetStatus(journalentry.StatusDraft).
			SetTotal(orig.Total).
			SetReversalOfID(orig.ID).
			SetCreatedBy(r.CreatedBy).
			SetCreatedVia(r.CreatedVia).
			SetRequestID(r.RequestID)
		if doc != nil {
			create.SetDocumentDate(*doc)
		}
		res, err := write(ctx, c, create, lines, accounts, classes)
		if err != nil {
			return err
		}
		n, err := c.JournalEntry.Update().
			Where(journalentry.ID(orig.ID), journalentry.StatusEQ(journalentry.StatusPosted)).
			SetStatus(journalentry.StatusReversed).
			Save(ctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return apperr.New(apperr.AlreadyReversed, "journal entry %s is already reversed", orig.ID)
		}
		out = res.Entry
		return nil
	})
	if err != nil {
		if ent.IsConstraintError(err) {
			return nil, apperr.New(apperr.AlreadyReversed, "journal entry %s is already reversed", r.EntryID)
		}
		return nil, mapDBError(err)
	}
	if owned {
		out = out.Unwrap()
	}
	return out, nil
}
