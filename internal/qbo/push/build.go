package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"books/ent"
	"books/ent/account"
	"books/ent/creditapplication"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/invoiceline"
	"books/ent/journalline"
	"books/ent/paymentapplication"
	"books/ent/qbolink"
	"books/internal/apperr"
	"books/internal/caldate"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/settings"
)

type obj = map[string]any

// doc is the QuickBooks body of one link and the natural key it is looked up by before it
// is created.
type doc struct {
	body obj
	// key is the QuickBooks property a create is looked up by (DisplayName, Name,
	// DocNumber, PaymentRefNum) and value its value.
	key, value string
	// email is a customer's or vendor's second key, looked up when the first finds nothing.
	email string
	// expectTotal is what QuickBooks must answer as an invoice part's total; expectBalance,
	// for an invoice pushed whole, its balance as Books has it (write-offs, pushed as journal
	// entries, count as open in QuickBooks).
	expectTotal, expectBalance *money.Amount
}

// errWaiting: the link refers to a record whose link is not synced yet; it waits for it.
type waitingError struct{ what string }

func (e *waitingError) Error() string { return "waiting for " + e.what + " to reach QuickBooks" }

func isWaiting(err error) bool {
	var w *waitingError
	return errors.As(err, &w)
}

// builder builds bodies for one connection, caching what several links share.
type builder struct {
	e   *Engine
	c   *ent.Client
	row *ent.QBOConnection
	// linked caches the QuickBooks ids of links found in QuickBooks, which a drain does not
	// change: thirty invoices of one customer look its link up once.
	linked map[string]string
	// api reads what building needs from QuickBooks (the service item's income account).
	api        *qbo.Client
	itemIncome string
	// Invoices, their lines and customers read for a group at once (prefetch); a group reads
	// them with three queries instead of three per invoice.
	invoices  map[string]*ent.Invoice
	lines     map[string][]*ent.InvoiceLine
	customers map[string]*ent.Customer
}

// prefetch reads what building a group of invoice links takes.
func (b *builder) prefetch(ctx context.Context, links []*ent.QBOLink) error {
	b.invoices, b.lines, b.customers = map[string]*ent.Invoice{}, map[string][]*ent.InvoiceLine{}, map[string]*ent.Customer{}
	var ids []string
	for _, l := range links {
		if l.RecordType == qbolink.RecordTypeInvoice {
			ids = append(ids, l.RecordID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	invs, err := b.c.Invoice.Query().Where(invoice.IDIn(ids...)).All(ctx)
	if err != nil {
		return err
	}
	var custs []string
	for _, inv := range invs {
		b.invoices[inv.ID] = inv
		custs = append(custs, inv.CustomerID)
	}
	lines, err := b.c.InvoiceLine.Query().Where(invoiceline.InvoiceIDIn(ids...)).
		Order(ent.Asc(invoiceline.FieldLineNo)).All(ctx)
	if err != nil {
		return err
	}
	for _, ln := range lines {
		b.lines[ln.InvoiceID] = append(b.lines[ln.InvoiceID], ln)
	}
	cs, err := b.c.Customer.Query().Where(customer.IDIn(custs...)).All(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		b.customers[c.ID] = c
	}
	return nil
}

func (b *builder) invoiceOf(ctx context.Context, id string) (*ent.Invoice, error) {
	if inv, ok := b.invoices[id]; ok {
		return inv, nil
	}
	return b.c.Invoice.Get(ctx, id)
}

func (b *builder) customerOf(ctx context.Context, id string) (*ent.Customer, error) {
	if c, ok := b.customers[id]; ok {
		return c, nil
	}
	return b.c.Customer.Get(ctx, id)
}

func (b *builder) linesOf(ctx context.Context, inv *ent.Invoice) ([]*ent.InvoiceLine, error) {
	if ls, ok := b.lines[inv.ID]; ok {
		return ls, nil
	}
	return b.c.InvoiceLine.Query().Where(invoiceline.InvoiceID(inv.ID)).Order(ent.Asc(invoiceline.FieldLineNo)).All(ctx)
}

func ref(id string) obj { return obj{"value": id} }

func amount(a money.Amount) json.Number { return json.Number(a.StringFixed(2)) }

// linkedID returns the QuickBooks id of a record's synced link, a waitingError while it is
// on its way, and a coded error when it failed.
func (b *builder) linkedID(ctx context.Context, t qbolink.RecordType, id string, part int) (string, error) {
	key := fmt.Sprintf("%s/%s/%d", t, id, part)
	if q, ok := b.linked[key]; ok {
		return q, nil
	}
	l, err := b.c.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeEQ(t),
		qbolink.RecordID(id), qbolink.Part(part)).Only(ctx)
	if ent.IsNotFound(err) {
		return "", apperr.New(apperr.QBOUnmapped, "%s %s is not linked to QuickBooks; push it first", t, id)
	}
	if err != nil {
		return "", err
	}
	if l.QboID != nil && (l.Status == qbolink.StatusSynced || l.Status == qbolink.StatusPending) {
		b.linked[key] = *l.QboID
		return *l.QboID, nil
	}
	if l.Status == qbolink.StatusError {
		return "", apperr.New(apperr.QBOFault, "%s %s could not be pushed to QuickBooks: %s", t, id, l.LastError)
	}
	if l.Status == qbolink.StatusDeletedRemotely {
		return "", apperr.New(apperr.QBONotPushable, "%s %s was deleted in QuickBooks; push or unlink it first", t, id)
	}
	return "", &waitingError{what: fmt.Sprintf("%s %s", t, id)}
}

// accountID returns the QuickBooks account a Books account is mapped to.
func (b *builder) accountID(ctx context.Context, accountID string) (string, error) {
	l, err := b.c.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeAccount),
		qbolink.RecordID(accountID)).Only(ctx)
	if err == nil && l.QboID != nil {
		return *l.QboID, nil
	}
	if err != nil && !ent.IsNotFound(err) {
		return "", err
	}
	name := accountID
	if a, err := b.c.Account.Query().Where(account.ID(accountID)).Only(ctx); err == nil {
		name = fmt.Sprintf("%s %s", a.Code, a.Name)
	}
	return "", apperr.New(apperr.QBOUnmapped, "Books account %s is not mapped to a QuickBooks account; map it "+
		"(after Update lists) and retry", name)
}

func (b *builder) serviceItem() (string, error) {
	if b.row.Settings.ServiceItemID == "" {
		return "", apperr.New(apperr.QBOUnmapped, "the QuickBooks connection has no service item; choose one in its "+
			"settings and retry")
	}
	return b.row.Settings.ServiceItemID, nil
}

func (b *builder) build(ctx context.Context, l *ent.QBOLink) (doc, error) {
	switch l.RecordType {
	case qbolink.RecordTypeClass:
		return b.class(ctx, l)
	case qbolink.RecordTypeItem:
		return b.item(ctx, l)
	case qbolink.RecordTypeCustomer, qbolink.RecordTypeVendor:
		return b.contact(ctx, l)
	case qbolink.RecordTypeInvoice:
		return b.invoice(ctx, l)
	case qbolink.RecordTypePayment:
		return b.payment(ctx, l)
	case qbolink.RecordTypeCreditMemo:
		if l.Part == creditApplicationPart {
			return b.creditApplication(ctx, l)
		}
		return b.creditMemo(ctx, l)
	case qbolink.RecordTypeRefund:
		if l.Part == refundReclassPart {
			return b.refundReclass(ctx, l)
		}
		return b.refund(ctx, l)
	case qbolink.RecordTypeChargeReversal, qbolink.RecordTypeWriteOff, qbolink.RecordTypeJournalEntry:
		return b.journal(ctx, l)
	}
	return doc{}, apperr.New(apperr.QBONotPushable, "%s records are not pushed to QuickBooks", l.RecordType)
}

func (b *builder) class(ctx context.Context, l *ent.QBOLink) (doc, error) {
	cl, err := b.c.Class.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	body := obj{"Name": cl.Name, "Active": cl.Active}
	if cl.ParentID != nil {
		parent, err := b.linkedID(ctx, qbolink.RecordTypeClass, *cl.ParentID, 0)
		if err != nil {
			return doc{}, err
		}
		body["SubClass"], body["ParentRef"] = true, ref(parent)
	}
	return doc{body: body, key: "Name", value: cl.Name}, nil
}

func (b *builder) item(ctx context.Context, l *ent.QBOLink) (doc, error) {
	it, err := b.c.Item.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	income, err := b.accountID(ctx, it.IncomeAccountID)
	if err != nil {
		return doc{}, err
	}
	body := obj{"Name": it.Name, "Type": "Service", "IncomeAccountRef": ref(income), "Active": it.Active}
	if it.Description != "" {
		body["Description"] = it.Description
	}
	return doc{body: body, key: "Name", value: it.Name}, nil
}

type contactFields struct {
	name, display, email, phone, line1, line2, city, region, postal, country string
	active                                                                   bool
}

func (b *builder) contact(ctx context.Context, l *ent.QBOLink) (doc, error) {
	var f contactFields
	if l.RecordType == qbolink.RecordTypeCustomer {
		v, err := b.c.Customer.Get(ctx, l.RecordID)
		if err != nil {
			return doc{}, err
		}
		f = contactFields{v.Name, v.DisplayName, v.Email, v.Phone, v.AddressLine1, v.AddressLine2, v.City, v.Region, v.PostalCode, v.Country, v.Active}
	} else {
		v, err := b.c.Vendor.Get(ctx, l.RecordID)
		if err != nil {
			return doc{}, err
		}
		f = contactFields{v.Name, v.DisplayName, v.Email, v.Phone, v.AddressLine1, v.AddressLine2, v.City, v.Region, v.PostalCode, v.Country, v.Active}
	}
	body := obj{"DisplayName": f.display, "CompanyName": f.name, "Active": f.active}
	if f.email != "" {
		body["PrimaryEmailAddr"] = obj{"Address": f.email}
	}
	if f.phone != "" {
		body["PrimaryPhone"] = obj{"FreeFormNumber": f.phone}
	}
	if f.line1 != "" || f.city != "" || f.postal != "" {
		addr := obj{}
		for k, v := range map[string]string{"Line1": f.line1, "Line2": f.line2, "City": f.city,
			"CountrySubDivisionCode": f.region, "PostalCode": f.postal, "Country": f.country} {
			if v != "" {
				addr[k] = v
			}
		}
		body["BillAddr"] = addr
	}
	return doc{body: body, key: "DisplayName", value: f.display, email: f.email}, nil
}

// invoice builds one part of an invoice: the whole invoice (part 0) or the lines of one
// service month (part YYYYMM), numbered <number>-<n> in month order.
func (b *builder) invoice(ctx context.Context, l *ent.QBOLink) (doc, error) {
	inv, err := b.invoiceOf(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	cust, err := b.customerOf(ctx, inv.CustomerID)
	if err != nil {
		return doc{}, err
	}
	if strings.TrimSpace(cust.Email) == "" {
		return doc{}, apperr.New(apperr.QBOCustomerEmailRequired, "customer %s (%s) has no email; QuickBooks invoices "+
			"need one: add it and retry", cust.DisplayName, cust.ID)
	}
	custQBO, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, cust.ID, 0)
	if err != nil {
		return doc{}, err
	}
	all, err := b.linesOf(ctx, inv)
	if err != nil {
		return doc{}, err
	}
	number := ""
	if inv.Number != nil {
		number = *inv.Number
	}
	var lines []*ent.InvoiceLine
	for _, ln := range all {
		if l.Part == 0 || monthKey(lineDate(ln, inv)) == l.Part {
			lines = append(lines, ln)
		}
	}
	if len(lines) == 0 {
		return doc{}, apperr.New(apperr.QBONotPushable, "invoice %s has no lines in part %d", inv.ID, l.Part)
	}
	docNum := number
	if l.Part != 0 {
		parts, err := b.e.invoiceParts(ctx, b.c, b.row, inv.ID)
		if err != nil {
			return doc{}, err
		}
		for i, p := range parts {
			if p == l.Part {
				docNum = fmt.Sprintf("%s-%d", number, i+1)
			}
		}
	}
	total := money.Amount{}
	var last caldate.Date
	for _, ln := range lines {
		total = total.Add(ln.Amount)
		if d := lineDate(ln, inv); d.After(last) {
			last = d
		}
	}
	txnDate := inv.IssueDate
	switch b.row.Settings.DateModeOrDefault() {
	case settings.PeriodEnd:
		if inv.ServiceTo != nil && l.Part == 0 {
			txnDate = *inv.ServiceTo
		} else {
			txnDate = last
		}
	case settings.SyncDate:
		txnDate = caldate.Of(b.e.now(), nil)
	}
	body := obj{
		"CustomerRef": ref(custQBO),
		"DocNumber":   docNum,
		"TxnDate":     txnDate.String(),
		"DueDate":     inv.DueDate.String(),
		"BillEmail":   obj{"Address": cust.Email},
		"PrivateNote": "Books " + inv.ID,
	}
	if inv.DueDate.Before(txnDate) {
		body["DueDate"] = txnDate.String()
	}
	if inv.Memo != "" {
		body["CustomerMemo"] = obj{"value": truncate(inv.Memo, 1000)}
	}
	if b.row.Settings.OneTransactionInvoice {
		item, err := b.serviceItem()
		if err != nil {
			return doc{}, err
		}
		desc := settings.Render(b.row.Settings.Description(), docNum, inv.IssueDate.String(), cust.DisplayName)
		body["Line"] = []any{obj{"DetailType": "SalesItemLineDetail", "Amount": amount(total),
			"Description":         truncate(desc, 4000),
			"SalesItemLineDetail": obj{"ItemRef": ref(item), "ServiceDate": last.String()}}}
	} else {
		var out []any
		for _, ln := range lines {
			item, err := b.linkedID(ctx, qbolink.RecordTypeItem, ln.ItemID, 0)
			if err != nil {
				return doc{}, err
			}
			d := obj{"ItemRef": ref(item), "Qty": json.Number(ln.Quantity.String()), "UnitPrice": json.Number(ln.UnitPrice.String())}
			if ln.ClassID != nil {
				cl, err := b.linkedID(ctx, qbolink.RecordTypeClass, *ln.ClassID, 0)
				if err != nil {
					return doc{}, err
				}
				d["ClassRef"] = ref(cl)
			}
			if ln.ServiceDate != nil {
				d["ServiceDate"] = ln.ServiceDate.String()
			}
			line := obj{"DetailType": "SalesItemLineDetail", "Amount": amount(ln.Amount), "SalesItemLineDetail": d}
			if ln.Description != "" {
				line["Description"] = truncate(ln.Description, 4000)
			}
			out = append(out, line)
		}
		body["Line"] = out
	}
	if s := b.row.Settings; s.SyncCustomFields {
		var cfs []any
		for _, m := range s.CustomFields {
			if v, ok := inv.CustomFields[m.BooksField]; ok && v != "" {
				cfs = append(cfs, obj{"DefinitionId": m.DefinitionID, "Name": m.BooksField, "Type": "StringType",
					"StringValue": truncate(v, 31)})
			}
		}
		if len(cfs) > 0 {
			body["CustomField"] = cfs
		}
	}
	balance := inv.Balance.Add(inv.WrittenOff)
	return doc{body: body, key: "DocNumber", value: docNum, expectTotal: &total, expectBalance: &balance}, nil
}

// allocation is how much of a payment (or credit) goes to each QuickBooks invoice part.
type allocation struct {
	qboID  string
	amount money.Amount
}

// allocate spreads the amount applied to a Books invoice over its QuickBooks parts, oldest
// month first. Each part takes what earlier applications (in creation order) left open, so
// every payment of a split invoice allocates the same way every time it is pushed.
func (b *builder) allocate(ctx context.Context, invoiceID, appID string) ([]allocation, error) {
	parts, err := b.e.invoiceParts(ctx, b.c, b.row, invoiceID)
	if err != nil {
		return nil, err
	}
	type partOpen struct {
		id   string
		open money.Amount
	}
	var ps []partOpen
	for _, p := range parts {
		qid, err := b.linkedID(ctx, qbolink.RecordTypeInvoice, invoiceID, p)
		if err != nil {
			return nil, err
		}
		l, err := b.c.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
			qbolink.RecordID(invoiceID), qbolink.Part(p)).Only(ctx)
		if err != nil {
			return nil, err
		}
		total := money.Amount{}
		if l.QboTotal != nil {
			total = *l.QboTotal
		}
		ps = append(ps, partOpen{id: qid, open: total})
	}
	// Every active application of the invoice, payments and credits alike, in creation order.
	type app struct {
		id     string
		amount money.Amount
		at     int64
	}
	var apps []app
	pas, err := b.c.PaymentApplication.Query().Where(paymentapplication.InvoiceID(invoiceID), paymentapplication.UnappliedAtIsNil()).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range pas {
		apps = append(apps, app{a.ID, a.Amount, a.CreatedAt.UnixNano()})
	}
	cas, err := b.c.CreditApplication.Query().Where(creditapplication.InvoiceID(invoiceID), creditapplication.UnappliedAtIsNil()).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range cas {
		apps = append(apps, app{a.ID, a.Amount, a.CreatedAt.UnixNano()})
	}
	for i := 1; i < len(apps); i++ {
		for j := i; j > 0 && (apps[j].at < apps[j-1].at || (apps[j].at == apps[j-1].at && apps[j].id < apps[j-1].id)); j-- {
			apps[j], apps[j-1] = apps[j-1], apps[j]
		}
	}
	for _, a := range apps {
		left := a.amount
		var out []allocation
		for i := range ps {
			if left.IsZero() {
				break
			}
			take := left
			if ps[i].open.Cmp(take) < 0 {
				take = ps[i].open
			}
			if take.IsPositive() {
				ps[i].open = ps[i].open.Sub(take)
				left = left.Sub(take)
				out = append(out, allocation{qboID: ps[i].id, amount: take})
			}
		}
		if a.id == appID {
			if left.IsPositive() && len(ps) > 0 {
				// More applied than QuickBooks' parts hold: let QuickBooks refuse it loudly.
				out = append(out, allocation{qboID: ps[len(ps)-1].id, amount: left})
			}
			return out, nil
		}
	}
	return nil, apperr.New(apperr.NotFound, "application %s of invoice %s not found", appID, invoiceID)
}

// application is a payment's or credit memo's application to an invoice.
type application struct{ id, invoiceID string }

// invoiceLines returns the QuickBooks payment lines of applications, one per invoice part
// they allocate to, and their sum.
func (b *builder) invoiceLines(ctx context.Context, apps []application) ([]any, money.Amount, error) {
	lines := []any{}
	sum := money.Amount{}
	for _, a := range apps {
		allocs, err := b.allocate(ctx, a.invoiceID, a.id)
		if err != nil {
			return nil, sum, err
		}
		for _, al := range allocs {
			sum = sum.Add(al.amount)
			lines = append(lines, obj{"Amount": amount(al.amount),
				"LinkedTxn": []any{obj{"TxnId": al.qboID, "TxnType": "Invoice"}}})
		}
	}
	return lines, sum, nil
}

func (b *builder) payment(ctx context.Context, l *ent.QBOLink) (doc, error) {
	p, err := b.c.Payment.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	cust, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, p.CustomerID, 0)
	if err != nil {
		return doc{}, err
	}
	apps, err := b.c.PaymentApplication.Query().Where(paymentapplication.PaymentID(p.ID), paymentapplication.UnappliedAtIsNil()).
		Order(ent.Asc(paymentapplication.FieldCreatedAt), ent.Asc(paymentapplication.FieldID)).All(ctx)
	if err != nil {
		return doc{}, err
	}
	targets := make([]application, len(apps))
	for i, a := range apps {
		targets[i] = application{a.ID, a.InvoiceID}
	}
	lines, _, err := b.invoiceLines(ctx, targets)
	if err != nil {
		return doc{}, err
	}
	refNum := docNumber("P", p.ID)
	body := obj{
		"CustomerRef":   ref(cust),
		"TotalAmt":      amount(p.Amount),
		"TxnDate":       p.ReceivedDate.String(),
		"PaymentRefNum": refNum,
		"PrivateNote":   "Books " + p.ID,
		"Line":          lines,
	}
	deposit, method := b.row.Settings.Deposit(string(p.Processor), string(p.Method))
	if deposit != "" {
		body["DepositToAccountRef"] = ref(deposit)
	}
	if method != "" {
		body["PaymentMethodRef"] = ref(method)
	}
	return doc{body: body, key: "PaymentRefNum", value: refNum}, nil
}

func (b *builder) creditMemo(ctx context.Context, l *ent.QBOLink) (doc, error) {
	cm, err := b.c.CreditMemo.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	cust, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, cm.CustomerID, 0)
	if err != nil {
		return doc{}, err
	}
	item, err := b.serviceItem()
	if err != nil {
		return doc{}, err
	}
	d := obj{"ItemRef": ref(item)}
	if cm.ClassID != nil {
		cl, err := b.linkedID(ctx, qbolink.RecordTypeClass, *cm.ClassID, 0)
		if err != nil {
			return doc{}, err
		}
		d["ClassRef"] = ref(cl)
	}
	num := docNumber("CM", cm.ID)
	line := obj{"DetailType": "SalesItemLineDetail", "Amount": amount(cm.Amount), "SalesItemLineDetail": d}
	if cm.Reason != "" {
		line["Description"] = truncate(cm.Reason, 4000)
	}
	body := obj{"CustomerRef": ref(cust), "DocNumber": num, "TxnDate": cm.Date.String(),
		"PrivateNote": "Books " + cm.ID, "Line": []any{line}}
	return doc{body: body, key: "DocNumber", value: num}, nil
}

// creditApplication builds the zero-amount Payment that applies a credit memo to invoices
// in QuickBooks.
func (b *builder) creditApplication(ctx context.Context, l *ent.QBOLink) (doc, error) {
	cm, err := b.c.CreditMemo.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	cust, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, cm.CustomerID, 0)
	if err != nil {
		return doc{}, err
	}
	memo, err := b.linkedID(ctx, qbolink.RecordTypeCreditMemo, cm.ID, 0)
	if err != nil {
		return doc{}, err
	}
	apps, err := b.c.CreditApplication.Query().Where(creditapplication.CreditMemoID(cm.ID), creditapplication.UnappliedAtIsNil()).
		Order(ent.Asc(creditapplication.FieldCreatedAt), ent.Asc(creditapplication.FieldID)).All(ctx)
	if err != nil {
		return doc{}, err
	}
	targets := make([]application, len(apps))
	for i, a := range apps {
		targets[i] = application{a.ID, a.InvoiceID}
	}
	lines, used, err := b.invoiceLines(ctx, targets)
	if err != nil {
		return doc{}, err
	}
	if used.IsPositive() {
		lines = append(lines, obj{"Amount": amount(used), "LinkedTxn": []any{obj{"TxnId": memo, "TxnType": "CreditMemo"}}})
	}
	num := docNumber("CA", cm.ID)
	body := obj{"CustomerRef": ref(cust), "TotalAmt": json.Number("0"), "TxnDate": cm.Date.String(),
		"PaymentRefNum": num, "PrivateNote": "Books credit applications of " + cm.ID, "Line": lines}
	return doc{body: body, key: "PaymentRefNum", value: num}, nil
}

func (b *builder) refund(ctx context.Context, l *ent.QBOLink) (doc, error) {
	r, err := b.c.Refund.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	p, err := b.c.Payment.Get(ctx, r.PaymentID)
	if err != nil {
		return doc{}, err
	}
	cust, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, p.CustomerID, 0)
	if err != nil {
		return doc{}, err
	}
	item, err := b.serviceItem()
	if err != nil {
		return doc{}, err
	}
	deposit, method := b.row.Settings.Deposit(string(p.Processor), string(p.Method))
	if deposit == "" {
		return doc{}, apperr.New(apperr.QBOUnmapped, "no QuickBooks account to refund %s payments from: set a deposit "+
			"account for the payment system (or a default) in the connection's settings", p.Processor)
	}
	num := docNumber("RF", r.ID)
	line := obj{"DetailType": "SalesItemLineDetail", "Amount": amount(r.Amount), "SalesItemLineDetail": obj{"ItemRef": ref(item)}}
	if r.Reason != "" {
		line["Description"] = truncate(r.Reason, 4000)
	}
	body := obj{"CustomerRef": ref(cust), "DocNumber": num, "TxnDate": r.Date.String(), "DepositToAccountRef": ref(deposit),
		"PrivateNote": "Books " + r.ID, "Line": []any{line}}
	if method != "" {
		body["PaymentMethodRef"] = ref(method)
	}
	return doc{body: body, key: "DocNumber", value: num}, nil
}

// refundReclass builds the JournalEntry that follows a refund's RefundReceipt: DR Accounts
// Receivable (with the customer), CR the income account the RefundReceipt's service item
// debited. It waits for the RefundReceipt, and reads the item's income account from
// QuickBooks once per drain.
func (b *builder) refundReclass(ctx context.Context, l *ent.QBOLink) (doc, error) {
	r, err := b.c.Refund.Get(ctx, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	p, err := b.c.Payment.Get(ctx, r.PaymentID)
	if err != nil {
		return doc{}, err
	}
	if _, err := b.linkedID(ctx, qbolink.RecordTypeRefund, r.ID, 0); err != nil {
		return doc{}, err
	}
	cust, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, p.CustomerID, 0)
	if err != nil {
		return doc{}, err
	}
	ar, err := b.c.Account.Query().Where(account.EntityID(r.EntityID), account.SubtypeEQ(account.SubtypeAccountsReceivable)).
		Order(ent.Asc(account.FieldCode)).First(ctx)
	if err != nil {
		return doc{}, err
	}
	arQBO, err := b.accountID(ctx, ar.ID)
	if err != nil {
		return doc{}, err
	}
	income, err := b.serviceItemIncome(ctx)
	if err != nil {
		return doc{}, err
	}
	num := docNumber("RR", r.ID)
	amt := amount(r.Amount)
	desc := truncate("Refund "+r.ID+" of payment "+p.ID+": back to the customer's receivable", 4000)
	body := obj{"DocNumber": num, "TxnDate": r.Date.String(), "PrivateNote": desc, "Line": []any{
		obj{"DetailType": "JournalEntryLineDetail", "Amount": amt, "Description": desc, "JournalEntryLineDetail": obj{
			"PostingType": "Debit", "AccountRef": ref(arQBO), "Entity": obj{"Type": "Customer", "EntityRef": ref(cust)}}},
		obj{"DetailType": "JournalEntryLineDetail", "Amount": amt, "Description": desc, "JournalEntryLineDetail": obj{
			"PostingType": "Credit", "AccountRef": ref(income)}},
	}}
	return doc{body: body, key: "DocNumber", value: num}, nil
}

// serviceItemIncome returns the income account of the connection's service item.
func (b *builder) serviceItemIncome(ctx context.Context) (string, error) {
	item, err := b.serviceItem()
	if err != nil {
		return "", err
	}
	if b.itemIncome != "" {
		return b.itemIncome, nil
	}
	if b.api == nil {
		return "", errors.New("push: no QuickBooks client to read the service item")
	}
	raw, err := b.api.Read(ctx, "Item", item)
	if err != nil {
		return "", err
	}
	var o obj
	if err := decode(raw, &o); err != nil {
		return "", err
	}
	ref, _ := o["IncomeAccountRef"].(obj)
	id, _ := ref["value"].(string)
	if id == "" {
		return "", apperr.New(apperr.QBOUnmapped, "the connection's service item %s has no income account in QuickBooks", item)
	}
	b.itemIncome = id
	return id, nil
}

var journalPrefix = map[qbolink.RecordType]string{
	qbolink.RecordTypeChargeReversal: "CR",
	qbolink.RecordTypeWriteOff:       "WO",
	qbolink.RecordTypeJournalEntry:   "JE",
}

// journal builds a QuickBooks JournalEntry from the Books entry behind a charge reversal, a
// write-off or a manual entry: each line on its mapped account, with its class and, on
// receivable lines, its customer (QuickBooks requires one on Accounts Receivable).
func (b *builder) journal(ctx context.Context, l *ent.QBOLink) (doc, error) {
	entryID, _, err := entryOf(ctx, b.c, l.RecordType, l.RecordID)
	if err != nil {
		return doc{}, err
	}
	je, err := b.c.JournalEntry.Get(ctx, entryID)
	if err != nil {
		return doc{}, err
	}
	jls, err := b.c.JournalLine.Query().Where(journalline.EntryID(entryID)).Order(ent.Asc(journalline.FieldLineNo)).All(ctx)
	if err != nil {
		return doc{}, err
	}
	var lines []any
	for _, jl := range jls {
		acct, err := b.accountID(ctx, jl.AccountID)
		if err != nil {
			return doc{}, err
		}
		posting, amt := "Debit", jl.Debit
		if jl.Credit.IsPositive() {
			posting, amt = "Credit", jl.Credit
		}
		d := obj{"PostingType": posting, "AccountRef": ref(acct)}
		if jl.ClassID != nil {
			cl, err := b.linkedID(ctx, qbolink.RecordTypeClass, *jl.ClassID, 0)
			if err != nil {
				return doc{}, err
			}
			d["ClassRef"] = ref(cl)
		}
		switch {
		case jl.CustomerID != nil:
			cust, err := b.linkedID(ctx, qbolink.RecordTypeCustomer, *jl.CustomerID, 0)
			if err != nil {
				return doc{}, err
			}
			d["Entity"] = obj{"Type": "Customer", "EntityRef": ref(cust)}
		case jl.VendorID != nil:
			ven, err := b.linkedID(ctx, qbolink.RecordTypeVendor, *jl.VendorID, 0)
			if err != nil {
				return doc{}, err
			}
			d["Entity"] = obj{"Type": "Vendor", "EntityRef": ref(ven)}
		}
		line := obj{"DetailType": "JournalEntryLineDetail", "Amount": amount(amt), "JournalEntryLineDetail": d}
		if jl.Description != "" {
			line["Description"] = truncate(jl.Description, 4000)
		}
		lines = append(lines, line)
	}
	num := docNumber(journalPrefix[l.RecordType], l.RecordID)
	body := obj{"DocNumber": num, "TxnDate": je.Date.String(), "PrivateNote": truncate("Books "+je.ID+" "+je.Description, 4000),
		"Line": lines}
	return doc{body: body, key: "DocNumber", value: num}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
