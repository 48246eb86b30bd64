package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qbolink"
	"books/graph"
	"books/internal/dbtest"
	"books/internal/qbo/conn"
	"books/internal/qbo/connect"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/server"
)

// qbFix is a server with QuickBooks configured against the emulator.
type qbFix struct {
	*testBundle
	emu    *qbotest.Server
	engine *push.Engine
	f      biFix
}

const qbAfterURL = "https://app.books.test/settings/quickbooks"

func setupQBO(t *testing.T, dialectName string) *qbFix {
	t.Helper()
	emu := qbotest.NewServer(t, qbotest.WithRealms(3), qbotest.WithoutLimits())
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	store := conn.NewStore(box)
	app := conn.EmulatorApp(emu.URL, emu.ClientID(), emu.ClientSecret(), "https://books.test/oauth/qbo/callback")
	q := &qbFix{emu: emu}
	q.testBundle = setupWith(t, dialectName, func(cfg *server.Config) {
		refresher := &conn.Refresher{Store: store, DB: cfg.DB, App: app}
		q.engine = &push.Engine{Store: store, App: app,
			HTTPClient: func(ctx context.Context, row *ent.QBOConnection) (*http.Client, error) {
				return refresher.HTTPClient(ctx, row.ID), nil
			}}
		flow := &connect.Flow{Store: store, App: app, StateKey: []byte(strings.Repeat("k", 32)), AfterURL: qbAfterURL,
			OnConnected: q.engine.Resume}
		cfg.QBOCallback = flow.Handler(cfg.Client)
		cfg.QuickBooks = &graph.QuickBooks{Engine: q.engine, Flow: flow}
	})
	q.f = q.biFixture(t, q.orgA)
	return q
}

// connect runs the OAuth round trip for entity to the emulator's realm and returns where the
// callback sent the browser.
func (q *qbFix) connect(t *testing.T, token, entityID, realm string) *url.URL {
	t.Helper()
	var out struct {
		ConnectQuickBooks struct{ AuthorizeURL, ExpiresAt string }
	}
	q.gqlOK(t, token, `mutation($e: ID!) { connectQuickBooks(input: {entityId: $e}) { authorizeUrl expiresAt } }`,
		map[string]any{"e": entityID}, &out)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(out.ConnectQuickBooks.AuthorizeURL + "&realmId=" + realm)
	require.NoError(t, err)
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	resp, err = noRedirect.Get(q.server.URL + "/oauth/qbo/callback?" + back.RawQuery)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	to, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return to
}

type qbConnection struct {
	ID, RealmID, CompanyName, Status string
	PendingLinks, FailedLinks        int
	Settings                         struct {
		InvoiceDateMode, ServiceItemID string
		AutoSyncInvoices               bool
	}
}

const qbConnectionFields = `id realmId companyName status pendingLinks failedLinks settings { invoiceDateMode serviceItemId autoSyncInvoices }`

func (q *qbFix) connection(t *testing.T, token, entityID string) *qbConnection {
	t.Helper()
	var out struct{ QuickBooksConnection *qbConnection }
	q.gqlOK(t, token, `query($e: ID!) { quickBooksConnection(entityId: $e) { `+qbConnectionFields+` } }`,
		map[string]any{"e": entityID}, &out)
	return out.QuickBooksConnection
}

type qbLink struct {
	ID, RecordType, RecordID, Status, QboID, DocNumber, LastErrorCode string
	QboTotal, QboBalance                                              *string
}

const qbLinkFields = `id recordType recordId status qboId docNumber lastErrorCode qboTotal qboBalance`

func TestQuickBooksOverGraphQL(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			q := setupQBO(t, d)
			realm := q.emu.RealmIDs()[0]
			us := q.f.us

			require.Nil(t, q.connection(t, q.orgA.Admin, us), "not connected yet")
			to := q.connect(t, q.orgA.Admin, us, realm)
			require.Equal(t, "connected", to.Query().Get("qbo"))
			require.NotContains(t, to.String(), "access", "no token in the redirect")
			c := q.connection(t, q.orgA.Accountant, us)
			require.NotNil(t, c)
			require.Equal(t, realm, c.RealmID)
			require.Equal(t, "CONNECTED", c.Status)
			require.NotEmpty(t, c.CompanyName)
			require.Equal(t, "CREATION_DATE", c.Settings.InvoiceDateMode)

			// Lists, account mapping and settings.
			var lists struct {
				UpdateQuickBooksLists struct {
					Lists []struct {
						List    string
						Fetched int
					}
					AutoMapped int
				}
			}
			q.gqlOK(t, q.orgA.FinanceLead, `mutation($e: ID!) { updateQuickBooksLists(input: {entityId: $e}) { lists { list fetched } autoMapped connection { id } } }`,
				map[string]any{"e": us}, &lists)
			fetched := map[string]int{}
			for _, l := range lists.UpdateQuickBooksLists.Lists {
				fetched[l.List] = l.Fetched
			}
			require.Positive(t, fetched["ACCOUNT"])
			require.Positive(t, fetched["ITEM"])
			services, _ := q.emu.Realm(realm).FindByName("Account", "Services")
			checking, _ := q.emu.Realm(realm).FindByName("Account", "Checking")
			for _, code := range []string{"4000", "4100"} {
				q.gqlOK(t, q.orgA.FinanceLead, `mutation($e: ID!, $a: ID!, $q: ID!) { mapQuickBooksAccount(input: {entityId: $e, accountId: $a, qboAccountId: $q}) { link { id status } } }`,
					map[string]any{"e": us, "a": q.f.accts[code], "q": services["Id"]}, nil)
			}
			bad := q.gql(t, q.orgA.FinanceLead, `mutation($e: ID!) { updateQuickBooksSettings(input: {entityId: $e, oneTransactionInvoice: true,
				oneTransactionDescription: "Invoice {number}", splitInvoiceByMonth: false, syncCustomFields: false, autoSyncInvoices: true}) { connection { id } } }`,
				map[string]any{"e": us})
			require.Equal(t, []string{"VALIDATION"}, bad.errorCodes(), "an unknown placeholder is refused")
			q.gqlOK(t, q.orgA.FinanceLead, `mutation($e: ID!, $dep: ID!) { updateQuickBooksSettings(input: {entityId: $e, oneTransactionInvoice: false,
				splitInvoiceByMonth: false, syncCustomFields: false, autoSyncInvoices: true, invoiceDateMode: PERIOD_END,
				serviceItemId: "1", defaultDepositAccountId: $dep}) { connection { id } } }`,
				map[string]any{"e": us, "dep": checking["Id"]}, nil)
			c = q.connection(t, q.orgA.Admin, us)
			require.Equal(t, "PERIOD_END", c.Settings.InvoiceDateMode)
			require.True(t, c.Settings.AutoSyncInvoices)

			// Push an approved invoice; its customer and item go first.
			inv := q.biApproved(t, q.f, q.f.biInput(q.f.acme, "2026-11-01", "2026-12-01", biLine(q.f.consult, "2", "")))
			var synced struct {
				SyncToQuickBooks struct{ Links []qbLink }
			}
			q.gqlOK(t, q.orgA.Accountant, `mutation($e: ID!, $ids: [ID!]!) { syncToQuickBooks(input: {entityId: $e, recordType: INVOICE, recordIds: $ids}) { links { `+qbLinkFields+` } } }`,
				map[string]any{"e": us, "ids": []string{inv.ID}}, &synced)
			require.Len(t, synced.SyncToQuickBooks.Links, 1)
			require.Equal(t, "PENDING", synced.SyncToQuickBooks.Links[0].Status)
			require.Equal(t, 3, q.connection(t, q.orgA.Admin, us).PendingLinks, "invoice, customer, item")
			require.NoError(t, q.engine.Drain(orgCtx(q.orgA), q.client, c.ID))

			var got struct {
				Node struct {
					Number     string
					SyncStatus string
					QboLinks   []qbLink
					QboInfo    []struct {
						Link   struct{ ID string }
						Record json.RawMessage
					}
				}
			}
			q.gqlOK(t, q.orgA.Accountant, `query($id: ID!) { node(id: $id) { ... on Invoice { number syncStatus qboLinks { `+qbLinkFields+` } qboInfo { link { id } record } } } }`,
				map[string]any{"id": inv.ID}, &got)
			require.Equal(t, "SYNCED", got.Node.SyncStatus)
			require.Len(t, got.Node.QboLinks, 1)
			l := got.Node.QboLinks[0]
			require.Equal(t, got.Node.Number, l.DocNumber)
			require.Equal(t, "300.00", *l.QboTotal)
			require.Len(t, got.Node.QboInfo, 1)
			// Read live, amounts as QuickBooks wrote them, never through a float.
			require.Contains(t, string(got.Node.QboInfo[0].Record), `"TotalAmt":300`)
			require.Contains(t, string(got.Node.QboInfo[0].Record), `"DocNumber":"`+got.Node.Number+`"`)

			// Live reads are for staff who work the books, and each costs a call to QuickBooks.
			r := q.gql(t, q.orgA.Viewer, `query($id: ID!) { node(id: $id) { ... on Invoice { qboInfo { record } } } }`,
				map[string]any{"id": inv.ID})
			require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
			r = q.gql(t, q.orgA.Accountant, `{ customers(first: 100) { edges { node { qboInfo { record } } } } }`, nil)
			require.NotEmpty(t, r.Errors, "a page of 100 live reads is too costly")
			require.Equal(t, "null", string(r.Data))

			// Auto-sync: approving an invoice of a synced customer asks for its push in the
			// approval's transaction.
			inv2 := q.biApproved(t, q.f, q.f.biInput(q.f.acme, "2026-11-02", "2026-12-02", biLine(q.f.consult, "1", "")))
			links, err := q.client.QBOLink.Query().Where(qbolink.RecordID(inv2.ID)).All(orgCtx(q.orgA))
			require.NoError(t, err)
			require.Len(t, links, 1)
			require.Equal(t, qbolink.StatusPending, links[0].Status)

			// Customers: links and live info; unsync removes the link only.
			var cus struct {
				Node struct {
					SyncStatus string
					QboLinks   []qbLink
				}
			}
			q.gqlOK(t, q.orgA.Accountant, `query($id: ID!) { node(id: $id) { ... on Customer { syncStatus qboLinks { `+qbLinkFields+` } } } }`,
				map[string]any{"id": q.f.acme}, &cus)
			require.Equal(t, "SYNCED", cus.Node.SyncStatus)
			require.Len(t, cus.Node.QboLinks, 1)
			var unlinked struct {
				UnlinkQuickBooksRecord struct{ Removed int }
			}
			q.gqlOK(t, q.orgA.FinanceLead, `mutation($e: ID!, $id: ID!) { unlinkQuickBooksRecord(input: {entityId: $e, recordType: CUSTOMER, recordId: $id}) { recordId removed } }`,
				map[string]any{"e": us, "id": q.f.acme}, &unlinked)
			require.Equal(t, 1, unlinked.UnlinkQuickBooksRecord.Removed)
			require.Len(t, q.emu.Realm(realm).Customers(), 1, "QuickBooks keeps its record")
			// Link it back by hand; a second Books customer may not take the same record.
			qcus := q.emu.Realm(realm).Customers()[0]
			q.gqlOK(t, q.orgA.FinanceLead, `mutation($e: ID!, $id: ID!, $q: ID!) { linkQuickBooksRecord(input: {entityId: $e, recordType: CUSTOMER, recordId: $id, qboId: $q}) { link { status qboId } } }`,
				map[string]any{"e": us, "id": q.f.acme, "q": qcus["Id"]}, nil)
			r = q.gql(t, q.orgA.FinanceLead, `mutation($e: ID!, $id: ID!, $q: ID!) { linkQuickBooksRecord(input: {entityId: $e, recordType: CUSTOMER, recordId: $id, qboId: $q}) { link { status } } }`,
				map[string]any{"e": us, "id": q.f.globex, "q": qcus["Id"]})
			require.Equal(t, []string{"CONFLICT"}, r.errorCodes())

			// Roles, other organizations and the portal.
			r = q.gql(t, q.orgA.Accountant, `mutation($e: ID!) { connectQuickBooks(input: {entityId: $e}) { authorizeUrl } }`, map[string]any{"e": us})
			require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
			r = q.gql(t, q.orgA.Viewer, `mutation($e: ID!, $ids: [ID!]!) { syncToQuickBooks(input: {entityId: $e, recordType: INVOICE, recordIds: $ids}) { links { id } } }`,
				map[string]any{"e": us, "ids": []string{inv.ID}})
			require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
			r = q.gql(t, q.orgB.Admin, `mutation($e: ID!, $ids: [ID!]!) { syncToQuickBooks(input: {entityId: $e, recordType: INVOICE, recordIds: $ids}) { links { id } } }`,
				map[string]any{"e": us, "ids": []string{inv.ID}})
			require.NotEmpty(t, r.Errors, "another organization's entity")
			require.Nil(t, q.connection(t, q.orgB.Admin, us), "another organization's connection is not found")
			r = q.gql(t, q.orgA.Admin, `mutation($e: ID!, $ids: [ID!]!) { syncToQuickBooks(input: {entityId: $e, recordType: ACCOUNT, recordIds: $ids}) { links { id } } }`,
				map[string]any{"e": us, "ids": []string{q.f.accts["4000"]}})
			require.Equal(t, []string{"VALIDATION"}, r.errorCodes(), "accounts are mapped, never pushed")
			ids := make([]string, 31)
			for i := range ids {
				ids[i] = inv.ID
			}
			r = q.gql(t, q.orgA.Admin, `mutation($e: ID!, $ids: [ID!]!) { syncToQuickBooks(input: {entityId: $e, recordType: INVOICE, recordIds: $ids}) { links { id } } }`,
				map[string]any{"e": us, "ids": ids})
			require.Equal(t, []string{"VALIDATION"}, r.errorCodes(), "at most 30 at once")

			// Disconnect revokes and keeps the links; the same realm again resumes them.
			var disc struct {
				DisconnectQuickBooks struct{ Connection qbConnection }
			}
			q.gqlOK(t, q.orgA.Admin, `mutation($e: ID!) { disconnectQuickBooks(input: {entityId: $e}) { connection { `+qbConnectionFields+` } } }`,
				map[string]any{"e": us}, &disc)
			require.Equal(t, "DISCONNECTED", disc.DisconnectQuickBooks.Connection.Status)
			require.Nil(t, q.connection(t, q.orgA.Admin, us))
			n, err := q.client.QBOLink.Query().Where(qbolink.ConnectionID(c.ID)).Count(orgCtx(q.orgA))
			require.NoError(t, err)
			require.Positive(t, n, "links are kept")
			q.connect(t, q.orgA.Admin, us, realm)
			require.Equal(t, c.ID, q.connection(t, q.orgA.Admin, us).ID, "the same company revives the same connection")

			// Another entity may not take the realm.
			to = q.connect(t, q.orgA.Admin, q.f.uk, realm)
			require.Equal(t, "error", to.Query().Get("qbo"))
			require.Equal(t, "QBO_REALM_IN_USE", to.Query().Get("code"))
		})
	}
}
