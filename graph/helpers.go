package graph

import (
	"context"
	"fmt"

	"books/ent"
	"books/ent/account"
	"books/ent/accountingperiod"
	"books/ent/auditevent"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/integrationkey"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/legalentity"
	"books/ent/organization"
	"books/graph/model"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/ids"
	"books/internal/ledger"
)

// ent returns the client of the request: the mutation's transaction when there is one. The
// root client must not be used inside a transaction: on SQLite's single connection it would
// deadlock.
func (r *Resolver) ent(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.Client
}

// tables maps id prefixes to the tables Relay's node resolver reads.
var tables = map[string]string{
	ids.Organization:   organization.Table,
	ids.LegalEntity:    legalentity.Table,
	ids.Account:        account.Table,
	ids.Class:          class.Table,
	ids.COAMapping:     coamapping.Table,
	ids.Period:         accountingperiod.Table,
	ids.JournalEntry:   journalentry.Table,
	ids.JournalLine:    journalline.Table,
	ids.IntegrationKey: integrationkey.Table,
	ids.AuditEvent:     auditevent.Table,
}

func nodeType(_ context.Context, id string) (string, error) {
	if t, ok := tables[ids.Prefix(id)]; ok {
		return t, nil
	}
	return "", apperr.New(apperr.NotFound, "no object has id %q", id)
}

func actor(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		return p.Subject
	}
	return "system"
}

// periodID resolves a period named by id or by entity and YYYY-MM name.
func (r *Resolver) periodID(ctx context.Context, id, entityID, name *string) (string, error) {
	switch {
	case id != nil && *id != "":
		return *id, nil
	case entityID != nil && name != nil:
		p, err := ledger.FindPeriod(ctx, r.ent(ctx), *entityID, *name)
		if err != nil {
			return "", err
		}
		return p.ID, nil
	}
	return "", apperr.New(apperr.Validation, "name the period by id, or by entityId and name (YYYY-MM)")
}

func balanceRow(b ledger.Balance) *model.TrialBalanceRow {
	return &model.TrialBalanceRow{Account: b.Account, Debit: b.Debit, Credit: b.Credit, Balance: b.Net()}
}

func lineInputs(in []*model.JournalLineInput) []ledger.Line {
	out := make([]ledger.Line, len(in))
	for i, l := range in {
		out[i] = ledger.Line{
			AccountID:   deref(l.AccountID),
			AccountCode: deref(l.AccountCode),
			ClassID:     deref(l.ClassID),
			Description: deref(l.Description),
		}
		if l.Debit != nil {
			out[i].Debit = *l.Debit
		}
		if l.Credit != nil {
			out[i].Credit = *l.Credit
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

var _ = fmt.Sprint
