package qbotest

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fault is one QBO ValidationFault error (qbo-api.md §11).
type fault struct {
	Message string `json:"Message"`
	Detail  string `json:"Detail"`
	Code    string `json:"code"`
	Element string `json:"element"`
}

func required(element string) *fault {
	return &fault{Message: "Required param missing, need to supply the required value for the API",
		Detail: "Required parameter " + element + " is missing in the request", Code: "2020", Element: element}
}

func invalidRef(element, entity, id string) *fault {
	return &fault{Message: "Invalid Reference Id",
		Detail: "Invalid Reference Id : " + entity + " with Id " + id + " does not exist", Code: "2500", Element: element}
}

func inactiveRef(element string) *fault {
	return &fault{Message: "Object Not Found",
		Detail: "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees.",
		Code:   "610", Element: element}
}

func notFound(k *kind, id string) *fault {
	detail := "Object Not Found : Another user has deleted this transaction."
	if !k.txn {
		detail = "Object Not Found : " + k.name + " with Id " + id + " was not found."
	}
	return &fault{Message: "Object Not Found", Detail: detail, Code: "610", Element: ""}
}

func staleObject() *fault {
	return &fault{Message: "Stale Object Error",
		Detail: "Stale Object Error : You and qbotest were working on this at the same time. qbotest finished before you did, so your work was not saved.",
		Code:   "5010", Element: ""}
}

func duplicateName(what string) *fault {
	return &fault{Message: "Duplicate Name Exists Error",
		Detail: "The name supplied already exists. : Another " + what + " is already using this name. Please use a different name.",
		Code:   "6240", Element: ""}
}

func invalidEnum(element, value string) *fault {
	return &fault{Message: "Invalid Enumeration", Detail: "Invalid Enumeration : " + value, Code: "2170", Element: element}
}

func badProperty(detail string) *fault {
	return &fault{Message: "Request has invalid or unsupported property", Detail: "Property Name:" + detail, Code: "2010", Element: ""}
}

func unsupportedOp(detail string) *fault {
	return &fault{Message: "Unsupported Operation", Detail: "Operation " + detail + " is not supported.", Code: "500", Element: ""}
}

// reqOpts carries request options that affect validation.
type reqOpts struct {
	void                 bool // include=void: void the payment the update names
	allowDuplicateDocNum bool
}

// kind describes one entity type.
type kind struct {
	name    string // JSON envelope key, e.g. "Invoice"
	path    string // URL segment, e.g. "invoice"
	txn     bool   // transaction (deletable) rather than name-list entity
	seqBase int64
	// prepare validates o (the complete new state) and sets computed and
	// default fields; old is the stored object on update, nil on create.
	prepare func(r *Realm, o, old obj, opts reqOpts) *fault
	// written, if set, runs after a write is stored and recorded, for side
	// effects on other objects (transactions.go). op is Create, Update,
	// Delete or Void; o is the stored object (nil on Delete), old the
	// previous one (nil on Create).
	written func(r *Realm, op string, o, old obj)
}

func (k *kind) seqKey() string {
	if k.txn {
		return "txn"
	}
	return k.name
}

var kinds []*kind

func init() {
	kinds = []*kind{
		{name: "Account", path: "account", prepare: prepareAccount},
		{name: "PaymentMethod", path: "paymentmethod", prepare: preparePaymentMethod},
		{name: "Item", path: "item", prepare: prepareItem},
		{name: "Class", path: "class", seqBase: 5000000000000142237, prepare: prepareClass},
		{name: "Customer", path: "customer", prepare: preparePerson("Customer")},
		{name: "Vendor", path: "vendor", prepare: preparePerson("Vendor")},
		{name: "Invoice", path: "invoice", txn: true, seqBase: 100, prepare: prepareInvoiceLinked, written: unlinkOnRemove("Invoice")},
		{name: "Payment", path: "payment", txn: true, seqBase: 100, prepare: preparePayment, written: paymentWritten},
		{name: "JournalEntry", path: "journalentry", txn: true, seqBase: 100, prepare: prepareJournalEntry},
		{name: "CreditMemo", path: "creditmemo", txn: true, seqBase: 100, prepare: prepareCreditMemo, written: unlinkOnRemove("CreditMemo")},
		{name: "RefundReceipt", path: "refundreceipt", txn: true, seqBase: 100, prepare: prepareRefundReceipt},
	}
}

func kindByName(name string) *kind {
	for _, k := range kinds {
		if strings.EqualFold(k.name, name) || k.path == name {
			return k
		}
	}
	return nil
}

// systemFields are set by the server only; values sent by clients are ignored.
var systemFields = []string{"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}

func usd() obj { return obj{"value": "USD", "name": "United States Dollar"} }

func str(o obj, key string) string {
	s, _ := o[key].(string)
	return strings.TrimSpace(s)
}

func setDefault(o obj, key string, v any) {
	if _, ok := o[key]; !ok || o[key] == nil {
		o[key] = v
	}
}

// activeOf reports the Active flag, defaulting (and normalising) to true.
func activeOf(o obj) bool {
	b, ok := o["Active"].(bool)
	if !ok {
		o["Active"] = true
		return true
	}
	return b
}

// create validates body and stores it as a new object. Caller holds r.mu
// (or is seeding).
func (r *Realm) create(k *kind, body obj, opts reqOpts) (obj, *fault) {
	o, f := r.shapeRequest(k, body)
	if f != nil {
		return nil, f
	}
	if f := k.prepare(r, o, nil, opts); f != nil {
		return nil, f
	}
	now := r.s.metaTime(r.s.now())
	o["Id"] = r.nextID(k)
	o["SyncToken"] = "0"
	o["MetaData"] = obj{"CreateTime": now, "LastUpdatedTime": now}
	o["domain"] = "QBO"
	o["sparse"] = false
	r.objs[k.name][o["Id"].(string)] = o
	if !r.seeding {
		r.recordChange(k.name, o["Id"].(string), "Create")
	} else {
		r.indexDoc(k.name, o["Id"].(string))
	}
	if k.written != nil {
		k.written(r, "Create", o, nil)
	}
	return r.render(k, o), nil
}

// shapeRequest copies a request body without its system fields and
// prunes it to the entity's shape.
func (r *Realm) shapeRequest(k *kind, body obj) (obj, *fault) {
	o := deepCopy(body).(obj)
	for _, f := range systemFields {
		delete(o, f)
	}
	if f := pruneObj(o, entityShapes[k.name], ""); f != nil {
		return nil, f
	}
	return o, nil
}

// lookupForWrite finds the target of an update/delete/void and checks its
// SyncToken.
func (r *Realm) lookupForWrite(k *kind, body obj) (obj, *fault) {
	id, _ := body["Id"].(string)
	if id == "" {
		return nil, required("Id")
	}
	old, ok := r.objs[k.name][id]
	if !ok {
		return nil, notFound(k, id)
	}
	st, ok := body["SyncToken"].(string)
	if !ok || st == "" {
		return nil, required("SyncToken")
	}
	if st != old["SyncToken"] {
		return nil, staleObject()
	}
	return old, nil
}

func bumpSyncToken(o obj) {
	n, _ := strconv.Atoi(o["SyncToken"].(string))
	o["SyncToken"] = strconv.Itoa(n + 1)
}

// update applies a full or sparse update (qbo-api.md §5).
func (r *Realm) update(k *kind, body obj, opts reqOpts) (obj, *fault) {
	old, f := r.lookupForWrite(k, body)
	if f != nil {
		return nil, f
	}
	o, f := r.shapeRequest(k, body)
	if f != nil {
		return nil, f
	}
	if sp, _ := body["sparse"].(bool); sp {
		// Only supplied properties change; a null one was pruned as
		// absent, so "Line": null leaves the lines as they are.
		sent := o
		o = deepCopy(old).(obj)
		for _, f := range systemFields {
			delete(o, f)
		}
		for key, v := range sent {
			o[key] = v
		}
	}
	if f := k.prepare(r, o, old, opts); f != nil {
		return nil, f
	}
	o["Id"] = old["Id"]
	o["SyncToken"] = old["SyncToken"]
	bumpSyncToken(o)
	o["MetaData"] = obj{"CreateTime": old["MetaData"].(obj)["CreateTime"], "LastUpdatedTime": r.s.metaTime(r.s.now())}
	o["domain"] = "QBO"
	o["sparse"] = false
	r.objs[k.name][o["Id"].(string)] = o
	r.recordChange(k.name, o["Id"].(string), "Update")
	if k.written != nil {
		k.written(r, "Update", o, old)
	}
	return r.render(k, o), nil
}

// remove hard-deletes a transaction; the response is the status stub.
func (r *Realm) remove(k *kind, body obj) (obj, *fault) {
	old, f := r.lookupForWrite(k, body)
	if f != nil {
		return nil, f
	}
	id := old["Id"].(string)
	delete(r.objs[k.name], id)
	r.deleted[k.name][id] = true
	r.recordChange(k.name, id, "Delete")
	if k.written != nil {
		k.written(r, "Delete", nil, old)
	}
	return obj{"status": "Deleted", "domain": "QBO", "Id": id}, nil
}

// void zeroes an invoice's amounts and keeps the record.
func (r *Realm) void(k *kind, body obj) (obj, *fault) {
	old, f := r.lookupForWrite(k, body)
	if f != nil {
		return nil, f
	}
	o := deepCopy(old).(obj)
	if lines, ok := o["Line"].([]any); ok {
		for _, l := range lines {
			if lm, ok := l.(obj); ok {
				lm["Amount"] = json.Number("0")
				if d, ok := lm["SalesItemLineDetail"].(obj); ok {
					d["Qty"] = json.Number("0")
				}
			}
		}
	}
	if _, ok := o["TotalAmt"]; ok {
		o["TotalAmt"] = json.Number("0")
	}
	if _, ok := o["Balance"]; ok {
		o["Balance"] = json.Number("0")
	}
	if _, ok := o["UnappliedAmt"]; ok {
		o["UnappliedAmt"] = json.Number("0")
	}
	o["PrivateNote"] = "Voided"
	bumpSyncToken(o)
	o["MetaData"] = obj{"CreateTime": old["MetaData"].(obj)["CreateTime"], "LastUpdatedTime": r.s.metaTime(r.s.now())}
	r.objs[k.name][o["Id"].(string)] = o
	r.recordChange(k.name, o["Id"].(string), "Void")
	if k.written != nil {
		k.written(r, "Void", o, old)
	}
	return r.render(k, o), nil
}

// render returns the API view of a stored object (with computed fields that
// depend on other objects, such as a customer's Balance).
func (r *Realm) render(k *kind, o obj) obj {
	out := deepCopy(o).(obj)
	if k.name == "Customer" {
		var bal int64
		for _, inv := range r.objs["Invoice"] {
			if ref, _ := inv["CustomerRef"].(obj); ref != nil && ref["value"] == o["Id"] {
				if b, ok := parseDecimal(inv["Balance"]); ok {
					bal += toCents(b)
				}
			}
		}
		out["Balance"] = centsNumber(bal)
		out["BalanceWithJobs"] = centsNumber(bal)
	}
	return out
}

// refName is the name QBO puts in a {"value","name"} ref to o.
func refName(k *kind, o obj) string {
	switch k.name {
	case "Customer", "Vendor":
		return str(o, "DisplayName")
	case "PaymentMethod":
		return str(o, "Name")
	default:
		if s := str(o, "FullyQualifiedName"); s != "" {
			return s
		}
		return str(o, "Name")
	}
}

// checkRef validates o[key] as a reference to an active entity of kind
// target and fills in its name. It returns the referenced object, or nil
// if the key is absent and not required.
func (r *Realm) checkRef(o obj, key, target string, isRequired bool) (obj, *fault) {
	v := o[key]
	if !refPresent(v) {
		delete(o, key)
		if isRequired {
			return nil, required(key)
		}
		return nil, nil
	}
	if _, ok := v.(obj); !ok {
		return nil, badProperty(key)
	}
	id := refValue(v)
	k := kindByName(target)
	t, ok := r.objs[k.name][id]
	if !ok {
		return nil, invalidRef(key, target, id)
	}
	if a, ok := t["Active"].(bool); ok && !a {
		return nil, inactiveRef(key)
	}
	o[key] = obj{"value": id, "name": refName(k, t)}
	return t, nil
}

// uniqueName reports whether another active object of one of the entities
// (other than selfID) already has name in field (case-insensitive).
func (r *Realm) nameTaken(entities []string, field, name, selfID string) (string, bool) {
	for _, e := range entities {
		for id, o := range r.objs[e] {
			if id == selfID && e == entities[0] {
				continue
			}
			if a, ok := o["Active"].(bool); ok && !a {
				continue
			}
			if lower(str(o, field)) == lower(name) {
				return e, true
			}
		}
	}
	return "", false
}

func selfID(old obj) string {
	if old == nil {
		return ""
	}
	return old["Id"].(string)
}

// keepAddrIDs gives physical addresses an Id, reusing the old one on update.
func (r *Realm) addrIDs(o, old obj, keys ...string) {
	for _, key := range keys {
		a, ok := o[key].(obj)
		if !ok {
			continue
		}
		if _, has := a["Id"]; has {
			continue
		}
		if old != nil {
			if oa, ok := old[key].(obj); ok && oa["Id"] != nil {
				a["Id"] = oa["Id"]
				continue
			}
		}
		r.addrSeq++
		a["Id"] = strconv.FormatInt(r.addrSeq, 10)
	}
}

const deletedSuffix = " (deleted)"

func preparePerson(entity string) func(r *Realm, o, old obj, opts reqOpts) *fault {
	return func(r *Realm, o, old obj, _ reqOpts) *fault {
		name := str(o, "DisplayName")
		if name == "" {
			var parts []string
			for _, f := range []string{"Title", "GivenName", "MiddleName", "FamilyName", "Suffix"} {
				if p := str(o, f); p != "" {
					parts = append(parts, p)
				}
			}
			name = strings.Join(parts, " ")
		}
		if name == "" {
			return &fault{Message: "No Name Provided", Detail: "Business Validation Error: You must provide a display name, or a title, first, middle or last name, or suffix.", Code: "6080", Element: ""}
		}
		active := activeOf(o)
		wasActive := old == nil || old["Active"] == true
		if active {
			if other, taken := r.nameTaken([]string{entity, otherPerson(entity)}, "DisplayName", name, selfID(old)); taken {
				return duplicateName(strings.ToLower(other))
			}
		} else if wasActive && !strings.HasSuffix(name, deletedSuffix) {
			name += deletedSuffix
		}
		o["DisplayName"] = name
		o["FullyQualifiedName"] = name
		setDefault(o, "PrintOnCheckName", strings.TrimSuffix(name, deletedSuffix))
		setDefault(o, "CurrencyRef", usd())
		setDefault(o, "Balance", json.Number("0"))
		r.addrIDs(o, old, "BillAddr", "ShipAddr")
		if entity == "Customer" {
			setDefault(o, "Taxable", true)
			setDefault(o, "Job", false)
			setDefault(o, "BillWithParent", false)
			setDefault(o, "PreferredDeliveryMethod", "Print")
		} else {
			setDefault(o, "Vendor1099", false)
			o["Balance"] = json.Number("0") // read-only; no bills are emulated yet
		}
		return nil
	}
}

func otherPerson(entity string) string {
	if entity == "Customer" {
		return "Vendor"
	}
	return "Customer"
}

var accountTypes = map[string]struct{ classification, defaultSub string }{
	"Bank":                    {"Asset", "Checking"},
	"Accounts Receivable":     {"Asset", "AccountsReceivable"},
	"Other Current Asset":     {"Asset", "OtherCurrentAssets"},
	"Fixed Asset":             {"Asset", "OtherFixedAssets"},
	"Other Asset":             {"Asset", "OtherLongTermAssets"},
	"Accounts Payable":        {"Liability", "AccountsPayable"},
	"Credit Card":             {"Liability", "CreditCard"},
	"Other Current Liability": {"Liability", "OtherCurrentLiabilities"},
	"Long Term Liability":     {"Liability", "OtherLongTermLiabilities"},
	"Equity":                  {"Equity", "OwnersEquity"},
	"Income":                  {"Revenue", "ServiceFeeIncome"},
	"Other Income":            {"Revenue", "OtherMiscellaneousIncome"},
	"Cost of Goods Sold":      {"Expense", "SuppliesMaterialsCogs"},
	"Expense":                 {"Expense", "OtherMiscellaneousServiceCost"},
	"Other Expense":           {"Expense", "OtherMiscellaneousExpense"},
}

// subTypeOwner maps the account subtypes the emulator knows to their type,
// so an account may be created with AccountSubType only.
var subTypeOwner = map[string]string{
	"Checking": "Bank", "Savings": "Bank", "MoneyMarket": "Bank", "CashOnHand": "Bank",
	"AccountsReceivable": "Accounts Receivable",
	"UndepositedFunds":   "Other Current Asset", "PrepaidExpenses": "Other Current Asset", "Inventory": "Other Current Asset", "OtherCurrentAssets": "Other Current Asset",
	"OtherFixedAssets": "Fixed Asset", "MachineryAndEquipment": "Fixed Asset", "OtherLongTermAssets": "Other Asset",
	"AccountsPayable": "Accounts Payable", "CreditCard": "Credit Card",
	"OtherCurrentLiabilities": "Other Current Liability", "DeferredRevenue": "Other Current Liability", "SalesTaxPayable": "Other Current Liability",
	"OtherLongTermLiabilities": "Long Term Liability", "NotesPayable": "Long Term Liability",
	"OpeningBalanceEquity": "Equity", "RetainedEarnings": "Equity", "OwnersEquity": "Equity",
	"ServiceFeeIncome": "Income", "SalesOfProductIncome": "Income", "DiscountsRefundsGiven": "Income",
	"OtherMiscellaneousIncome": "Other Income", "InterestEarned": "Other Income",
	"SuppliesMaterialsCogs":  "Cost of Goods Sold",
	"AdvertisingPromotional": "Expense", "BankCharges": "Expense", "OfficeGeneralAdministrativeExpenses": "Expense",
	"RentOrLeaseOfBuildings": "Expense", "OtherMiscellaneousServiceCost": "Expense",
	"OtherMiscellaneousExpense": "Other Expense",
}

func prepareAccount(r *Realm, o, old obj, _ reqOpts) *fault {
	name := str(o, "Name")
	if name == "" {
		return required("Name")
	}
	typ, sub := str(o, "AccountType"), str(o, "AccountSubType")
	if typ == "" && sub == "" {
		return &fault{Message: "Invalid Account Type", Detail: "Business Validation Error: You must select an account type (AccountType or AccountSubType).", Code: "6010", Element: "AccountType"}
	}
	if typ == "" {
		t, ok := subTypeOwner[sub]
		if !ok {
			return invalidEnum("AccountSubType", sub)
		}
		typ = t
	}
	info, ok := accountTypes[typ]
	if !ok {
		return invalidEnum("AccountType", typ)
	}
	if sub == "" {
		sub = info.defaultSub
	} else if owner, known := subTypeOwner[sub]; known && owner != typ {
		return invalidEnum("AccountSubType", sub)
	}
	fqn := name
	o["SubAccount"] = false
	if parent, f := r.checkRef(o, "ParentRef", "Account", false); f != nil {
		return f
	} else if parent != nil {
		fqn = str(parent, "FullyQualifiedName") + ":" + name
		o["SubAccount"] = true
	}
	if activeOf(o) {
		if _, taken := r.nameTaken([]string{"Account"}, "FullyQualifiedName", fqn, selfID(old)); taken {
			return duplicateName("account")
		}
	}
	o["Name"], o["AccountType"], o["AccountSubType"] = name, typ, sub
	o["FullyQualifiedName"] = fqn
	o["Classification"] = info.classification
	o["CurrentBalance"] = json.Number("0")
	o["CurrentBalanceWithSubAccounts"] = json.Number("0")
	setDefault(o, "CurrencyRef", usd())
	return nil
}

func preparePaymentMethod(r *Realm, o, old obj, _ reqOpts) *fault {
	name := str(o, "Name")
	if name == "" {
		return required("Name")
	}
	setDefault(o, "Type", "NON_CREDIT_CARD")
	if t := o["Type"]; t != "CREDIT_CARD" && t != "NON_CREDIT_CARD" {
		s, _ := t.(string)
		return invalidEnum("Type", s)
	}
	if activeOf(o) {
		if _, taken := r.nameTaken([]string{"PaymentMethod"}, "Name", name, selfID(old)); taken {
			return duplicateName("payment method")
		}
	}
	o["Name"] = name
	return nil
}

func prepareClass(r *Realm, o, old obj, _ reqOpts) *fault {
	name := str(o, "Name")
	if name == "" {
		return required("Name")
	}
	fqn := name
	o["SubClass"] = false
	if parent, f := r.checkRef(o, "ParentRef", "Class", false); f != nil {
		return f
	} else if parent != nil {
		fqn = str(parent, "FullyQualifiedName") + ":" + name
		o["SubClass"] = true
	}
	if activeOf(o) {
		if _, taken := r.nameTaken([]string{"Class"}, "FullyQualifiedName", fqn, selfID(old)); taken {
			return duplicateName("class")
		}
	}
	o["Name"], o["FullyQualifiedName"] = name, fqn
	return nil
}

var itemTypes = map[string]bool{"Service": true, "NonInventory": true, "Inventory": true, "Group": true, "Category": true}

func prepareItem(r *Realm, o, old obj, _ reqOpts) *fault {
	name := str(o, "Name")
	if name == "" {
		return required("Name")
	}
	typ := str(o, "Type")
	if typ == "" {
		return required("Type")
	}
	if !itemTypes[typ] {
		return invalidEnum("Type", typ)
	}
	sells := typ == "Service" || typ == "NonInventory" || typ == "Inventory"
	if _, f := r.checkRef(o, "IncomeAccountRef", "Account", sells); f != nil {
		return f
	}
	if _, f := r.checkRef(o, "ExpenseAccountRef", "Account", typ == "Inventory"); f != nil {
		return f
	}
	if _, f := r.checkRef(o, "AssetAccountRef", "Account", typ == "Inventory"); f != nil {
		return f
	}
	if typ == "Inventory" {
		if _, ok := o["QtyOnHand"]; !ok {
			return required("QtyOnHand")
		}
		if str(o, "InvStartDate") == "" {
			return required("InvStartDate")
		}
		o["TrackQtyOnHand"] = true
	}
	for _, f := range []string{"UnitPrice", "PurchaseCost", "QtyOnHand"} {
		if v, ok := o[f]; ok {
			d, ok := parseDecimal(v)
			if !ok {
				return badProperty(f)
			}
			o[f] = normalizeNumber(d)
		}
	}
	if activeOf(o) {
		if _, taken := r.nameTaken([]string{"Item"}, "Name", name, selfID(old)); taken {
			return duplicateName("product or service")
		}
	}
	o["Name"], o["FullyQualifiedName"] = name, name
	setDefault(o, "UnitPrice", json.Number("0"))
	setDefault(o, "Taxable", false)
	setDefault(o, "TrackQtyOnHand", false)
	return nil
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func prepareInvoice(r *Realm, o, old obj, opts reqOpts) *fault {
	if _, f := r.checkRef(o, "CustomerRef", "Customer", true); f != nil {
		return f
	}
	total, f := r.salesLines(o)
	if f != nil {
		return f
	}

	doc := str(o, "DocNumber")
	if doc == "" {
		doc = r.nextDocNumber()
	}
	if len(doc) > 21 {
		return &fault{Message: "String length is either shorter or longer than supported by specification",
			Detail: "String length specified does not match the supported length. Min:0 Max:21 supplied length:" + strconv.Itoa(len(doc)),
			Code:   "2050", Element: "DocNumber"}
	}
	if !opts.allowDuplicateDocNum {
		if id, ok := r.docHolder("Invoice", doc, selfID(old)); ok {
			return &fault{Message: "Duplicate Document Number Error",
				Detail: "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=" + doc + " is assigned to TxnType=Invoice with TxnId=" + id,
				Code:   "6140", Element: ""}
		}
	}
	o["DocNumber"] = doc
	today := r.s.now().Format("2006-01-02")
	setDefault(o, "TxnDate", today)
	setDefault(o, "DueDate", o["TxnDate"])
	for _, f := range []string{"TxnDate", "DueDate"} {
		if s, _ := o[f].(string); !dateRE.MatchString(s) {
			return badProperty(f)
		}
	}
	o["TotalAmt"] = centsNumber(total)
	o["Balance"] = centsNumber(total) // no payments are emulated yet
	setDefault(o, "CurrencyRef", usd())
	setDefault(o, "LinkedTxn", []any{})
	setDefault(o, "CustomField", []any{})
	setDefault(o, "TxnTaxDetail", obj{"TotalTax": json.Number("0")})
	setDefault(o, "PrintStatus", "NotSet")
	setDefault(o, "EmailStatus", "NotSet")
	setDefault(o, "ApplyTaxAfterDiscount", false)
	for _, f := range []string{"AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"} {
		setDefault(o, f, false)
	}
	r.addrIDs(o, old, "BillAddr", "ShipAddr")
	return nil
}

// nextDocNumber auto-assigns a numeric DocNumber (1001, 1002, …) not in use.
func (r *Realm) nextDocNumber() string {
	for {
		r.seq["DocNumber"]++
		n := strconv.FormatInt(1000+r.seq["DocNumber"], 10)
		used := false
		for _, inv := range r.objs["Invoice"] {
			if str(inv, "DocNumber") == n {
				used = true
				break
			}
		}
		if !used {
			return n
		}
	}
}

// ---- request shapes: known properties, refs and dates ----

// shape lists the properties QuickBooks knows for one JSON object. A
// request is checked against its shape before validation (see pruneObj):
// QuickBooks refuses a property its schema lacks, so the emulator never
// stores or echoes one.
type shape struct {
	ref    bool              // a {"value","name","type"} reference
	date   bool              // a date answered as YYYY-MM-DD
	fields map[string]*shape // known properties; nil entry = kept as sent
}

var (
	refShape  = &shape{ref: true, fields: map[string]*shape{"value": nil, "name": nil, "type": nil}}
	dateShape = &shape{date: true}
)

// fields builds a shape from property names. A name ending in "Ref" is a
// reference and one ending in "Date" a date; others are kept as sent
// unless sub gives their shape.
func fields(names string, sub map[string]*shape) *shape {
	s := &shape{fields: map[string]*shape{}}
	for _, n := range strings.Fields(names) {
		switch {
		case strings.HasSuffix(n, "Ref"):
			s.fields[n] = refShape
		case strings.HasSuffix(n, "Date"):
			s.fields[n] = dateShape
		default:
			s.fields[n] = nil
		}
	}
	for n, v := range sub {
		s.fields[n] = v
	}
	return s
}

// Property lists are the v3 schema's (the XSD, as generated into
// intuit/QuickBooks-V3-PHP-SDK src/Data/IPP*.php), inherited properties
// included; the system fields (Id, SyncToken, MetaData, domain, status,
// sparse) are removed before the check. Nested objects without a shape
// here (TxnTaxDetail, CustomField, DeliveryInfo, other line details…) are
// kept as sent.
const (
	entityProps = "CustomField AttachableRef"
	txnProps    = entityProps + " DocNumber TxnDate TxnSubType DepartmentRef CurrencyRef ExchangeRate PrivateNote TxnStatus LinkedTxn Line TxnTaxDetail TxnSource TaxFormType TaxFormNum TransactionLocationType Tag TxnApprovalInfo RecurDataRef RecurringInfo ProjectRef TotalCostAmount HomeTotalCostAmount"
	salesProps  = txnProps + " AutoDocNumber CustomerRef CustomerMemo BillAddr ShipAddr FreeFormAddress ShipFromAddr RemitToRef ClassRef SalesTermRef DueDate SalesRepRef PONumber FOB ShipMethodRef ShipDate TrackingNum GlobalTaxCalculation TotalAmt HomeTotalAmt ApplyTaxAfterDiscount ShippingTaxIncludedInTotalTax TemplateRef PrintStatus EmailStatus BillEmail BillEmailCc BillEmailBcc ARAccountRef Balance HomeBalance FinanceCharge PaymentMethodRef PaymentRefNum PaymentType CheckPayment CreditCardPayment DepositToAccountRef DeliveryInfo DiscountRate DiscountAmt GovtTxnRefIdentifier TaxExemptionRef"
	nameProps   = entityProps + " IntuitId Organization Title GivenName MiddleName FamilyName Suffix FullyQualifiedName CompanyName DisplayName PrintOnCheckName UserId Active V4IDPseudonym PrimaryPhone AlternatePhone Mobile Fax PrimaryEmailAddr WebAddr OtherContactInfo DefaultTaxCodeRef"
	lineProps   = "Id LineNum Description Amount Received LinkedTxn DetailType PaymentLineDetail DiscountLineDetail TaxLineDetail SalesItemLineDetail DescriptionLineDetail ItemBasedExpenseLineDetail AccountBasedExpenseLineDetail ReimburseLineDetail DepositLineDetail PurchaseOrderItemLineDetail SalesOrderItemLineDetail ItemReceiptLineDetail JournalEntryLineDetail GroupLineDetail SubTotalLineDetail TDSLineDetail ItemAdjustmentLineDetail CustomField LineEx ProjectRef CostAmount HomeCostAmount CustomExtensions"
)

var (
	addrShape   = fields("Id Line1 Line2 Line3 Line4 Line5 City Country CountryCode County CountrySubDivisionCode PostalCode PostalCodeSuffix Lat Long Tag Note", nil)
	emailShape  = fields("Id Address Default Tag", nil)
	phoneShape  = fields("Id DeviceType CountryCode AreaCode ExchangeCode Extension FreeFormNumber Default Tag", nil)
	linkedShape = fields("TxnId TxnType TxnLineId", nil)
	lineShape   = fields(lineProps, map[string]*shape{
		"LinkedTxn":           linkedShape,
		"SalesItemLineDetail": fields("ItemRef ClassRef UnitPrice UnitCostPrice RatePercent PriceLevelRef MarkupInfo Qty UOMRef ItemAccountRef InventorySiteRef TaxCodeRef TaxClassificationRef ServiceDate TaxInclusiveAmt DiscountRate DiscountAmt DeferredRevenue RetainageAmount SalesItemLineDetailEx", nil),
		"JournalEntryLineDetail": fields("PostingType AccountRef ClassRef DepartmentRef TaxCodeRef TaxRateRef TaxApplicableOn TaxAmount TaxInclusiveAmt BillableStatus JournalCodeRef JournalEntryLineDetailEx",
			map[string]*shape{"Entity": fields("Type EntityRef", nil)}),
	})
	// subShapes are the nested objects every entity shapes the same way.
	subShapes = map[string]*shape{
		"Line": lineShape, "LinkedTxn": linkedShape,
		"BillAddr": addrShape, "ShipAddr": addrShape, "OtherAddr": addrShape, "ShipFromAddr": addrShape,
		"PrimaryEmailAddr": emailShape, "BillEmail": emailShape, "BillEmailCc": emailShape, "BillEmailBcc": emailShape,
		"PrimaryPhone": phoneShape, "AlternatePhone": phoneShape, "Mobile": phoneShape, "Fax": phoneShape,
		"WebAddr": fields("Id URI Default Tag", nil),
	}
)

// entityShape is the shape of an entity with the given properties.
func entityShape(props string) *shape {
	s := fields(props, nil)
	for n := range s.fields {
		if sub, ok := subShapes[n]; ok {
			s.fields[n] = sub
		}
	}
	return s
}

var entityShapes = map[string]*shape{
	"Account":       entityShape(entityProps + " Name SubAccount ParentRef Description FullyQualifiedName AccountAlias TxnLocationType Active Classification AccountType AccountSubType AccountPurposes AcctNum AcctNumExtn BankNum OpeningBalance OpeningBalanceDate CurrentBalance CurrentBalanceWithSubAccounts CurrencyRef TaxAccount TaxCodeRef OnlineBankingEnabled FIName JournalCodeRef AccountEx"),
	"PaymentMethod": entityShape(entityProps + " Name Active Type PaymentMethodEx"),
	"Class":         entityShape(entityProps + " Name SubClass ParentRef FullyQualifiedName Active ClassEx"),
	"Item":          entityShape(entityProps + " Name Sku Description Active SubItem ParentRef Level FullyQualifiedName Taxable SalesTaxIncluded PercentBased UnitPrice RatePercent Type PaymentMethodRef UOMSetRef IncomeAccountRef PurchaseDesc PurchaseTaxIncluded PurchaseCost ExpenseAccountRef COGSAccountRef AssetAccountRef PrefVendorRef AvgCost TrackQtyOnHand QtyOnHand QtyOnPurchaseOrder QtyOnSalesOrder ReorderPoint ManPartNum DepositToAccountRef SalesTaxCodeRef PurchaseTaxCodeRef InvStartDate BuildPoint PrintGroupedItems SpecialItem SpecialItemType ItemGroupDetail ItemAssemblyDetail AbatementRate ReverseChargeRate ServiceType ItemCategoryType ItemEx TaxClassificationRef UQCDisplayText UQCId ClassRef Source DeferredRevenue CustomExtensions"),
	"Customer":      entityShape(nameProps + " Taxable BillAddr ShipAddr OtherAddr ContactName AltContactName Notes Job BillWithParent RootCustomerRef ParentRef Level CustomerTypeRef SalesTermRef SalesRepRef TaxGroupCodeRef TaxRateRef PaymentMethodRef CCDetail PriceLevelRef Balance OpenBalanceDate BalanceWithJobs CreditLimit AcctNum CurrencyRef OverDueBalance TotalRevenue TotalExpense PreferredDeliveryMethod ResaleNum JobInfo TDSEnabled CustomerEx SecondaryTaxIdentifier ARAccountRef PrimaryTaxIdentifier TaxExemptionReasonId IsProject BusinessNumber GSTIN GSTRegistrationType IsCISContractor ClientCompanyId ClientEntityId Source TaxRegime"),
	"Vendor":        entityShape(nameProps + " ContactName AltContactName Notes BillAddr ShipAddr OtherAddr TaxCountry TaxIdentifier TaxIdEffectiveDate BusinessNumber ParentRef VendorTypeRef TermRef PrefillAccountRef Balance BillRate OpenBalanceDate CreditLimit AcctNum Vendor1099 T4AEligible T5018Eligible CurrencyRef TDSEnabled TDSEntityTypeId TDSSectionTypeId TDSOverrideThreshold TaxReportingBasis APAccountRef VendorEx GSTIN GSTRegistrationType IsSubContractor SubcontractorType CISRate HasTPAR VendorPaymentBankDetail Source CostRate AgencyVerificationStatus AgencyVerificationStatusMsg AgencyVerificationTSUTC CompanyRegistrationNumber"),
	"Invoice":       entityShape(salesProps + " Deposit AllowIPNPayment AllowOnlinePayment AllowOnlineCreditCardPayment AllowOnlineACHPayment AllowOnlinePayPalPayment AllowOnlineAffirmPayment EInvoiceStatus ECloudStatusTimeStamp CfdiUse Exportation GlobalInfo invoiceStatus callToAction invoiceStatusLog InvoiceEx LessCIS InvoiceLink PaymentDetailsMessage ConvenienceFeeDetail EnabledSurchargeInfo InvoiceLinkSecurityCode InvoiceLinkExpiryDate AutoPayEligible SchedulePayEligible ScheduledPaymentId GratuityEnabled FinancingProductType SubscriptionPaymentsSetting TxnRetainageDetail"),
	"CreditMemo":    entityShape(salesProps + " RemainingCredit InvoiceRef CreditMemoEx"),
	"RefundReceipt": entityShape(salesProps + " RemainingCredit RefundReceiptEx"),
	"Payment":       entityShape(txnProps + " CustomerRef RemitToRef ARAccountRef DepositToAccountRef PaymentMethodRef PaymentRefNum PaymentType CheckPayment CreditCardPayment TotalAmt UnappliedAmt ProcessPayment PaymentExtendedType PaymentEx"),
	// TotalAmt and HomeTotalAmt are in the schema (accepted) but QuickBooks
	// answers neither for a journal entry; prepareJournalEntry drops them.
	"JournalEntry": entityShape(txnProps + " Adjustment HomeCurrencyAdjustment EnteredInHomeCurrency GlobalTaxCalculation TotalAmt HomeTotalAmt JournalEntryEx"),
}

// unknownProperty is QuickBooks' fault for a property its schema lacks;
// Message and code as observed in real responses (FIDELITY.md).
func unknownProperty(name string) *fault {
	return &fault{Message: "Request has invalid or unsupported property",
		Detail: "Property Name:Unrecognized field \"" + name + "\" specified is unsupported or invalid", Code: "2010", Element: ""}
}

func sortedKeys(o obj) []string {
	ks := make([]string, 0, len(o))
	for k := range o {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// refValue is the id a reference names, "" if it names none.
func refValue(v any) string {
	ref, ok := v.(obj)
	if !ok {
		return ""
	}
	switch id := ref["value"].(type) {
	case string:
		return strings.TrimSpace(id)
	case json.Number:
		return string(id)
	}
	return ""
}

// refPresent decides, for every entity and line alike, whether a reference
// was supplied: null, {} and a ref without a value (clients send
// {"value":"","name":""} for unset refs) are absent. Anything else that is
// not an object is present, and refused (pruneObj, checkRef).
func refPresent(v any) bool {
	if v == nil {
		return false
	}
	if _, ok := v.(obj); ok {
		return refValue(v) != ""
	}
	return true
}

// normalizeDate answers a date or date-time text as YYYY-MM-DD: the
// calendar date as written, without converting time zones.
func normalizeDate(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	s = strings.TrimSpace(s)
	if len(s) < 10 {
		return "", false
	}
	if _, err := time.Parse("2006-01-02", s[:10]); err != nil {
		return "", false
	}
	if len(s) > 10 {
		if s[10] != 'T' && s[10] != ' ' {
			return "", false
		}
		// The time part must parse too: "2024-06-20garbage" is no date.
		t := s[:10] + "T" + s[11:]
		parsed := false
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04"} {
			if _, err := time.Parse(layout, t); err == nil {
				parsed = true
				break
			}
		}
		if !parsed {
			return "", false
		}
	}
	return s[:10], true
}

// pruneObj shapes a request object in place: it refuses a property s does
// not know (QuickBooks answers 2010), drops nulls and absent refs (both
// mean "not supplied") and normalises dates. path prefixes fault details.
// Keys are visited in order so the same request always gets the same fault.
func pruneObj(o obj, s *shape, path string) *fault {
	for _, key := range sortedKeys(o) {
		v := o[key]
		sub, known := s.fields[key]
		if !known {
			return unknownProperty(path + key)
		}
		if v == nil {
			delete(o, key)
			continue
		}
		if sub == nil {
			continue
		}
		switch {
		case sub.ref:
			m, isObj := v.(obj)
			switch {
			case !isObj:
				return badProperty(path + key) // a ref is always an object
			case !refPresent(v):
				delete(o, key)
			default:
				if f := pruneObj(m, sub, path+key+"."); f != nil {
					return f
				}
			}
		case sub.date:
			d, ok := normalizeDate(v)
			if !ok {
				s, _ := v.(string)
				return badProperty(path + key + " (not a date: " + s + ")")
			}
			o[key] = d
		default:
			if f := pruneValue(v, sub, path+key+"."); f != nil {
				return f
			}
		}
	}
	return nil
}

// pruneValue prunes an object, or each object of an array.
func pruneValue(v any, s *shape, path string) *fault {
	switch x := v.(type) {
	case obj:
		return pruneObj(x, s, path)
	case []any:
		for _, e := range x {
			if m, ok := e.(obj); ok {
				if f := pruneObj(m, s, path); f != nil {
					return f
				}
			}
		}
	}
	return nil
}
