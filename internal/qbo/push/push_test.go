package push_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/adminissue"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/qbolink"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/qbo/conn"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/qbo/settings"
	"books/internal/secrets"
	"books/internal/tenant"
)

type testBundle struct {
	client   *ent.Client
	ctx      context.Context // alice, an accountant
	bob      context.Context // bob, a finance lead: approves
	org      string
	entity   *ent.LegalEntity
	customer *ent.Customer
	item     *ent.Item
	class    *ent.Class
	srv      *qbotest.Server
	realm    *qbotest.Realm
	store    *conn.Store
	row      *ent.QBOConnection
	engine   *push.Engine
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func setup(t *testing.T, dialectName string, opts ...qbotest.Option) *testBundle {
	t.Helper()
	return setupOn(t, dbtest.Open(t, dialectName), opts...)
}

func setupOn(t *testing.T, db *database.DB, opts ...qbotest.Option) *testBundle {
	t.Helper()
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	alice := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAccountant}})
	bob := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})
	b := &testBundle{client: client, ctx: alice, bob: bob, org: org.ID}
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, client, org.ID)
		}
	})
	b.entity, err = ledger.CreateEntity(alice, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	b.customer = b.newCustomer(t, "Acme", true)
	b.item, err = billing.CreateItem(alice, client, ent.CreateItemInput{Name: "Consulting hour", EntityID: b.entity.ID,
		IncomeAccountID: b.accountID(t, "4000"), DefaultRate: money.MustParse("150.00")})
	require.NoError(t, err)
	b.class, err = ledger.CreateClass(alice, client, ent.CreateClassInput{EntityID: b.entity.ID, Name: "Consulting"})
	require.NoError(t, err)

	b.srv = qbotest.NewServer(t, append([]qbotest.Option{qbotest.WithRealms(1), qbotest.WithoutLimits()}, opts...)...)
	b.realm = b.srv.Realm(b.srv.RealmIDs()[0])
	tok := b.srv.IssueTokens(b.realm.ID())
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	b.store = conn.NewStore(box)
	now := time.Now().UTC()
	b.row, err = b.store.Save(alice, client, conn.Connect{EntityID: b.entity.ID, RealmID: b.realm.ID(), BaseURL: b.srv.URL,
		Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
			RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	b.engine = &push.Engine{Store: b.store, HTTPClient: func(context.Context, *ent.QBOConnection) (*http.Client, error) {
		return &http.Client{Transport: bearer{tok.AccessToken}, Timeout: 5 * time.Second}, nil
	}}
	b.mapAccounts(t)
	b.setSettings(t, settings.Settings{ServiceItemID: "1"})
	return b
}

func eachDialect(t *testing.T, fn func(t *testing.T, b *testBundle), opts ...qbotest.Option) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, d, opts...))
		})
	}
}

func (b *testBundle) newCustomer(t *testing.T, name string, withEmail bool) *ent.Customer {
	t.Helper()
	in := ent.CreateCustomerInput{Name: name + " Corp", DisplayName: name, Currency: "USD"}
	if withEmail {
		email := strings.ToLower(name) + "@example.com"
		in.Email = &email
	}
	cus, err := billing.CreateCustomer(b.ctx, b.client, in)
	require.NoError(t, err)
	return cus
}

func (b *testBundle) accountID(t *testing.T, code string) string {
	t.Helper()
	id, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID), account.Code(code)).OnlyID(b.ctx)
	require.NoError(t, err)
	return id
}

// mapAccounts maps every Books account to a QuickBooks account of the same kind (the
// account mapping itself is internal/qbo/lists').
func (b *testBundle) mapAccounts(t *testing.T) {
	t.Helper()
	byName := map[string]string{}
	for _, a := range b.realm.Accounts() {
		byName[a["Name"].(string)] = a["Id"].(string)
	}
	accts, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID)).All(b.ctx)
	require.NoError(t, err)
	for _, a := range accts {
		name := "Undeposited Funds"
		switch {
		case a.Subtype == account.SubtypeAccountsReceivable:
			name = "Accounts Receivable (A/R)"
		case a.Type == account.TypeLiability:
			name = "Deferred Revenue"
		case a.Type == account.TypeEquity:
			name = "Retained Earnings"
		case a.Type == account.TypeRevenue:
			name = "Services"
		case a.Type == account.TypeExpense:
			name = "Office Expenses"
		}
		_, err := b.client.QBOLink.Create().SetConnectionID(b.row.ID).SetEntityID(b.entity.ID).
			SetRecordType(qbolink.RecordTypeAccount).SetRecordID(a.ID).SetQboType("Account").SetQboID(byName[name]).
			SetStatus(qbolink.StatusSynced).SetSyncedGeneration(1).Save(b.ctx)
		require.NoError(t, err)
	}
}

func (b *testBundle) setSettings(t *testing.T, s settings.Settings) {
	t.Helper()
	var err error
	b.row, err = b.client.QBOConnection.UpdateOne(b.row).SetSettings(s).Save(b.ctx)
	require.NoError(t, err)
}

// approvedInvoice creates and approves an invoice with one line per amount, service dates
// starting on from, one day apart unless spread is set (then one month apart).
func (b *testBundle) approvedInvoice(t *testing.T, cus *ent.Customer, amounts ...string) *ent.Invoice {
	t.Helper()
	var lines []billing.LineInput
	for i, a := range amounts {
		price := money.MustParse(a)
		d := caldate.MustParse("2026-09-15").AddMonths(i)
		lines = append(lines, billing.LineInput{ItemID: b.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price,
			ClassID: b.class.ID, ServiceDate: &d})
	}
	inv, err := billing.CreateInvoice(b.ctx, b.client, billing.InvoiceInput{EntityID: b.entity.ID, CustomerID: cus.ID,
		IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"), Lines: lines})
	require.NoError(t, err)
	_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
	require.NoError(t, err)
	inv, err = billing.ApproveInvoice(b.bob, b.client, inv.ID)
	require.NoError(t, err)
	return inv
}

func (b *testBundle) pay(t *testing.T, inv *ent.Invoice, amount string) *ent.Payment {
	t.Helper()
	p, err := billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: b.entity.ID, CustomerID: inv.CustomerID,
		Amount: money.MustParse(amount), ReceivedDate: caldate.MustParse("2026-11-10"), Method: payment.MethodAch,
		Applications: []billing.Application{{InvoiceID: inv.ID, Amount: money.MustParse(amount)}}})
	require.NoError(t, err)
	return p
}

func (b *testBundle) push(t *testing.T, rt qbolink.RecordType, ids ...string) []*ent.QBOLink {
	t.Helper()
	links, err := b.engine.Push(b.ctx, b.client, b.entity.ID, rt, ids)
	require.NoError(t, err)
	return links
}

func (b *testBundle) drain(t *testing.T) error {
	t.Helper()
	return b.engine.Drain(b.ctx, b.client, b.row.ID)
}

func (b *testBundle) link(t *testing.T, rt qbolink.RecordType, id string, part int) *ent.QBOLink {
	t.Helper()
	l, err := b.client.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeEQ(rt),
		qbolink.RecordID(id), qbolink.Part(part)).Only(b.ctx)
	require.NoError(t, err)
	return l
}

func (b *testBundle) issues(t *testing.T, code string) []*ent.AdminIssue {
	t.Helper()
	iss, err := b.client.AdminIssue.Query().Where(adminissue.ErrorCode(code)).All(b.ctx)
	require.NoError(t, err)
	return iss
}

func requireAmount(t *testing.T, want string, got any, msg ...any) {
	t.Helper()
	s, ok := got.(interface{ String() string })
	require.True(t, ok, "%v is not a JSON number", got)
	g, err := money.Parse(s.String())
	require.NoError(t, err)
	require.Equal(t, money.MustParse(want).String(), g.String(), msg...)
}

func count(list []map[string]any, pred func(map[string]any) bool) int {
	n := 0
	for _, o := range list {
		if pred(o) {
			n++
		}
	}
	return n
}

func field(o map[string]any, path ...string) any {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func TestPushInvoiceWithPaymentAndDependencies(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, b.customer, "1000.00", "250.50")
		p := b.pay(t, inv, "400.00")
		links := b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.Len(t, links, 1)
		require.Equal(t, qbolink.StatusPending, links[0].Status)
		pending, err := b.client.Customer.Get(b.ctx, b.customer.ID)
		require.NoError(t, err)
		require.Equal(t, "pending", string(pending.SyncStatus), "the customer rides along, pending")
		require.NoError(t, b.drain(t))

		il := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
		require.Equal(t, qbolink.StatusSynced, il.Status)
		require.Equal(t, *inv.Number, il.DocNumber)
		qinv, ok := b.realm.Get("Invoice", *il.QboID)
		require.True(t, ok)
		require.Equal(t, *inv.Number, qinv["DocNumber"])
		requireAmount(t, "1250.50", field(qinv, "TotalAmt"))
		requireAmount(t, "850.50", field(qinv, "Balance"), "the payment carried along")
		require.Equal(t, "acme@example.com", field(qinv, "BillEmail", "Address"))

		cl := b.link(t, qbolink.RecordTypeCustomer, b.customer.ID, 0)
		require.Equal(t, *cl.QboID, field(qinv, "CustomerRef", "value"))
		itl := b.link(t, qbolink.RecordTypeItem, b.item.ID, 0)
		line := qinv["Line"].([]any)[0].(map[string]any)
		require.Equal(t, *itl.QboID, field(line, "SalesItemLineDetail", "ItemRef", "value"))
		require.Equal(t, *b.link(t, qbolink.RecordTypeClass, b.class.ID, 0).QboID, field(line, "SalesItemLineDetail", "ClassRef", "value"))
		require.Equal(t, "2026-09-15", field(line, "SalesItemLineDetail", "ServiceDate"))

		pl := b.link(t, qbolink.RecordTypePayment, p.ID, 0)
		require.Equal(t, qbolink.StatusSynced, pl.Status)
		require.Equal(t, "400.00", pl.QboTotal.String())
		require.Equal(t, "850.50", il.QboBalance.String())

		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		require.Equal(t, "synced", string(got.SyncStatus))
		require.Empty(t, b.issues(t, apperr.QBOAmountMismatch))

		// Pushing again changes nothing in QuickBooks: one record per Books record.
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		require.Len(t, b.realm.Invoices(), 1)
		require.Equal(t, 1, count(b.realm.Customers(), func(o map[string]any) bool { return o["DisplayName"] == "Acme" }))
		require.Len(t, b.realm.List("Payment"), 1)
	})
}

func TestOnlyApprovedInvoicesArePushed(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		price := money.MustParse("10.00")
		draft, err := billing.CreateInvoice(b.ctx, b.client, billing.InvoiceInput{EntityID: b.entity.ID, CustomerID: b.customer.ID,
			IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"),
			Lines: []billing.LineInput{{ItemID: b.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price}}})
		require.NoError(t, err)
		_, err = b.engine.Push(b.ctx, b.client, b.entity.ID, qbolink.RecordTypeInvoice, []string{draft.ID})
		require.Equal(t, apperr.QBONotPushable, apperr.Code(err))
		n, err := b.client.QBOLink.Query().Where(qbolink.RecordID(draft.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestCustomerWithoutEmailBlocksInvoice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		cus := b.newCustomer(t, "Nomail", false)
		inv := b.approvedInvoice(t, cus, "100.00")
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		il := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
		require.Equal(t, qbolink.StatusError, il.Status)
		require.Equal(t, apperr.QBOCustomerEmailRequired, il.LastErrorCode)
		iss := b.issues(t, apperr.QBOCustomerEmailRequired)
		require.Len(t, iss, 1)
		require.Equal(t, inv.ID, iss[0].SubjectID)
		require.Empty(t, b.realm.Invoices())

		// A person adds the email and retries the issue's job: the invoice goes.
		email := "nomail@example.com"
		_, err := billing.UpdateCustomer(b.ctx, b.client, cus.ID, ent.UpdateCustomerInput{Email: &email})
		require.NoError(t, err)
		require.NoError(t, b.engine.Retry(b.ctx, b.client, il.ID))
		require.NoError(t, b.drain(t))
		require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).Status)
		require.Len(t, b.realm.Invoices(), 1)
	})
}

func TestCreateAnswerLostIsFoundNotDuplicated(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		invs := []*ent.Invoice{b.approvedInvoice(t, b.customer, "100.00"), b.approvedInvoice(t, b.customer, "200.00"),
			b.approvedInvoice(t, b.customer, "300.00")}
		// Every batch (and the single create of the customer) commits in QuickBooks and its
		// answer is lost, once.
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: 10}))
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "customer", Kind: qbotest.FaultTimeoutAfterCommit, Count: 1, LatencyMS: 10}))
		ids := []string{invs[0].ID, invs[1].ID, invs[2].ID}
		b.push(t, qbolink.RecordTypeInvoice, ids...)
		for i := 0; i < 5; i++ {
			if err := b.drain(t); err == nil {
				break
			}
		}
		require.Len(t, b.realm.Invoices(), 3)
		require.Len(t, b.realm.Customers(), 1+count(b.realm.Customers(), func(o map[string]any) bool { return o["DisplayName"] != "Acme" }))
		for _, inv := range invs {
			l := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
			require.Equal(t, qbolink.StatusSynced, l.Status)
			q, ok := b.realm.Get("Invoice", *l.QboID)
			require.True(t, ok)
			require.Equal(t, *inv.Number, q["DocNumber"])
		}
	})
}

func TestReconnectMatchesExistingRecords(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, b.customer, "100.00")
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		before := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)

		// Links lost (unsync everything): a new push links the same records, creating none.
		for _, rt := range []qbolink.RecordType{qbolink.RecordTypeInvoice, qbolink.RecordTypeCustomer, qbolink.RecordTypeItem, qbolink.RecordTypeClass} {
			ids, err := b.client.QBOLink.Query().Where(qbolink.RecordTypeEQ(rt)).Select(qbolink.FieldRecordID).Strings(b.ctx)
			require.NoError(t, err)
			for _, id := range ids {
				_, err := b.engine.Unlink(b.ctx, b.client, b.entity.ID, rt, id)
				require.NoError(t, err)
			}
		}
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		after := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
		require.Equal(t, *before.QboID, *after.QboID)
		require.Len(t, b.realm.Invoices(), 1)
		require.Len(t, b.realm.Customers(), 1)
		require.Equal(t, 1, count(b.realm.Items(), func(o map[string]any) bool { return o["Name"] == "Consulting hour" }))
	})
}

func TestAmbiguousMatchRaisesIssue(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		// Two QuickBooks customers share Books' customer's email, neither has its name.
		for _, name := range []string{"Acme East", "Acme West"} {
			_, err := b.engine.Push(b.ctx, b.client, b.entity.ID, qbolink.RecordTypeCustomer, []string{b.newCustomerNamed(t, name).ID})
			require.NoError(t, err)
		}
		require.NoError(t, b.drain(t))
		require.Len(t, b.realm.Customers(), 2)
		b.push(t, qbolink.RecordTypeCustomer, b.customer.ID)
		require.NoError(t, b.drain(t))
		l := b.link(t, qbolink.RecordTypeCustomer, b.customer.ID, 0)
		require.Equal(t, qbolink.StatusError, l.Status)
		require.Equal(t, apperr.QBOAmbiguousMatch, l.LastErrorCode)
		require.Len(t, b.realm.Customers(), 2, "nothing created on a guess")
		require.Len(t, b.issues(t, apperr.QBOAmbiguousMatch), 1)
	})
}

// newCustomerNamed makes a customer with Acme's email under another name.
func (b *testBundle) newCustomerNamed(t *testing.T, name string) *ent.Customer {
	t.Helper()
	email := "acme@example.com"
	cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: name, DisplayName: name, Currency: "USD", Email: &email})
	require.NoError(t, err)
	return cus
}

func TestVoidPushedInvoiceVoidsInQuickBooks(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, b.customer, "100.00")
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.NoError(t, b.drain(t))
		_, err := billing.VoidInvoice(b.bob, b.client, inv.ID, "billed twice")
		require.NoError(t, err)
		require.NoError(t, b.engine.Changed(b.ctx, b.client, qbolink.RecordTypeInvoice, inv.ID))
		l := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
		require.Equal(t, qbolink.OperationVoid, l.Operation)
		require.NoError(t, b.drain(t))
		q, ok := b.realm.Get("Invoice", *l.QboID)
		require.True(t, ok)
		requireAmount(t, "0", field(q, "TotalAmt"))
		require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).Status)
	})
}

func TestSplitInvoiceByMonthAndPaymentAllocation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.setSettings(t, settings.Settings{ServiceItemID: "1", SplitInvoiceByMonth: true, InvoiceDateMode: settings.PeriodEnd})
		inv := b.approvedInvoice(t, b.customer, "100.00", "200.00", "300.00")
		p := b.pay(t, inv, "250.00")
		links := b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.Len(t, links, 3)
		require.NoError(t, b.drain(t))
		qinvs := b.realm.Invoices()
		require.Len(t, qinvs, 3)
		var docs []string
		balance := money.Amount{}
		for _, q := range qinvs {
			docs = append(docs, q["DocNumber"].(string))
			bal, err := money.Parse(field(q, "Balance").(interface{ String() string }).String())
			require.NoError(t, err)
			balance = balance.Add(bal)
		}
		require.ElementsMatch(t, []string{*inv.Number + "-1", *inv.Number + "-2", *inv.Number + "-3"}, docs)
		require.Equal(t, "350.00", balance.String())
		first := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 202609)
		q, _ := b.realm.Get("Invoice", *first.QboID)
		require.Equal(t, "2026-09-15", q["TxnDate"], "period end of the part")
		requireAmount(t, "0", field(q, "Balance"), "oldest month paid first")
		require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypePayment, p.ID, 0).Status)
		require.Empty(t, b.issues(t, apperr.QBOAmountMismatch))
	})
}

func TestCreditMemoRefundWriteOffAndJournalEntry(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		inv := b.approvedInvoice(t, b.customer, "500.00")
		cm, err := billing.IssueCreditMemo(b.ctx, b.client, billing.CreditMemoInput{EntityID: b.entity.ID, CustomerID: b.customer.ID,
			Amount: money.MustParse("50.00"), Date: caldate.MustParse("2026-11-05"), Reason: "goodwill",
			Applications: []billing.Application{{InvoiceID: inv.ID, Amount: money.MustParse("50.00")}}})
		require.NoError(t, err)
		p := b.pay(t, inv, "100.00")
		rf, err := billing.RefundPayment(b.bob, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: money.MustParse("10.00"),
			Date: caldate.MustParse("2026-11-12"), Reason: "overcharge"})
		require.NoError(t, err)
		wo, err := billing.WriteOffInvoice(b.bob, b.client, billing.WriteOffInput{InvoiceID: inv.ID,
			Date: caldate.MustParse("2026-11-20"), Reason: "uncollectible"})
		require.NoError(t, err)
		b.setSettings(t, settings.Settings{ServiceItemID: "1", DefaultDepositAccountID: b.depositAccount(t)})

		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		b.push(t, qbolink.RecordTypeRefund, rf.ID)
		b.push(t, qbolink.RecordTypeWriteOff, wo.ID)
		require.NoError(t, b.drain(t))
		for _, l := range []*ent.QBOLink{b.link(t, qbolink.RecordTypeCreditMemo, cm.ID, 0), b.link(t, qbolink.RecordTypeCreditMemo, cm.ID, 1),
			b.link(t, qbolink.RecordTypePayment, p.ID, 0), b.link(t, qbolink.RecordTypeRefund, rf.ID, 0),
			b.link(t, qbolink.RecordTypeWriteOff, wo.ID, 0)} {
			require.Equal(t, qbolink.StatusSynced, l.Status, "%s %s: %s", l.RecordType, l.RecordID, l.LastError)
		}
		je, ok := b.realm.Get("JournalEntry", *b.link(t, qbolink.RecordTypeWriteOff, wo.ID, 0).QboID)
		require.True(t, ok)
		var arLine map[string]any
		for _, l := range je["Line"].([]any) {
			if field(l.(map[string]any), "JournalEntryLineDetail", "Entity") != nil {
				arLine = l.(map[string]any)
			}
		}
		require.NotNil(t, arLine, "the receivable line names the customer")
		require.Equal(t, *b.link(t, qbolink.RecordTypeCustomer, b.customer.ID, 0).QboID,
			field(arLine, "JournalEntryLineDetail", "Entity", "EntityRef", "value"))
		qinv, _ := b.realm.Get("Invoice", *b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).QboID)
		// 500 − 50 credit − 90 paid (the refund took 10 back off the invoice); the write-off of
		// the remaining 360 is a journal entry QuickBooks' invoice does not see.
		requireAmount(t, "360", field(qinv, "Balance"))
		require.Empty(t, b.issues(t, apperr.QBOAmountMismatch))
		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		require.NotEqual(t, invoice.StatusVoid, got.Status)
	})
}

func (b *testBundle) depositAccount(t *testing.T) string {
	t.Helper()
	for _, a := range b.realm.Accounts() {
		if a["Name"] == "Checking" {
			return a["Id"].(string)
		}
	}
	t.Fatal("no Checking account")
	return ""
}

func TestManualJournalEntryPushedWithClasses(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		res, err := ledger.Post(b.ctx, b.client, ledger.Entry{EntityID: b.entity.ID, Date: caldate.MustParse("2026-11-15"),
			Description: "Accrued consulting", Source: source.Books, Lines: []ledger.Line{
				{AccountCode: "6000", Debit: money.MustParse("120.00"), ClassID: b.class.ID},
				{AccountCode: "1000", Credit: money.MustParse("120.00")},
			}})
		require.NoError(t, err)
		require.NoError(t, b.engine.Changed(b.ctx, b.client, qbolink.RecordTypeJournalEntry, res.Entry.ID))
		l := b.link(t, qbolink.RecordTypeJournalEntry, res.Entry.ID, 0)
		require.Equal(t, qbolink.StatusPending, l.Status, "a connected entity's manual entry is pushed without being asked")
		require.NoError(t, b.drain(t))
		l = b.link(t, qbolink.RecordTypeJournalEntry, res.Entry.ID, 0)
		require.Equal(t, qbolink.StatusSynced, l.Status, l.LastError)
		je, ok := b.realm.Get("JournalEntry", *l.QboID)
		require.True(t, ok)
		cls := *b.link(t, qbolink.RecordTypeClass, b.class.ID, 0).QboID
		lines := je["Line"].([]any)
		require.Len(t, lines, 2)
		require.Equal(t, cls, field(lines[0].(map[string]any), "JournalEntryLineDetail", "ClassRef", "value"))
		requireAmount(t, "120.00", field(lines[0].(map[string]any), "Amount"))

		// An invoice's own entry is not a manual entry: it reaches QuickBooks as the invoice.
		inv := b.approvedInvoice(t, b.customer, "10.00")
		_, err = b.engine.Push(b.ctx, b.client, b.entity.ID, qbolink.RecordTypeJournalEntry, []string{*inv.JournalEntryID})
		require.Equal(t, apperr.QBONotPushable, apperr.Code(err))
	})
}

func TestTransientFaultsRetriedWithinDrain(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		invs := []string{b.approvedInvoice(t, b.customer, "10.00").ID, b.approvedInvoice(t, b.customer, "20.00").ID}
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultServerError, Count: 2}))
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "query", Kind: qbotest.FaultThrottle, Count: 1}))
		b.push(t, qbolink.RecordTypeInvoice, invs...)
		require.NoError(t, b.drain(t), "a few throttles and 5xx are ridden out in the drain")
		for _, id := range invs {
			require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeInvoice, id, 0).Status)
		}
		require.Len(t, b.realm.Invoices(), 2)

		// Past the retries, the drain fails for River to retry later; nothing is lost.
		b.engine.Retries = 1
		inv := b.approvedInvoice(t, b.customer, "30.00")
		require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "invoice", Kind: qbotest.FaultServerError, Count: 2}))
		b.push(t, qbolink.RecordTypeInvoice, inv.ID)
		require.Error(t, b.drain(t))
		require.Equal(t, qbolink.StatusPending, b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).Status)
		require.NoError(t, b.drain(t))
		require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0).Status)
		require.Len(t, b.realm.Invoices(), 3)
	})
}
