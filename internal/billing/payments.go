package billing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"books/ent"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/money"
)

// Application applies part of a payment or credit memo to one invoice.
type Application struct {
	InvoiceID string
	Amount    money.Amount
}

// PaymentInput is money received from a customer, optionally applied to its invoices.
type PaymentInput struct {
	EntityID, CustomerID string
	Amount               money.Amount
	Currency             money.Currency // defaults to the customer's
	ReceivedDate         caldate.Date
	Method               payment.Method
	Processor            payment.Processor // defaults to manual
	ExternalRef, Memo    string
	// StripeAccountID is the Stripe account of a Stripe payment (refunds go back through it).
	StripeAccountID string
	Applications    []Application
}

// CashReturnInput is money of a payment going back to the customer: a refund, or a charge
// reversal (a lost dispute).
type CashReturnInput struct {
	PaymentID   string
	Amount      money.Amount
	Date        caldate.Date // defaults to today in the entity's time zone
	Reason      string
	ExternalRef string
	// Made says the processor has already returned the money (a refund Stripe confirmed,
	// e.g. one made in its dashboard): refunds still pending do not hold against it, since
	// the money is gone whatever Books thinks is on its way.
	Made bool
}

// target is an application checked against its locked invoice.
type target struct {
	inv    *ent.Invoice
	amount money.Amount
}

// RecordPayment records money received: DR Undeposited Funds for the amount, CR AR for each
// application (the invoices it pays) and CR Customer Credits for the rest. A processor's
// payment (processor and external reference) is recorded once per entity; a repeat is a
// CONFLICT.
func RecordPayment(ctx context.Context, client *ent.Client, in PaymentInput) (*ent.Payment, error) {
	var out *ent.Payment
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		le, err := entityOf(ctx, c, in.EntityID)
		if err != nil {
			return err
		}
		cus, err := customerInScope(ctx, c, in.CustomerID)
		if err != nil {
			return err
		}
		cur := in.Currency
		if cur == "" {
			cur = money.Currency(cus.Currency)
		}
		if err := requireCurrency(cur, cus, le); err != nil {
			return err
		}
		if err := checkMoney(in.Amount, cur, "amount"); err != nil {
			return err
		}
		if in.ReceivedDate.IsZero() {
			return apperr.New(apperr.Validation, "received date is required").WithField("receivedDate")
		}
		if err := payment.MethodValidator(in.Method); err != nil {
			return apperr.New(apperr.Validation, "unknown payment method %q", in.Method).WithField("method")
		}
		processor := in.Processor
		if processor == "" {
			processor = payment.ProcessorManual
		}
		if err := payment.ProcessorValidator(processor); err != nil {
			return apperr.New(apperr.Validation, "unknown payment processor %q", in.Processor).WithField("processor")
		}
		ref := strings.TrimSpace(in.ExternalRef)
		if len(ref) > 200 {
			return apperr.New(apperr.Validation, "external reference is longer than 200 characters").WithField("externalRef")
		}
		if len(in.Memo) > 1000 {
			return apperr.New(apperr.Validation, "memo is longer than 1000 characters").WithField("memo")
		}
		if ref != "" {
			// The unique index (entity, processor, external ref) refuses a racing duplicate too.
			dup, err := c.Payment.Query().Where(payment.EntityID(le.ID), payment.ProcessorEQ(processor), payment.ExternalRef(ref)).Exist(ctx)
			if err != nil {
				return err
			}
			if dup {
				return apperr.New(apperr.Conflict, "%s payment %q is already recorded", processor, ref).WithField("externalRef")
			}
		}
		applied, err := checkApplications(in.Applications, cur)
		if err != nil {
			return err
		}
		if applied.Cmp(in.Amount) > 0 {
			return apperr.New(apperr.OverApplication, "applications total %s, more than the payment's %s", applied, in.Amount).WithField("applications")
		}
		targets, err := lockTargets(ctx, c, le.ID, cus.ID, cur, in.Applications)
		if err != nil {
			return err
		}
		rest := in.Amount.Sub(applied)

		id := ids.New(ids.Payment)
		desc := fmt.Sprintf("Payment from %s", cus.DisplayName)
		lines := []ledger.Line{{SourceCode: codeUndeposited, Debit: in.Amount, Description: desc}}
		lines = append(lines, arCredits(targets, "Payment on invoice %s")...)
		if rest.IsPositive() {
			lines = append(lines, ledger.Line{SourceCode: codeCustomerCredits, Credit: rest,
				Description: "Unapplied payment from " + cus.DisplayName, CustomerID: cus.ID})
		}
		je, err := postVia(ctx, c, mappingsOf(processor), le.ID, in.ReceivedDate, "payment:"+id, ledger.Document{Type: ledger.DocPayment, ID: id}, desc, lines)
		if err != nil {
			return err
		}
		actor, _ := audit.Who(ctx)
		create := c.Payment.Create().SetID(id).
			SetEntityID(le.ID).
			SetCustomerID(cus.ID).
			SetAmount(in.Amount).
			SetCurrency(string(cur)).
			SetReceivedDate(in.ReceivedDate).
			SetMethod(in.Method).
			SetProcessor(processor).
			SetMemo(in.Memo).
			SetApplied(applied).
			SetRefunded(money.Amount{}).
			SetReversed(money.Amount{}).
			SetUnapplied(rest).
			SetJournalEntryID(je.ID).
			SetRecordedBy(actor)
		if ref != "" {
			// Without a reference the column stays NULL, which the unique index never matches.
			create.SetExternalRef(ref)
		}
		if in.StripeAccountID != "" {
			create.SetStripeAccountID(in.StripeAccountID)
		}
		if out, err = create.Save(ctx); err != nil {
			return err
		}
		return paymentApplications(ctx, c, out.ID, je.ID, targets, nil)
	})
	return finishPayment(out, owned, err)
}

// ApplyPayment applies a payment's unapplied money to invoices: DR Customer Credits, CR AR,
// one entry for the call.
func ApplyPayment(ctx context.Context, client *ent.Client, paymentID string, apps []Application) (*ent.Payment, error) {
	var out *ent.Payment
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		p, err := lockPayment(ctx, c, paymentID)
		if err != nil {
			return err
		}
		if err := refuseVoided(p); err != nil {
			return err
		}
		cur := money.Currency(p.Currency)
		if len(apps) == 0 {
			return apperr.New(apperr.Validation, "no applications given").WithField("applications")
		}
		total, err := checkApplications(apps, cur)
		if err != nil {
			return err
		}
		if total.Cmp(p.Unapplied) > 0 {
			return apperr.New(apperr.OverApplication, "applications total %s; the payment has %s unapplied", total, p.Unapplied).WithField("applications")
		}
		targets, err := lockTargets(ctx, c, p.EntityID, p.CustomerID, cur, apps)
		if err != nil {
			return err
		}
		le, err := entityOf(ctx, c, p.EntityID)
		if err != nil {
			return err
		}
		appIDs := newIDs(ids.PaymentApplication, len(targets))
		desc := fmt.Sprintf("Payment %s applied", p.ID)
		lines := append([]ledger.Line{{SourceCode: codeCustomerCredits, Debit: total, Description: desc, CustomerID: p.CustomerID}},
			arCredits(targets, "Payment applied to invoice %s")...)
		je, err := post(ctx, c, p.EntityID, laterOf(today(le), p.ReceivedDate), "papply:"+appIDs[0],
			ledger.Document{Type: ledger.DocPaymentApplication, ID: appIDs[0]}, desc, lines)
		if err != nil {
			return err
		}
		if err := paymentApplications(ctx, c, p.ID, je.ID, targets, appIDs); err != nil {
			return err
		}
		out, err = c.Payment.UpdateOne(p).SetApplied(p.Applied.Add(total)).SetUnapplied(p.Unapplied.Sub(total)).Save(ctx)
		return err
	})
	return finishPayment(out, owned, err)
}

// UnapplyPayment takes an application back: DR AR, CR Customer Credits. The invoice re-opens
// and the money is unapplied credit of the payment again.
func UnapplyPayment(ctx context.Context, client *ent.Client, applicationID string) (*ent.Payment, error) {
	var out *ent.Payment
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		app, err := c.PaymentApplication.Get(ctx, applicationID)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "payment application %q not found", applicationID)
		}
		if err != nil {
			return err
		}
		p, err := lockPayment(ctx, c, app.PaymentID)
		if err != nil {
			return err
		}
		if err := refuseVoided(p); err != nil {
			return err
		}
		// Read it again under the payment's lock: a concurrent unapply may have won.
		if app, err = c.PaymentApplication.Get(ctx, applicationID); err != nil {
			return err
		}
		if app.UnappliedAt != nil {
			return apperr.New(apperr.InvalidTransition, "payment application %s was already unapplied", app.ID)
		}
		inv, err := lockInvoice(ctx, c, app.InvoiceID)
		if err != nil {
			return err
		}
		le, err := entityOf(ctx, c, p.EntityID)
		if err != nil {
			return err
		}
		if err := unapplyApplication(ctx, c, p, app, inv, laterOf(today(le), p.ReceivedDate)); err != nil {
			return err
		}
		if _, err := settle(ctx, c, inv, app.Amount.Neg(), fmt.Sprintf("payment %s unapplied (%s)", p.ID, app.Amount)); err != nil {
			return err
		}
		out, err = c.Payment.UpdateOne(p).SetApplied(p.Applied.Sub(app.Amount)).SetUnapplied(p.Unapplied.Add(app.Amount)).Save(ctx)
		return err
	})
	return finishPayment(out, owned, err)
}

// RefundPayment returns money of a payment to the customer.
func RefundPayment(ctx context.Context, client *ent.Client, in CashReturnInput) (*ent.Refund, error) {
	var out *ent.Refund
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		r, err := returnCash(ctx, c, in, false)
		if err != nil {
			return err
		}
		b := c.Refund.Create().SetID(r.id).SetEntityID(r.entityID).SetPaymentID(in.PaymentID).
			SetAmount(in.Amount).SetDate(r.date).SetReason(in.Reason).SetJournalEntryID(r.entryID).SetCreatedBy(r.actor)
		if in.ExternalRef != "" {
			b.SetExternalRef(in.ExternalRef)
		}
		out, err = b.Save(ctx)
		return err
	})
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		out = out.Unwrap()
	}
	return out, nil
}

// ReverseCharge records a lost dispute on a payment (a chargeback): the money goes back and
// the invoices it had paid re-open.
func ReverseCharge(ctx context.Context, client *ent.Client, in CashReturnInput) (*ent.ChargeReversal, error) {
	var out *ent.ChargeReversal
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		r, err := returnCash(ctx, c, in, true)
		if err != nil {
			return err
		}
		b := c.ChargeReversal.Create().SetID(r.id).SetEntityID(r.entityID).SetPaymentID(in.PaymentID).
			SetAmount(in.Amount).SetDate(r.date).SetReason(in.Reason).SetJournalEntryID(r.entryID).SetCreatedBy(r.actor)
		if in.ExternalRef != "" {
			b.SetExternalRef(in.ExternalRef)
		}
		out, err = b.Save(ctx)
		return err
	})
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		out = out.Unwrap()
	}
	return out, nil
}

// cashReturned is what returnCash posted, for the refund or charge reversal record.
type cashReturned struct {
	id, entityID, entryID, actor string
	date                         caldate.Date
}

// returnCash is the shared part of refunds and charge reversals. The money comes first from
// the payment's unapplied credit; the rest is unapplied from the invoices it paid, newest
// application first (an application needed only in part is unapplied wholly and its
// remainder applied again), re-opening them. Then the return itself posts DR Customer
// Credits, CR Undeposited Funds, so applied money nets to DR AR, CR Undeposited Funds.
func returnCash(ctx context.Context, c *ent.Client, in CashReturnInput, chargeback bool) (cashReturned, error) {
	return returnCashAs(ctx, c, in, chargeback, "")
}

// returnCashAs is returnCash for a refund asked earlier (pending, id given): its own reserved
// amount is not held against it.
func returnCashAs(ctx context.Context, c *ent.Client, in CashReturnInput, chargeback bool, pendingID string) (cashReturned, error) {
	kind, prefix, refPrefix, docType := "refund", ids.Refund, "refund:", ledger.DocRefund
	if chargeback {
		kind, prefix, refPrefix, docType = "charge reversal", ids.ChargeReversal, "chargeback:", ledger.DocChargeReversal
	}
	var r cashReturned
	if in.PaymentID == "" {
		return r, apperr.New(apperr.Validation, "payment is required").WithField("paymentID")
	}
	p, err := lockPayment(ctx, c, in.PaymentID)
	if err != nil {
		return r, err
	}
	if err := refuseVoided(p); err != nil {
		return r, err
	}
	le, err := entityOf(ctx, c, p.EntityID)
	if err != nil {
		return r, err
	}
	if err := checkMoney(in.Amount, money.Currency(p.Currency), "amount"); err != nil {
		return r, err
	}
	// A refund asked of a processor holds its amount until it is confirmed or fails. A charge
	// reversal, or a refund the processor has made, does not wait on it: the money is gone.
	var pending money.Amount
	if !chargeback && !in.Made {
		if pending, err = pendingRefunds(ctx, c, p.ID, pendingID); err != nil {
			return r, err
		}
	}
	refundable := p.Amount.Sub(p.Refunded).Sub(p.Reversed).Sub(pending)
	if in.Amount.Cmp(refundable) > 0 {
		return r, apperr.New(apperr.OverRefund, "payment %s has %s left to return; a %s of %s is too much", p.ID, refundable, kind, in.Amount).WithField("amount")
	}
	date := in.Date
	if date.IsZero() {
		date = laterOf(today(le), p.ReceivedDate)
	}
	if date.Before(p.ReceivedDate) {
		return r, apperr.New(apperr.Validation, "a %s cannot be dated %s, before the payment was received on %s", kind, date, p.ReceivedDate).WithField("date")
	}
	if len(in.Reason) > 1000 {
		return r, apperr.New(apperr.Validation, "reason is longer than 1000 characters").WithField("reason")
	}
	if len(in.ExternalRef) > 200 {
		return r, apperr.New(apperr.Validation, "external reference is longer than 200 characters").WithField("externalRef")
	}

	applied, unapplied := p.Applied, p.Unapplied
	need := in.Amount.Sub(unapplied)
	if need.IsPositive() {
		apps, err := c.PaymentApplication.Query().
			Where(paymentapplication.PaymentID(p.ID), paymentapplication.UnappliedAtIsNil()).
			Order(ent.Desc(paymentapplication.FieldCreatedAt), ent.Desc(paymentapplication.FieldID)).
			All(ctx)
		if err != nil {
			return r, err
		}
		invs, err := lockInvoices(ctx, c, apps)
		if err != nil {
			return r, err
		}
		for _, app := range apps {
			if !need.IsPositive() {
				break
			}
			inv := invs[app.InvoiceID]
			if inv.Status != invoice.StatusPaid && !openStatus(inv.Status) {
				continue // written off: its receivable is closed and is not re-opened
			}
			take := app.Amount
			if take.Cmp(need) > 0 {
				take = need
			}
			if err := unapplyApplication(ctx, c, p, app, inv, date); err != nil {
				return r, err
			}
			if keep := app.Amount.Sub(take); keep.IsPositive() {
				t := []target{{inv: inv, amount: keep}}
				appID := ids.New(ids.PaymentApplication)
				desc := fmt.Sprintf("Payment %s re-applied after a %s", p.ID, kind)
				je, err := post(ctx, c, p.EntityID, date, "papply:"+appID, ledger.Document{Type: ledger.DocPaymentApplication, ID: appID}, desc, append(
					[]ledger.Line{{SourceCode: codeCustomerCredits, Debit: keep, Description: desc, CustomerID: p.CustomerID}},
					arCredits(t, "Payment re-applied to invoice %s")...))
				if err != nil {
					return r, err
				}
				if err := c.PaymentApplication.Create().SetID(appID).SetPaymentID(p.ID).SetInvoiceID(inv.ID).
					SetAmount(keep).SetJournalEntryID(je.ID).Exec(ctx); err != nil {
					return r, err
				}
			}
			upd, err := settle(ctx, c, inv, take.Neg(), fmt.Sprintf("%s of payment %s (%s)", kind, p.ID, take))
			if err != nil {
				return r, err
			}
			invs[inv.ID] = upd
			applied, unapplied = applied.Sub(take), unapplied.Add(take)
			need = need.Sub(take)
		}
		if need.IsPositive() {
			return r, apperr.New(apperr.InvalidTransition, "%s of payment %s paid invoices that were written off; it cannot be returned", need, p.ID).WithField("amount")
		}
	}

	r.id, r.entityID, r.date = ids.New(prefix), p.EntityID, date
	if pendingID != "" {
		r.id = pendingID
	}
	r.actor, _ = audit.Who(ctx)
	desc := fmt.Sprintf("%s of payment %s", strings.ToUpper(kind[:1])+kind[1:], p.ID)
	je, err := postVia(ctx, c, mappingsOf(p.Processor), p.EntityID, date, refPrefix+r.id, ledger.Document{Type: docType, ID: r.id}, desc, []ledger.Line{
		{SourceCode: codeCustomerCredits, Debit: in.Amount, Description: desc, CustomerID: p.CustomerID},
		{SourceCode: codeUndeposited, Credit: in.Amount, Description: desc},
	})
	if err != nil {
		return r, err
	}
	r.entryID = je.ID
	u := c.Payment.UpdateOne(p).SetApplied(applied).SetUnapplied(unapplied.Sub(in.Amount))
	if chargeback {
		u.SetReversed(p.Reversed.Add(in.Amount))
	} else {
		u.SetRefunded(p.Refunded.Add(in.Amount))
	}
	return r, u.Exec(ctx)
}

// lockInvoices locks the invoices of apps in id order, so two calls locking the same
// invoices cannot deadlock.
func lockInvoices(ctx context.Context, c *ent.Client, apps []*ent.PaymentApplication) (map[string]*ent.Invoice, error) {
	var idsWanted []string
	for _, a := range apps {
		idsWanted = append(idsWanted, a.InvoiceID)
	}
	slices.Sort(idsWanted)
	out := map[string]*ent.Invoice{}
	for _, id := range slices.Compact(idsWanted) {
		inv, err := lockInvoice(ctx, c, id)
		if err != nil {
			return nil, err
		}
		out[id] = inv
	}
	return out, nil
}

// unapplyApplication posts the mirror of an application (DR AR, CR Customer Credits) and
// marks it unapplied. The caller settles the invoice and updates the payment's amounts.
func unapplyApplication(ctx context.Context, c *ent.Client, p *ent.Payment, app *ent.PaymentApplication, inv *ent.Invoice, date caldate.Date) error {
	je, err := postUnapply(ctx, c, unapplied{
		entityID: p.EntityID, customerID: p.CustomerID, inv: inv, amount: app.Amount, appliedEntryID: app.JournalEntryID,
		ref: "unapply:" + app.ID, doc: ledger.Document{Type: ledger.DocPaymentApplication, ID: app.ID},
		what: "payment", source: "Payment " + p.ID,
	}, date)
	if err != nil {
		return err
	}
	return c.PaymentApplication.UpdateOne(app).SetUnappliedAt(time.Now().UTC()).SetUnapplyEntryID(je.ID).Exec(ctx)
}

// unapplied is an application of a payment or credit memo being taken back.
type unapplied struct {
	entityID, customerID string
	inv                  *ent.Invoice
	amount               money.Amount
	appliedEntryID       string // the application's entry, which the mirror may not predate
	ref                  string
	doc                  ledger.Document
	what, source         string // "payment", "Payment pay_…"
}

// postUnapply posts the mirror of an application (DR AR, CR Customer Credits, for its
// customer) on date, or on the application's own date when that is later. Only an
// application to an invoice still open or paid can be taken back.
func postUnapply(ctx context.Context, c *ent.Client, u unapplied, date caldate.Date) (*ent.JournalEntry, error) {
	if u.inv.Status != invoice.StatusPaid && !openStatus(u.inv.Status) {
		return nil, apperr.New(apperr.InvalidTransition, "invoice %s is %s; a %s applied to it cannot be unapplied",
			invoiceLabel(u.inv), u.inv.Status, u.what)
	}
	date, err := notBefore(ctx, c, u.appliedEntryID, date)
	if err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("%s unapplied from invoice %s", u.source, invoiceLabel(u.inv))
	return post(ctx, c, u.entityID, date, u.ref, u.doc, desc, []ledger.Line{
		{SourceCode: codeAR, Debit: u.amount, Description: desc, CustomerID: u.customerID},
		{SourceCode: codeCustomerCredits, Credit: u.amount, Description: desc, CustomerID: u.customerID},
	})
}

// paymentApplications records a payment's applications, posted by entry, and settles their
// invoices. ids are the applications' ids, or nil for fresh ones.
func paymentApplications(ctx context.Context, c *ent.Client, paymentID, entryID string, targets []target, appIDs []string) error {
	for i, t := range targets {
		b := c.PaymentApplication.Create().SetPaymentID(paymentID).SetInvoiceID(t.inv.ID).SetAmount(t.amount).SetJournalEntryID(entryID)
		if appIDs != nil {
			b.SetID(appIDs[i])
		}
		if err := b.Exec(ctx); err != nil {
			return err
		}
		if _, err := settle(ctx, c, t.inv, t.amount, fmt.Sprintf("payment %s applied (%s)", paymentID, t.amount)); err != nil {
			return err
		}
	}
	return nil
}

// checkApplications validates applications without the database: each names an invoice
// once with a positive amount in the currency's minor units. It returns their total.
func checkApplications(apps []Application, cur money.Currency) (money.Amount, error) {
	var total money.Amount
	seen := make(map[string]bool, len(apps))
	for i, a := range apps {
		field := fmt.Sprintf("applications[%d]", i)
		if a.InvoiceID == "" {
			return total, apperr.New(apperr.Validation, "application %d names no invoice", i+1).WithField(field + ".invoiceID")
		}
		if seen[a.InvoiceID] {
			return total, apperr.New(apperr.Validation, "invoice %s appears more than once; apply it once with the sum", a.InvoiceID).WithField(field + ".invoiceID")
		}
		seen[a.InvoiceID] = true
		if err := checkMoney(a.Amount, cur, field+".amount"); err != nil {
			return total, err
		}
		total = total.Add(a.Amount)
	}
	return total, nil
}

// lockTargets locks the invoices of apps (in id order, against deadlocks) and checks each
// can take its amount: same entity, customer and currency as the document, open, and the
// amount within its balance. A paid invoice has nothing open: OVER_APPLICATION, as for any
// amount above the balance.
func lockTargets(ctx context.Context, c *ent.Client, entityID, customerID string, cur money.Currency, apps []Application) ([]target, error) {
	order := make([]int, len(apps))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(apps[a].InvoiceID, apps[b].InvoiceID) })
	out := make([]target, len(apps))
	for _, i := range order {
		a := apps[i]
		field := fmt.Sprintf("applications[%d].invoiceID", i)
		inv, err := lockInvoice(ctx, c, a.InvoiceID)
		if err != nil {
			if e, ok := apperr.As(err); ok {
				return nil, e.WithField(field)
			}
			return nil, err
		}
		switch {
		case inv.EntityID != entityID:
			return nil, apperr.New(apperr.Validation, "invoice %s belongs to another entity", invoiceLabel(inv)).WithField(field)
		case inv.CustomerID != customerID:
			return nil, apperr.New(apperr.Validation, "invoice %s is billed to another customer", invoiceLabel(inv)).WithField(field)
		case inv.Currency != string(cur):
			return nil, apperr.New(apperr.CurrencyMismatch, "invoice %s is in %s, not %s", invoiceLabel(inv), inv.Currency, cur).WithField(field)
		case inv.Status == invoice.StatusPaid:
			return nil, apperr.New(apperr.OverApplication, "invoice %s is paid; nothing is open on it", invoiceLabel(inv)).WithField(field)
		case !openStatus(inv.Status):
			return nil, apperr.New(apperr.InvalidTransition, "invoice %s is %s; only approved invoices with an open balance take payments and credits", invoiceLabel(inv), inv.Status).WithField(field)
		case a.Amount.Cmp(inv.Balance) > 0:
			return nil, apperr.New(apperr.OverApplication, "cannot apply %s to invoice %s: its open balance is %s", a.Amount, invoiceLabel(inv), inv.Balance).
				WithField(fmt.Sprintf("applications[%d].amount", i))
		}
		out[i] = target{inv: inv, amount: a.Amount}
	}
	return out, nil
}

// arCredits returns the AR credit of each target; format names the invoice in the line's
// description.
func arCredits(targets []target, format string) []ledger.Line {
	lines := make([]ledger.Line, len(targets))
	for i, t := range targets {
		lines[i] = ledger.Line{SourceCode: codeAR, Credit: t.amount, Description: fmt.Sprintf(format, invoiceLabel(t.inv)),
			CustomerID: t.inv.CustomerID}
	}
	return lines
}

// checkMoney checks an amount of a document in cur: positive and in the currency's minor
// units (no fractions of a cent in USD).
func checkMoney(a money.Amount, cur money.Currency, field string) error {
	if !a.IsPositive() {
		return apperr.New(apperr.InvalidAmount, "amount must be positive, got %s", a).WithField(field)
	}
	if places := cur.MinorUnits(); a.Round(places, money.HalfUp).Cmp(a) != 0 {
		return apperr.New(apperr.InvalidAmount, "%s has more than the %d decimal places of %s", a, places, cur).WithField(field)
	}
	return nil
}

// customerInScope loads a customer of the organization in ctx.
func customerInScope(ctx context.Context, c *ent.Client, id string) (*ent.Customer, error) {
	cus, err := c.Customer.Query().Where(customer.ID(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.UnknownCustomer, "customer %q not found", id).WithField("customerID")
	}
	return cus, err
}

// notBefore returns date, or the date of entry entryID when that is later: an unapplication
// is a correction, never dated before the application it undoes (which may itself have moved
// to a later open period).
func notBefore(ctx context.Context, c *ent.Client, entryID string, date caldate.Date) (caldate.Date, error) {
	je, err := c.JournalEntry.Get(ctx, entryID)
	if err != nil {
		return caldate.Date{}, err
	}
	return laterOf(date, je.Date), nil
}

// laterOf returns the later of two dates: a later step of a document is never dated before
// the document.
func laterOf(a, b caldate.Date) caldate.Date {
	if a.Before(b) {
		return b
	}
	return a
}

func newIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ids.New(prefix)
	}
	return out
}

func finishPayment(p *ent.Payment, owned bool, err error) (*ent.Payment, error) {
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		p = p.Unwrap()
	}
	return p, nil
}
