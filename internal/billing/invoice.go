package billing

import (
	"context"
	"fmt"
	"strings"

	"books/ent"
	"books/ent/class"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/invoiceline"
	"books/ent/item"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/money"
)

// Limits on an invoice, so one document cannot hold a transaction for long.
const (
	maxInvoiceLines  = 200
	maxCustomFields  = 10
	maxCustomNameLen = 50
	maxCustomValLen  = 500
)

// InvoiceInput is a draft invoice's content.
type InvoiceInput struct {
	EntityID, CustomerID   string
	IssueDate, DueDate     caldate.Date
	ServiceFrom, ServiceTo *caldate.Date
	Currency               money.Currency // defaults to the customer's
	Memo                   string
	CustomFields           map[string]string
	Lines                  []LineInput
}

// LineInput is one line of a draft.
type LineInput struct {
	ItemID      string
	Description *string // defaults to the item's description
	Quantity    money.Quantity
	UnitPrice   *money.Amount // defaults to the item's default rate
	ClassID     string
	ServiceDate *caldate.Date
	Scheduled   bool
}

// draft is an InvoiceInput checked against the database, with its lines priced.
type draft struct {
	in       InvoiceInput
	currency money.Currency
	lines    []*ent.InvoiceLineCreate
	subtotal money.Amount
}

// CreateInvoice makes a draft invoice.
func CreateInvoice(ctx context.Context, client *ent.Client, in InvoiceInput) (*ent.Invoice, error) {
	var out *ent.Invoice
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		d, err := prepare(ctx, c, in)
		if err != nil {
			return err
		}
		out, err = c.Invoice.Create().
			SetEntityID(in.EntityID).
			SetCustomerID(in.CustomerID).
			SetIssueDate(in.IssueDate).
			SetDueDate(in.DueDate).
			SetNillableServiceFrom(in.ServiceFrom).
			SetNillableServiceTo(in.ServiceTo).
			SetCurrency(string(d.currency)).
			SetMemo(in.Memo).
			SetCustomFields(in.CustomFields).
			SetSubtotal(d.subtotal).
			SetTotal(d.subtotal).
			SetBalance(d.subtotal).
			SetAmountPaid(money.Amount{}).
			SetWrittenOff(money.Amount{}).
			Save(ctx)
		if err != nil {
			return err
		}
		if err := saveLines(ctx, c, out.ID, d.lines); err != nil {
			return err
		}
		return recordEvent(ctx, c, out.ID, "", invoice.StatusDraft, "created")
	})
	return finish(out, owned, err)
}

// UpdateInvoice replaces a draft's content and lines. Anything past draft is refused:
// approved invoices are voided and re-issued, never edited.
func UpdateInvoice(ctx context.Context, client *ent.Client, id string, in InvoiceInput) (*ent.Invoice, error) {
	var out *ent.Invoice
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		inv, err := lockInvoice(ctx, c, id)
		if err != nil {
			return err
		}
		if inv.Status != invoice.StatusDraft {
			return apperr.New(apperr.NotEditable, "invoice %s is %s; only drafts can be edited (void and re-issue an approved invoice)", invoiceLabel(inv), inv.Status)
		}
		if in.EntityID != inv.EntityID {
			return apperr.New(apperr.Validation, "an invoice cannot move to another entity").WithField("entityID")
		}
		d, err := prepare(ctx, c, in)
		if err != nil {
			return err
		}
		if _, err := c.InvoiceLine.Delete().Where(invoiceline.InvoiceID(id)).Exec(ctx); err != nil {
			return err
		}
		out, err = c.Invoice.UpdateOne(inv).
			SetCustomerID(in.CustomerID).
			SetIssueDate(in.IssueDate).
			SetDueDate(in.DueDate).
			SetNillableServiceFrom(in.ServiceFrom).
			SetNillableServiceTo(in.ServiceTo).
			SetCurrency(string(d.currency)).
			SetMemo(in.Memo).
			SetCustomFields(in.CustomFields).
			SetSubtotal(d.subtotal).
			SetTotal(d.subtotal).
			SetBalance(d.subtotal).
			SetRejectionReason("").
			Save(ctx)
		if err != nil {
			return err
		}
		return saveLines(ctx, c, id, d.lines)
	})
	return finish(out, owned, err)
}

func saveLines(ctx context.Context, c *ent.Client, invoiceID string, lines []*ent.InvoiceLineCreate) error {
	for _, l := range lines {
		l.SetInvoiceID(invoiceID)
	}
	return c.InvoiceLine.CreateBulk(lines...).Exec(ctx)
}

// prepare validates an invoice's content and prices its lines: amount = quantity × unit
// price, rounded half-up to the currency's minor unit.
func prepare(ctx context.Context, c *ent.Client, in InvoiceInput) (draft, error) {
	d := draft{in: in}
	le, err := entityOf(ctx, c, in.EntityID)
	if err != nil {
		return d, err
	}
	cus, err := c.Customer.Query().Where(customer.ID(in.CustomerID)).Only(ctx)
	if ent.IsNotFound(err) {
		return d, apperr.New(apperr.UnknownCustomer, "customer %q not found", in.CustomerID).WithField("customerID")
	}
	if err != nil {
		return d, err
	}
	if !cus.Active {
		return d, apperr.New(apperr.Validation, "customer %s is inactive", cus.DisplayName).WithField("customerID")
	}
	d.currency = in.Currency
	if d.currency == "" {
		d.currency = money.Currency(cus.Currency)
	}
	if err := requireCurrency(d.currency, cus, le); err != nil {
		return d, err
	}
	if in.IssueDate.IsZero() || in.DueDate.IsZero() {
		return d, apperr.New(apperr.Validation, "issue date and due date are required")
	}
	if in.DueDate.Before(in.IssueDate) {
		return d, apperr.New(apperr.Validation, "due date %s is before issue date %s", in.DueDate, in.IssueDate).WithField("dueDate")
	}
	if in.ServiceFrom != nil && in.ServiceTo != nil && in.ServiceTo.Before(*in.ServiceFrom) {
		return d, apperr.New(apperr.Validation, "service period ends before it starts").WithField("serviceTo")
	}
	if err := checkCustomFields(in.CustomFields); err != nil {
		return d, err
	}
	if len(in.Memo) > 4000 {
		return d, apperr.New(apperr.Validation, "memo is longer than 4000 characters").WithField("memo")
	}
	if len(in.Lines) == 0 {
		return d, apperr.New(apperr.Validation, "an invoice needs at least one line").WithField("lines")
	}
	if len(in.Lines) > maxInvoiceLines {
		return d, apperr.New(apperr.Validation, "an invoice has at most %d lines", maxInvoiceLines).WithField("lines")
	}
	items, classes, err := lookups(ctx, c, in)
	if err != nil {
		return d, err
	}
	minor := d.currency.MinorUnits()
	for i, l := range in.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		it, ok := items[l.ItemID]
		if !ok {
			return d, apperr.New(apperr.UnknownItem, "line %d: item %q is not an item of this entity", i+1, l.ItemID).WithField(field + ".itemID")
		}
		if !it.Active {
			return d, apperr.New(apperr.UnknownItem, "line %d: item %s is inactive", i+1, it.Name).WithField(field + ".itemID")
		}
		if !l.Quantity.IsPositive() {
			return d, apperr.New(apperr.InvalidQuantity, "line %d: quantity must be positive", i+1).WithField(field + ".quantity")
		}
		price := it.DefaultRate
		if l.UnitPrice != nil {
			price = *l.UnitPrice
		}
		if !price.IsPositive() {
			return d, apperr.New(apperr.InvalidAmount, "line %d: unit price must be positive", i+1).WithField(field + ".unitPrice")
		}
		amount, err := price.Mul(l.Quantity, minor, money.HalfUp)
		if err != nil {
			return d, apperr.New(apperr.InvalidAmount, "line %d: %v", i+1, err).WithField(field)
		}
		if !amount.IsPositive() {
			return d, apperr.New(apperr.InvalidAmount, "line %d: %s × %s rounds to zero", i+1, l.Quantity, price).WithField(field)
		}
		desc := it.Description
		if l.Description != nil {
			desc = *l.Description
		}
		b := c.InvoiceLine.Create().
			SetLineNo(i + 1).
			SetItemID(it.ID).
			SetDescription(desc).
			SetQuantity(l.Quantity).
			SetUnitPrice(price).
			SetAmount(amount).
			SetNillableServiceDate(l.ServiceDate).
			SetScheduled(l.Scheduled)
		if l.ClassID != "" {
			cl, ok := classes[l.ClassID]
			if !ok || !cl.Active {
				return d, apperr.New(apperr.UnknownClass, "line %d: class %q is not an active class of this entity", i+1, l.ClassID).WithField(field + ".classID")
			}
			b.SetClassID(cl.ID)
		}
		d.lines = append(d.lines, b)
		d.subtotal = d.subtotal.Add(amount)
	}
	return d, nil
}

func lookups(ctx context.Context, c *ent.Client, in InvoiceInput) (map[string]*ent.Item, map[string]*ent.Class, error) {
	var itemIDs, classIDs []string
	for _, l := range in.Lines {
		itemIDs = append(itemIDs, l.ItemID)
		if l.ClassID != "" {
			classIDs = append(classIDs, l.ClassID)
		}
	}
	its, err := c.Item.Query().Where(item.EntityID(in.EntityID), item.IDIn(itemIDs...)).All(ctx)
	if err != nil {
		return nil, nil, err
	}
	items := make(map[string]*ent.Item, len(its))
	for _, it := range its {
		items[it.ID] = it
	}
	classes := map[string]*ent.Class{}
	if len(classIDs) > 0 {
		cls, err := c.Class.Query().Where(class.EntityID(in.EntityID), class.IDIn(classIDs...)).All(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, cl := range cls {
			classes[cl.ID] = cl
		}
	}
	return items, classes, nil
}

func checkCustomFields(f map[string]string) error {
	if len(f) > maxCustomFields {
		return apperr.New(apperr.Validation, "an invoice has at most %d custom fields, got %d", maxCustomFields, len(f)).WithField("customFields")
	}
	for k, v := range f {
		if strings.TrimSpace(k) == "" || len(k) > maxCustomNameLen {
			return apperr.New(apperr.Validation, "custom field names are 1 to %d characters", maxCustomNameLen).WithField("customFields")
		}
		if len(v) > maxCustomValLen {
			return apperr.New(apperr.Validation, "custom field %q is longer than %d characters", k, maxCustomValLen).WithField("customFields")
		}
	}
	return nil
}

// finish unwraps an invoice made in a transaction this call committed, so its edges load
// through the ordinary client.
func finish(inv *ent.Invoice, owned bool, err error) (*ent.Invoice, error) {
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		inv = inv.Unwrap()
	}
	return inv, nil
}
