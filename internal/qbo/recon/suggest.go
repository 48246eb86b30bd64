package recon

import (
	"context"
	"slices"
	"strings"

	"books/ent"
	"books/ent/invoice"
	"books/ent/predicate"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/money"
)

// Reason says why an open invoice is suggested for a payment of the queue.
type Reason string

// The reasons, in the order a suggestion lists them.
const (
	// ReasonSameCustomer: the invoice's customer is the payment's (item.customer_id).
	ReasonSameCustomer Reason = "same_customer"
	// ReasonBalanceEqualsAmount: the invoice's open balance equals the payment's amount.
	ReasonBalanceEqualsAmount Reason = "balance_equals_amount"
	// ReasonReferenceMatches: the invoice's number, or the document number of its QuickBooks
	// invoice, equals the payment's reference (a PaymentRefNum often quotes the invoice).
	ReasonReferenceMatches Reason = "reference_matches"
)

// Suggestion is an open invoice a payment item may be matched to.
type Suggestion struct {
	InvoiceID string
	Invoice   *ent.Invoice
	// Amount is what to apply: the invoice's balance or the payment's remaining amount,
	// whichever is smaller.
	Amount money.Amount
	// Reasons are why it is suggested, at least one, in the order of the Reason constants.
	Reasons []Reason
}

// MaxSuggestions bounds the suggestions of one item.
const MaxSuggestions = 10

// openStatuses are the invoice statuses that take a payment.
var openStatuses = []invoice.Status{invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid}

// Suggest ranks the open invoices (approved, sent, viewed or partially paid, with a balance,
// in the payment's currency) of the item's legal entity that a payment item may be matched
// to, best first, at most MaxSuggestions:
//  1. the payment's customer's invoices whose balance equals the payment's amount;
//  2. invoices whose number, or QuickBooks document number, equals the payment's reference
//     (compared ignoring case);
//  3. the payment's customer's invoices whose balance exceeds the amount, smallest first;
//  4. any customer's invoices whose balance equals the amount.
//
// Within a rank, invoices with more reasons come first, then the earliest due. Each
// suggestion applies min(balance, the payment's amount). Items that are no payment
// (REMOTE_DELETE, REMOTE_CHANGE), have no amount, or are already matched or dismissed get
// none. It reads in c's scope: only the caller's organization's invoices.
func Suggest(ctx context.Context, c *ent.Client, it *ent.ReconciliationItem) ([]Suggestion, error) {
	out := []Suggestion{}
	switch {
	case it == nil, it.Kind == reconciliationitem.KindRemoteDelete, it.Kind == reconciliationitem.KindRemoteChange,
		settled(it.Status), it.Amount == nil, !it.Amount.IsPositive():
		return out, nil
	}
	amount := *it.Amount // nothing of it is recorded while the item is open or deferred
	currency := it.Currency
	if currency == "" {
		le, err := c.LegalEntity.Get(ctx, it.EntityID)
		if ent.IsNotFound(err) {
			return out, nil // not the caller's entity: none of its invoices are the caller's
		}
		if err != nil {
			return nil, err
		}
		currency = le.BaseCurrency
	}
	customer := ""
	if it.CustomerID != nil {
		customer = *it.CustomerID
	}
	ref := strings.TrimSpace(it.Reference)

	// Invoices whose QuickBooks invoice carries the reference as its document number.
	byDoc := map[string]bool{}
	if ref != "" {
		docIDs, err := c.QBOLink.Query().Where(qbolink.ConnectionID(it.ConnectionID),
			qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice), qbolink.StatusNEQ(qbolink.StatusDeletedRemotely),
			qbolink.DocNumberEqualFold(ref)).Limit(MaxSuggestions).Select(qbolink.FieldRecordID).Strings(ctx)
		if err != nil {
			return nil, err
		}
		for _, id := range docIDs {
			byDoc[id] = true
		}
	}
	reasons := func(inv *ent.Invoice) []Reason {
		var rs []Reason
		if customer != "" && inv.CustomerID == customer {
			rs = append(rs, ReasonSameCustomer)
		}
		if inv.Balance.Cmp(amount) == 0 {
			rs = append(rs, ReasonBalanceEqualsAmount)
		}
		if ref != "" && ((inv.Number != nil && strings.EqualFold(*inv.Number, ref)) || byDoc[inv.ID]) {
			rs = append(rs, ReasonReferenceMatches)
		}
		return rs
	}

	type rank struct {
		where []predicate.Invoice
		order []invoice.OrderOption
	}
	byDue := []invoice.OrderOption{invoice.ByDueDate(), invoice.ByID()}
	var ranks []rank
	if customer != "" {
		ranks = append(ranks, rank{where: []predicate.Invoice{invoice.CustomerID(customer), invoice.BalanceEQ(amount)}, order: byDue})
	}
	if ref != "" {
		match := []predicate.Invoice{invoice.NumberEqualFold(ref)}
		if len(byDoc) > 0 {
			match = append(match, invoice.IDIn(mapKeys(byDoc)...))
		}
		ranks = append(ranks, rank{where: []predicate.Invoice{invoice.Or(match...)}, order: byDue})
	}
	if customer != "" {
		ranks = append(ranks, rank{where: []predicate.Invoice{invoice.CustomerID(customer), invoice.BalanceGTE(amount)},
			order: append([]invoice.OrderOption{invoice.ByBalance()}, byDue...)})
	}
	ranks = append(ranks, rank{where: []predicate.Invoice{invoice.BalanceEQ(amount)}, order: byDue})

	var seen []string
	for _, r := range ranks {
		if len(out) == MaxSuggestions {
			break
		}
		where := append([]predicate.Invoice{invoice.EntityID(it.EntityID), invoice.StatusIn(openStatuses...),
			invoice.BalanceGT(money.Amount{}), invoice.Currency(currency)}, r.where...)
		if len(seen) > 0 {
			where = append(where, invoice.IDNotIn(seen...))
		}
		invs, err := c.Invoice.Query().Where(where...).Order(r.order...).Limit(MaxSuggestions - len(out)).All(ctx)
		if err != nil {
			return nil, err
		}
		found := make([]Suggestion, 0, len(invs))
		for _, inv := range invs {
			apply := inv.Balance
			if amount.Cmp(apply) < 0 {
				apply = amount
			}
			found = append(found, Suggestion{InvoiceID: inv.ID, Invoice: inv, Amount: apply, Reasons: reasons(inv)})
			seen = append(seen, inv.ID)
		}
		slices.SortStableFunc(found, func(a, b Suggestion) int { return len(b.Reasons) - len(a.Reasons) })
		out = append(out, found...)
	}
	return out, nil
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
