package billing

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"books/ent"
	"books/ent/account"
	"books/ent/invoice"
	"books/ent/legalentity"
	"books/ent/payment"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
)

// Source codes of the COA mapping (source system books) that billing posts to.
const (
	codeAR              = "ar"
	codeUndeposited     = "undeposited_funds"
	codeCustomerCredits = "customer_credit"
	codeDeferred        = "deferred_revenue"
	codeRevenue         = "revenue"
	codeBadDebt         = "bad_debt"
)

func invoiceDoc(id string) ledger.Document { return ledger.Document{Type: ledger.DocInvoice, ID: id} }

// WithTx runs fn in a transaction (or the caller's), as ledger.WithTx does.
func WithTx(ctx context.Context, client *ent.Client, fn func(c *ent.Client) error) error {
	return ledger.WithTx(ctx, client, fn)
}

// lockInvoice reads an invoice for update: on PostgreSQL the row stays locked until the
// transaction ends, so concurrent payments cannot both apply to the same balance. SQLite has
// one writer at a time, which gives the same guarantee without a lock.
func lockInvoice(ctx context.Context, c *ent.Client, id string) (*ent.Invoice, error) {
	q := c.Invoice.Query().Where(invoice.ID(id))
	if c.Dialect() == dialect.Postgres {
		q = q.ForUpdate()
	}
	inv, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "invoice %q not found", id)
	}
	return inv, err
}

// lockPayment is lockInvoice for payments.
func lockPayment(ctx context.Context, c *ent.Client, id string) (*ent.Payment, error) {
	q := c.Payment.Query().Where(payment.ID(id))
	if c.Dialect() == dialect.Postgres {
		q = q.ForUpdate()
	}
	p, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "payment %q not found", id)
	}
	return p, err
}

// entityOf loads an entity of the organization in ctx.
func entityOf(ctx context.Context, c *ent.Client, id string) (*ent.LegalEntity, error) {
	le, err := c.LegalEntity.Query().Where(legalentity.ID(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.UnknownEntity, "legal entity %q not found", id).WithField("entityID")
	}
	return le, err
}

// today returns today's date in the entity's time zone.
func today(le *ent.LegalEntity) caldate.Date {
	loc, err := time.LoadLocation(le.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return caldate.Today(loc)
}

// post writes the journal entry of doc, a billing document. A date in a closed period moves
// to the next open one (the document keeps its own date), as the accounting design asks of
// late items. The entry belongs to doc: only a document may post to the control accounts, and
// only doc's own operations undo the entry. Lines through the "ar" and "customer_credit"
// mappings are marked as meant for those control accounts; the ledger refuses any other line
// of billing's that a mapping points at a control account, and these at anything else.
func post(ctx context.Context, c *ent.Client, entityID string, date caldate.Date, ref string, doc ledger.Document,
	description string, lines []ledger.Line) (*ent.JournalEntry, error) {
	return postVia(ctx, c, source.Books, entityID, date, ref, doc, description, lines)
}

// postVia is post resolving the lines' source codes through the COA mappings of maps: money
// that came through a processor posts through that processor's mappings (see mappingsOf).
func postVia(ctx context.Context, c *ent.Client, maps source.System, entityID string, date caldate.Date, ref string,
	doc ledger.Document, description string, lines []ledger.Line) (*ent.JournalEntry, error) {
	for i := range lines {
		switch lines[i].SourceCode {
		case codeAR:
			lines[i].Control = account.SubtypeAccountsReceivable
		case codeCustomerCredits:
			lines[i].Control = account.SubtypeCustomerCredit
		}
	}
	actor, via := audit.Who(ctx)
	res, err := ledger.Post(ctx, c, ledger.Entry{
		EntityID:         entityID,
		Date:             date,
		Description:      description,
		Source:           source.Books,
		Mappings:         maps,
		SourceRef:        ref,
		Document:         &doc,
		StrictControl:    true,
		LateToOpenPeriod: true,
		Lines:            lines,
		CreatedBy:        actor,
		CreatedVia:       string(via),
		RequestID:        audit.RequestID(ctx),
	})
	if err != nil {
		return nil, err
	}
	if !res.Created {
		return nil, fmt.Errorf("billing: %s was already posted", ref)
	}
	return res.Entry, nil
}

// mappingsOf is the source system whose COA mappings a payment's own postings (receipt,
// refunds, charge reversals) go through: stripe for money that came through Stripe, so an
// entity can map Stripe's undeposited funds (the Stripe balance) apart; books otherwise.
func mappingsOf(processor payment.Processor) source.System {
	if processor == payment.ProcessorStripe {
		return source.Stripe
	}
	return source.Books
}

// openStatus reports whether an invoice in status s can still receive payments and credits.
func openStatus(s invoice.Status) bool {
	switch s {
	case invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid:
		return true
	}
	return false
}

// settledStatus is the status an open invoice's amounts imply: payments and credits move it
// to partially_paid or paid, never a free-form flag; without any it falls back to how far
// delivery got.
func settledStatus(inv *ent.Invoice) invoice.Status {
	switch {
	case inv.Balance.IsZero() && inv.AmountPaid.IsPositive():
		return invoice.StatusPaid
	case inv.AmountPaid.IsPositive():
		return invoice.StatusPartiallyPaid
	case inv.ViewedAt != nil:
		return invoice.StatusViewed
	case inv.SentAt != nil:
		return invoice.StatusSent
	}
	return invoice.StatusApproved
}

// settle adds delta (positive: paid; negative: re-opened) to an open invoice's amount paid,
// recomputes its balance and status, and records the status change.
func settle(ctx context.Context, c *ent.Client, inv *ent.Invoice, delta money.Amount, note string) (*ent.Invoice, error) {
	if !openStatus(inv.Status) && inv.Status != invoice.StatusPaid {
		// A draft, void or written-off invoice has no balance to pay or re-open.
		return nil, apperr.New(apperr.InvalidTransition, "invoice %s is %s; payments and credits cannot change it", invoiceLabel(inv), inv.Status)
	}
	paid := inv.AmountPaid.Add(delta)
	balance := inv.Total.Sub(paid).Sub(inv.WrittenOff)
	if paid.IsNegative() || balance.IsNegative() {
		return nil, apperr.New(apperr.OverApplication, "invoice %s has an open balance of %s; cannot apply %s",
			invoiceLabel(inv), inv.Balance, delta)
	}
	next := *inv
	next.AmountPaid, next.Balance = paid, balance
	to := settledStatus(&next)
	upd, err := c.Invoice.UpdateOne(inv).SetAmountPaid(paid).SetBalance(balance).SetStatus(to).Save(ctx)
	if err != nil {
		return nil, err
	}
	if to != inv.Status {
		if err := recordEvent(ctx, c, inv.ID, inv.Status, to, note); err != nil {
			return nil, err
		}
	}
	return upd, nil
}

// recordEvent writes an invoice's status change: who, when, old → new.
func recordEvent(ctx context.Context, c *ent.Client, invoiceID string, from, to invoice.Status, note string) error {
	actor, via := audit.Who(ctx)
	return c.InvoiceEvent.Create().
		SetInvoiceID(invoiceID).
		SetAt(time.Now().UTC()).
		SetActor(actor).
		SetVia(string(via)).
		SetFromStatus(string(from)).
		SetToStatus(string(to)).
		SetNote(note).
		Exec(ctx)
}

func invoiceLabel(inv *ent.Invoice) string {
	if inv.Number != nil {
		return *inv.Number
	}
	return inv.ID
}

// requireCurrency checks a document's currency against its customer's and entity's: the
// ledger has no exchange rates, so all three must agree.
func requireCurrency(doc money.Currency, cus *ent.Customer, le *ent.LegalEntity) error {
	if string(doc) != cus.Currency {
		return apperr.New(apperr.CurrencyMismatch, "currency %s differs from customer %s's currency %s", doc, cus.DisplayName, cus.Currency).WithField("currency")
	}
	if string(doc) != le.BaseCurrency {
		return apperr.New(apperr.CurrencyMismatch, "currency %s differs from entity %s's base currency %s", doc, le.Code, le.BaseCurrency).WithField("currency")
	}
	return nil
}

var zero money.Amount
