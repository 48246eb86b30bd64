package server_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/auditevent"
	"books/ent/payment"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/graph"
	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/money"
	"books/internal/qbo/conn"
	"books/internal/qbo/pull"
	"books/internal/qbo/recon"
	"books/internal/realtime"
	"books/internal/secrets"
	"books/server"
)

// ---------------------------------------------------------------------------------------
// Helpers of the reconciliation queue tests, all prefixed rc.

// rcFix is a server with the QuickBooks payment sync's queue configured (no QuickBooks
// calls: matching records the payment as the item last saw it), both organizations'
// billing fixtures, and a QuickBooks connection of each entity.
type rcFix struct {
	*testBundle
	queue  *recon.Queue
	broker realtime.Broker
	a, b   biFix
	conns  map[string]*ent.QBOConnection // by entity id
}

func rcSetup(t *testing.T, dialectName string) *rcFix {
	t.Helper()
	broker := realtime.NewLocal()
	t.Cleanup(func() { broker.Close() })
	r := &rcFix{queue: &recon.Queue{Broker: broker}, broker: broker, conns: map[string]*ent.QBOConnection{}}
	r.testBundle = setupWith(t, dialectName, func(cfg *server.Config) {
		cfg.Broker = broker
		cfg.QuickBooks = &graph.QuickBooks{Puller: &pull.Puller{Queue: r.queue}, Recon: r.queue}
	})
	// Matching moves money: whatever a scenario did, both organizations' ledgers must end
	// sealed, balanced and equal to the documents behind their control accounts.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		client := r.db.Client()
		for _, org := range []testOrg{r.orgA, r.orgB} {
			integritytest.Check(t, client, org.ID)
		}
	})
	r.a, r.b = r.biFixture(t, r.orgA), r.biFixture(t, r.orgB)
	r.rcConnect(t, r.orgA, r.orgB)
	return r
}

// rcConnect stores a QuickBooks connection for every entity of orgs (no emulator: nothing
// here calls QuickBooks).
func (b *testBundle) rcConnect(t *testing.T, orgs ...testOrg) map[string]*ent.QBOConnection {
	t.Helper()
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	store := conn.NewStore(box)
	out := map[string]*ent.QBOConnection{}
	for _, org := range orgs {
		for _, le := range org.Entities {
			row, err := store.Save(orgCtx(org), b.client, conn.Connect{EntityID: le.ID, RealmID: "realm-" + le.ID,
				BaseURL: "https://qbo.invalid", Tokens: conn.Tokens{Access: "access", Refresh: "refresh",
					AccessExpiresAt: time.Now().Add(time.Hour), RefreshExpiresAt: time.Now().Add(100 * 24 * time.Hour)}})
			require.NoError(t, err)
			out[le.ID] = row
		}
	}
	return out
}

func (r *rcFix) rcConnect(t *testing.T, orgs ...testOrg) {
	t.Helper()
	for id, row := range r.testBundle.rcConnect(t, orgs...) {
		r.conns[id] = row
	}
}

// rcPayment is a QuickBooks Payment as QuickBooks answers it, naming no invoice.
func rcPayment(qboID, amount, ref string) string {
	return fmt.Sprintf(`{"Id":%q,"SyncToken":"0","TotalAmt":%q,"TxnDate":"2026-11-20","PaymentRefNum":%q,"CustomerRef":{"value":"1"},"Line":[]}`,
		qboID, amount, ref)
}

// rcRaise raises an item through queue as the payment sync does: a QuickBooks payment of
// amount (none when empty) for customerID, or a deleted invoice when kind says so.
func rcRaise(t *testing.T, q *recon.Queue, c *ent.Client, org testOrg, connRow *ent.QBOConnection, kind reconciliationitem.Kind,
	qboID, customerID, amount, ref string) *ent.ReconciliationItem {
	t.Helper()
	p := recon.Problem{EntityID: connRow.EntityID, ConnectionID: connRow.ID, Kind: kind, QBOType: "Payment", QBOID: qboID,
		CustomerID: customerID, Currency: "USD", Reference: ref, SyncToken: "0",
		Reason: "the payment names no invoice"}
	if kind == reconciliationitem.KindRemoteDelete {
		p.QBOType, p.Reason, p.RecordType = "Invoice", "the invoice was deleted in QuickBooks", "invoice"
	}
	if amount != "" {
		a := money.MustParse(amount)
		p.Amount = &a
		p.Snapshot = rcPayment(qboID, amount, ref)
	}
	it, err := q.Raise(orgCtx(org), c, p)
	require.NoError(t, err)
	return it
}

type rcItem struct {
	ID, EntityID, ConnectionID, Kind, QboType, QboID, Status, Reason string
	CustomerID, Amount, Currency, Reference, Note, ResolvedBy        *string
	PaymentID                                                        *string
	Payment                                                          *struct{ ID, Amount string }
	SuggestedMatches                                                 []rcSuggestion
}

type rcSuggestion struct {
	InvoiceID, Amount string
	Reasons           []string
	Invoice           struct{ ID, Number, Balance string }
}

const rcItemFields = `id entityId connectionId kind qboType qboId status reason customerId amount currency reference note
	resolvedBy paymentId payment { id amount }`

const rcSuggestionFields = `suggestedMatches { invoiceId amount reasons invoice { id number balance } }`

const rcMatch = `mutation($in: MatchReconciliationItemInput!) { r: matchReconciliationItem(input: $in) {
	reconciliationItem { ` + rcItemFields + ` } payment { id amount applied unapplied customerId }
	invoices { id status balance } } }`

const rcDefer = `mutation($in: ReconciliationItemActionInput!) { r: deferReconciliationItem(input: $in) {
	reconciliationItem { ` + rcItemFields + ` } payment { id } invoices { id } } }`

const rcDismiss = `mutation($in: ReconciliationItemActionInput!) { r: dismissReconciliationItem(input: $in) {
	reconciliationItem { ` + rcItemFields + ` } payment { id } invoices { id } } }`

type rcPayload struct {
	ReconciliationItem rcItem
	Payment            *struct{ ID, Amount, Applied, Unapplied, CustomerID string }
	Invoices           []struct{ ID, Status, Balance string }
}

// rcDo runs one of the item mutations, which must succeed.
func (b *testBundle) rcDo(t *testing.T, token, op string, in map[string]any) rcPayload {
	t.Helper()
	var out struct{ R rcPayload }
	b.gqlOK(t, token, op, map[string]any{"in": in}, &out)
	return out.R
}

// rcList reads a page of the queue.
func (b *testBundle) rcList(t *testing.T, token string, vars map[string]any) gqConn[rcItem] {
	t.Helper()
	var out struct{ ReconciliationItems gqConn[rcItem] }
	b.gqlOK(t, token, `query($where: ReconciliationItemWhereInput, $first: Int, $after: Cursor) {
		reconciliationItems(where: $where, first: $first, after: $after) {
			totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { `+rcItemFields+` } } } }`, vars, &out)
	return out.ReconciliationItems
}

// rcItemOf reads an item through node.
func (b *testBundle) rcItemOf(t *testing.T, token, id string) *rcItem {
	t.Helper()
	var out struct{ Node *rcItem }
	b.gqlOK(t, token, `query($id: ID!) { node(id: $id) { ... on ReconciliationItem { `+rcItemFields+` `+rcSuggestionFields+` } } }`,
		map[string]any{"id": id}, &out)
	return out.Node
}

// rcSnapshot is biSnapshot with the organization's reconciliation items and QuickBooks
// links, so a refused mutation can be shown to have changed nothing at all.
func (b *testBundle) rcSnapshot(t *testing.T, org testOrg) string {
	t.Helper()
	items, err := b.client.ReconciliationItem.Query().All(orgCtx(org))
	require.NoError(t, err)
	var rows []string
	for _, it := range items {
		pay := "-"
		if it.PaymentID != nil {
			pay = *it.PaymentID
		}
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s|%s", it.ID, it.Status, it.Note, it.ResolvedBy, pay, it.RecordID))
	}
	sort.Strings(rows)
	links, err := b.client.QBOLink.Query().Count(orgCtx(org))
	require.NoError(t, err)
	return b.biSnapshot(t, org) + fmt.Sprintf("\nreconciliation items: %s\nqbo links: %d", strings.Join(rows, "; "), links)
}

// withoutAudit drops the audit count from a snapshot: a repeated match changes nothing but
// its own audit row.
func withoutAudit(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "audit events:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func rcIDs(items []rcItem) []string {
	ids := idsOf(items, func(it rcItem) string { return it.ID })
	sort.Strings(ids)
	return ids
}

func sortedIDs(ids ...string) []string {
	out := append([]string{}, ids...)
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------------------

func TestReconciliationQueue(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			r := rcSetup(t, d)
			a, f := r.orgA, r.a
			inv := r.biApproved(t, f, f.biInput(f.acme, "2026-11-01", "2026-12-01", biLine(f.consult, "1", "")))          // 150.00
			inv2 := r.biApproved(t, f, f.biInput(f.acme, "2026-11-02", "2026-12-02", biLine(f.consult, "2", "")))         // 300.00
			invB := r.biApproved(t, r.b, r.b.biInput(r.b.acme, "2026-11-01", "2026-12-01", biLine(r.b.consult, "1", ""))) // org B's
			portal, err := r.tokens.Mint("portal-"+f.acme, a.ID, nil, f.acme, time.Hour)
			require.NoError(t, err)

			usConn, ukConn := r.conns[f.us], r.conns[f.uk]
			pay := rcRaise(t, r.queue, r.client, a, usConn, reconciliationitem.KindUnmatchedPayment, "77", f.acme, "150.00", inv.number())
			mismatch := rcRaise(t, r.queue, r.client, a, usConn, reconciliationitem.KindCustomerMismatch, "78", f.globex, "100.00", "")
			deleted := rcRaise(t, r.queue, r.client, a, ukConn, reconciliationitem.KindRemoteDelete, "501", "", "", "")
			partial := rcRaise(t, r.queue, r.client, a, usConn, reconciliationitem.KindAmountMismatch, "79", f.acme, "100.00", "")
			itemB := rcRaise(t, r.queue, r.client, r.orgB, r.conns[r.b.us], reconciliationitem.KindUnmatchedPayment, "77", r.b.acme, "150.00", "")

			t.Run("list with filters and pages", func(t *testing.T) {
				all := sortedIDs(pay.ID, mismatch.ID, deleted.ID, partial.ID)
				for _, tc := range []struct {
					name  string
					token string
					where map[string]any
					want  []string
				}{
					{"everything, for a viewer", a.Viewer, nil, all},
					{"by status", a.Accountant, map[string]any{"status": "OPEN"}, all},
					{"by another status", a.Accountant, map[string]any{"statusIn": []string{"MATCHED", "DISMISSED"}}, nil},
					{"by kind", a.Accountant, map[string]any{"kind": "REMOTE_DELETE"}, []string{deleted.ID}},
					{"by entity", a.Accountant, map[string]any{"entityId": f.uk}, []string{deleted.ID}},
					{"by entity and kinds", a.Admin, map[string]any{"entityId": f.us,
						"kindIn": []string{"UNMATCHED_PAYMENT", "CUSTOMER_MISMATCH"}}, sortedIDs(pay.ID, mismatch.ID)},
					{"by customer", a.Admin, map[string]any{"customerId": f.globex}, []string{mismatch.ID}},
					{"another organization sees only its own", r.orgB.Admin, nil, []string{itemB.ID}},
					{"another organization's entity", r.orgB.Admin, map[string]any{"entityId": f.us}, nil},
				} {
					t.Run(tc.name, func(t *testing.T) {
						page := r.rcList(t, tc.token, map[string]any{"where": tc.where})
						require.Equal(t, len(tc.want), page.TotalCount)
						require.Equal(t, append([]string{}, tc.want...), append([]string{}, rcIDs(page.nodes())...))
					})
				}
				// Pages of two cover the queue once each.
				first := r.rcList(t, a.Viewer, map[string]any{"first": 2})
				require.Len(t, first.Edges, 2)
				require.Equal(t, 4, first.TotalCount)
				require.True(t, first.PageInfo.HasNextPage)
				second := r.rcList(t, a.Viewer, map[string]any{"first": 2, "after": *first.PageInfo.EndCursor})
				require.Len(t, second.Edges, 2)
				require.False(t, second.PageInfo.HasNextPage)
				require.Equal(t, all, sortedIDs(append(rcIDs(first.nodes()), rcIDs(second.nodes())...)...))
				third := r.rcList(t, a.Viewer, map[string]any{"first": 2, "after": *second.PageInfo.EndCursor})
				require.Empty(t, third.Edges)
				// Suggestions cost a few queries per item: a large page of them is refused
				// before it runs, a screenful is not.
				const withSuggestions = `query($first: Int) { reconciliationItems(first: $first) { edges { node { id ` + rcSuggestionFields + ` } } } }`
				res := r.gql(t, a.Viewer, withSuggestions, map[string]any{"first": 1000})
				require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, res.errorCodes())
				r.gqlOK(t, a.Viewer, withSuggestions, map[string]any{"first": 50}, nil)
			})

			t.Run("suggested matches", func(t *testing.T) {
				got := r.rcItemOf(t, a.Accountant, pay.ID)
				require.NotNil(t, got)
				require.Equal(t, "UNMATCHED_PAYMENT", got.Kind)
				require.Equal(t, "150.00", *got.Amount)
				require.Equal(t, []rcSuggestion{
					{InvoiceID: inv.ID, Amount: "150.00", Reasons: []string{"SAME_CUSTOMER", "BALANCE_EQUALS_AMOUNT", "REFERENCE_MATCHES"},
						Invoice: struct{ ID, Number, Balance string }{inv.ID, inv.number(), "150.00"}},
					{InvoiceID: inv2.ID, Amount: "150.00", Reasons: []string{"SAME_CUSTOMER"},
						Invoice: struct{ ID, Number, Balance string }{inv2.ID, inv2.number(), "300.00"}},
				}, got.SuggestedMatches)
				got = r.rcItemOf(t, a.Viewer, deleted.ID)
				require.NotNil(t, got)
				require.Empty(t, got.SuggestedMatches, "an invoice deleted in QuickBooks has no money to match")
				res := r.gql(t, r.orgB.Admin, `query($id: ID!) { node(id: $id) { ... on ReconciliationItem { id `+rcSuggestionFields+` } } }`,
					map[string]any{"id": pay.ID})
				require.Equal(t, []string{"NOT_FOUND"}, res.errorCodes(), "another organization's item is not found")
			})

			t.Run("portal clients get nothing", func(t *testing.T) {
				res := r.gql(t, portal, `{ reconciliationItems { totalCount edges { node { id } } } }`, nil)
				require.Equal(t, []string{"FORBIDDEN"}, res.errorCodes())
				biRequireNoData(t, res)
				res = r.gql(t, portal, `query($id: ID!) { node(id: $id) { ... on ReconciliationItem { id amount } } }`, map[string]any{"id": pay.ID})
				require.NotEmpty(t, res.Errors)
				require.NotContains(t, string(res.Data), pay.ID)
				// An invoice's portal view does not lead to the queue either.
				res = r.gql(t, portal, `{ invoices { edges { node { id } } } reconciliationItems { totalCount } }`, nil)
				require.Equal(t, []string{"FORBIDDEN"}, res.errorCodes())
				for _, op := range []struct {
					q  string
					in map[string]any
				}{
					{rcMatch, map[string]any{"reconciliationItemId": pay.ID, "applications": []map[string]any{biApp(inv.ID, "150.00")}}},
					{rcDefer, map[string]any{"reconciliationItemId": pay.ID, "note": "later"}},
					{rcDismiss, map[string]any{"reconciliationItemId": pay.ID, "note": "no"}},
				} {
					before := r.rcSnapshot(t, a)
					res := r.gql(t, portal, op.q, map[string]any{"in": op.in})
					require.Equal(t, []string{"FORBIDDEN"}, res.errorCodes())
					biRequireNoData(t, res)
					require.Equal(t, before, r.rcSnapshot(t, a))
				}
			})

			t.Run("refused matches change nothing", func(t *testing.T) {
				apps := func(pairs ...string) []map[string]any {
					out := []map[string]any{}
					for i := 0; i < len(pairs); i += 2 {
						out = append(out, biApp(pairs[i], pairs[i+1]))
					}
					return out
				}
				for _, tc := range []struct {
					name  string
					token string
					item  string
					apps  []map[string]any
					code  string
				}{
					{"a viewer", a.Viewer, pay.ID, apps(inv.ID, "150.00"), "FORBIDDEN"},
					{"more than the invoice's balance", a.Accountant, pay.ID, apps(inv.ID, "200.00"), "OVER_APPLICATION"},
					{"more than the payment", a.Accountant, pay.ID, apps(inv.ID, "150.00", inv2.ID, "100.00"), "OVER_APPLICATION"},
					{"another organization's invoice", a.Accountant, pay.ID, apps(invB.ID, "150.00"), "NOT_FOUND"},
					{"a made-up invoice", a.Accountant, pay.ID, apps("inv_01notaninvoice", "150.00"), "NOT_FOUND"},
					{"no invoice", a.Accountant, pay.ID, apps(), "VALIDATION"},
					{"a negative amount", a.Accountant, pay.ID, apps(inv.ID, "-1.00"), "INVALID_AMOUNT"},
					{"an invoice deleted in QuickBooks", a.Admin, deleted.ID, apps(inv.ID, "150.00"), "VALIDATION"},
					{"another organization's item", r.orgB.Admin, pay.ID, apps(invB.ID, "150.00"), "NOT_FOUND"},
					{"no such item", a.Admin, "rec_01nosuchitem", apps(inv.ID, "150.00"), "NOT_FOUND"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						before, beforeB := r.rcSnapshot(t, a), r.rcSnapshot(t, r.orgB)
						res := r.gql(t, tc.token, rcMatch, map[string]any{"in": map[string]any{
							"reconciliationItemId": tc.item, "applications": tc.apps}})
						require.Equal(t, []string{tc.code}, res.errorCodes(), "%+v", res.Errors)
						biRequireNoData(t, res)
						require.Equal(t, before, r.rcSnapshot(t, a), "a refused match changes nothing")
						require.Equal(t, beforeB, r.rcSnapshot(t, r.orgB))
					})
				}
			})

			t.Run("match records one payment", func(t *testing.T) {
				got := r.rcDo(t, a.Accountant, rcMatch, map[string]any{"reconciliationItemId": pay.ID, "note": "cheque 1234",
					"applications": []map[string]any{biApp(inv.ID, "150.00")}})
				it := got.ReconciliationItem
				require.Equal(t, pay.ID, it.ID)
				require.Equal(t, "MATCHED", it.Status)
				require.Equal(t, "cheque 1234", *it.Note)
				require.Equal(t, biSubject(a, auth.RoleAccountant), *it.ResolvedBy)
				require.NotNil(t, got.Payment)
				require.Equal(t, got.Payment.ID, *it.PaymentID)
				require.Equal(t, got.Payment.ID, it.Payment.ID)
				require.Equal(t, "150.00", got.Payment.Amount)
				require.Equal(t, "150.00", got.Payment.Applied)
				require.Equal(t, "0.00", got.Payment.Unapplied)
				require.Equal(t, f.acme, got.Payment.CustomerID)
				require.Equal(t, []struct{ ID, Status, Balance string }{{inv.ID, "PAID", "0.00"}}, got.Invoices)

				// In the ledger: one payment of QuickBooks payment 77, linked to it, synced.
				paid, err := r.client.Payment.Query().Where(payment.ExternalRefHasSuffix(":77")).All(orgCtx(a))
				require.NoError(t, err)
				require.Len(t, paid, 1)
				require.Equal(t, payment.ProcessorQbo, paid[0].Processor)
				link, err := r.client.QBOLink.Query().Where(qbolink.QboType("Payment"), qbolink.QboID("77")).Only(orgCtx(a))
				require.NoError(t, err)
				require.Equal(t, paid[0].ID, link.RecordID)
				require.Equal(t, qbolink.StatusSynced, link.Status)
				require.Empty(t, r.rcItemOf(t, a.Viewer, pay.ID).SuggestedMatches, "a matched item needs no suggestions")
				biRequireARInvariant(t, r.testBundle, a)

				// The same applications again: the same payment, nothing new.
				before := r.rcSnapshot(t, a)
				again := r.rcDo(t, a.FinanceLead, rcMatch, map[string]any{"reconciliationItemId": pay.ID,
					"applications": []map[string]any{biApp(inv.ID, "150.00")}})
				require.Equal(t, got.Payment.ID, again.Payment.ID)
				require.Equal(t, "MATCHED", again.ReconciliationItem.Status)
				require.Equal(t, withoutAudit(before), withoutAudit(r.rcSnapshot(t, a)))
				// Other applications: CONFLICT.
				before = r.rcSnapshot(t, a)
				res := r.gql(t, a.Accountant, rcMatch, map[string]any{"in": map[string]any{"reconciliationItemId": pay.ID,
					"applications": []map[string]any{biApp(inv2.ID, "150.00")}}})
				require.Equal(t, []string{"CONFLICT"}, res.errorCodes())
				require.Equal(t, before, r.rcSnapshot(t, a))
				// Settled, it can be neither deferred nor dismissed.
				res = r.gql(t, a.Accountant, rcDefer, map[string]any{"in": map[string]any{"reconciliationItemId": pay.ID}})
				require.Equal(t, []string{"CONFLICT"}, res.errorCodes())
				res = r.gql(t, a.Admin, rcDismiss, map[string]any{"in": map[string]any{"reconciliationItemId": pay.ID, "note": "dup"}})
				require.Equal(t, []string{"CONFLICT"}, res.errorCodes())
				require.Equal(t, before, r.rcSnapshot(t, a))
			})

			t.Run("a partial match leaves the invoice partially paid", func(t *testing.T) {
				got := r.rcDo(t, a.FinanceLead, rcMatch, map[string]any{"reconciliationItemId": partial.ID,
					"applications": []map[string]any{biApp(inv2.ID, "100.00")}})
				require.Equal(t, "MATCHED", got.ReconciliationItem.Status)
				require.Equal(t, "matched to 1 invoice(s)", *got.ReconciliationItem.Note)
				require.Equal(t, []struct{ ID, Status, Balance string }{{inv2.ID, "PARTIALLY_PAID", "200.00"}}, got.Invoices)
				biRequireARInvariant(t, r.testBundle, a)
			})

			t.Run("defer", func(t *testing.T) {
				got := r.rcDo(t, a.Accountant, rcDefer, map[string]any{"reconciliationItemId": mismatch.ID, "note": "  waiting for the remittance "})
				require.Equal(t, "DEFERRED", got.ReconciliationItem.Status)
				require.Equal(t, "waiting for the remittance", *got.ReconciliationItem.Note)
				require.Nil(t, got.Payment)
				require.Empty(t, got.Invoices)
				page := r.rcList(t, a.Viewer, map[string]any{"where": map[string]any{"status": "DEFERRED"}})
				require.Equal(t, []string{mismatch.ID}, rcIDs(page.nodes()))
				res := r.gql(t, r.orgB.Admin, rcDefer, map[string]any{"in": map[string]any{"reconciliationItemId": mismatch.ID}})
				require.Equal(t, []string{"NOT_FOUND"}, res.errorCodes())
				res = r.gql(t, a.Viewer, rcDefer, map[string]any{"in": map[string]any{"reconciliationItemId": mismatch.ID}})
				require.Equal(t, []string{"FORBIDDEN"}, res.errorCodes())
			})

			t.Run("dismiss", func(t *testing.T) {
				for _, tc := range []struct {
					name  string
					token string
					in    map[string]any
					code  string
				}{
					{"an accountant", a.Accountant, map[string]any{"reconciliationItemId": deleted.ID, "note": "gone"}, "FORBIDDEN"},
					{"a finance lead", a.FinanceLead, map[string]any{"reconciliationItemId": deleted.ID, "note": "gone"}, "FORBIDDEN"},
					{"without a note", a.Admin, map[string]any{"reconciliationItemId": deleted.ID}, "VALIDATION"},
					{"with a blank note", a.Admin, map[string]any{"reconciliationItemId": deleted.ID, "note": "   "}, "VALIDATION"},
					{"another organization's item", r.orgB.Admin, map[string]any{"reconciliationItemId": deleted.ID, "note": "gone"}, "NOT_FOUND"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						before := r.rcSnapshot(t, a)
						res := r.gql(t, tc.token, rcDismiss, map[string]any{"in": tc.in})
						require.Equal(t, []string{tc.code}, res.errorCodes())
						require.Equal(t, before, r.rcSnapshot(t, a))
					})
				}
				got := r.rcDo(t, a.Admin, rcDismiss, map[string]any{"reconciliationItemId": deleted.ID, "note": "voided on purpose"})
				require.Equal(t, "DISMISSED", got.ReconciliationItem.Status)
				require.Equal(t, biSubject(a, auth.RoleAdmin), *got.ReconciliationItem.ResolvedBy)
				res := r.gql(t, a.Accountant, rcMatch, map[string]any{"in": map[string]any{"reconciliationItemId": mismatch.ID,
					"applications": []map[string]any{biApp(inv2.ID, "100.00")}}})
				require.Empty(t, res.Errors, "a deferred item can still be matched")
			})

			t.Run("every change is audited", func(t *testing.T) {
				evs, err := r.client.AuditEvent.Query().Where(auditevent.ActionIn("matchReconciliationItem",
					"deferReconciliationItem", "dismissReconciliationItem")).All(orgCtx(a))
				require.NoError(t, err)
				var got []string
				for _, e := range evs {
					got = append(got, e.Action+" "+e.SubjectID+" "+e.Actor)
				}
				require.ElementsMatch(t, []string{
					"matchReconciliationItem " + pay.ID + " " + biSubject(a, auth.RoleAccountant),
					"matchReconciliationItem " + pay.ID + " " + biSubject(a, auth.RoleFinanceLead),
					"matchReconciliationItem " + partial.ID + " " + biSubject(a, auth.RoleFinanceLead),
					"deferReconciliationItem " + mismatch.ID + " " + biSubject(a, auth.RoleAccountant),
					"dismissReconciliationItem " + deleted.ID + " " + biSubject(a, auth.RoleAdmin),
					"matchReconciliationItem " + mismatch.ID + " " + biSubject(a, auth.RoleAccountant),
				}, got)
				biRequireARInvariant(t, r.testBundle, a)
				biRequireARInvariant(t, r.testBundle, r.orgB)
			})
		})
	}
}

// TestReconciliationQueueWithoutQuickBooks: a server without the payment sync still lists
// the queue, and its mutations answer QBO_NOT_CONNECTED.
func TestReconciliationQueueWithoutQuickBooks(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			conns := b.rcConnect(t, b.orgA)
			it := rcRaise(t, &recon.Queue{}, b.client, b.orgA, conns[b.orgA.Entities[0].ID],
				reconciliationitem.KindUnmatchedPayment, "77", "", "150.00", "")
			page := b.rcList(t, b.orgA.Viewer, nil)
			require.Equal(t, []string{it.ID}, rcIDs(page.nodes()))
			for _, tc := range []struct {
				name, op string
				in       map[string]any
			}{
				{"match", rcMatch, map[string]any{"reconciliationItemId": it.ID, "applications": []map[string]any{biApp("inv_x", "1.00")}}},
				{"defer", rcDefer, map[string]any{"reconciliationItemId": it.ID}},
				{"dismiss", rcDismiss, map[string]any{"reconciliationItemId": it.ID, "note": "no"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res := b.gql(t, b.orgA.Admin, tc.op, map[string]any{"in": tc.in})
					require.Equal(t, []string{"QBO_NOT_CONNECTED"}, res.errorCodes())
				})
			}
			got, err := b.client.ReconciliationItem.Get(orgCtx(b.orgA), it.ID)
			require.NoError(t, err)
			require.Equal(t, reconciliationitem.StatusOpen, got.Status)
		})
	}
}
