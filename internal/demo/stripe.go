package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"books/ent"
	"books/ent/invoice"
	"books/ent/item"
	"books/ent/paymentattempt"
	"books/ent/stripeaccount"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/money"
	"books/internal/stripepay"
	"books/internal/stripepay/stripefake"
	"books/internal/tenant"
)

// StripeAccount names a demo Stripe account: what a newcomer needs to pay an invoice from the
// portal against the offline Stripe (stripefake) by hand.
type StripeAccount struct {
	ID             string `json:"id"`
	Entity         string `json:"entity"`
	PublishableKey string `json:"publishable_key"`
}

// Stripe is the demo's Stripe: the in-process fake and the integration.
type Stripe struct {
	Fake    *stripefake.Server
	Service *stripepay.Service
	// WebhookBase is the server's address, to which the fake delivers webhooks.
	WebhookBase string
}

// ConnectStripe gives each demo entity its own Stripe account in the fake (fresh keys and
// signing secret each run: the fake keeps nothing), with the entity's billing profile, and
// points the fake's webhooks at this server. The first entity's account is the default.
func ConnectStripe(ctx context.Context, client *ent.Client, info *Info, s Stripe) error {
	octx := tenant.WithOrg(ctx, info.OrganizationID)
	info.StripeAPIURL = s.Fake.URL()
	info.StripeAccounts = nil
	for i, e := range info.Entities {
		sk, pk, whsec := "sk_test_demo"+rand.Text(), "pk_test_demo"+rand.Text(), "whsec_demo"+rand.Text()
		name := "Demo Stripe (" + e.Code + ")"
		acct, err := client.StripeAccount.Query().Where(stripeaccount.Name(name)).Only(octx)
		switch {
		case ent.IsNotFound(err):
			acct, err = s.Service.CreateAccount(octx, client, stripepay.AccountInput{Name: name, PublishableKey: pk,
				SecretKey: sk, WebhookSecrets: []string{whsec}, IsDefault: i == 0})
		case err == nil:
			secrets := []string{whsec}
			acct, err = s.Service.UpdateAccount(octx, client, acct.ID, stripepay.AccountPatch{PublishableKey: &pk,
				SecretKey: &sk, WebhookSecrets: &secrets})
		}
		if err != nil {
			return fmt.Errorf("demo Stripe account for %s: %w", e.Code, err)
		}
		if _, err := stripepay.SetBillingProfile(octx, client, e.ID, acct.ID, i == 0); err != nil {
			return err
		}
		s.Fake.AddAccount(sk, pk)
		s.Fake.SetWebhook(sk, s.WebhookBase+stripepay.WebhookPath(acct.ID), whsec)
		info.StripeAccounts = append(info.StripeAccounts, StripeAccount{ID: acct.ID, Entity: e.Code, PublishableKey: pk})
	}
	return nil
}

// StripeActivity plays the portal customer paying one of its open invoices by card, as the
// portal's payment form would: Books creates the PaymentIntent, the customer confirms it
// (here against the fake), and Stripe's webhooks record the payment. It leaves the
// customer's other invoices for a person to pay.
func StripeActivity(ctx context.Context, client *ent.Client, info Info, s Stripe) error {
	octx := tenant.WithOrg(ctx, info.OrganizationID)
	open := func() ([]*ent.Invoice, error) {
		return client.Invoice.Query().Where(invoice.CustomerID(info.PortalCustomer.ID),
			invoice.StatusIn(invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed)).
			Order(ent.Desc(invoice.FieldID)).All(octx)
	}
	invs, err := open()
	if err != nil {
		return err
	}
	// Two open invoices at least: one the demo pays, one left for a person to pay.
	for range 2 - len(invs) {
		if err := portalInvoice(ctx, client, info); err != nil {
			return err
		}
	}
	if invs, err = open(); err != nil || len(invs) == 0 {
		return err
	}
	inv := invs[0]
	p, err := s.Service.CreateInvoicePayment(octx, client, inv.ID, paymentattempt.MethodCard)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Second):
	}
	return s.Fake.Confirm(*p.Attempt.PaymentIntentID, "pm_card_visa")
}

// portalInvoice issues an approved invoice of consulting hours to the portal customer, in the
// first entity: the clerk creates and submits it, the finance lead approves it.
func portalInvoice(ctx context.Context, c *ent.Client, info Info) error {
	clerk := auth.WithPrincipal(ctx, &auth.Principal{Kind: auth.KindUser, Subject: AccountantSubject, Org: info.OrganizationID,
		Roles: []auth.Role{auth.RoleAccountant}})
	lead := auth.WithPrincipal(ctx, &auth.Principal{Kind: auth.KindUser, Subject: FinanceLeadSubject, Org: info.OrganizationID,
		Roles: []auth.Role{auth.RoleFinanceLead}})
	le, err := c.LegalEntity.Get(clerk, info.Entities[0].ID)
	if err != nil {
		return err
	}
	it, err := c.Item.Query().Where(item.EntityID(le.ID), item.Name("Consulting hours")).First(clerk)
	if err != nil {
		return err
	}
	day := today(le)
	inv, err := billing.CreateInvoice(clerk, c, billing.InvoiceInput{EntityID: le.ID, CustomerID: info.PortalCustomer.ID,
		IssueDate: day, DueDate: day.AddDays(30), Memo: "Pay this one from the portal.",
		Lines: []billing.LineInput{{ItemID: it.ID, Quantity: money.MustParseQuantity("3")}}})
	if err != nil {
		return err
	}
	if _, err := billing.SubmitInvoice(clerk, c, inv.ID); err != nil {
		return err
	}
	_, err = billing.ApproveInvoice(lead, c, inv.ID)
	return err
}
