package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"books/ent"
	"books/ent/account"
	"books/ent/chargereversal"
	"books/ent/creditmemo"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/qboconnection"
	"books/ent/qboinboxevent"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/ent/refund"
	"books/ent/vendor"
	"books/ent/writeoff"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/qbo/conn"
	"books/internal/qbo/lists"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/qbo/settings"
	"books/internal/tenant"
)

// QuickBooks is what the demo connects its entities with: the in-process emulator (one
// company per entity), the connection store and the push engine.
type QuickBooks struct {
	Emulator *qbotest.Server
	Store    *conn.Store
	Engine   *push.Engine
}

// ConnectQuickBooks connects each demo entity to its own emulated company, fetches the
// company's lists (mapping Books accounts to QuickBooks accounts of the same kind), chooses
// settings, and asks for every customer, vendor, approved invoice and the money on them to be
// pushed; the job runner does the rest, so the first run shows a real sync.
//
// The emulator keeps nothing across runs, so links left by an earlier run point at records
// that are gone: they are dropped first, with the reconciliation items and the received
// QuickBooks notifications of the entity's connections, and everything is pushed again.
func ConnectQuickBooks(ctx context.Context, client *ent.Client, info Info, q QuickBooks) error {
	octx := tenant.WithOrg(ctx, info.OrganizationID)
	realms := q.Emulator.RealmIDs()
	for i, e := range info.Entities {
		if i >= len(realms) {
			break
		}
		if err := connectEntity(octx, client, e.ID, realms[i], q); err != nil {
			return fmt.Errorf("connect %s to QuickBooks: %w", e.Code, err)
		}
	}
	return nil
}

func connectEntity(ctx context.Context, client *ent.Client, entityID, realm string, q QuickBooks) error {
	tok := q.Emulator.IssueTokens(realm)
	now := time.Now().UTC()
	var row *ent.QBOConnection
	err := ledger.WithTx(ctx, client, func(c *ent.Client) error {
		if _, err := c.QBOLink.Delete().Where(qbolink.EntityID(entityID), qbolink.RecordTypeNEQ(qbolink.RecordTypeAccount)).Exec(ctx); err != nil {
			return err
		}
		if _, err := c.ReconciliationItem.Delete().Where(reconciliationitem.EntityID(entityID)).Exec(ctx); err != nil {
			return err
		}
		conns, err := c.QBOConnection.Query().Where(qboconnection.EntityID(entityID)).IDs(ctx)
		if err != nil {
			return err
		}
		// The inbox belongs to no tenant (a realm may be unknown): its rows are named by the
		// connections, and by the realm for any kept before it was connected.
		if _, err := c.QBOInboxEvent.Delete().Where(qboinboxevent.Or(qboinboxevent.ConnectionIDIn(conns...),
			qboinboxevent.RealmID(realm))).Exec(tenant.System(ctx)); err != nil {
			return err
		}
		// An earlier run's company is gone with its emulator: disconnect it (its links stay
		// with it) and connect this run's.
		live, err := c.QBOConnection.Query().Where(qboconnection.EntityID(entityID),
			qboconnection.StatusNEQ(qboconnection.StatusDisconnected), qboconnection.RealmIDNEQ(realm)).IDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range live {
			if _, err := q.Store.Disconnect(ctx, c, id); err != nil {
				return err
			}
		}
		row, err = q.Store.Save(ctx, c, conn.Connect{EntityID: entityID, RealmID: realm, BaseURL: q.Emulator.URL,
			CompanyName: fmt.Sprintf("Sandbox Company %s", realm),
			Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken,
				AccessExpiresAt:  now.Add(time.Duration(tok.ExpiresIn) * time.Second),
				RefreshExpiresAt: now.Add(time.Duration(tok.XRefreshTokenExpiresIn) * time.Second)}})
		return err
	})
	if err != nil {
		return err
	}
	api, err := q.Engine.API(ctx, row)
	if err != nil {
		return err
	}
	if _, err := lists.Update(ctx, client, api, row.ID); err != nil {
		return err
	}
	if err := mapByKind(ctx, client, row); err != nil {
		return err
	}
	if _, err := lists.Save(ctx, client, row.ID, settings.Settings{
		AutoSyncInvoices:        true,
		ServiceItemID:           qboID(q.Emulator.Realm(realm), "Item", "Services"),
		DefaultDepositAccountID: qboID(q.Emulator.Realm(realm), "Account", "Checking"),
	}); err != nil {
		return err
	}
	return ledger.WithTx(ctx, client, func(c *ent.Client) error { return pushAll(ctx, c, q.Engine, entityID) })
}

// mapByKind maps each Books account the name match left unmapped to a QuickBooks account of
// the same kind; a real company is mapped by a person, account by account.
func mapByKind(ctx context.Context, client *ent.Client, row *ent.QBOConnection) error {
	entries, err := lists.Entries(ctx, client, row.ID, "account")
	if err != nil {
		return err
	}
	byName := map[string]string{}
	for _, e := range entries {
		byName[e.Name] = e.QboID
	}
	accts, err := client.Account.Query().Where(account.EntityID(row.EntityID)).All(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if _, err := lists.AccountFor(ctx, client, row.ID, a.ID); err == nil {
			continue
		}
		name := "Undeposited Funds"
		switch {
		case a.Subtype == account.SubtypeAccountsReceivable:
			name = "Accounts Receivable (A/R)"
		case a.Subtype == account.SubtypeBank:
			name = "Checking"
		case a.Type == account.TypeLiability:
			name = "Deferred Revenue"
		case a.Type == account.TypeEquity:
			name = "Retained Earnings"
		case a.Type == account.TypeRevenue:
			name = "Services"
		case a.Type == account.TypeExpense:
			name = "Office Expenses"
		}
		if _, err := lists.MapAccount(ctx, client, row.ID, a.ID, byName[name]); err != nil {
			return err
		}
	}
	return nil
}

func qboID(r *qbotest.Realm, entity, name string) string {
	if o, ok := r.FindByName(entity, name); ok {
		id, _ := o["Id"].(string)
		return id
	}
	return ""
}

// pushAll asks for the entity's records to be pushed, thirty at a time.
func pushAll(ctx context.Context, c *ent.Client, e *push.Engine, entityID string) error {
	le, err := c.LegalEntity.Get(ctx, entityID)
	if err != nil {
		return err
	}
	batches := []struct {
		t   qbolink.RecordType
		ids func() ([]string, error)
	}{
		// Customers and vendors belong to the organization; each company gets those dealing
		// in its entity's currency.
		{qbolink.RecordTypeCustomer, func() ([]string, error) {
			return c.Customer.Query().Where(customer.Currency(le.BaseCurrency)).IDs(ctx)
		}},
		{qbolink.RecordTypeVendor, func() ([]string, error) {
			return c.Vendor.Query().Where(vendor.Currency(le.BaseCurrency)).IDs(ctx)
		}},
		{qbolink.RecordTypeInvoice, func() ([]string, error) {
			return c.Invoice.Query().Where(invoice.EntityID(entityID), invoice.StatusNotIn(invoice.StatusDraft,
				invoice.StatusSubmitted, invoice.StatusVoid)).IDs(ctx)
		}},
		{qbolink.RecordTypePayment, func() ([]string, error) { return c.Payment.Query().Where(payment.EntityID(entityID)).IDs(ctx) }},
		{qbolink.RecordTypeCreditMemo, func() ([]string, error) {
			return c.CreditMemo.Query().Where(creditmemo.EntityID(entityID)).IDs(ctx)
		}},
		{qbolink.RecordTypeRefund, func() ([]string, error) { return c.Refund.Query().Where(refund.EntityID(entityID)).IDs(ctx) }},
		{qbolink.RecordTypeChargeReversal, func() ([]string, error) {
			return c.ChargeReversal.Query().Where(chargereversal.EntityID(entityID)).IDs(ctx)
		}},
		{qbolink.RecordTypeWriteOff, func() ([]string, error) {
			return c.WriteOff.Query().Where(writeoff.EntityID(entityID)).IDs(ctx)
		}},
	}
	for _, b := range batches {
		ids, err := b.ids()
		if err != nil {
			return err
		}
		for len(ids) > 0 {
			n := min(len(ids), push.MaxPush)
			if _, err := e.Push(ctx, c, entityID, b.t, ids[:n]); err != nil {
				return fmt.Errorf("push %s: %w", b.t, err)
			}
			ids = ids[n:]
		}
	}
	return nil
}

// QuickBooksActivity plays a QuickBooks user once the first entity's invoices are in its
// emulated company: a partial payment of an open invoice (which Books records, on the webhook,
// against the invoice) and a payment naming no invoice (which waits in the reconciliation
// queue for a person). It gives up quietly after wait. Every write goes through the
// emulator's API, as the user's would.
func QuickBooksActivity(ctx context.Context, client *ent.Client, info Info, q QuickBooks, wait time.Duration) error {
	if len(info.Entities) == 0 {
		return nil
	}
	octx := tenant.WithOrg(ctx, info.OrganizationID)
	entityID := info.Entities[0].ID
	deadline := time.Now().Add(wait)
	var inv *ent.Invoice
	var link *ent.QBOLink
	for inv == nil {
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		open, err := client.Invoice.Query().Where(invoice.EntityID(entityID),
			invoice.StatusIn(invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed)).
			Order(ent.Asc(invoice.FieldID)).All(octx)
		if err != nil {
			return err
		}
		for _, cand := range open {
			l, err := client.QBOLink.Query().Where(qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice), qbolink.RecordID(cand.ID),
				qbolink.StatusEQ(qbolink.StatusSynced)).First(octx)
			if err != nil && !ent.IsNotFound(err) {
				return err
			}
			if l != nil && cand.Balance.Cmp(money.MustParse("2.00")) >= 0 {
				inv, link = cand, l
				break
			}
		}
	}
	row, err := client.QBOConnection.Get(octx, link.ConnectionID)
	if err != nil {
		return err
	}
	cus, err := client.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeCustomer),
		qbolink.RecordID(inv.CustomerID)).Only(octx)
	if err != nil || cus.QboID == nil {
		return err
	}
	api, err := q.Engine.API(octx, row)
	if err != nil {
		return err
	}
	half := money.FromUnits(inv.Balance.Units() / 2 / 100 * 100)
	pays := []map[string]any{
		{"CustomerRef": map[string]any{"value": *cus.QboID}, "TotalAmt": json.Number(half.String()), "TxnDate": time.Now().Format("2006-01-02"),
			"PaymentRefNum": "DEMO-PARTIAL", "Line": []any{map[string]any{"Amount": json.Number(half.String()),
				"LinkedTxn": []any{map[string]any{"TxnId": *link.QboID, "TxnType": "Invoice"}}}}},
		{"CustomerRef": map[string]any{"value": *cus.QboID}, "TotalAmt": json.Number("125.00"), "TxnDate": time.Now().Format("2006-01-02"),
			"PaymentRefNum": "CHK-1001", "Line": []any{}},
	}
	for i, body := range pays {
		if _, err := api.Create(octx, "Payment", body, fmt.Sprintf("demo-activity-%s-%d", row.RealmID, i)); err != nil {
			return err
		}
	}
	return nil
}
