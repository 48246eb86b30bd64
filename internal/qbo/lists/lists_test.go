package lists_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/ent/qbolistentry"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/internal/qbo/lists"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
)

// bearer adds the access token, as the client of oauth2.NewClient does.
type bearer struct{ token string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

type testBundle struct {
	db    *database.DB
	c     *ent.Client
	store *conn.Store
	ctx   context.Context // organization A
	ctxB  context.Context // organization B
	us    string          // entities of A
	uk    string
	other string // entity of B

	srv    *qbotest.Server
	realm  string      // the company us is connected to
	api    *qbo.Client // a client of realm
	conn   *ent.QBOConnection
	realm2 string // a second company, connected to nobody until a test says so
}

func setup(t *testing.T, d string) *testBundle {
	t.Helper()
	db := dbtest.Open(t, d)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	b := &testBundle{db: db, c: db.Client(), store: conn.NewStore(box)}
	sys := tenant.System(context.Background())
	entity := func(ctx context.Context, code, name string) string {
		e, err := b.c.LegalEntity.Create().SetCode(code).SetName(name).SetBaseCurrency("USD").Save(ctx)
		require.NoError(t, err)
		return e.ID
	}
	for _, ctx := range []*context.Context{&b.ctx, &b.ctxB} {
		org, err := b.c.Organization.Create().SetName("Org").Save(sys)
		require.NoError(t, err)
		*ctx = tenant.WithOrg(context.Background(), org.ID)
	}
	b.us = entity(b.ctx, "US", "Northwind Services LLC")
	b.uk = entity(b.ctx, "UK", "Northwind Services Ltd")
	b.other = entity(b.ctxB, "US", "Other Org Inc")

	b.srv = qbotest.NewServer(t, qbotest.WithRealms(2))
	b.realm, b.realm2 = b.srv.RealmIDs()[0], b.srv.RealmIDs()[1]
	b.api = b.client(t, b.realm)
	b.conn = b.connect(t, b.ctx, b.us, b.realm)
	return b
}

// client returns a qbo.Client of realm with a fresh access token.
func (b *testBundle) client(t *testing.T, realm string) *qbo.Client {
	t.Helper()
	api, err := qbo.New(qbo.Config{BaseURL: b.srv.URL, RealmID: realm,
		HTTPClient: &http.Client{Transport: bearer{token: b.srv.IssueTokens(realm).AccessToken}}})
	require.NoError(t, err)
	return api
}

func (b *testBundle) connect(t *testing.T, ctx context.Context, entity, realm string) *ent.QBOConnection {
	t.Helper()
	at := time.Now().UTC()
	row, err := b.store.Save(ctx, b.c, conn.Connect{EntityID: entity, RealmID: realm, BaseURL: b.srv.URL,
		Tokens: conn.Tokens{Access: "access", Refresh: "refresh", AccessExpiresAt: at.Add(time.Hour),
			RefreshExpiresAt: at.Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	return row
}

func (b *testBundle) update(t *testing.T) lists.Summary {
	t.Helper()
	sum, err := lists.Update(b.ctx, b.c, b.api, b.conn.ID)
	require.NoError(t, err)
	return sum
}

// control writes to the company as a QuickBooks user would (not through the client).
func (b *testBundle) control(t *testing.T, entity string, body map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(b.srv.URL+"/_control/realms/"+b.realm+"/"+entity, "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)
	var env map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &env), "%s", out)
	var o map[string]any
	for k, v := range env {
		if k != "time" {
			require.NoError(t, json.Unmarshal(v, &o))
		}
	}
	require.NotNil(t, o, "no entity in %s", out)
	return o
}

// qboID returns the QuickBooks id of the entity named name.
func (b *testBundle) qboID(t *testing.T, entity, name string) string {
	t.Helper()
	o, ok := b.srv.Realm(b.realm).FindByName(entity, name)
	require.True(t, ok, "%s %q", entity, name)
	return o["Id"].(string)
}

// sparse changes fields of a QuickBooks list object as a QuickBooks user would.
func (b *testBundle) sparse(t *testing.T, entity, id string, fields map[string]any) {
	t.Helper()
	o, ok := b.srv.Realm(b.realm).Get(entity, id)
	require.True(t, ok)
	body := map[string]any{"Id": id, "SyncToken": o["SyncToken"], "sparse": true}
	for k, v := range fields {
		body[k] = v
	}
	b.control(t, entity, body)
}

func (b *testBundle) entry(t *testing.T, list qbolistentry.List, qboID string) *ent.QBOListEntry {
	t.Helper()
	e, err := b.c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(b.conn.ID), qbolistentry.ListEQ(list),
		qbolistentry.QboID(qboID)).Only(b.ctx)
	require.NoError(t, err, "%s %s", list, qboID)
	return e
}

// account creates a Books account and returns its id.
func (b *testBundle) account(t *testing.T, ctx context.Context, entity, code, name string) string {
	t.Helper()
	a, err := b.c.Account.Create().SetEntityID(entity).SetCode(code).SetName(name).
		SetType(account.TypeAsset).SetSubtype(account.SubtypeBank).Save(ctx)
	require.NoError(t, err)
	return a.ID
}

func (b *testBundle) mapping(t *testing.T, accountID string) *ent.QBOLink {
	t.Helper()
	l, err := b.c.QBOLink.Query().Where(qbolink.ConnectionID(b.conn.ID),
		qbolink.RecordTypeEQ(qbolink.RecordTypeAccount), qbolink.RecordID(accountID)).Only(b.ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return l
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, apperr.Code(err), "%v", err)
}

func eachDialect(t *testing.T, test func(t *testing.T, b *testBundle)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, d))
		})
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()

	t.Run("StoresEachList", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			checking := b.qboID(t, "Account", "Checking")
			payroll := b.control(t, "account", map[string]any{"Name": "Payroll", "AccountType": "Bank",
				"AccountSubType": "Checking", "ParentRef": map[string]any{"value": checking}})["Id"].(string)
			// Inactive before the first fetch: still stored, inactive.
			b.sparse(t, "Account", b.qboID(t, "Account", "Rent or Lease"), map[string]any{"Active": false})
			consulting := b.control(t, "class", map[string]any{"Name": "Consulting"})["Id"].(string)
			east := b.control(t, "class", map[string]any{"Name": "East",
				"ParentRef": map[string]any{"value": consulting}})["Id"].(string)
			parts := b.control(t, "item", map[string]any{"Name": "Parts", "Type": "NonInventory",
				"IncomeAccountRef": map[string]any{"value": b.qboID(t, "Account", "Sales of Product Income")}})["Id"].(string)

			sum := b.update(t)
			require.Equal(t, lists.Count{Fetched: 18, Active: 17, Added: 18}, sum.Accounts)
			require.Equal(t, lists.Count{Fetched: 6, Active: 6, Added: 6}, sum.PaymentMethods)
			require.Equal(t, lists.Count{Fetched: 2, Active: 2, Added: 2}, sum.Items)
			require.Equal(t, lists.Count{Fetched: 2, Active: 2, Added: 2}, sum.Classes)
			require.Equal(t, lists.Count{Fetched: 3, Active: 3, Added: 3}, sum.CustomFields)
			require.Zero(t, sum.AutoMapped)

			for _, tt := range []struct {
				list                   qbolistentry.List
				qboID                  string
				name, kind, subkind    string
				active, depositAllowed bool
			}{
				{qbolistentry.ListAccount, checking, "Checking", "Bank", "Checking", true, true},
				{qbolistentry.ListAccount, payroll, "Checking:Payroll", "Bank", "Checking", true, true},
				{qbolistentry.ListAccount, b.qboID(t, "Account", "Undeposited Funds"), "Undeposited Funds",
					"Other Current Asset", "UndepositedFunds", true, true},
				{qbolistentry.ListAccount, b.qboID(t, "Account", "Accounts Receivable (A/R)"), "Accounts Receivable (A/R)",
					"Accounts Receivable", "AccountsReceivable", true, false},
				{qbolistentry.ListAccount, b.qboID(t, "Account", "Services"), "Services", "Income", "ServiceFeeIncome", true, false},
				{qbolistentry.ListAccount, b.qboID(t, "Account", "Deferred Revenue"), "Deferred Revenue",
					"Other Current Liability", "OtherCurrentLiabilities", true, false},
				{qbolistentry.ListAccount, b.qboID(t, "Account", "Rent or Lease"), "Rent or Lease", "Expense",
					"RentOrLeaseOfBuildings", false, false},
				{qbolistentry.ListPaymentMethod, b.qboID(t, "PaymentMethod", "Visa"), "Visa", "CREDIT_CARD", "", true, false},
				{qbolistentry.ListPaymentMethod, b.qboID(t, "PaymentMethod", "Check"), "Check", "NON_CREDIT_CARD", "", true, false},
				{qbolistentry.ListItem, "1", "Services", "Service", "", true, false},
				{qbolistentry.ListItem, parts, "Parts", "NonInventory", "", true, false},
				{qbolistentry.ListClass, east, "Consulting:East", "", "", true, false},
				{qbolistentry.ListCustomField, "1", "PO Number", "", "", true, false},
				{qbolistentry.ListCustomField, "3", "Cost Center", "", "", true, false},
			} {
				e := b.entry(t, tt.list, tt.qboID)
				require.Equal(t, tt.name, e.Name)
				require.Equal(t, tt.kind, e.QboKind, tt.name)
				require.Equal(t, tt.subkind, e.QboSubkind, tt.name)
				require.Equal(t, tt.active, e.Active, tt.name)
				require.Equal(t, tt.depositAllowed, e.DepositAllowed, tt.name)
				require.True(t, e.FetchedAt.Equal(sum.UpdatedAt), tt.name)
			}
			row, err := b.c.QBOConnection.Get(b.ctx, b.conn.ID)
			require.NoError(t, err)
			require.NotNil(t, row.ListsUpdatedAt)
			require.True(t, row.ListsUpdatedAt.Equal(sum.UpdatedAt))

			deposits, err := b.c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(b.conn.ID),
				qbolistentry.DepositAllowed(true)).All(b.ctx)
			require.NoError(t, err)
			var names []string
			for _, e := range deposits {
				names = append(names, e.Name)
			}
			require.ElementsMatch(t, []string{"Checking", "Savings", "Checking:Payroll", "Undeposited Funds",
				"Prepaid Expenses", "Inventory Asset"}, names, "Bank and Other Current Asset accounts only")

			got, err := lists.Entries(b.ctx, b.c, b.conn.ID, qbolistentry.ListClass)
			require.NoError(t, err)
			require.Len(t, got, 2)
			require.Equal(t, "Consulting", got[0].Name)
			require.Equal(t, "Consulting:East", got[1].Name)
		})
	})

	t.Run("SecondUpdate", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			first := b.update(t)
			savings := b.qboID(t, "Account", "Savings")
			advertising := b.qboID(t, "Account", "Advertising")
			before := b.entry(t, qbolistentry.ListAccount, savings)

			b.sparse(t, "Account", savings, map[string]any{"Active": false})
			b.sparse(t, "Account", advertising, map[string]any{"Name": "Marketing"})
			b.sparse(t, "PaymentMethod", b.qboID(t, "PaymentMethod", "Discover"), map[string]any{"Active": false})
			require.NoError(t, b.srv.SetSalesCustomField(b.realm, "2", qbotest.SalesCustomField{Name: "Region"}))
			// A stored entry QuickBooks no longer answers (e.g. merged away) becomes inactive.
			gone, err := b.c.QBOListEntry.Create().SetConnectionID(b.conn.ID).SetList(qbolistentry.ListAccount).
				SetQboID("9999").SetName("Old Bank").SetQboKind("Bank").SetDepositAllowed(true).
				SetFetchedAt(first.UpdatedAt).Save(b.ctx)
			require.NoError(t, err)

			sum := b.update(t)
			require.Equal(t, lists.Count{Fetched: 17, Active: 16, Deactivated: 1}, sum.Accounts)
			require.Equal(t, lists.Count{Fetched: 6, Active: 5}, sum.PaymentMethods)
			require.Equal(t, lists.Count{Fetched: 3, Active: 2}, sum.CustomFields)

			region := b.entry(t, qbolistentry.ListCustomField, "2")
			require.Equal(t, "Region", region.Name)
			require.False(t, region.Active, "a custom field not used on sales forms")
			after := b.entry(t, qbolistentry.ListAccount, savings)
			require.Equal(t, before.ID, after.ID, "the same row")
			require.False(t, after.Active)
			require.True(t, after.DepositAllowed)
			require.True(t, after.FetchedAt.Equal(sum.UpdatedAt))
			require.Equal(t, "Marketing", b.entry(t, qbolistentry.ListAccount, advertising).Name)
			require.False(t, b.entry(t, qbolistentry.ListPaymentMethod, b.qboID(t, "PaymentMethod", "Discover")).Active)
			old := b.entry(t, qbolistentry.ListAccount, "9999")
			require.False(t, old.Active)
			require.True(t, old.FetchedAt.Equal(gone.FetchedAt), "an entry not fetched keeps when it last was")
			unchanged := b.entry(t, qbolistentry.ListAccount, b.qboID(t, "Account", "Checking"))
			require.True(t, unchanged.FetchedAt.Equal(sum.UpdatedAt))

			// Made active again in QuickBooks, active again here.
			b.sparse(t, "Account", savings, map[string]any{"Active": true})
			sum = b.update(t)
			require.Equal(t, 17, sum.Accounts.Active)
			require.True(t, b.entry(t, qbolistentry.ListAccount, savings).Active)
		})
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			requireNothingStored := func(t *testing.T) {
				t.Helper()
				n, err := b.c.QBOListEntry.Query().Count(tenant.System(b.ctx))
				require.NoError(t, err)
				require.Zero(t, n)
				row, err := b.c.QBOConnection.Get(b.ctx, b.conn.ID)
				require.NoError(t, err)
				require.Nil(t, row.ListsUpdatedAt)
			}

			_, err := lists.Update(b.ctxB, b.c, b.api, b.conn.ID)
			requireCode(t, err, apperr.NotFound)
			_, err = lists.Update(b.ctx, b.c, b.client(t, b.realm2), b.conn.ID)
			require.ErrorContains(t, err, "not for company")

			// QuickBooks refuses the token: its error, nothing stored.
			b.srv.RevokeGrants(b.realm)
			_, err = lists.Update(b.ctx, b.c, b.api, b.conn.ID)
			require.True(t, qbo.IsAuth(err), "%v", err)
			requireNothingStored(t)

			_, err = b.store.Disconnect(b.ctx, b.c, b.conn.ID)
			require.NoError(t, err)
			_, err = lists.Update(b.ctx, b.c, b.client(t, b.realm), b.conn.ID)
			requireCode(t, err, apperr.QBONotConnected)
			requireNothingStored(t)
		})
	})
}

func TestAutoMap(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		checking := b.account(t, b.ctx, b.us, "1000", "checking")
		savings := b.account(t, b.ctx, b.us, "1010", "  SAVINGS ")
		noMatch := b.account(t, b.ctx, b.us, "1020", "Petty Cash")
		rent := b.account(t, b.ctx, b.us, "6100", "Rent or Lease")
		deferred1 := b.account(t, b.ctx, b.us, "2400", "Deferred Revenue")
		deferred2 := b.account(t, b.ctx, b.us, "2410", "Deferred revenue")
		ukChecking := b.account(t, b.ctx, b.uk, "1000", "Checking")
		b.sparse(t, "Account", b.qboID(t, "Account", "Rent or Lease"), map[string]any{"Active": false})

		sum := b.update(t)
		require.Equal(t, 4, sum.AutoMapped)
		for id, want := range map[string]string{
			checking: b.qboID(t, "Account", "Checking"),
			savings:  b.qboID(t, "Account", "Savings"),
			// Two Books accounts of one name: both map to the one QuickBooks account.
			deferred1: b.qboID(t, "Account", "Deferred Revenue"),
			deferred2: b.qboID(t, "Account", "Deferred Revenue"),
		} {
			l := b.mapping(t, id)
			require.NotNil(t, l, id)
			require.Equal(t, want, *l.QboID)
			require.Equal(t, qbolink.StatusSynced, l.Status)
			require.Equal(t, b.us, l.EntityID)
			require.Equal(t, "Account", l.QboType)
			require.Equal(t, l.Generation, l.SyncedGeneration)
			require.NotNil(t, l.SyncedAt)
		}
		for _, id := range []string{noMatch, rent, ukChecking} {
			require.Nil(t, b.mapping(t, id), "no mapping: no name, an inactive account, another entity")
		}

		// A mapping someone chose is never overwritten.
		_, err := lists.MapAccount(b.ctx, b.c, b.conn.ID, checking, b.qboID(t, "Account", "Prepaid Expenses"))
		require.NoError(t, err)
		petty := b.control(t, "account", map[string]any{"Name": "Petty cash", "AccountType": "Bank",
			"AccountSubType": "Checking"})["Id"].(string)
		sum = b.update(t)
		require.Equal(t, 1, sum.AutoMapped, "Petty Cash; Checking keeps the mapping chosen")
		require.Equal(t, b.qboID(t, "Account", "Prepaid Expenses"), *b.mapping(t, checking).QboID)
		require.Equal(t, petty, *b.mapping(t, noMatch).QboID)
		require.Nil(t, b.mapping(t, ukChecking))
	})
}

func TestMapAccount(t *testing.T) {
	t.Parallel()

	t.Run("MapRemapUnmap", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			b.update(t)
			bank := b.account(t, b.ctx, b.us, "1000", "Operating account")
			checking, savings := b.qboID(t, "Account", "Checking"), b.qboID(t, "Account", "Savings")

			_, err := lists.AccountFor(b.ctx, b.c, b.conn.ID, bank)
			requireCode(t, err, apperr.QBOUnmapped)
			require.ErrorContains(t, err, "1000 Operating account")

			l, err := lists.MapAccount(b.ctx, b.c, b.conn.ID, bank, checking)
			require.NoError(t, err)
			require.Equal(t, checking, *l.QboID)
			require.Equal(t, "Checking", l.DocNumber)
			require.Equal(t, qbolink.StatusSynced, l.Status)
			require.EqualValues(t, 1, l.Generation)
			require.EqualValues(t, 1, l.SyncedGeneration)
			require.NotNil(t, l.SyncedAt)
			got, err := lists.AccountFor(b.ctx, b.c, b.conn.ID, bank)
			require.NoError(t, err)
			require.Equal(t, checking, got)

			again, err := lists.MapAccount(b.ctx, b.c, b.conn.ID, bank, checking)
			require.NoError(t, err)
			require.Equal(t, l.ID, again.ID)
			require.EqualValues(t, 1, again.Generation, "mapping to the same account changes nothing")

			re, err := lists.MapAccount(b.ctx, b.c, b.conn.ID, bank, savings)
			require.NoError(t, err)
			require.Equal(t, l.ID, re.ID, "a remap updates the link")
			require.Equal(t, savings, *re.QboID)
			require.Equal(t, "Savings", re.DocNumber)
			require.EqualValues(t, 2, re.Generation)
			require.Equal(t, re.Generation, re.SyncedGeneration)
			got, err = lists.AccountFor(b.ctx, b.c, b.conn.ID, bank)
			require.NoError(t, err)
			require.Equal(t, savings, got)

			all, err := lists.AccountMappings(b.ctx, b.c, b.conn.ID)
			require.NoError(t, err)
			require.Len(t, all, 1)

			require.NoError(t, lists.UnmapAccount(b.ctx, b.c, b.conn.ID, bank))
			require.Nil(t, b.mapping(t, bank))
			_, err = lists.AccountFor(b.ctx, b.c, b.conn.ID, bank)
			requireCode(t, err, apperr.QBOUnmapped)
			require.NoError(t, lists.UnmapAccount(b.ctx, b.c, b.conn.ID, bank), "unmapping twice is a no-op")
		})
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			b.update(t)
			bank := b.account(t, b.ctx, b.us, "1000", "Operating account")
			second := b.account(t, b.ctx, b.us, "1001", "Second account")
			ukBank := b.account(t, b.ctx, b.uk, "1000", "UK account")
			otherBank := b.account(t, b.ctxB, b.other, "1000", "Other account")
			checking := b.qboID(t, "Account", "Checking")
			_, err := lists.MapAccount(b.ctx, b.c, b.conn.ID, bank, checking)
			require.NoError(t, err)
			rent := b.qboID(t, "Account", "Rent or Lease")
			b.sparse(t, "Account", rent, map[string]any{"Active": false})
			b.update(t)

			for _, tt := range []struct {
				name           string
				ctx            context.Context
				connection     string
				account, qboID string
				code, mention  string
			}{
				{"AnotherEntitysAccount", b.ctx, b.conn.ID, ukBank, checking, apperr.Validation, "another legal entity"},
				{"AnotherOrganizationsAccount", b.ctx, b.conn.ID, otherBank, checking, apperr.NotFound, otherBank},
				{"UnknownAccount", b.ctx, b.conn.ID, "acc_nope", checking, apperr.NotFound, "acc_nope"},
				{"AnotherOrganizationsConnection", b.ctxB, b.conn.ID, bank, checking, apperr.NotFound, b.conn.ID},
				{"UnknownConnection", b.ctx, "qbc_nope", bank, checking, apperr.NotFound, "qbc_nope"},
				{"NotFetched", b.ctx, b.conn.ID, second, "424242", apperr.NotFound, "run Update lists"},
				{"InactiveQBOAccount", b.ctx, b.conn.ID, second, rent, apperr.Validation, "inactive"},
			} {
				_, err := lists.MapAccount(tt.ctx, b.c, tt.connection, tt.account, tt.qboID)
				requireCode(t, err, tt.code)
				require.ErrorContains(t, err, tt.mention, tt.name)
			}
			for _, id := range []string{second, ukBank} {
				require.Nil(t, b.mapping(t, id))
			}
			got, err := lists.AccountFor(b.ctx, b.c, b.conn.ID, bank)
			require.NoError(t, err)
			require.Equal(t, checking, got, "nothing refused changed the mapping")

			requireCode(t, lists.UnmapAccount(b.ctx, b.c, b.conn.ID, ukBank), apperr.Validation)
			requireCode(t, lists.UnmapAccount(b.ctxB, b.c, b.conn.ID, bank), apperr.NotFound)
			_, err = lists.AccountFor(b.ctxB, b.c, b.conn.ID, bank)
			requireCode(t, err, apperr.NotFound)
			_, err = lists.AccountFor(b.ctx, b.c, b.conn.ID, ukBank)
			requireCode(t, err, apperr.Validation)
			_, err = lists.AccountMappings(b.ctxB, b.c, b.conn.ID)
			requireCode(t, err, apperr.NotFound)
			require.NotNil(t, b.mapping(t, bank), "nothing refused removed the mapping")
		})
	})
}

func TestConnectionStatusNotRequiredForMappings(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		b.update(t)
		bank := b.account(t, b.ctx, b.us, "1000", "Operating account")
		_, err := b.store.Disconnect(b.ctx, b.c, b.conn.ID)
		require.NoError(t, err)
		row, err := b.c.QBOConnection.Get(b.ctx, b.conn.ID)
		require.NoError(t, err)
		require.Equal(t, qboconnection.StatusDisconnected, row.Status)
		// Mappings and settings are kept for when the company is connected again.
		_, err = lists.MapAccount(b.ctx, b.c, b.conn.ID, bank, b.qboID(t, "Account", "Checking"))
		require.NoError(t, err)
	})
}

// Updates at the same time store each entry once: a loser is CONFLICT, never a duplicate.
func TestUpdateConcurrent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = lists.Update(b.ctx, b.c, b.api, b.conn.ID)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			requireCode(t, err, apperr.Conflict)
		}
		require.Positive(t, ok)
		count, err := b.c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(b.conn.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 17+6+1+3, count)
	})
}
