package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"books/ent"
	"books/ent/creditmemo"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/ent/qbolink"
	"books/ent/qbolistentry"
	"books/ent/reconciliationitem"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/recon"
	"books/internal/qbo/syncstate"
)

// qboRef is a reference to another QuickBooks record.
type qboRef struct {
	Value string `json:"value"`
	Name  string `json:"name,omitempty"`
}

// qboPayment is the part of a QuickBooks Payment Books reads. Amounts stay decimal text.
type qboPayment struct {
	ID               string      `json:"Id"`
	SyncToken        string      `json:"SyncToken"`
	TotalAmt         json.Number `json:"TotalAmt"`
	TxnDate          string      `json:"TxnDate"`
	PaymentRefNum    string      `json:"PaymentRefNum"`
	PrivateNote      string      `json:"PrivateNote"`
	CustomerRef      qboRef      `json:"CustomerRef"`
	CurrencyRef      *qboRef     `json:"CurrencyRef"`
	PaymentMethodRef *qboRef     `json:"PaymentMethodRef"`
	Line             []struct {
		Amount    json.Number `json:"Amount"`
		LinkedTxn []struct {
			TxnID   string `json:"TxnId"`
			TxnType string `json:"TxnType"`
		} `json:"LinkedTxn"`
	} `json:"Line"`

	raw     json.RawMessage
	total   money.Amount
	deleted bool // deleted in QuickBooks (it answers 610)
}

// voided: QuickBooks keeps a voided payment with every amount zero and the note "Voided".
func (q *qboPayment) voided() bool {
	return q.total.IsZero() && strings.HasPrefix(strings.TrimSpace(q.PrivateNote), "Voided")
}

func (q *qboPayment) gone() bool { return q.deleted || q.voided() }

func (q *qboPayment) what() string {
	if q.deleted {
		return "deleted"
	}
	return "voided"
}

// readPayment reads the payment as it is now; a deleted one comes back marked deleted.
func readPayment(ctx context.Context, api *qbo.Client, id string) (*qboPayment, error) {
	raw, err := api.Read(ctx, "Payment", id)
	if qbo.IsNotFound(err) {
		return &qboPayment{ID: id, deleted: true}, nil
	}
	if err != nil {
		return nil, err
	}
	var out qboPayment
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("pull: QuickBooks Payment %s: %w", id, err)
	}
	out.raw = raw
	if out.total, err = parseMoney(out.TotalAmt); err != nil {
		return nil, fmt.Errorf("pull: QuickBooks Payment %s TotalAmt: %w", id, err)
	}
	return &out, nil
}

func parseMoney(n json.Number) (money.Amount, error) {
	if n == "" {
		return money.Amount{}, nil
	}
	return money.Parse(string(n))
}

// ExternalRef is the external reference of a Books payment recorded from QuickBooks payment id
// of company realm: QuickBooks ids are unique only within a company, and an entity may
// connect another company later.
func ExternalRef(realm, id string) string { return realm + ":" + id }

// olderToken reports whether read is an older version of the record than seen: QuickBooks
// counts SyncToken up by one per change, so a read that arrives late is ignored.
func olderToken(read, seen string) bool {
	r, err1 := strconv.ParseInt(read, 10, 64)
	s, err2 := strconv.ParseInt(seen, 10, 64)
	return err1 == nil && err2 == nil && r < s
}

// payment brings Books in line with one QuickBooks Payment:
//   - Books' own payments (pushed, or being pushed) are left alone; a change made to one in
//     QuickBooks is raised for a person (REMOTE_CHANGE);
//   - a payment recorded from QuickBooks follows it: its applications are updated, a void or
//     delete voids it, a new amount or customer voids it and records it anew;
//   - a new payment whose invoices, customer, currency and amounts all fit Books is recorded
//     and posted; anything else is raised as a reconciliation item, never guessed.
func (p *Puller) payment(ctx context.Context, client *ent.Client, row *ent.QBOConnection, api *qbo.Client, id string) error {
	qp, err := readPayment(ctx, api, id)
	if err != nil {
		return err
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	tctx := ent.NewTxContext(ctx, tx)
	if err := p.applyPayment(tctx, tx.Client(), row, qp); err != nil {
		return rollback(tx, err)
	}
	return tx.Commit()
}

func rollback(tx *ent.Tx, err error) error {
	if rerr := tx.Rollback(); rerr != nil {
		return fmt.Errorf("%w (rollback: %v)", err, rerr)
	}
	return err
}

func (p *Puller) applyPayment(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment) error {
	// The item first, as a person's match takes it first (see recon.LockRecord).
	if _, err := recon.LockRecord(ctx, c, row.ID, "Payment", qp.ID); err != nil {
		return err
	}
	link, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.QboType("Payment"), qbolink.QboID(qp.ID)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	var books *ent.Payment
	if link != nil && link.RecordType == qbolink.RecordTypePayment {
		if books, err = c.Payment.Get(ctx, link.RecordID); err != nil {
			return err
		}
	}
	if books == nil {
		books, err = c.Payment.Query().Where(payment.EntityID(row.EntityID), payment.ProcessorEQ(payment.ProcessorQbo),
			payment.ExternalRef(ExternalRef(row.RealmID, qp.ID))).Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
	}
	if link != nil && link.SyncToken != "" && !qp.deleted && olderToken(qp.SyncToken, link.SyncToken) {
		return nil
	}
	if link != nil && (link.RecordType != qbolink.RecordTypePayment || books.Processor != payment.ProcessorQbo) {
		return p.ownChanged(ctx, c, row, link, books, qp)
	}
	if link == nil && books == nil {
		own, err := p.beingPushed(ctx, c, row, qp)
		if err != nil || own {
			return err
		}
	}
	if books == nil {
		if qp.gone() {
			return p.Queue.Close(ctx, c, row.ID, "Payment", qp.ID, reconciliationitem.StatusDismissed, "",
				"the payment was "+qp.what()+" in QuickBooks")
		}
		if !qp.total.IsPositive() {
			// A zero payment applies credit to invoices: no money moved. Applied to Books
			// documents, it changes their balances in QuickBooks only; a person decides.
			return p.creditApplied(ctx, c, row, qp)
		}
		v, err := p.match(ctx, c, row, qp, nil)
		if err != nil {
			return err
		}
		if v.kind != "" {
			return p.raisePayment(ctx, c, row, qp, v)
		}
		paid, err := p.record(ctx, c, row, qp, v, ExternalRef(row.RealmID, qp.ID))
		if err != nil {
			return p.refused(ctx, c, row, qp, err)
		}
		return p.Queue.Close(ctx, c, row.ID, "Payment", qp.ID, reconciliationitem.StatusMatched, paid.ID,
			"recorded when QuickBooks' payment matched Books invoices")
	}
	if link == nil && books.VoidedAt == nil {
		// Recorded from QuickBooks, but its link was removed (unlinked): link it again so
		// that following it has a link to keep QuickBooks' version on.
		if err := p.linkPayment(ctx, c, row, books, qp); err != nil {
			return err
		}
		if link, err = c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.QboType("Payment"),
			qbolink.QboID(qp.ID)).Only(ctx); err != nil {
			return err
		}
	}
	return p.follow(ctx, c, row, link, books, qp)
}

// beingPushed reports whether qp is a payment Books is pushing whose link is not recorded yet:
// the push names its Books record in PrivateNote ("Books pay_…", or "Books credit
// applications of cm_…").
func (p *Puller) beingPushed(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment) (bool, error) {
	note := strings.TrimSpace(qp.PrivateNote)
	// Only while that record's push has not recorded its QuickBooks id: a payment whose memo
	// names a Books record already linked to another QuickBooks payment is not Books' own.
	inFlight := func(rt qbolink.RecordType, id string) (bool, error) {
		return c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(rt), qbolink.RecordID(id),
			qbolink.QboType("Payment"), qbolink.Or(qbolink.QboIDIsNil(), qbolink.QboID(qp.ID))).Exist(ctx)
	}
	if rest, ok := strings.CutPrefix(note, "Books credit applications of "); ok {
		own, err := c.CreditMemo.Query().Where(creditmemo.ID(firstWord(rest)), creditmemo.EntityID(row.EntityID)).Exist(ctx)
		if err != nil || !own {
			return false, err
		}
		return inFlight(qbolink.RecordTypeCreditMemo, firstWord(rest))
	}
	if rest, ok := strings.CutPrefix(note, "Books "); ok && strings.HasPrefix(rest, ids.Payment+"_") {
		// Any processor: a payment recorded from QuickBooks is pushed like the others to a
		// company connected later.
		own, err := c.Payment.Query().Where(payment.ID(firstWord(rest)), payment.EntityID(row.EntityID)).Exist(ctx)
		if err != nil || !own {
			return false, err
		}
		return inFlight(qbolink.RecordTypePayment, firstWord(rest))
	}
	return false, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// ownChanged handles a change in QuickBooks to a payment Books pushed (a Books payment, or a
// credit memo's applications): Books is the record of those, so a void, a delete or a new
// amount is raised for a person instead of being applied.
func (p *Puller) ownChanged(ctx context.Context, c *ent.Client, row *ent.QBOConnection, link *ent.QBOLink, books *ent.Payment, qp *qboPayment) error {
	var why string
	switch {
	case qp.gone():
		why = "was " + qp.what() + " in QuickBooks"
	case books != nil && qp.total.Cmp(books.Amount) != 0:
		why = fmt.Sprintf("has the amount %s in QuickBooks, %s in Books", qp.total, books.Amount)
	default:
		return nil
	}
	if link.Status == qbolink.StatusPending {
		// Books is writing it again; the push's outcome decides.
		return nil
	}
	prob := recon.Problem{EntityID: row.EntityID, ConnectionID: row.ID, Kind: reconciliationitem.KindRemoteChange,
		QBOType: "Payment", QBOID: qp.ID, RecordType: string(link.RecordType), RecordID: link.RecordID,
		Reference: qp.PaymentRefNum, Snapshot: string(qp.raw), SyncToken: qp.SyncToken,
		Reason: fmt.Sprintf("Books' %s %s %s; Books keeps its own record until a person decides", link.RecordType, link.RecordID, why)}
	if !qp.deleted {
		prob.Amount = &qp.total
	}
	if books != nil {
		prob.CustomerID, prob.Currency = books.CustomerID, books.Currency
	}
	_, err := p.Queue.Raise(ctx, c, prob)
	return err
}

// noInvoice is the reason of a payment that names no invoice.
const noInvoice = "the payment names no invoice"

// verdict is what matching a QuickBooks payment to Books found: applications, or why not.
type verdict struct {
	customerID string
	currency   string
	apps       []billing.Application
	kind       reconciliationitem.Kind
	reason     string
}

// match checks a QuickBooks payment against Books: every invoice it pays is a linked Books
// invoice of the payment's customer, in its currency, with enough open balance (counting what
// self, the Books payment recorded for it earlier, applies now).
func (p *Puller) match(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment, self *ent.Payment) (verdict, error) {
	var v verdict
	le, err := c.LegalEntity.Get(ctx, row.EntityID)
	if err != nil {
		return v, err
	}
	v.currency = le.BaseCurrency
	if qp.CurrencyRef != nil && qp.CurrencyRef.Value != "" {
		v.currency = strings.ToUpper(qp.CurrencyRef.Value)
	}
	if qp.CustomerRef.Value != "" {
		cl, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeCustomer),
			qbolink.QboID(qp.CustomerRef.Value)).First(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return v, err
		}
		if cl != nil {
			v.customerID = cl.RecordID
		}
	}
	// What the payment applies, per QuickBooks invoice, in QuickBooks' order.
	var order []string
	byQBO := map[string]money.Amount{}
	for _, l := range qp.Line {
		a, err := parseMoney(l.Amount)
		if err != nil {
			return v, fmt.Errorf("pull: QuickBooks Payment %s line amount: %w", qp.ID, err)
		}
		if !a.IsPositive() {
			continue
		}
		for _, t := range l.LinkedTxn {
			if t.TxnType != "Invoice" {
				v.kind, v.reason = reconciliationitem.KindUnmatchedPayment,
					fmt.Sprintf("the payment applies %s to QuickBooks %s %s, which Books does not match", a, t.TxnType, t.TxnID)
				return v, nil
			}
			if _, ok := byQBO[t.TxnID]; !ok {
				order = append(order, t.TxnID)
			}
			byQBO[t.TxnID] = byQBO[t.TxnID].Add(a)
		}
	}
	if len(order) == 0 {
		v.kind, v.reason = reconciliationitem.KindUnmatchedPayment, noInvoice
		return v, nil
	}
	links, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
		qbolink.QboType("Invoice"), qbolink.QboIDIn(order...)).All(ctx)
	if err != nil {
		return v, err
	}
	invOf := map[string]*ent.QBOLink{}
	for _, l := range links {
		invOf[*l.QboID] = l
	}
	var invOrder []string
	want := map[string]money.Amount{}
	for _, q := range order {
		l := invOf[q]
		if l == nil {
			v.kind, v.reason = reconciliationitem.KindUnmatchedPayment,
				fmt.Sprintf("QuickBooks invoice %s is not a Books invoice", q)
			return v, nil
		}
		if l.Status == qbolink.StatusDeletedRemotely {
			v.kind, v.reason = reconciliationitem.KindUnmatchedPayment,
				fmt.Sprintf("QuickBooks invoice %s (Books invoice %s) was deleted in QuickBooks", q, l.RecordID)
			return v, nil
		}
		if _, ok := want[l.RecordID]; !ok {
			invOrder = append(invOrder, l.RecordID)
		}
		want[l.RecordID] = want[l.RecordID].Add(byQBO[q])
	}
	invs, err := c.Invoice.Query().Where(invoice.IDIn(invOrder...)).All(ctx)
	if err != nil {
		return v, err
	}
	byID := map[string]*ent.Invoice{}
	for _, inv := range invs {
		byID[inv.ID] = inv
	}
	current := map[string]money.Amount{}
	if self != nil {
		apps, err := c.PaymentApplication.Query().Where(paymentapplication.PaymentID(self.ID), paymentapplication.UnappliedAtIsNil()).All(ctx)
		if err != nil {
			return v, err
		}
		for _, a := range apps {
			current[a.InvoiceID] = current[a.InvoiceID].Add(a.Amount)
		}
	}
	var sum money.Amount
	for _, id := range invOrder {
		inv := byID[id]
		if inv == nil {
			v.kind, v.reason = reconciliationitem.KindUnmatchedPayment, fmt.Sprintf("Books invoice %s is missing", id)
			return v, nil
		}
		label := invoiceLabel(inv)
		if v.customerID == "" || inv.CustomerID != v.customerID {
			v.kind, v.reason = reconciliationitem.KindCustomerMismatch,
				fmt.Sprintf("QuickBooks customer %s %s is not the customer of Books invoice %s", qp.CustomerRef.Value, qp.CustomerRef.Name, label)
			return v, nil
		}
		if inv.Currency != v.currency {
			v.kind, v.reason = reconciliationitem.KindCurrencyMismatch,
				fmt.Sprintf("the payment is in %s; Books invoice %s is in %s", v.currency, label, inv.Currency)
			return v, nil
		}
		open := inv.Status == invoice.StatusApproved || inv.Status == invoice.StatusSent || inv.Status == invoice.StatusViewed ||
			inv.Status == invoice.StatusPartiallyPaid || inv.Status == invoice.StatusPaid
		avail := current[id]
		if open {
			avail = avail.Add(inv.Balance)
		}
		if want[id].Cmp(avail) > 0 {
			v.kind, v.reason = reconciliationitem.KindAmountMismatch,
				fmt.Sprintf("the payment applies %s to Books invoice %s (%s), whose open balance is %s", want[id], label, inv.Status, avail)
			return v, nil
		}
		sum = sum.Add(want[id])
		v.apps = append(v.apps, billing.Application{InvoiceID: id, Amount: want[id]})
	}
	if sum.Cmp(qp.total) > 0 {
		v.kind, v.reason = reconciliationitem.KindAmountMismatch,
			fmt.Sprintf("the payment's lines apply %s, more than its total %s", sum, qp.total)
		v.apps = nil
	}
	return v, nil
}

func invoiceLabel(inv *ent.Invoice) string {
	if inv.Number != nil && *inv.Number != "" {
		return *inv.Number
	}
	return inv.ID
}

// raisePayment raises a QuickBooks payment that does not match safely.
func (p *Puller) raisePayment(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment, v verdict) error {
	prob := recon.Problem{EntityID: row.EntityID, ConnectionID: row.ID, Kind: v.kind, QBOType: "Payment", QBOID: qp.ID,
		CustomerID: v.customerID, Amount: &qp.total, Currency: v.currency, Reference: qp.PaymentRefNum,
		Reason: v.reason, Snapshot: string(qp.raw), SyncToken: qp.SyncToken}
	if d, err := caldate.Parse(qp.TxnDate); err == nil {
		prob.TxnDate = &d
	}
	_, err := p.Queue.Raise(ctx, c, prob)
	return err
}

// forAPerson reports whether err is billing's coded refusal (a rule the QuickBooks record
// breaks in Books), which a person settles; other errors are retried.
func forAPerson(err error) bool {
	code := apperr.Code(err)
	return code != "" && code != apperr.Internal && code != apperr.Unavailable
}

// refused turns a coded refusal of billing (a closed invoice, a rule the payment breaks) into
// a reconciliation item for a person; other errors stay errors.
func (p *Puller) refused(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment, err error) error {
	if !forAPerson(err) {
		return err
	}
	return p.raisePayment(ctx, c, row, qp, verdict{kind: reconciliationitem.KindUnmatchedPayment,
		reason: fmt.Sprintf("Books could not record the payment: %v", err)})
}

// Record records a QuickBooks payment in Books with the applications given (a match by the
// pass or by a person): the Books payment (processor qbo, its QuickBooks id as the external
// reference, the rest of the money unapplied credit of the customer) and its postings, and a
// synced link to the QuickBooks payment, so the push never sends it back as a new one.
func (p *Puller) record(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment, v verdict, ref string) (*ent.Payment, error) {
	date, err := caldate.Parse(qp.TxnDate)
	if err != nil {
		le, lerr := c.LegalEntity.Get(ctx, row.EntityID)
		if lerr != nil {
			return nil, lerr
		}
		loc, lerr := time.LoadLocation(le.TimeZone)
		if lerr != nil {
			loc = time.UTC
		}
		date = caldate.Today(loc)
	}
	memo := "QuickBooks payment " + qp.ID
	if qp.PaymentRefNum != "" {
		memo += ", reference " + qp.PaymentRefNum
	}
	method, err := p.method(ctx, c, row, qp)
	if err != nil {
		return nil, err
	}
	paid, err := billing.RecordPayment(ctx, c, billing.PaymentInput{
		EntityID: row.EntityID, CustomerID: v.customerID, Amount: qp.total, Currency: money.Currency(v.currency),
		ReceivedDate: date, Method: method, Processor: payment.ProcessorQbo, ExternalRef: ref,
		Memo: truncate(memo, 1000), Applications: v.apps,
	})
	if err != nil {
		return nil, err
	}
	if err := p.linkPayment(ctx, c, row, paid, qp); err != nil {
		return nil, err
	}
	return paid, nil
}

// method reads the payment's method from its QuickBooks payment method's name.
func (p *Puller) method(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment) (payment.Method, error) {
	if qp.PaymentMethodRef == nil || qp.PaymentMethodRef.Value == "" {
		return payment.MethodOther, nil
	}
	name := qp.PaymentMethodRef.Name
	if name == "" {
		e, err := c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(row.ID), qbolistentry.ListEQ(qbolistentry.ListPaymentMethod),
			qbolistentry.QboID(qp.PaymentMethodRef.Value)).First(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return "", err
		}
		if e != nil {
			name = e.Name
		}
	}
	n := strings.ToLower(name)
	for _, m := range []struct {
		word string
		m    payment.Method
	}{{"check", payment.MethodCheck}, {"cheque", payment.MethodCheck}, {"cash", payment.MethodCash},
		{"ach", payment.MethodAch}, {"wire", payment.MethodWire}, {"card", payment.MethodCard},
		{"visa", payment.MethodCard}, {"mastercard", payment.MethodCard}, {"amex", payment.MethodCard}} {
		if strings.Contains(n, m.word) {
			return m.m, nil
		}
	}
	return payment.MethodOther, nil
}

// linkPayment links a Books payment recorded from QuickBooks to its QuickBooks payment,
// synced, replacing the link of an earlier Books payment of the same QuickBooks payment.
func (p *Puller) linkPayment(ctx context.Context, c *ent.Client, row *ent.QBOConnection, paid *ent.Payment, qp *qboPayment) error {
	if _, err := c.QBOLink.Delete().Where(qbolink.ConnectionID(row.ID), qbolink.QboType("Payment"), qbolink.QboID(qp.ID)).Exec(ctx); err != nil {
		return err
	}
	now := time.Now().UTC()
	err := c.QBOLink.Create().SetID(ids.New(ids.QBOLink)).SetConnectionID(row.ID).SetEntityID(row.EntityID).
		SetRecordType(qbolink.RecordTypePayment).SetRecordID(paid.ID).SetQboType("Payment").
		SetQboID(qp.ID).SetClaim(qp.ID).SetSyncToken(qp.SyncToken).SetDocNumber(truncate(qp.PaymentRefNum, 40)).
		SetStatus(qbolink.StatusSynced).SetGeneration(1).SetSyncedGeneration(1).SetSyncedAt(now).
		SetQboTotal(qp.total).Exec(ctx)
	if err != nil {
		return err
	}
	return c.Payment.UpdateOne(paid).SetSyncStatus(syncstate.Synced).Exec(ctx)
}

// follow brings a Books payment recorded from QuickBooks in line with the QuickBooks payment
// as it is now.
func (p *Puller) follow(ctx context.Context, c *ent.Client, row *ent.QBOConnection, link *ent.QBOLink, books *ent.Payment, qp *qboPayment) (err error) {
	if books.VoidedAt != nil {
		// Voided in Books because QuickBooks voided or deleted it; QuickBooks never revives one.
		return nil
	}
	manual, err := matchedByPerson(ctx, c, row, books, qp.ID)
	if err != nil {
		return err
	}
	if qp.gone() {
		if _, err := billing.VoidPayment(ctx, c, books.ID, "voided or deleted in QuickBooks"); err != nil {
			return p.raiseFollow(ctx, c, row, books, qp, fmt.Sprintf("the payment was %s in QuickBooks, but Books could not void payment %s: %v", qp.what(), books.ID, err), err)
		}
		if link != nil {
			u := c.QBOLink.UpdateOne(link)
			if qp.deleted {
				u.SetStatus(qbolink.StatusDeletedRemotely)
			} else {
				u.SetSyncToken(qp.SyncToken).SetQboTotal(qp.total)
			}
			if err := u.Exec(ctx); err != nil {
				return err
			}
		}
		return p.Queue.Close(ctx, c, row.ID, "Payment", qp.ID, reconciliationitem.StatusDismissed, "",
			"the payment was "+qp.what()+" in QuickBooks")
	}
	if manual {
		// A person chose this payment's invoices in Books; QuickBooks' lines do not show
		// them, so they are not followed. A new amount is for the person again.
		if qp.total.Cmp(books.Amount) != 0 {
			return p.raiseFollow(ctx, c, row, books, qp, fmt.Sprintf("the payment a person matched in Books (%s) now has the amount %s in QuickBooks",
				books.ID, qp.total), apperr.New(apperr.Conflict, "amount changed"))
		}
		return c.QBOLink.UpdateOne(link).SetSyncToken(qp.SyncToken).SetQboTotal(qp.total).Exec(ctx)
	}
	v, err := p.match(ctx, c, row, qp, books)
	if err != nil {
		return err
	}
	if v.kind != "" && v.kind != reconciliationitem.KindUnmatchedPayment {
		return p.raisePayment(ctx, c, row, qp, v)
	}
	// The payment no longer pays a Books invoice: its money stays the customer's credit. When
	// it names an invoice Books does not know, a person is told as well.
	elsewhere := v.kind == reconciliationitem.KindUnmatchedPayment && v.reason != noInvoice
	if v.kind == reconciliationitem.KindUnmatchedPayment {
		v.apps = nil
	}
	if elsewhere {
		defer func() {
			if err == nil {
				err = p.raisePayment(ctx, c, row, qp, v)
			}
		}()
	}
	if qp.total.Cmp(books.Amount) != 0 || v.customerID != books.CustomerID {
		// Amounts and customers of a recorded payment are fixed: void it and record it anew,
		// under the QuickBooks id and SyncToken of this version.
		if _, err := billing.VoidPayment(ctx, c, books.ID, "changed in QuickBooks"); err != nil {
			return p.raiseFollow(ctx, c, row, books, qp, fmt.Sprintf("the payment changed in QuickBooks, but Books could not void payment %s: %v", books.ID, err), err)
		}
		if v.customerID == "" {
			return p.raisePayment(ctx, c, row, qp, verdict{kind: reconciliationitem.KindCustomerMismatch, currency: v.currency,
				reason: fmt.Sprintf("QuickBooks customer %s is not linked to a Books customer", qp.CustomerRef.Value)})
		}
		_, err := p.record(ctx, c, row, qp, v, ExternalRef(row.RealmID, qp.ID)+"#"+qp.SyncToken)
		return err
	}
	if err := reapply(ctx, c, books, v.apps); err != nil {
		return p.raiseFollow(ctx, c, row, books, qp, fmt.Sprintf("the payment's applications changed in QuickBooks, but Books could not follow: %v", err), err)
	}
	return c.QBOLink.UpdateOne(link).SetSyncToken(qp.SyncToken).SetQboTotal(qp.total).
		SetDocNumber(truncate(qp.PaymentRefNum, 40)).Exec(ctx)
}

// matchedByPerson reports whether books was recorded by a person matching the QuickBooks
// payment's reconciliation item.
func matchedByPerson(ctx context.Context, c *ent.Client, row *ent.QBOConnection, books *ent.Payment, qboID string) (bool, error) {
	it, err := recon.Find(ctx, c, row.ID, "Payment", qboID)
	if err != nil || it == nil {
		return false, err
	}
	return it.Status == reconciliationitem.StatusMatched && it.ResolvedBy != "system" &&
		it.PaymentID != nil && *it.PaymentID == books.ID, nil
}

func (p *Puller) raiseFollow(ctx context.Context, c *ent.Client, row *ent.QBOConnection, books *ent.Payment, qp *qboPayment, reason string, cause error) error {
	if !forAPerson(cause) {
		return cause
	}
	prob := recon.Problem{EntityID: row.EntityID, ConnectionID: row.ID, Kind: reconciliationitem.KindRemoteChange,
		QBOType: "Payment", QBOID: qp.ID, RecordType: "payment", RecordID: books.ID, CustomerID: books.CustomerID,
		Currency: books.Currency, Reference: qp.PaymentRefNum, Reason: reason, Snapshot: string(qp.raw), SyncToken: qp.SyncToken}
	if !qp.deleted {
		prob.Amount = &qp.total
	}
	_, err := p.Queue.Raise(ctx, c, prob)
	return err
}

// reapply changes a payment's standing applications to want: an invoice whose amount
// changes has its applications taken back and the new amount applied.
func reapply(ctx context.Context, c *ent.Client, books *ent.Payment, want []billing.Application) error {
	apps, err := c.PaymentApplication.Query().Where(paymentapplication.PaymentID(books.ID), paymentapplication.UnappliedAtIsNil()).
		Order(ent.Asc(paymentapplication.FieldCreatedAt), ent.Asc(paymentapplication.FieldID)).All(ctx)
	if err != nil {
		return err
	}
	have := map[string]money.Amount{}
	for _, a := range apps {
		have[a.InvoiceID] = have[a.InvoiceID].Add(a.Amount)
	}
	target := map[string]money.Amount{}
	for _, a := range want {
		target[a.InvoiceID] = a.Amount
	}
	for _, a := range apps {
		if have[a.InvoiceID].Cmp(target[a.InvoiceID]) != 0 {
			if _, err := billing.UnapplyPayment(ctx, c, a.ID); err != nil {
				return err
			}
		}
	}
	var add []billing.Application
	for _, a := range want {
		if have[a.InvoiceID].Cmp(a.Amount) != 0 && a.Amount.IsPositive() {
			add = append(add, a)
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, err = billing.ApplyPayment(ctx, c, books.ID, add)
	return err
}

// matchCustomerOf returns the customer every invoice of apps belongs to; VALIDATION when they
// differ.
func matchCustomerOf(ctx context.Context, c *ent.Client, entityID string, apps []billing.Application) (string, error) {
	idsWanted := make([]string, 0, len(apps))
	for _, a := range apps {
		idsWanted = append(idsWanted, a.InvoiceID)
	}
	slices.Sort(idsWanted)
	idsWanted = slices.Compact(idsWanted)
	invs, err := c.Invoice.Query().Where(invoice.IDIn(idsWanted...), invoice.EntityID(entityID)).All(ctx)
	if err != nil {
		return "", err
	}
	if len(invs) != len(idsWanted) {
		return "", apperr.New(apperr.NotFound, "an invoice of the applications is not an invoice of the item's entity").WithField("applications")
	}
	cus := ""
	for _, inv := range invs {
		if cus != "" && inv.CustomerID != cus {
			return "", apperr.New(apperr.Validation, "the applications name invoices of different customers").WithField("applications")
		}
		cus = inv.CustomerID
	}
	return cus, nil
}

// creditApplied raises a zero payment made in QuickBooks that applies credit to Books
// documents (a credit memo to an invoice): their balances now differ from Books', and which
// credit memo applies to which invoice in Books is a person's decision (applyCreditMemo, or
// undo it in QuickBooks). A zero payment touching no Books document is QuickBooks' business.
func (p *Puller) creditApplied(ctx context.Context, c *ent.Client, row *ent.QBOConnection, qp *qboPayment) error {
	var named []string
	for _, l := range qp.Line {
		for _, t := range l.LinkedTxn {
			if t.TxnType == "Invoice" || t.TxnType == "CreditMemo" {
				named = append(named, t.TxnID)
			}
		}
	}
	if len(named) == 0 {
		return nil
	}
	links, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.QboTypeIn("Invoice", "CreditMemo"),
		qbolink.QboIDIn(named...)).All(ctx)
	if err != nil || len(links) == 0 {
		return err
	}
	var docs []string
	for _, l := range links {
		docs = append(docs, string(l.RecordType)+" "+l.RecordID)
	}
	slices.Sort(docs)
	prob := recon.Problem{EntityID: row.EntityID, ConnectionID: row.ID, Kind: reconciliationitem.KindRemoteChange,
		QBOType: "Payment", QBOID: qp.ID, RecordType: string(links[0].RecordType), RecordID: links[0].RecordID,
		Reference: qp.PaymentRefNum, Snapshot: string(qp.raw), SyncToken: qp.SyncToken,
		Reason: fmt.Sprintf("credit was applied in QuickBooks to Books %s, whose balances Books keeps as they were; "+
			"apply the credit in Books or undo it in QuickBooks", strings.Join(slices.Compact(docs), ", "))}
	if !qp.deleted {
		prob.Amount = &qp.total
	}
	_, err = p.Queue.Raise(ctx, c, prob)
	return err
}
