package demo

import (
	"context"
	"fmt"

	"books/ent"
	"books/ent/account"
	"books/ent/payment"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/money"
)

// seedBilling gives an entity customers, vendors, items and invoices in several states: a
// draft, one awaiting approval, approved, sent, partially paid, paid and void.
func seedBilling(ctx context.Context, c *ent.Client, le *ent.LegalEntity, org string) error {
	// Two people, so the approver is never the submitter.
	clerk := auth.WithPrincipal(ctx, &auth.Principal{Kind: auth.KindUser, Subject: AccountantSubject, Org: org, Roles: []auth.Role{auth.RoleAccountant}})
	lead := auth.WithPrincipal(ctx, &auth.Principal{Kind: auth.KindUser, Subject: FinanceLeadSubject, Org: org, Roles: []auth.Role{auth.RoleFinanceLead}})

	cur := le.BaseCurrency
	names := map[string][]string{
		"US": {"Acme Manufacturing", "Globex Corporation", "Initech"},
		"UK": {"Umbrella Ltd", "Wayne Enterprises UK"},
	}[le.Code]
	var customers []*ent.Customer
	for _, n := range names {
		cus, err := billing.CreateCustomer(ctx, c, ent.CreateCustomerInput{
			Name: n, DisplayName: n, Email: ptr(fmt.Sprintf("billing@%s.example", slug(n))), Currency: cur,
			City: ptr(map[string]string{"US": "Boston", "UK": "London"}[le.Code]),
		})
		if err != nil {
			return fmt.Errorf("customer %s: %w", n, err)
		}
		customers = append(customers, cus)
	}
	for _, n := range []string{le.Code + " Cloud Hosting", le.Code + " Office Supplies"} {
		if _, err := billing.CreateVendor(ctx, c, ent.CreateVendorInput{Name: n, DisplayName: n, Currency: cur}); err != nil {
			return fmt.Errorf("vendor %s: %w", n, err)
		}
	}
	accounts, err := c.Account.Query().Where(account.EntityID(le.ID)).All(ctx)
	if err != nil {
		return err
	}
	acct := map[string]string{}
	for _, a := range accounts {
		acct[a.Code] = a.ID
	}
	var items []*ent.Item
	for _, it := range []struct{ name, rate, account string }{
		{"Consulting hours", "175.00", "4000"},
		{"Managed services (monthly)", "2500.00", "4100"},
		{"Security assessment", "12000.00", "4000"},
	} {
		item, err := billing.CreateItem(ctx, c, ent.CreateItemInput{
			EntityID: le.ID, Name: it.name, Description: ptr(it.name),
			DefaultRate: money.MustParse(it.rate), IncomeAccountID: acct[it.account],
		})
		if err != nil {
			return fmt.Errorf("item %s: %w", it.name, err)
		}
		items = append(items, item)
	}

	day := today(le).FirstOfMonth().AddMonths(-1)
	newInvoice := func(cus *ent.Customer, item *ent.Item, qty string, issued caldate.Date) (*ent.Invoice, error) {
		return billing.CreateInvoice(clerk, c, billing.InvoiceInput{
			EntityID: le.ID, CustomerID: cus.ID, IssueDate: issued, DueDate: issued.AddDays(30),
			Memo:  "Thank you for your business.",
			Lines: []billing.LineInput{{ItemID: item.ID, Quantity: money.MustParseQuantity(qty)}},
		})
	}
	approve := func(inv *ent.Invoice) (*ent.Invoice, error) {
		if _, err := billing.SubmitInvoice(clerk, c, inv.ID); err != nil {
			return nil, err
		}
		return billing.ApproveInvoice(lead, c, inv.ID)
	}
	pick := func(i int) *ent.Customer { return customers[i%len(customers)] }

	// draft, submitted
	if _, err := newInvoice(pick(0), items[0], "12", day.AddDays(20)); err != nil {
		return err
	}
	sub, err := newInvoice(pick(1), items[0], "8.5", day.AddDays(21))
	if err != nil {
		return err
	}
	if _, err := billing.SubmitInvoice(clerk, c, sub.ID); err != nil {
		return err
	}
	// approved, sent, partially paid, paid, void
	var approved []*ent.Invoice
	for i, spec := range []struct {
		item int
		qty  string
	}{{1, "1"}, {0, "40"}, {2, "1"}, {1, "2"}, {0, "4"}} {
		inv, err := newInvoice(pick(i), items[spec.item], spec.qty, day.AddDays(i))
		if err != nil {
			return err
		}
		if inv, err = approve(inv); err != nil {
			return err
		}
		approved = append(approved, inv)
	}
	if _, err := billing.SendInvoice(clerk, c, approved[1].ID); err != nil {
		return err
	}
	half, _ := approved[2].Total.Mul(money.MustParseQuantity("0.5"), 2, money.HalfUp)
	for _, p := range []struct {
		inv    *ent.Invoice
		amount money.Amount
		ref    string
	}{{approved[2], half, "demo-check-1001"}, {approved[3], approved[3].Total, "demo-ach-2001"}} {
		if _, err := billing.RecordPayment(clerk, c, billing.PaymentInput{
			EntityID: le.ID, CustomerID: p.inv.CustomerID, Amount: p.amount, ReceivedDate: day.AddDays(15),
			Method: payment.MethodCheck, ExternalRef: p.ref,
			Applications: []billing.Application{{InvoiceID: p.inv.ID, Amount: p.amount}},
		}); err != nil {
			return fmt.Errorf("payment %s: %w", p.ref, err)
		}
	}
	_, err = billing.VoidInvoice(lead, c, approved[4].ID, "issued to the wrong customer")
	return err
}

func slug(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, r)
		case r >= 'A' && r <= 'Z':
			out = append(out, r+'a'-'A')
		}
	}
	return string(out)
}
