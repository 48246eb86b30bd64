package qbotest

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type obj = map[string]any

// replay is a stored response for a requestid (qbo-api.md §9).
type replay struct {
	status int
	body   []byte
	sig    string // requestSig of the request that used the requestid first
}

// Realm is one emulated company. Its methods give tests direct, read-only
// access to the data; every returned object is a deep copy in the JSON shape
// the API would send.
type Realm struct {
	id string
	s  *Server

	mu      sync.Mutex
	objs    map[string]map[string]obj // entity name → Id → object
	deleted map[string]map[string]bool
	seq     map[string]int64
	addrSeq int64
	idem    map[string]replay
	changes []Change
	// written holds, per entity and Id, the position (1-based) of the object's latest change
	// in changes: the order a query without ORDERBY answers in, kept as changes are recorded
	// so no query scans the whole feed.
	written map[string]map[string]int
	// docs indexes DocNumbers per entity (lowercased DocNumber → Ids; docOf the reverse),
	// kept on every write, so neither a duplicate check nor a query by DocNumber scans the
	// entity. Lowercased, as queries compare text.
	docs      map[string]map[string]map[string]bool
	docOf     map[string]map[string]string
	seeding   bool // the starting data is not a change anyone is told about
	createdAt time.Time
	prefs     prefs // the Preferences that can change (preferences.go)
}

func newRealm(id string, s *Server) *Realm {
	r := &Realm{id: id, s: s, objs: map[string]map[string]obj{}, deleted: map[string]map[string]bool{}, seq: map[string]int64{}, idem: map[string]replay{},
		written: map[string]map[string]int{}, docs: map[string]map[string]map[string]bool{}, docOf: map[string]map[string]string{}}
	for _, k := range kinds {
		r.objs[k.name] = map[string]obj{}
		r.deleted[k.name] = map[string]bool{}
	}
	r.createdAt = s.now()
	r.prefs = newPrefs(r.createdAt)
	r.seed()
	return r
}

// ID returns the realm id.
func (r *Realm) ID() string { return r.id }

func (r *Realm) nextID(k *kind) string {
	key := k.seqKey()
	r.seq[key]++
	return strconv.FormatInt(k.seqBase+r.seq[key], 10)
}

// Get returns one object by entity name ("Customer", case-insensitive) and
// Id. Deleted transactions are not returned.
func (r *Realm) Get(entity, id string) (map[string]any, bool) {
	k := kindByName(entity)
	if k == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.objs[k.name][id]
	if !ok {
		return nil, false
	}
	return r.render(k, o), true
}

// List returns all (active and inactive; not deleted) objects of an entity,
// ordered by numeric Id.
func (r *Realm) List(entity string) []map[string]any {
	k := kindByName(entity)
	if k == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked(k)
}

// listLocked is List for callers that already hold r.mu (queries, batch items).
func (r *Realm) listLocked(k *kind) []obj {
	ids := make([]string, 0, len(r.objs[k.name]))
	for id := range r.objs[k.name] {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if len(ids[i]) != len(ids[j]) {
			return len(ids[i]) < len(ids[j])
		}
		return ids[i] < ids[j]
	})
	out := make([]obj, 0, len(ids))
	for _, id := range ids {
		out = append(out, r.render(k, r.objs[k.name][id]))
	}
	return out
}

func (r *Realm) Customers() []map[string]any      { return r.List("Customer") }
func (r *Realm) Vendors() []map[string]any        { return r.List("Vendor") }
func (r *Realm) Items() []map[string]any          { return r.List("Item") }
func (r *Realm) Classes() []map[string]any        { return r.List("Class") }
func (r *Realm) Accounts() []map[string]any       { return r.List("Account") }
func (r *Realm) PaymentMethods() []map[string]any { return r.List("PaymentMethod") }
func (r *Realm) Invoices() []map[string]any       { return r.List("Invoice") }

// FindByName returns the first object of entity whose Name (or DisplayName)
// equals name.
func (r *Realm) FindByName(entity, name string) (map[string]any, bool) {
	for _, o := range r.List(entity) {
		if o["Name"] == name || o["DisplayName"] == name {
			return o, true
		}
	}
	return nil, false
}

// seed creates the starting chart of accounts, payment methods and the
// "Services" item (Id "1", the default item for invoice lines).
func (r *Realm) seed() {
	r.seeding = true
	defer func() { r.seeding = false }()
	accounts := []struct{ name, typ, sub string }{
		{"Checking", "Bank", "Checking"},
		{"Savings", "Bank", "Savings"},
		{"Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"},
		{"Undeposited Funds", "Other Current Asset", "UndepositedFunds"},
		{"Prepaid Expenses", "Other Current Asset", "PrepaidExpenses"},
		{"Inventory Asset", "Other Current Asset", "Inventory"},
		{"Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"},
		{"Deferred Revenue", "Other Current Liability", "OtherCurrentLiabilities"},
		{"Opening Balance Equity", "Equity", "OpeningBalanceEquity"},
		{"Retained Earnings", "Equity", "RetainedEarnings"},
		{"Services", "Income", "ServiceFeeIncome"},
		{"Sales of Product Income", "Income", "SalesOfProductIncome"},
		{"Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"},
		{"Advertising", "Expense", "AdvertisingPromotional"},
		{"Bank Charges", "Expense", "BankCharges"},
		{"Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"},
		{"Rent or Lease", "Expense", "RentOrLeaseOfBuildings"},
	}
	var servicesIncome string
	for _, a := range accounts {
		o := r.mustCreate("Account", obj{"Name": a.name, "AccountType": a.typ, "AccountSubType": a.sub})
		if a.name == "Services" {
			servicesIncome = o["Id"].(string)
		}
	}
	for _, pm := range []struct{ name, typ string }{
		{"Cash", "NON_CREDIT_CARD"}, {"Check", "NON_CREDIT_CARD"}, {"Visa", "CREDIT_CARD"},
		{"MasterCard", "CREDIT_CARD"}, {"American Express", "CREDIT_CARD"}, {"Discover", "CREDIT_CARD"},
	} {
		r.mustCreate("PaymentMethod", obj{"Name": pm.name, "Type": pm.typ})
	}
	r.mustCreate("Item", obj{"Name": "Services", "Type": "Service", "IncomeAccountRef": obj{"value": servicesIncome}})
}

func (r *Realm) mustCreate(entity string, body obj) obj {
	k := kindByName(entity)
	o, f := r.create(k, body, reqOpts{})
	if f != nil {
		panic("qbotest: seed " + entity + ": " + f.Detail)
	}
	return o
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// indexDoc brings the DocNumber index up to date for the object entity/id as stored now
// (absent: deleted). Caller holds r.mu.
func (r *Realm) indexDoc(entity, id string) {
	if old, ok := r.docOf[entity][id]; ok {
		delete(r.docs[entity][old], id)
		delete(r.docOf[entity], id)
	}
	o, ok := r.objs[entity][id]
	if !ok {
		return
	}
	doc := strings.ToLower(str(o, "DocNumber"))
	if doc == "" {
		return
	}
	if r.docs[entity] == nil {
		r.docs[entity], r.docOf[entity] = map[string]map[string]bool{}, map[string]string{}
	}
	if r.docs[entity][doc] == nil {
		r.docs[entity][doc] = map[string]bool{}
	}
	r.docs[entity][doc][id] = true
	r.docOf[entity][id] = doc
}

// docHolder returns an object of entity other than skip whose DocNumber is doc. Caller
// holds r.mu.
func (r *Realm) docHolder(entity, doc, skip string) (string, bool) {
	var ids []string
	for id := range r.docs[entity][strings.ToLower(doc)] {
		if id != skip && str(r.objs[entity][id], "DocNumber") == doc {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", false
	}
	sort.Strings(ids)
	return ids[0], true
}
