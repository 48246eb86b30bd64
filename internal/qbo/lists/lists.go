// Package lists keeps what Books knows of a QuickBooks company's lists and the choices made
// against them: "Update lists" (seed 001, Q3) fetches the company's accounts, payment methods,
// items, classes and sales-form custom-field definitions into qbo_list_entries; each Books GL
// account can be mapped to a QuickBooks account (a QBOLink of record type account); and a
// connection's sync settings (Q4) are saved only when the QuickBooks ids they name are in the
// fetched lists with the right type.
//
// Functions take the ent client to work on; tenancy is the ent schema's, so another
// organization's connection is not found. Update makes its network calls before it opens
// its one short transaction, so no database transaction waits on QuickBooks.
//
// Several Books accounts may map to one QuickBooks account (Books' chart is often finer):
// account links claim nothing in qbo_links' exclusivity index.
package lists

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"books/ent"
	"books/ent/account"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/ent/qbolistentry"
	"books/internal/apperr"
	"books/internal/ledger"
	"books/internal/qbo"
)

// Depositable are the QuickBooks account types payments may be deposited to.
var Depositable = []string{"Bank", "Other Current Asset"}

// Count is what one list's update did.
type Count struct {
	// Fetched is how many entries QuickBooks returned, active and inactive.
	Fetched int
	// Active is how many of them are active.
	Active int
	// Added is how many were not stored before.
	Added int
	// Deactivated is how many stored entries QuickBooks no longer returned; they are kept,
	// inactive, so settings and mappings naming them still explain themselves.
	Deactivated int
}

// Summary is what Update did, per list.
type Summary struct {
	Accounts       Count
	PaymentMethods Count
	Items          Count
	Classes        Count
	CustomFields   Count
	// AutoMapped is how many Books accounts were mapped to the QuickBooks account of the
	// same name.
	AutoMapped int
	// UpdatedAt is the connection's new lists_updated_at.
	UpdatedAt time.Time
}

// fetched is one list entry as QuickBooks answered it.
type fetched struct {
	list           qbolistentry.List
	qboID          string
	name           string
	kind, subkind  string
	active         bool
	depositAllowed bool
}

// connection returns the connection with id, NOT_FOUND when there is none in the organization.
func connection(ctx context.Context, c *ent.Client, id string) (*ent.QBOConnection, error) {
	row, err := c.QBOConnection.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "QuickBooks connection %q not found", id)
	}
	return row, err
}

// Update fetches the connection's QuickBooks lists with api (a client of the connection's
// company) and stores them: every account (active and inactive), payment method, item,
// class and sales-form custom-field definition. Entries QuickBooks no longer returns become
// inactive. Books accounts of the connection's entity that have no mapping are mapped to the
// active QuickBooks account of the same name (case-insensitive) when exactly one has it; an
// existing mapping is never changed. QBO_NOT_CONNECTED unless the connection is connected.
// QuickBooks failures are returned as the qbo client's errors, with nothing stored.
func Update(ctx context.Context, c *ent.Client, api *qbo.Client, connectionID string) (Summary, error) {
	row, err := connection(ctx, c, connectionID)
	if err != nil {
		return Summary{}, err
	}
	if row.Status != qboconnection.StatusConnected {
		return Summary{}, apperr.New(apperr.QBONotConnected, "legal entity %s's QuickBooks connection %s is %s; "+
			"connect the company again to update its lists", row.EntityID, row.ID, strings.ReplaceAll(string(row.Status), "_", " "))
	}
	if api == nil || api.RealmID() != row.RealmID {
		return Summary{}, fmt.Errorf("lists: the QuickBooks client is not for company %s of connection %s", row.RealmID, row.ID)
	}

	// The network first, outside any transaction.
	entries, err := fetch(ctx, api)
	if err != nil {
		return Summary{}, err
	}

	at := now()
	var sum Summary
	err = ledger.WithTx(ctx, c, func(c *ent.Client) error {
		// The row as it is now, for the update of lists_updated_at.
		row, err := connection(ctx, c, connectionID)
		if err != nil {
			return err
		}
		if err := store(ctx, c, row, entries, at, &sum); err != nil {
			return err
		}
		if sum.AutoMapped, err = autoMap(ctx, c, row, at); err != nil {
			return err
		}
		return c.QBOConnection.UpdateOne(row).SetListsUpdatedAt(at).Exec(ctx)
	})
	if ent.IsConstraintError(err) {
		return Summary{}, apperr.Wrap(apperr.Conflict, err, "the QuickBooks lists of connection "+connectionID+
			" were updated by someone else at the same time; update them again")
	}
	if err != nil {
		return Summary{}, err
	}
	sum.UpdatedAt = at
	return sum, nil
}

// fetch reads the lists from QuickBooks.
func fetch(ctx context.Context, api *qbo.Client) ([]fetched, error) {
	// QuickBooks answers only active list objects unless the query names Active.
	const all = "Active IN (true, false)"
	var out []fetched
	for _, l := range []struct {
		entity string
		list   qbolistentry.List
	}{
		{"Account", qbolistentry.ListAccount},
		{"PaymentMethod", qbolistentry.ListPaymentMethod},
		{"Item", qbolistentry.ListItem},
		{"Class", qbolistentry.ListClass},
	} {
		rows, err := api.QueryAll(ctx, l.entity, all)
		if err != nil {
			return nil, err
		}
		for _, raw := range rows {
			var r struct {
				Id, Name, FullyQualifiedName string
				Active                       *bool
				AccountType, AccountSubType  string
				Type                         string
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("lists: decoding a QuickBooks %s: %w", l.entity, err)
			}
			e := fetched{list: l.list, qboID: r.Id, name: r.Name, active: r.Active == nil || *r.Active}
			if r.FullyQualifiedName != "" {
				e.name = r.FullyQualifiedName
			}
			switch l.list {
			case qbolistentry.ListAccount:
				e.kind, e.subkind = r.AccountType, r.AccountSubType
				e.depositAllowed = depositable(r.AccountType)
			case qbolistentry.ListPaymentMethod, qbolistentry.ListItem:
				e.kind = r.Type
			}
			out = append(out, e)
		}
	}
	prefs, err := api.Preferences(ctx)
	if err != nil {
		return nil, err
	}
	defs, err := qbo.SalesCustomFields(prefs)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		name := d.Name
		if name == "" {
			name = "Custom field " + d.DefinitionID
		}
		out = append(out, fetched{list: qbolistentry.ListCustomField, qboID: d.DefinitionID, name: name, active: d.Enabled})
	}
	for i := range out {
		out[i].name = cut(out[i].name, 400)
		out[i].kind = cut(out[i].kind, 100)
		out[i].subkind = cut(out[i].subkind, 100)
	}
	return out, nil
}

func depositable(accountType string) bool {
	for _, t := range Depositable {
		if accountType == t {
			return true
		}
	}
	return false
}

type entryKey struct {
	list  qbolistentry.List
	qboID string
}

// store writes the fetched entries: new ones created, changed ones updated, unchanged ones
// only stamped, and stored ones not fetched made inactive.
func store(ctx context.Context, c *ent.Client, conn *ent.QBOConnection, entries []fetched, now time.Time, sum *Summary) error {
	stored, err := c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(conn.ID)).All(ctx)
	if err != nil {
		return err
	}
	have := make(map[entryKey]*ent.QBOListEntry, len(stored))
	for _, e := range stored {
		have[entryKey{e.List, e.QboID}] = e
	}
	count := func(l qbolistentry.List) *Count {
		switch l {
		case qbolistentry.ListAccount:
			return &sum.Accounts
		case qbolistentry.ListPaymentMethod:
			return &sum.PaymentMethods
		case qbolistentry.ListItem:
			return &sum.Items
		case qbolistentry.ListClass:
			return &sum.Classes
		}
		return &sum.CustomFields
	}
	seen := map[entryKey]bool{}
	var creates []*ent.QBOListEntryCreate
	var unchanged []string
	for _, f := range entries {
		k := entryKey{f.list, f.qboID}
		if seen[k] {
			continue
		}
		seen[k] = true
		n := count(f.list)
		n.Fetched++
		if f.active {
			n.Active++
		}
		old := have[k]
		switch {
		case old == nil:
			n.Added++
			creates = append(creates, c.QBOListEntry.Create().
				SetConnectionID(conn.ID).SetList(f.list).SetQboID(f.qboID).SetName(f.name).
				SetQboKind(f.kind).SetQboSubkind(f.subkind).SetActive(f.active).
				SetDepositAllowed(f.depositAllowed).SetFetchedAt(now))
		case old.Name == f.name && old.QboKind == f.kind && old.QboSubkind == f.subkind &&
			old.Active == f.active && old.DepositAllowed == f.depositAllowed:
			unchanged = append(unchanged, old.ID)
		default:
			if err := c.QBOListEntry.UpdateOne(old).SetName(f.name).SetQboKind(f.kind).SetQboSubkind(f.subkind).
				SetActive(f.active).SetDepositAllowed(f.depositAllowed).SetFetchedAt(now).Exec(ctx); err != nil {
				return err
			}
		}
	}
	var gone []string
	for k, e := range have {
		if !seen[k] && e.Active {
			gone = append(gone, e.ID)
			count(k.list).Deactivated++
		}
	}
	for _, chunk := range chunks(creates, chunkSize) {
		if err := c.QBOListEntry.CreateBulk(chunk...).Exec(ctx); err != nil {
			return err
		}
	}
	for _, chunk := range chunks(unchanged, chunkSize) {
		if err := c.QBOListEntry.Update().Where(qbolistentry.IDIn(chunk...)).SetFetchedAt(now).Exec(ctx); err != nil {
			return err
		}
	}
	for _, chunk := range chunks(gone, chunkSize) {
		if err := c.QBOListEntry.Update().Where(qbolistentry.IDIn(chunk...)).SetActive(false).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// chunkSize bounds the rows (or ids) of one statement, well under SQLite's and PostgreSQL's
// limits on bound parameters.
const chunkSize = 500

func chunks[T any](all []T, n int) [][]T {
	var out [][]T
	for len(all) > n {
		out = append(out, all[:n])
		all = all[n:]
	}
	if len(all) > 0 {
		out = append(out, all)
	}
	return out
}

// autoMap maps each Books account of the connection's entity that has no mapping to the
// active QuickBooks account of the same name (case-insensitive, surrounding spaces ignored)
// when exactly one has it, and returns how many it mapped.
func autoMap(ctx context.Context, c *ent.Client, conn *ent.QBOConnection, now time.Time) (int, error) {
	qboAccounts, err := c.QBOListEntry.Query().
		Where(qbolistentry.ConnectionID(conn.ID), qbolistentry.ListEQ(qbolistentry.ListAccount), qbolistentry.Active(true)).
		All(ctx)
	if err != nil {
		return 0, err
	}
	byName := map[string][]*ent.QBOListEntry{}
	for _, e := range qboAccounts {
		k := nameKey(e.Name)
		byName[k] = append(byName[k], e)
	}
	links, err := c.QBOLink.Query().
		Where(qbolink.ConnectionID(conn.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeAccount)).All(ctx)
	if err != nil {
		return 0, err
	}
	mapped := map[string]bool{}
	for _, l := range links {
		mapped[l.RecordID] = true
	}
	books, err := c.Account.Query().Where(account.EntityID(conn.EntityID)).Order(account.ByCode()).All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range books {
		if mapped[a.ID] {
			continue
		}
		match := byName[nameKey(a.Name)]
		if len(match) != 1 {
			continue
		}
		if err := createLink(ctx, c, conn, a.ID, match[0], now); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

func nameKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Entries returns the connection's fetched entries of list, active and inactive, ordered by
// name.
func Entries(ctx context.Context, c *ent.Client, connectionID string, list qbolistentry.List) ([]*ent.QBOListEntry, error) {
	if _, err := connection(ctx, c, connectionID); err != nil {
		return nil, err
	}
	if err := qbolistentry.ListValidator(list); err != nil {
		return nil, apperr.New(apperr.Validation, "%q is not a QuickBooks list", list).WithField("list")
	}
	out, err := c.QBOListEntry.Query().
		Where(qbolistentry.ConnectionID(connectionID), qbolistentry.ListEQ(list)).All(ctx)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := nameKey(out[i].Name), nameKey(out[j].Name); a != b {
			return a < b
		}
		return out[i].QboID < out[j].QboID
	})
	return out, nil
}

// cut shortens s to at most n bytes (the columns' limits count bytes), keeping it valid UTF-8.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
