package recon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/invoice"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/dbtest"
	"books/internal/ids"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/qbo/conn"
	"books/internal/qbo/recon"
	"books/internal/secrets"
	"books/internal/tenant"
)

// testOrg is one organization with a US (USD) entity connected to QuickBooks, two USD
// customers and a service item.
type testOrg struct {
	id          string
	ctx         context.Context // alice, an accountant: creates, submits and records
	bob         context.Context // bob, a finance lead: approves
	entity      *ent.LegalEntity
	conn        *ent.QBOConnection
	acme, globe *ent.Customer
	item        *ent.Item
}

type testBundle struct {
	client *ent.Client
	queue  *recon.Queue
	a, b   testOrg
}

func setup(t *testing.T, dialectName string) *testBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	b := &testBundle{client: db.Client(), queue: &recon.Queue{}}
	store := conn.NewStore(box)
	b.a = b.seedOrg(t, store, "Org A", "realm-a")
	b.b = b.seedOrg(t, store, "Org B", "realm-b")
	// The scenarios approve invoices and record a payment: the ledgers must end sealed and
	// intact. Registered after dbtest.Open, so it runs while the database is still open.
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, b.client, b.a.id)
			integritytest.Check(t, b.client, b.b.id)
		}
	})
	return b
}

func (b *testBundle) seedOrg(t *testing.T, store *conn.Store, name, realm string) testOrg {
	t.Helper()
	org, err := b.client.Organization.Create().SetName(name).Save(tenant.System(context.Background()))
	require.NoError(t, err)
	person := func(subject string, role auth.Role) context.Context {
		return auth.WithPrincipal(context.Background(), &auth.Principal{
			Kind: auth.KindUser, Subject: subject, Org: org.ID, Roles: []auth.Role{role}})
	}
	o := testOrg{id: org.ID, ctx: person("alice", auth.RoleAccountant), bob: person("bob", auth.RoleFinanceLead)}
	o.entity, err = ledger.CreateEntity(o.ctx, b.client, ent.CreateLegalEntityInput{Code: "US", Name: name + " US", BaseCurrency: "USD"})
	require.NoError(t, err)
	o.conn, err = store.Save(o.ctx, b.client, conn.Connect{EntityID: o.entity.ID, RealmID: realm, BaseURL: "https://qbo.invalid",
		Tokens: conn.Tokens{Access: "access", Refresh: "refresh", AccessExpiresAt: time.Now().Add(time.Hour),
			RefreshExpiresAt: time.Now().Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		to   **ent.Customer
	}{{"Acme", &o.acme}, {"Globe", &o.globe}} {
		email := fmt.Sprintf("ap@%s.example", c.name)
		*c.to, err = billing.CreateCustomer(o.ctx, b.client, ent.CreateCustomerInput{Name: c.name + " Corp", DisplayName: c.name,
			Email: &email, Currency: "USD"})
		require.NoError(t, err)
	}
	income, err := b.client.Account.Query().Where(account.EntityID(o.entity.ID), account.Code("4000")).OnlyID(o.ctx)
	require.NoError(t, err)
	rate := money.MustParse("100.00")
	o.item, err = billing.CreateItem(o.ctx, b.client, ent.CreateItemInput{Name: "Consulting", EntityID: o.entity.ID,
		IncomeAccountID: income, DefaultRate: rate})
	require.NoError(t, err)
	return o
}

// invoice creates an invoice of amount for cus due on due; approved unless draft.
func (b *testBundle) invoice(t *testing.T, o testOrg, cus *ent.Customer, amount, due string, draft bool) *ent.Invoice {
	t.Helper()
	price := money.MustParse(amount)
	inv, err := billing.CreateInvoice(o.ctx, b.client, billing.InvoiceInput{EntityID: o.entity.ID, CustomerID: cus.ID,
		IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse(due),
		Lines: []billing.LineInput{{ItemID: o.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price}}})
	require.NoError(t, err)
	if draft {
		return inv
	}
	_, err = billing.SubmitInvoice(o.ctx, b.client, inv.ID)
	require.NoError(t, err)
	inv, err = billing.ApproveInvoice(o.bob, b.client, inv.ID)
	require.NoError(t, err)
	require.Equal(t, invoice.StatusApproved, inv.Status)
	return inv
}

// linkDoc links inv to a QuickBooks invoice numbered doc.
func (b *testBundle) linkDoc(t *testing.T, o testOrg, inv *ent.Invoice, qboID, doc string) {
	t.Helper()
	err := b.client.QBOLink.Create().SetID(ids.New(ids.QBOLink)).SetConnectionID(o.conn.ID).SetEntityID(o.entity.ID).
		SetRecordType(qbolink.RecordTypeInvoice).SetRecordID(inv.ID).SetQboType("Invoice").SetQboID(qboID).SetClaim(qboID).
		SetDocNumber(doc).SetStatus(qbolink.StatusSynced).Exec(o.ctx)
	require.NoError(t, err)
}

// raise raises a QuickBooks payment item of o's connection.
func (b *testBundle) raise(t *testing.T, o testOrg, p recon.Problem) *ent.ReconciliationItem {
	t.Helper()
	p.EntityID, p.ConnectionID = o.entity.ID, o.conn.ID
	if p.QBOType == "" {
		p.QBOType = "Payment"
	}
	if p.Reason == "" {
		p.Reason = "the payment names no invoice"
	}
	if p.Snapshot == "" && p.Amount != nil {
		p.Snapshot = fmt.Sprintf(`{"Id":%q,"SyncToken":"0","TotalAmt":"%s","TxnDate":"2026-11-20","PaymentRefNum":%q,"CustomerRef":{"value":"1"},"Line":[]}`,
			p.QBOID, p.Amount, p.Reference)
	}
	it, err := b.queue.Raise(o.ctx, b.client, p)
	require.NoError(t, err)
	return it
}

func amount(s string) *money.Amount {
	a := money.MustParse(s)
	return &a
}

// got renders suggestions as "invoice amount reasons…", comparable in one assertion.
func got(ss []recon.Suggestion) []string {
	out := []string{}
	for _, s := range ss {
		line := s.InvoiceID + " " + s.Amount.String()
		for _, r := range s.Reasons {
			line += " " + string(r)
		}
		out = append(out, line)
	}
	return out
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.a
			// Org A's open invoices, and some that must never be suggested.
			acmeExact := b.invoice(t, a, a.acme, "150.00", "2026-12-05", false)
			acmeExactEarlier := b.invoice(t, a, a.acme, "150.00", "2026-12-01", false)
			acmeLarge := b.invoice(t, a, a.acme, "500.00", "2026-12-01", false)
			acmeLarger := b.invoice(t, a, a.acme, "900.00", "2026-11-15", false)
			acmeSmall := b.invoice(t, a, a.acme, "100.00", "2026-12-01", false) // the customer's, below 150.00
			globeRef := b.invoice(t, a, a.globe, "300.00", "2026-12-01", false)
			globeExact := b.invoice(t, a, a.globe, "150.00", "2026-12-01", false)
			globeDoc := b.invoice(t, a, a.globe, "275.00", "2026-12-01", false)
			b.linkDoc(t, a, globeDoc, "9001", "QB-1001")
			b.invoice(t, a, a.acme, "150.00", "2026-12-01", true) // a draft is not open
			paid := b.invoice(t, a, a.acme, "150.00", "2026-12-01", false)
			_, err := billing.RecordPayment(a.ctx, b.client, billing.PaymentInput{EntityID: a.entity.ID, CustomerID: a.acme.ID,
				Amount: paid.Total, ReceivedDate: caldate.MustParse("2026-11-10"), Method: "ach",
				Applications: []billing.Application{{InvoiceID: paid.ID, Amount: paid.Total}}})
			require.NoError(t, err)
			// Another organization's invoice of the same customer name and amount.
			b.invoice(t, b.b, b.b.acme, "150.00", "2026-11-01", false)
			b.invoice(t, b.b, b.b.acme, "500.00", "2026-11-01", false)

			acme := &a.acme.ID
			for _, tc := range []struct {
				name string
				p    recon.Problem
				want []string
			}{
				{
					name: "customer, reference and amount ranked",
					p: recon.Problem{Kind: reconciliationitem.KindUnmatchedPayment, QBOID: "77", CustomerID: *acme,
						Amount: amount("150.00"), Currency: "USD", Reference: *globeRef.Number},
					want: []string{
						acmeExactEarlier.ID + " 150.00 same_customer balance_equals_amount",
						acmeExact.ID + " 150.00 same_customer balance_equals_amount",
						globeRef.ID + " 150.00 reference_matches",
						acmeLarge.ID + " 150.00 same_customer",
						acmeLarger.ID + " 150.00 same_customer",
						globeExact.ID + " 150.00 balance_equals_amount",
					},
				},
				{
					name: "reference quoting the QuickBooks document number, ignoring case, without a customer",
					p: recon.Problem{Kind: reconciliationitem.KindCustomerMismatch, QBOID: "78", Amount: amount("275.00"),
						Reference: " qb-1001 "},
					want: []string{globeDoc.ID + " 275.00 balance_equals_amount reference_matches"},
				},
				{
					name: "the amount applied is at most the balance",
					p: recon.Problem{Kind: reconciliationitem.KindAmountMismatch, QBOID: "79", CustomerID: *acme,
						Amount: amount("600.00"), Currency: "USD"},
					want: []string{acmeLarger.ID + " 600.00 same_customer"},
				},
				{
					name: "reference and customer on one invoice rank it first among references",
					p: recon.Problem{Kind: reconciliationitem.KindUnmatchedPayment, QBOID: "80", CustomerID: *acme,
						Amount: amount("20.00"), Reference: *acmeLarge.Number},
					want: []string{
						acmeLarge.ID + " 20.00 same_customer reference_matches",
						acmeSmall.ID + " 20.00 same_customer",
						acmeExactEarlier.ID + " 20.00 same_customer",
						acmeExact.ID + " 20.00 same_customer",
						acmeLarger.ID + " 20.00 same_customer",
					},
				},
				{
					name: "another currency finds nothing",
					p: recon.Problem{Kind: reconciliationitem.KindCurrencyMismatch, QBOID: "81", CustomerID: *acme,
						Amount: amount("150.00"), Currency: "GBP"},
					want: []string{},
				},
				{
					name: "an invoice deleted in QuickBooks has nothing to match",
					p: recon.Problem{Kind: reconciliationitem.KindRemoteDelete, QBOType: "Invoice", QBOID: "82",
						RecordType: "invoice", RecordID: acmeExact.ID, CustomerID: *acme, Amount: amount("150.00")},
					want: []string{},
				},
				{
					name: "a change to a payment Books pushed has nothing to match",
					p: recon.Problem{Kind: reconciliationitem.KindRemoteChange, QBOID: "83", CustomerID: *acme,
						Amount: amount("150.00")},
					want: []string{},
				},
				{
					name: "a payment without an amount",
					p:    recon.Problem{Kind: reconciliationitem.KindUnmatchedPayment, QBOID: "84", CustomerID: *acme},
					want: []string{},
				},
			} {
				t.Run(tc.name, func(t *testing.T) {
					it := b.raise(t, a, tc.p)
					ss, err := recon.Suggest(a.ctx, b.client, it)
					require.NoError(t, err)
					require.Equal(t, tc.want, got(ss))
					for _, s := range ss {
						require.Equal(t, s.InvoiceID, s.Invoice.ID)
					}
				})
			}

			t.Run("settled items get none", func(t *testing.T) {
				it := b.raise(t, a, recon.Problem{Kind: reconciliationitem.KindUnmatchedPayment, QBOID: "90", CustomerID: *acme,
					Amount: amount("150.00")})
				ss, err := recon.Suggest(a.ctx, b.client, it)
				require.NoError(t, err)
				require.NotEmpty(t, ss)
				it, err = b.queue.Dismiss(a.ctx, b.client, it.ID, "a duplicate")
				require.NoError(t, err)
				ss, err = recon.Suggest(a.ctx, b.client, it)
				require.NoError(t, err)
				require.Empty(t, ss)
			})

			t.Run("another organization's invoices are never suggested", func(t *testing.T) {
				// Org B's item, read in org A's scope: its entity's invoices are not org A's.
				it := b.raise(t, b.b, recon.Problem{Kind: reconciliationitem.KindUnmatchedPayment, QBOID: "77",
					CustomerID: b.b.acme.ID, Amount: amount("150.00")})
				ss, err := recon.Suggest(b.b.ctx, b.client, it)
				require.NoError(t, err)
				require.Len(t, ss, 2, "org B sees its own")
				ss, err = recon.Suggest(a.ctx, b.client, it)
				require.NoError(t, err)
				require.Empty(t, ss)
			})

			t.Run("at most ten", func(t *testing.T) {
				for range 12 {
					b.invoice(t, a, a.globe, "42.00", "2026-12-01", false)
				}
				it := b.raise(t, a, recon.Problem{Kind: reconciliationitem.KindUnmatchedPayment, QBOID: "91",
					Amount: amount("42.00")})
				ss, err := recon.Suggest(a.ctx, b.client, it)
				require.NoError(t, err)
				require.Len(t, ss, recon.MaxSuggestions)
			})
		})
	}
}
