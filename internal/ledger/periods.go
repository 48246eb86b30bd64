package ledger

import (
	"context"
	"fmt"
	"time"

	"books/ent"
	"books/ent/accountingperiod"
	"books/ent/legalentity"
	"books/internal/apperr"
	"books/internal/caldate"
)

// Periods are calendar months. A month without a period row is open; closing a month
// creates its row when needed, so entities need no period set-up before their first posting.

// PeriodName returns the name of the month containing d, e.g. "2026-11".
func PeriodName(d caldate.Date) string { return fmt.Sprintf("%04d-%02d", d.Year(), d.Month()) }

func parsePeriodName(name string) (caldate.Date, error) {
	d, err := caldate.Parse(name + "-01")
	if err != nil || PeriodName(d) != name {
		return caldate.Date{}, apperr.New(apperr.Validation, "period name must be YYYY-MM, got %q", name)
	}
	return d, nil
}

// EnsurePeriods creates the open monthly periods from..to (inclusive months) that do not
// exist yet.
func EnsurePeriods(ctx context.Context, c *ent.Client, entityID string, from, to caldate.Date) error {
	existing, err := c.AccountingPeriod.Query().
		Where(accountingperiod.EntityID(entityID)).
		Select(accountingperiod.FieldName).Strings(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range existing {
		have[n] = true
	}
	var builders []*ent.AccountingPeriodCreate
	for m := from.FirstOfMonth(); !m.After(to); m = m.AddMonths(1) {
		if have[PeriodName(m)] {
			continue
		}
		builders = append(builders, c.AccountingPeriod.Create().
			SetEntityID(entityID).
			SetName(PeriodName(m)).
			SetStartDate(m).
			SetEndDate(m.LastOfMonth()))
	}
	if len(builders) == 0 {
		return nil
	}
	return c.AccountingPeriod.CreateBulk(builders...).Exec(ctx)
}

// FindPeriod returns the period of entityID named name (YYYY-MM), creating it open if absent.
func FindPeriod(ctx context.Context, c *ent.Client, entityID, name string) (*ent.AccountingPeriod, error) {
	start, err := parsePeriodName(name)
	if err != nil {
		return nil, err
	}
	if ok, err := c.LegalEntity.Query().Where(legalentity.ID(entityID)).Exist(ctx); err != nil {
		return nil, err
	} else if !ok {
		return nil, apperr.New(apperr.NotFound, "legal entity %q not found", entityID)
	}
	if err := EnsurePeriods(ctx, c, entityID, start, start); err != nil {
		return nil, err
	}
	return c.AccountingPeriod.Query().
		Where(accountingperiod.EntityID(entityID), accountingperiod.Name(name)).Only(ctx)
}

// ClosePeriod closes period id to postings. Closing a closed period is a no-op.
func ClosePeriod(ctx context.Context, c *ent.Client, id, by string) (*ent.AccountingPeriod, error) {
	p, err := c.AccountingPeriod.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "period %q not found", id)
	}
	if err != nil || p.Status == accountingperiod.StatusClosed {
		return p, err
	}
	return c.AccountingPeriod.UpdateOne(p).
		SetStatus(accountingperiod.StatusClosed).
		SetClosedAt(time.Now().UTC()).
		SetClosedBy(by).
		Save(ctx)
}

// ReopenPeriod opens period id to postings again.
func ReopenPeriod(ctx context.Context, c *ent.Client, id string) (*ent.AccountingPeriod, error) {
	p, err := c.AccountingPeriod.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "period %q not found", id)
	}
	if err != nil || p.Status == accountingperiod.StatusOpen {
		return p, err
	}
	return c.AccountingPeriod.UpdateOne(p).
		SetStatus(accountingperiod.StatusOpen).
		ClearClosedAt().
		SetClosedBy("").
		Save(ctx)
}

// postingDate returns the date to post on. A date in a closed period is refused, or moved to
// the first day of the next open period when late posting is allowed, in which case the
// original date is returned as the document date.
func postingDate(ctx context.Context, c *ent.Client, entityID string, d caldate.Date, late bool) (caldate.Date, *caldate.Date, error) {
	closed, err := c.AccountingPeriod.Query().
		Where(
			accountingperiod.EntityID(entityID),
			accountingperiod.StatusEQ(accountingperiod.StatusClosed),
			accountingperiod.EndDateGTE(d),
		).
		Order(accountingperiod.ByStartDate()).
		All(ctx)
	if err != nil {
		return caldate.Date{}, nil, err
	}
	date := d
	for _, p := range closed {
		if date.Before(p.StartDate) {
			break
		}
		if !late {
			return caldate.Date{}, nil, apperr.New(apperr.PeriodClosed,
				"period %s is closed; %s cannot be posted into it", p.Name, d).WithField("date")
		}
		date = p.EndDate.AddDays(1)
	}
	if date.Equal(d) {
		return d, nil, nil
	}
	if date.After(MaxDate) {
		return caldate.Date{}, nil, apperr.New(apperr.PeriodClosed,
			"the periods from %s to the end of the ledger's range are closed; %s cannot be posted", d, d).WithField("date")
	}
	return date, &d, nil
}
