// Package demo seeds a demonstration organization so a newcomer can try Books at once:
// two legal entities with the default chart of accounts, classes, COA mappings, a few
// posted entries and an integration key, and bearer tokens for the demo's people.
//
// Books keeps no user table: a person is the subject of a bearer token, and the audit trail
// names that subject. The demo's people are therefore fixed subjects, used both for the
// seeded history and for the tokens in demo.json, so "demo-controller" in the history is the
// holder of finance_lead_token.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"books/ent"
	"books/ent/customer"
	"books/ent/organization"
	"books/internal/auth"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

// The demo's people (token subjects). The approval gate refuses an invoice's submitter, so
// approving what the admin submitted takes the finance lead, a second person.
const (
	AdminSubject       = "demo-admin"
	FinanceLeadSubject = "demo-controller"
	AccountantSubject  = "demo-accountant"
)

// portalCustomerName names the seeded customer the portal token is bound to.
const portalCustomerName = "Acme Manufacturing"

// tokenTTL is long so a demo.json stays usable for a month of trying things.
const tokenTTL = 30 * 24 * time.Hour

// Info is what demo.json holds.
type Info struct {
	GraphQLURL string `json:"graphql_url"`
	AdminToken string `json:"admin_token"`
	// FinanceLeadToken is a second staff person (finance_lead), who may approve an invoice
	// the admin submitted.
	FinanceLeadToken string `json:"finance_lead_token"`
	// PortalToken is a client-portal token bound to PortalCustomer: it sees that customer's
	// invoices and nothing staff-only.
	PortalToken    string   `json:"portal_token"`
	PortalCustomer Customer `json:"portal_customer"`
	IntegrationKey string   `json:"integration_key"`
	OrganizationID string   `json:"organization_id"`
	Entities       []Entity `json:"entities"`
	// QBOWebhookVerifier is the token the in-process QuickBooks emulator signs its webhook
	// deliveries to POST /webhooks/qbo with (intuit-signature); empty without the emulator.
	QBOWebhookVerifier string `json:"qbo_webhook_verifier,omitempty"`
	// StripeAPIURL is the in-process Stripe fake's address, and StripeAccounts the demo
	// entities' accounts in it: a portal client pays by calling createInvoicePayment, then
	// confirming the PaymentIntent as Stripe.js would (POST
	// <StripeAPIURL>/v1/payment_intents/<id>/confirm with the publishable key as bearer,
	// client_secret and payment_method=pm_card_visa).
	StripeAPIURL   string          `json:"stripe_api_url,omitempty"`
	StripeAccounts []StripeAccount `json:"stripe_accounts,omitempty"`
}

// Customer names the seeded customer behind the portal token.
type Customer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Entity names a seeded legal entity.
type Entity struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Code string `json:"code"`
}

var entities = []ent.CreateLegalEntityInput{
	{Code: "US", Name: "Northwind Services LLC", BaseCurrency: "USD", TimeZone: ptr("America/New_York"), FiscalYearStartMonth: ptr(1)},
	{Code: "UK", Name: "Northwind Services Ltd", BaseCurrency: "GBP", TimeZone: ptr("Europe/London"), FiscalYearStartMonth: ptr(4)},
}

func ptr[T any](v T) *T { return &v }

// Seed makes the demo organization, or finds the one a previous run made (recorded in
// dataDir/demo.json), and returns its Info with a fresh admin token.
func Seed(ctx context.Context, client *ent.Client, tokens *auth.Tokens, dataDir, graphqlURL string) (Info, error) {
	info, err := load(dataDir)
	if err == nil {
		if ok, _ := client.Organization.Query().Where(organization.ID(info.OrganizationID)).Exist(tenant.System(ctx)); ok {
			info.GraphQLURL = graphqlURL
			if info.PortalCustomer.ID == "" {
				// demo.json from before the portal token: find the customer it is bound to.
				if info.PortalCustomer, err = findPortalCustomer(ctx, client, info.OrganizationID); err != nil {
					return Info{}, err
				}
			}
			return finish(info, tokens, dataDir)
		}
	}
	info, err = create(ctx, client)
	if err != nil {
		return Info{}, err
	}
	info.GraphQLURL = graphqlURL
	return finish(info, tokens, dataDir)
}

// finish mints fresh tokens for the demo's people and writes demo.json.
func finish(info Info, tokens *auth.Tokens, dataDir string) (Info, error) {
	var err error
	for _, t := range []struct {
		dst      *string
		subject  string
		role     auth.Role
		customer string
	}{
		{&info.AdminToken, AdminSubject, auth.RoleAdmin, ""},
		{&info.FinanceLeadToken, FinanceLeadSubject, auth.RoleFinanceLead, ""},
		// Named as `books token --customer` names portal subjects.
		{&info.PortalToken, "portal-" + info.PortalCustomer.ID, "", info.PortalCustomer.ID},
	} {
		var roles []auth.Role
		if t.role != "" {
			roles = []auth.Role{t.role}
		}
		if *t.dst, err = tokens.Mint(t.subject, info.OrganizationID, roles, t.customer, tokenTTL); err != nil {
			return Info{}, err
		}
	}
	if err := Save(dataDir, info); err != nil {
		return Info{}, err
	}
	return info, nil
}

// Save writes info to dataDir/demo.json, readable by the owner only: it holds tokens, a key
// and the webhook verifier.
func Save(dataDir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dataDir, "demo.json"), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write demo.json: %w", err)
	}
	return nil
}

func load(dataDir string) (Info, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "demo.json"))
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, err
	}
	if info.OrganizationID == "" {
		return Info{}, errors.New("demo.json has no organization")
	}
	return info, nil
}

func create(ctx context.Context, client *ent.Client) (Info, error) {
	var info Info
	err := ledger.WithTx(tenant.System(ctx), client, func(c *ent.Client) error {
		org, err := c.Organization.Create().SetName("Northwind Services (demo)").Save(tenant.System(ctx))
		if err != nil {
			return err
		}
		octx := tenant.WithOrg(ctx, org.ID)
		info.OrganizationID = org.ID
		var ids []string
		for _, in := range entities {
			le, err := ledger.CreateEntity(octx, c, in)
			if err != nil {
				return fmt.Errorf("seed entity %s: %w", in.Code, err)
			}
			ids = append(ids, le.ID)
			info.Entities = append(info.Entities, Entity{ID: le.ID, Name: le.Name, Code: le.Code})
			if err := seedClasses(octx, c, le.ID); err != nil {
				return err
			}
			if err := seedEntries(octx, c, le); err != nil {
				return err
			}
			if err := seedBilling(octx, c, le, org.ID); err != nil {
				return fmt.Errorf("seed billing for %s: %w", le.Code, err)
			}
		}
		if info.PortalCustomer, err = findPortalCustomer(ctx, c, org.ID); err != nil {
			return err
		}
		key, err := auth.CreateIntegrationKey(octx, c, "Demo integrations", ids, source.All(), "demo")
		if err != nil {
			return err
		}
		info.IntegrationKey = key.Secret
		return nil
	})
	return info, err
}

// findPortalCustomer returns the seeded customer the portal token is bound to or, when
// someone renamed it in an older demo, the organization's first customer.
func findPortalCustomer(ctx context.Context, c *ent.Client, org string) (Customer, error) {
	octx := tenant.WithOrg(ctx, org)
	cus, err := c.Customer.Query().Where(customer.DisplayName(portalCustomerName)).Only(octx)
	if ent.IsNotFound(err) {
		cus, err = c.Customer.Query().Order(customer.ByID()).First(octx)
	}
	if err != nil {
		return Customer{}, fmt.Errorf("find the demo portal customer: %w", err)
	}
	return Customer{ID: cus.ID, Name: cus.DisplayName}, nil
}

func seedClasses(ctx context.Context, c *ent.Client, entityID string) error {
	parents := map[string][]string{
		"Consulting":       {"Advisory", "Projects"},
		"Managed Services": {"Cloud", "Security"},
		"Forensics":        nil,
	}
	for _, name := range []string{"Consulting", "Managed Services", "Forensics"} {
		p, err := ledger.CreateClass(ctx, c, ent.CreateClassInput{EntityID: entityID, Name: name})
		if err != nil {
			return err
		}
		for _, child := range parents[name] {
			if _, err := ledger.CreateClass(ctx, c, ent.CreateClassInput{EntityID: entityID, Name: child, ParentID: &p.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}

func today(le *ent.LegalEntity) caldate.Date {
	loc, err := time.LoadLocation(le.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return caldate.Today(loc)
}

// seedEntries posts a little history so the trial balance has something to show.
func seedEntries(ctx context.Context, c *ent.Client, le *ent.LegalEntity) error {
	loc, err := time.LoadLocation(le.TimeZone)
	if err != nil {
		return err
	}
	today := caldate.Today(loc)
	entries := []ledger.Entry{
		{
			Description: "Owner's capital contribution", Source: source.Books, SourceRef: "demo-capital",
			Date: today.FirstOfMonth().AddMonths(-1),
			Lines: []ledger.Line{
				{AccountCode: "1000", Debit: money.MustParse("50000.00")},
				{AccountCode: "3000", Credit: money.MustParse("50000.00")},
			},
		},
		{
			Description: "Consulting time logged (T&M)", Source: source.PSA, SourceRef: "demo-time-1001",
			Date: today.FirstOfMonth(),
			Lines: []ledger.Line{
				{SourceCode: "unbilled_receivables", Debit: money.MustParse("1500.00"), ClassName: "Consulting"},
				{SourceCode: "revenue", Credit: money.MustParse("1500.00"), ClassName: "Consulting"},
			},
		},
	}
	for _, e := range entries {
		e.EntityID, e.CreatedBy, e.CreatedVia = le.ID, "demo", "cli"
		if _, err := ledger.Post(ctx, c, e); err != nil {
			return fmt.Errorf("seed entry %s: %w", e.SourceRef, err)
		}
	}
	return nil
}
