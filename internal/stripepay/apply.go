package stripepay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"books/ent"
	"books/ent/billingprofile"
	"books/ent/chargereversal"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/legalentity"
	"books/ent/payment"
	"books/ent/paymentattempt"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/ent/refund"
	"books/ent/stripeevent"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/qbo/recon"
)

// errNotYet: the event is about money Books has not recorded yet (its charge.succeeded is
// still on the way, or lost and to be listed by the backstop). It stays pending and is tried
// again; it fails only when it has waited longer than waitLimit.
var errNotYet = errors.New("stripepay: the payment this event is about is not recorded yet")

// waitLimit is how long an event may wait for the payment it is about. Stripe retries a
// webhook for three days and the backstop lists events every few minutes.
const waitLimit = 72 * time.Hour

// Source references of the entries Books posts in source system stripe for money with no
// invoice behind it (a Stripe Billing subscription charge, a one-off charge).
const (
	refReceipt = "receipt:" // + the payment's key
	refRefund  = "refund:"  // + re_…
	refDispute = "dispute:" // + dp_…
)

// outcome is what applying an event did.
type outcome struct {
	status   stripeevent.Status
	entityID string
	text     string
}

func done(entityID, format string, args ...any) outcome {
	return outcome{status: stripeevent.StatusProcessed, entityID: entityID, text: fmt.Sprintf(format, args...)}
}

func ignored(format string, args ...any) outcome {
	return outcome{status: stripeevent.StatusIgnored, text: fmt.Sprintf(format, args...)}
}

// prefetched is what an event needs from Stripe's API, read before its transaction opens so
// that no transaction waits on the network.
type prefetched struct {
	refunds []*stripe.Refund // charge.refunded: every refund of the charge
}

// prefetch reads what ev needs from Stripe.
func (s *Service) prefetch(ctx context.Context, acct *ent.StripeAccount, ev stripe.Event) (prefetched, error) {
	var pre prefetched
	if ev.Type != "charge.refunded" {
		return pre, nil
	}
	var ch stripe.Charge
	if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
		return pre, err
	}
	key, err := s.secretKey(acct)
	if err != nil {
		return pre, err
	}
	params := &stripe.RefundListParams{Charge: stripe.String(ch.ID)}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := s.api(key).Refunds.List(params)
	for it.Next() {
		pre.refunds = append(pre.refunds, it.Refund())
	}
	return pre, it.Err()
}

// apply applies one event in c's transaction.
func (s *Service) apply(ctx context.Context, c *ent.Client, acct *ent.StripeAccount, ev stripe.Event, pre prefetched) (outcome, error) {
	created := time.Unix(ev.Created, 0).UTC()
	switch ev.Type {
	case "payment_intent.succeeded":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return outcome{}, err
		}
		if pi.Invoice != nil && pi.Invoice.ID != "" {
			return ignored("a Stripe invoice's payment: invoice.paid records it"), nil
		}
		amt := pi.AmountReceived
		if amt == 0 {
			amt = pi.Amount
		}
		method := ""
		if len(pi.PaymentMethodTypes) > 0 {
			method = pi.PaymentMethodTypes[0]
		}
		return s.receive(ctx, c, acct, receipt{key: pi.ID, amount: amt, currency: string(pi.Currency),
			meta: pi.Metadata, method: method, at: created})
	case "charge.succeeded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return outcome{}, err
		}
		if ch.Invoice != nil && ch.Invoice.ID != "" {
			return ignored("a Stripe invoice's charge: invoice.paid records it"), nil
		}
		key := ch.ID
		if ch.PaymentIntent != nil && ch.PaymentIntent.ID != "" {
			key = ch.PaymentIntent.ID
			// Stripe keeps a PaymentIntent's metadata on the PaymentIntent, not on its charge:
			// unless the PaymentIntent is one of Books' attempts (which route by the attempt)
			// or the charge carries routing metadata of its own, payment_intent.succeeded
			// records the payment, where its metadata says.
			att, err := attemptOf(ctx, c, key)
			if err != nil {
				return outcome{}, err
			}
			if att == nil && ch.Metadata[MetaEntity] == "" && ch.Metadata[MetaInvoice] == "" {
				return ignored("a charge of PaymentIntent %s, which Books did not create: payment_intent.succeeded records it", key), nil
			}
		}
		method := ""
		if ch.PaymentMethodDetails != nil {
			method = string(ch.PaymentMethodDetails.Type)
		}
		return s.receive(ctx, c, acct, receipt{key: key, amount: ch.Amount, currency: string(ch.Currency),
			meta: ch.Metadata, method: method, at: created, charge: ch.ID})
	case "invoice.paid":
		var in stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &in); err != nil {
			return outcome{}, err
		}
		if in.AmountPaid == 0 {
			return ignored("Stripe invoice %s was paid with nothing charged", in.ID), nil
		}
		key := in.ID
		switch {
		case in.PaymentIntent != nil && in.PaymentIntent.ID != "":
			key = in.PaymentIntent.ID
		case in.Charge != nil && in.Charge.ID != "":
			key = in.Charge.ID
		}
		return s.receive(ctx, c, acct, receipt{key: key, amount: in.AmountPaid, currency: string(in.Currency),
			meta: in.Metadata, at: created, stripeInvoice: &in})
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return outcome{}, err
		}
		return s.refunded(ctx, c, acct, &ch, pre.refunds)
	case "charge.dispute.created", "charge.dispute.closed":
		var dp stripe.Dispute
		if err := json.Unmarshal(ev.Data.Raw, &dp); err != nil {
			return outcome{}, err
		}
		return s.dispute(ctx, c, acct, &dp, ev.Type == "charge.dispute.closed", created)
	case "payment_intent.payment_failed", "payment_intent.processing", "payment_intent.canceled":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return outcome{}, err
		}
		return s.attemptChanged(ctx, c, &pi, string(ev.Type))
	}
	return ignored("Books does not act on %s", ev.Type), nil
}

// receipt is money Stripe says was received, from whichever of a payment's events.
type receipt struct {
	key           string // the PaymentIntent id (or the charge's, or the Stripe invoice's)
	amount        int64  // in the currency's smallest unit
	currency      string
	meta          map[string]string
	method        string
	at            time.Time
	charge        string
	stripeInvoice *stripe.Invoice
}

// receive records a receipt once, whichever of its events comes first: for a Books invoice
// (the attempt, or metadata.invoice_id) a payment applied to it; for no invoice an entry
// DR Undeposited Funds, CR Revenue (Deferred Revenue when a Stripe invoice covers a service
// period that is still to come), through the stripe COA mappings.
func (s *Service) receive(ctx context.Context, c *ent.Client, acct *ent.StripeAccount, r receipt) (outcome, error) {
	att, err := attemptOf(ctx, c, r.key)
	if err != nil {
		return outcome{}, err
	}
	if att != nil && att.StripeAccountID != acct.ID {
		att = nil // not the account the attempt was made on: its metadata decides nothing
	}
	if p, err := paymentOf(ctx, c, r.key); err != nil || p != nil {
		if err != nil {
			return outcome{}, err
		}
		if err := attemptSucceeded(ctx, c, att, p.ID); err != nil {
			return outcome{}, err
		}
		return done(p.EntityID, "payment %s already recorded", p.ID), nil
	}
	if je, err := receiptEntry(ctx, c, r.key); err != nil || je != nil {
		if err != nil {
			return outcome{}, err
		}
		return done(je.EntityID, "entry %s already posted", je.ID), nil
	}
	meta := r.meta
	if att != nil {
		meta = map[string]string{MetaEntity: att.EntityID, MetaInvoice: att.InvoiceID, MetaCustomer: att.CustomerID}
	}
	le, err := route(ctx, c, acct, meta)
	if err != nil {
		return outcome{}, err
	}
	cur := money.Currency(strings.ToUpper(r.currency))
	if _, err := money.ParseCurrency(string(cur)); err != nil {
		return outcome{}, fmt.Errorf("stripepay: Stripe sent currency %q", r.currency)
	}
	amount := fromMinor(r.amount, cur)
	date := dateIn(le, r.at)
	held := recon.Problem{Source: reconciliationitem.SourceStripe, EntityID: le.ID, ConnectionID: acct.ID,
		QBOType: objectType(r.key), QBOID: r.key, Amount: &amount, Currency: string(cur), TxnDate: &date,
		Reference: r.charge}
	if string(cur) != le.BaseCurrency {
		held.Kind = reconciliationitem.KindCurrencyMismatch
		held.Reason = fmt.Sprintf("Stripe received %s %s; entity %s keeps its ledger in %s, so nothing is posted. Refund it in Stripe, or record it by hand.",
			amount, cur, le.Code, le.BaseCurrency)
		if _, err := s.Queue.Raise(ctx, c, held); err != nil {
			return outcome{}, err
		}
		return done(le.ID, "held in the reconciliation queue: currency %s", cur), nil
	}
	invoiceID, customerID := meta[MetaInvoice], knownCustomer(ctx, c, meta[MetaCustomer])
	if invoiceID == "" {
		je, err := s.postReceipt(ctx, c, le, r, amount, cur, date)
		if err != nil {
			return outcome{}, err
		}
		return done(le.ID, "posted entry %s (no invoice)", je.ID), nil
	}
	in := billing.PaymentInput{EntityID: le.ID, Amount: amount, Currency: cur, ReceivedDate: date,
		Method: paymentMethod(r.method), Processor: payment.ProcessorStripe, ExternalRef: r.key,
		StripeAccountID: acct.ID, Memo: memo(r)}
	inv, err := c.Invoice.Query().Where(invoice.ID(invoiceID), invoice.EntityID(le.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		held.Kind = reconciliationitem.KindUnmatchedPayment
		if customerID == "" {
			held.Reason = fmt.Sprintf("Stripe payment of %s %s names invoice %q, which entity %s does not have, and no customer Books knows; nothing is posted until a person matches it.",
				amount, cur, invoiceID, le.Code)
			if _, err := s.Queue.Raise(ctx, c, held); err != nil {
				return outcome{}, err
			}
			return done(le.ID, "held in the reconciliation queue: unknown invoice %s", invoiceID), nil
		}
		in.CustomerID = customerID
		p, err := billing.RecordPayment(ctx, c, in)
		if err != nil {
			return outcome{}, err
		}
		if err := s.changed(ctx, c, qbolink.RecordTypePayment, p.ID); err != nil {
			return outcome{}, err
		}
		held.RecordType, held.RecordID, held.CustomerID = "payment", p.ID, customerID
		held.Reason = fmt.Sprintf("Stripe payment of %s %s names invoice %q, which entity %s does not have; recorded as payment %s, unapplied (the customer's credit). Apply it to the right invoice, or refund it.",
			amount, cur, invoiceID, le.Code, p.ID)
		if _, err := s.Queue.Raise(ctx, c, held); err != nil {
			return outcome{}, err
		}
		return done(le.ID, "recorded payment %s unapplied: unknown invoice %s", p.ID, invoiceID), nil
	}
	if err != nil {
		return outcome{}, err
	}
	in.CustomerID = inv.CustomerID
	apply := money.Amount{}
	if payable(inv.Status) && inv.Currency == string(cur) {
		apply = inv.Balance
		if amount.Cmp(apply) < 0 {
			apply = amount
		}
	}
	if apply.IsPositive() {
		in.Applications = []billing.Application{{InvoiceID: inv.ID, Amount: apply}}
	}
	p, err := billing.RecordPayment(ctx, c, in)
	if err != nil {
		return outcome{}, err
	}
	if err := s.changed(ctx, c, qbolink.RecordTypePayment, p.ID); err != nil {
		return outcome{}, err
	}
	if err := attemptSucceeded(ctx, c, att, p.ID); err != nil {
		return outcome{}, err
	}
	if rest := amount.Sub(apply); rest.IsPositive() {
		held.Kind, held.RecordType, held.RecordID, held.CustomerID = reconciliationitem.KindAmountMismatch, "payment", p.ID, inv.CustomerID
		held.Reason = fmt.Sprintf("Stripe payment of %s %s for invoice %s, which had %s open (%s); %s is left as the customer's credit on payment %s. Apply it elsewhere, or refund it.",
			amount, cur, label(inv), inv.Balance, inv.Status, rest, p.ID)
		if _, err := s.Queue.Raise(ctx, c, held); err != nil {
			return outcome{}, err
		}
	}
	return done(le.ID, "recorded payment %s on invoice %s", p.ID, label(inv)), nil
}

// postReceipt posts money with no Books invoice behind it.
func (s *Service) postReceipt(ctx context.Context, c *ent.Client, le *ent.LegalEntity, r receipt, amount money.Amount,
	cur money.Currency, date caldate.Date) (*ent.JournalEntry, error) {
	credit, what := "revenue", "Stripe charge"
	if r.stripeInvoice != nil {
		what = "Stripe invoice " + r.stripeInvoice.ID
		if coversFuture(r.stripeInvoice, r.at) {
			credit = "deferred_revenue"
		}
	}
	desc := fmt.Sprintf("%s %s", what, r.key)
	return s.postStripe(ctx, c, le, date, refReceipt+r.key, desc, cur, []ledger.Line{
		{SourceCode: "undeposited_funds", Debit: amount, Description: desc},
		{SourceCode: credit, Credit: amount, Description: desc},
	})
}

// postStripe posts an entry of source system stripe (not a Books document), once per ref.
func (s *Service) postStripe(ctx context.Context, c *ent.Client, le *ent.LegalEntity, date caldate.Date, ref, desc string,
	cur money.Currency, lines []ledger.Line) (*ent.JournalEntry, error) {
	actor, via := audit.Who(ctx)
	res, err := ledger.Post(ctx, c, ledger.Entry{EntityID: le.ID, Entity: le, Date: date, Description: desc,
		Currency: cur, Source: source.Stripe, SourceRef: ref, LateToOpenPeriod: true, Lines: lines,
		CreatedBy: actor, CreatedVia: string(via)})
	return res.Entry, err
}

// coversFuture reports whether a Stripe invoice pays for service still to come: a line whose
// period ends more than a day after the payment.
func coversFuture(in *stripe.Invoice, paid time.Time) bool {
	end := in.PeriodEnd
	if in.Lines != nil {
		for _, l := range in.Lines.Data {
			if l.Period != nil && l.Period.End > end {
				end = l.Period.End
			}
		}
	}
	return time.Unix(end, 0).After(paid.Add(24 * time.Hour))
}

// refunded applies charge.refunded: every succeeded refund of the charge not yet in Books
// is posted once (keyed by re_…): a refund Books asked for is confirmed, one made in Stripe's
// dashboard is recorded like it. A refund Books asked for that failed lets its amount go.
func (s *Service) refunded(ctx context.Context, c *ent.Client, acct *ent.StripeAccount, ch *stripe.Charge, refunds []*stripe.Refund) (outcome, error) {
	key := chargeKey(ch)
	p, err := paymentOf(ctx, c, key)
	if err != nil {
		return outcome{}, err
	}
	if p != nil {
		var posted []string
		for _, re := range refunds {
			rid := re.Metadata[MetaRefund]
			if re.Status == stripe.RefundStatusFailed || re.Status == stripe.RefundStatusCanceled {
				if rid != "" {
					if _, err := billing.FailRefund(ctx, c, rid, "Stripe: refund "+string(re.Status)); err != nil && !isNotFound(err) {
						return outcome{}, err
					}
				}
				continue
			}
			if re.Status != stripe.RefundStatusSucceeded {
				continue
			}
			cur, err := c.Refund.Query().Where(refund.EntityID(p.EntityID), refund.ExternalRef(re.ID)).Only(ctx)
			if err != nil && !ent.IsNotFound(err) {
				return outcome{}, err
			}
			if cur == nil && rid != "" {
				if cur, err = c.Refund.Query().Where(refund.ID(rid), refund.PaymentID(p.ID)).Only(ctx); err != nil && !ent.IsNotFound(err) {
					return outcome{}, err
				}
			}
			le, err := c.LegalEntity.Get(ctx, p.EntityID)
			if err != nil {
				return outcome{}, err
			}
			date := dateIn(le, time.Unix(re.Created, 0))
			switch {
			case cur != nil && cur.Status == refund.StatusSucceeded:
				continue
			case cur != nil:
				if _, err := billing.ConfirmRefund(ctx, c, cur.ID, re.ID, date); err != nil {
					return outcome{}, err
				}
				if err := s.changed(ctx, c, qbolink.RecordTypeRefund, cur.ID); err != nil {
					return outcome{}, err
				}
			default:
				reason := "Refunded in Stripe"
				if re.Reason != "" {
					reason += " (" + string(re.Reason) + ")"
				}
				rf, err := billing.RefundPayment(ctx, c, billing.CashReturnInput{PaymentID: p.ID,
					Amount: fromMinor(re.Amount, money.Currency(p.Currency)), Date: date, Reason: reason, ExternalRef: re.ID,
					Made: true})
				if err != nil {
					return outcome{}, err
				}
				if err := s.changed(ctx, c, qbolink.RecordTypeRefund, rf.ID); err != nil {
					return outcome{}, err
				}
			}
			posted = append(posted, re.ID)
		}
		if len(posted) > 0 {
			if err := s.changed(ctx, c, qbolink.RecordTypePayment, p.ID); err != nil {
				return outcome{}, err
			}
		}
		return done(p.EntityID, "refunds of payment %s posted: %s", p.ID, list(posted)), nil
	}
	je, err := receiptEntry(ctx, c, key)
	if err != nil {
		return outcome{}, err
	}
	if je == nil {
		return s.notYet(ctx, c, acct, key)
	}
	le, err := c.LegalEntity.Get(ctx, je.EntityID)
	if err != nil {
		return outcome{}, err
	}
	var posted []string
	for _, re := range refunds {
		if re.Status != stripe.RefundStatusSucceeded {
			continue
		}
		if _, err := s.reverseReceipt(ctx, c, le, je, refRefund+re.ID, "Stripe refund "+re.ID, re.Amount, time.Unix(re.Created, 0)); err != nil {
			return outcome{}, err
		}
		posted = append(posted, re.ID)
	}
	return done(le.ID, "refunds of entry %s posted: %s", je.ID, list(posted)), nil
}

// reverseReceipt posts money of a receipt entry going back (refund, lost dispute): DR the
// account the receipt credited, CR Undeposited Funds.
func (s *Service) reverseReceipt(ctx context.Context, c *ent.Client, le *ent.LegalEntity, receipt *ent.JournalEntry, ref, desc string,
	minor int64, at time.Time) (*ent.JournalEntry, error) {
	credited, err := c.JournalLine.Query().Where(journalline.EntryID(receipt.ID), journalline.CreditGT(money.Amount{})).First(ctx)
	if err != nil {
		return nil, err
	}
	cur := money.Currency(receipt.Currency)
	amt := fromMinor(minor, cur)
	return s.postStripe(ctx, c, le, dateIn(le, at), ref, desc, cur, []ledger.Line{
		{AccountID: credited.AccountID, Debit: amt, Description: desc},
		{SourceCode: "undeposited_funds", Credit: amt, Description: desc},
	})
}

// dispute applies charge.dispute.created (a person must answer it in Stripe: an admin issue
// says so) and charge.dispute.closed (lost: the charge is reversed, once per dp_…).
func (s *Service) dispute(ctx context.Context, c *ent.Client, acct *ent.StripeAccount, dp *stripe.Dispute, closed bool, at time.Time) (outcome, error) {
	key := ""
	switch {
	case dp.PaymentIntent != nil && dp.PaymentIntent.ID != "":
		key = dp.PaymentIntent.ID
	case dp.Charge != nil:
		key = chargeKey(dp.Charge)
	}
	p, err := paymentOf(ctx, c, key)
	if err != nil {
		return outcome{}, err
	}
	var je *ent.JournalEntry
	if p == nil {
		if je, err = receiptEntry(ctx, c, key); err != nil {
			return outcome{}, err
		}
		if je == nil {
			return s.notYet(ctx, c, acct, key)
		}
	}
	entityID := ""
	if p != nil {
		entityID = p.EntityID
	} else {
		entityID = je.EntityID
	}
	if !closed {
		prob := adminq.Problem{EntityID: entityID, Kind: "stripe_dispute", SubjectType: "stripe_dispute", SubjectID: dp.ID,
			ErrorCode: "STRIPE_DISPUTE", ErrorMessage: fmt.Sprintf("A customer disputed Stripe payment %s (%s, reason %s): answer it in Stripe's dashboard. Books posts a charge reversal if it is lost.",
				key, fromMinor(dp.Amount, money.Currency(strings.ToUpper(string(dp.Currency)))), dp.Reason)}
		if err := s.raise(ctx, c, acct.OrganizationID, prob); err != nil {
			return outcome{}, err
		}
		return done(entityID, "dispute %s opened", dp.ID), nil
	}
	if dp.Status != stripe.DisputeStatusLost {
		return done(entityID, "dispute %s closed %s: nothing to post", dp.ID, dp.Status), nil
	}
	le, err := c.LegalEntity.Get(ctx, entityID)
	if err != nil {
		return outcome{}, err
	}
	if p == nil {
		e, err := s.reverseReceipt(ctx, c, le, je, refDispute+dp.ID, "Stripe dispute lost "+dp.ID, dp.Amount, at)
		if err != nil {
			return outcome{}, err
		}
		return done(le.ID, "dispute %s lost: posted entry %s", dp.ID, e.ID), nil
	}
	exists, err := c.ChargeReversal.Query().Where(chargereversal.EntityID(p.EntityID), chargereversal.ExternalRef(dp.ID)).Exist(ctx)
	if err != nil {
		return outcome{}, err
	}
	if exists {
		return done(p.EntityID, "dispute %s already reversed", dp.ID), nil
	}
	cr, err := billing.ReverseCharge(ctx, c, billing.CashReturnInput{PaymentID: p.ID,
		Amount: fromMinor(dp.Amount, money.Currency(p.Currency)), Date: dateIn(le, at),
		Reason: fmt.Sprintf("Stripe dispute lost (%s)", dp.Reason), ExternalRef: dp.ID})
	if err != nil {
		return outcome{}, err
	}
	if err := s.changed(ctx, c, qbolink.RecordTypeChargeReversal, cr.ID); err != nil {
		return outcome{}, err
	}
	if err := s.changed(ctx, c, qbolink.RecordTypePayment, p.ID); err != nil {
		return outcome{}, err
	}
	return done(p.EntityID, "dispute %s lost: charge reversal %s", dp.ID, cr.ID), nil
}

// attemptChanged follows a PaymentIntent's failure, processing or cancelation on its
// attempt; a succeeded attempt never goes back.
func (s *Service) attemptChanged(ctx context.Context, c *ent.Client, pi *stripe.PaymentIntent, typ string) (outcome, error) {
	att, err := attemptOf(ctx, c, pi.ID)
	if err != nil {
		return outcome{}, err
	}
	if att == nil {
		return ignored("PaymentIntent %s is not one of Books' payment attempts", pi.ID), nil
	}
	if att.Status == paymentattempt.StatusSucceeded {
		return done(att.EntityID, "attempt %s already succeeded", att.ID), nil
	}
	u := c.PaymentAttempt.UpdateOne(att)
	switch typ {
	case "payment_intent.payment_failed":
		msg := "The payment failed."
		if pi.LastPaymentError != nil && pi.LastPaymentError.Msg != "" {
			msg = pi.LastPaymentError.Msg
		}
		u.SetStatus(paymentattempt.StatusFailed).SetFailureMessage(truncate(msg, 1000))
	case "payment_intent.processing":
		u.SetStatus(paymentattempt.StatusProcessing)
	default:
		u.SetStatus(paymentattempt.StatusCanceled)
	}
	if err := u.Exec(ctx); err != nil {
		return outcome{}, err
	}
	return done(att.EntityID, "attempt %s: %s", att.ID, typ), nil
}

// notYet is the outcome of an event about a payment not recorded yet, unless the money is
// held in the reconciliation queue (then the event only updates nothing more).
func (s *Service) notYet(ctx context.Context, c *ent.Client, acct *ent.StripeAccount, key string) (outcome, error) {
	it, err := recon.Find(ctx, c, acct.ID, objectType(key), key)
	if err != nil {
		return outcome{}, err
	}
	if it != nil {
		return done(it.EntityID, "about money held in reconciliation item %s: settle it there", it.ID), nil
	}
	return outcome{}, errNotYet
}

// route says which entity an event's money belongs to: metadata.entity_id (an entity of
// the organization that takes payments through the receiving account), else the entity of
// the one billing profile on the receiving account,
// else the default entity (the default billing profile's, else the oldest entity).
func route(ctx context.Context, c *ent.Client, acct *ent.StripeAccount, meta map[string]string) (*ent.LegalEntity, error) {
	if id := meta[MetaEntity]; id != "" {
		// Only an entity that takes payments through this account: metadata is written by
		// whoever holds the account's keys, and money received on one account must not land
		// in another entity's books.
		le, err := c.LegalEntity.Query().Where(legalentity.ID(id)).Only(ctx)
		switch {
		case err == nil:
			via, err := AccountFor(ctx, c, le.ID)
			if err != nil && apperr.Code(err) != apperr.StripeNotConfigured {
				return nil, err
			}
			if via != nil && via.ID == acct.ID {
				return le, nil
			}
		case !ent.IsNotFound(err):
			return nil, err
		}
	}
	bps, err := c.BillingProfile.Query().Where(billingprofile.StripeAccountID(acct.ID)).Limit(2).All(ctx)
	if err != nil {
		return nil, err
	}
	if len(bps) == 1 {
		return c.LegalEntity.Get(ctx, bps[0].EntityID)
	}
	def, err := c.BillingProfile.Query().Where(billingprofile.IsDefault(true)).Only(ctx)
	if err == nil {
		return c.LegalEntity.Get(ctx, def.EntityID)
	}
	if !ent.IsNotFound(err) {
		return nil, err
	}
	return c.LegalEntity.Query().Order(ent.Asc(legalentity.FieldCreatedAt), ent.Asc(legalentity.FieldID)).First(ctx)
}

func attemptOf(ctx context.Context, c *ent.Client, key string) (*ent.PaymentAttempt, error) {
	if !strings.HasPrefix(key, "pi_") {
		return nil, nil
	}
	att, err := c.PaymentAttempt.Query().Where(paymentattempt.PaymentIntentID(key)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return att, err
}

func attemptSucceeded(ctx context.Context, c *ent.Client, att *ent.PaymentAttempt, paymentID string) error {
	if att == nil || att.Status == paymentattempt.StatusSucceeded {
		return nil
	}
	return c.PaymentAttempt.UpdateOne(att).SetStatus(paymentattempt.StatusSucceeded).SetPaymentID(paymentID).
		SetFailureMessage("").Exec(ctx)
}

// paymentOf finds the payment recorded for a key in any entity of the organization: the
// events of one payment may route differently (a charge carries no metadata), and the
// payment must still be recorded once.
func paymentOf(ctx context.Context, c *ent.Client, key string) (*ent.Payment, error) {
	if key == "" {
		return nil, nil
	}
	p, err := c.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe), payment.ExternalRef(key)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return p, err
}

func receiptEntry(ctx context.Context, c *ent.Client, key string) (*ent.JournalEntry, error) {
	if key == "" {
		return nil, nil
	}
	je, err := c.JournalEntry.Query().Where(journalentry.SourceSystemEQ(source.Stripe), journalentry.SourceRef(refReceipt+key)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return je, err
}

func knownCustomer(ctx context.Context, c *ent.Client, id string) string {
	if id == "" {
		return ""
	}
	if ok, err := c.Customer.Query().Where(customer.ID(id)).Exist(ctx); err != nil || !ok {
		return ""
	}
	return id
}

func chargeKey(ch *stripe.Charge) string {
	if ch.PaymentIntent != nil && ch.PaymentIntent.ID != "" {
		return ch.PaymentIntent.ID
	}
	return ch.ID
}

func objectType(key string) string {
	switch {
	case strings.HasPrefix(key, "pi_"):
		return "PaymentIntent"
	case strings.HasPrefix(key, "in_"):
		return "Invoice"
	}
	return "Charge"
}

func payable(s invoice.Status) bool {
	switch s {
	case invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid:
		return true
	}
	return false
}

func paymentMethod(m string) payment.Method {
	switch m {
	case "card":
		return payment.MethodCard
	case "us_bank_account", "ach_debit", "ach_credit_transfer":
		return payment.MethodAch
	}
	return payment.MethodOther
}

func memo(r receipt) string {
	m := "Stripe " + r.key
	if r.charge != "" && r.charge != r.key {
		m += " (charge " + r.charge + ")"
	}
	return m
}

// dateIn is the date of t in the entity's time zone.
func dateIn(le *ent.LegalEntity, t time.Time) caldate.Date {
	loc, err := time.LoadLocation(le.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return caldate.Of(t, loc)
}

func list(ids []string) string {
	if len(ids) == 0 {
		return "none new"
	}
	return strings.Join(ids, ", ")
}

func isNotFound(err error) bool { return apperr.Code(err) == apperr.NotFound }
