package qbotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

const post, get = http.MethodPost, http.MethodGet

func TestSeededRealms(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t, qbotest.WithRealms(3))
	require.Equal(t, []string{"9341452732952867", "9341452732952868", "9341452732952869"}, srv.RealmIDs())
	r := srv.Realm(srv.RealmIDs()[2])
	require.NotNil(t, r)
	require.Nil(t, srv.Realm("1"))

	byName := map[string]map[string]any{}
	for _, a := range r.Accounts() {
		byName[a["Name"].(string)] = a
	}
	for name, want := range map[string][3]string{
		"Checking":                  {"Bank", "Checking", "Asset"},
		"Accounts Receivable (A/R)": {"Accounts Receivable", "AccountsReceivable", "Asset"},
		"Undeposited Funds":         {"Other Current Asset", "UndepositedFunds", "Asset"},
		"Deferred Revenue":          {"Other Current Liability", "OtherCurrentLiabilities", "Liability"},
		"Services":                  {"Income", "ServiceFeeIncome", "Revenue"},
		"Advertising":               {"Expense", "AdvertisingPromotional", "Expense"},
	} {
		a, ok := byName[name]
		require.True(t, ok, name)
		require.Equal(t, want[0], a["AccountType"], name)
		require.Equal(t, want[1], a["AccountSubType"], name)
		require.Equal(t, want[2], a["Classification"], name)
	}
	require.Len(t, r.PaymentMethods(), 6)
	item, ok := r.Get("Item", "1")
	require.True(t, ok)
	require.Equal(t, "Services", item["Name"])
	require.Equal(t, "Service", item["Type"])
	require.Equal(t, "Services", item["IncomeAccountRef"].(map[string]any)["name"])
}

func TestCustomerCreateReadUpdate(t *testing.T) {
	t.Parallel()
	a := newAPI(t, qbotest.WithClock(newFakeClock().Now))
	status, env := a.do(post, "customer", map[string]any{
		"DisplayName": "Acme Corp", "CompanyName": "Acme Corp",
		"PrimaryEmailAddr": map[string]any{"Address": "ap@acme.example"},
		"Balance":          100, "MetaData": map[string]any{"CreateTime": "2001-01-01T00:00:00-07:00"}, // read-only fields are ignored
	})
	require.Equal(t, http.StatusOK, status)
	require.ElementsMatch(t, []string{"Customer", "time"}, keys(env))
	require.Equal(t, "2024-06-20T13:16:17.412-07:00", env["time"], "envelope time: company offset, ms")
	c := env["Customer"].(map[string]any)
	require.Regexp(t, `^\d+$`, c["Id"])
	require.Equal(t, "0", c["SyncToken"])
	require.Equal(t, map[string]any{"CreateTime": "2024-06-20T13:16:17-07:00", "LastUpdatedTime": "2024-06-20T13:16:17-07:00"}, c["MetaData"])
	require.Equal(t, "QBO", c["domain"])
	require.Equal(t, false, c["sparse"])
	require.Equal(t, "Acme Corp", c["FullyQualifiedName"])
	require.Equal(t, "Acme Corp", c["PrintOnCheckName"])
	require.Equal(t, true, c["Active"])
	require.Equal(t, json.Number("0"), c["Balance"])
	require.Equal(t, map[string]any{"value": "USD", "name": "United States Dollar"}, c["CurrencyRef"])
	id := c["Id"].(string)

	read := a.ok(get, "customer/"+id, nil, "Customer")
	require.Equal(t, c, read)

	// Full update: omitted writable fields are cleared.
	full := a.ok(post, "customer", map[string]any{"Id": id, "SyncToken": "0", "DisplayName": "Acme Corporation"}, "Customer")
	require.Equal(t, "1", full["SyncToken"])
	require.Equal(t, "Acme Corporation", full["FullyQualifiedName"])
	require.NotContains(t, full, "CompanyName")
	require.NotContains(t, full, "PrimaryEmailAddr")

	// Sparse update: only supplied fields change.
	sp := a.ok(post, "customer", map[string]any{"Id": id, "SyncToken": "1", "sparse": true, "CompanyName": "Acme Holdings"}, "Customer")
	require.Equal(t, "2", sp["SyncToken"])
	require.Equal(t, "Acme Corporation", sp["DisplayName"])
	require.Equal(t, "Acme Holdings", sp["CompanyName"])
	require.Equal(t, false, sp["sparse"])

	// Stale SyncToken.
	e := a.fault(post, "customer", map[string]any{"Id": id, "SyncToken": "1", "sparse": true, "CompanyName": "X"})
	require.Equal(t, "5010", e["code"])
	require.Equal(t, "Stale Object Error", e["Message"])

	// Inactivate: name gets "(deleted)" and is free again.
	in := a.ok(post, "customer", map[string]any{"Id": id, "SyncToken": "2", "sparse": true, "Active": false}, "Customer")
	require.Equal(t, false, in["Active"])
	require.Equal(t, "Acme Corporation (deleted)", in["DisplayName"])
	a.ok(post, "customer", map[string]any{"DisplayName": "Acme Corporation"}, "Customer")
	// …and the inactive customer can no longer be referenced.
	e = a.fault(post, "invoice", invoiceBody(id, "", 1, "10"))
	require.Equal(t, "610", e["code"])
	require.Equal(t, "CustomerRef", e["element"])
}

func invoiceBody(customerID, doc string, qty int, price string) map[string]any {
	b := map[string]any{
		"CustomerRef": map[string]any{"value": customerID},
		"Line": []any{map[string]any{
			"Amount": json.Number(fmt.Sprintf("%d", qty)), "DetailType": "SalesItemLineDetail",
			"SalesItemLineDetail": map[string]any{"ItemRef": map[string]any{"value": "1"}, "Qty": qty, "UnitPrice": json.Number(price)},
		}},
	}
	// Amount = qty × price computed exactly by the caller's choice of price "1".
	if price != "1" {
		b["Line"].([]any)[0].(map[string]any)["Amount"] = json.Number(mulString(qty, price))
	}
	if doc != "" {
		b["DocNumber"] = doc
	}
	return b
}

// mulString handles the prices used in tests: whole or exactly two decimals ("10", "19.99").
func mulString(qty int, price string) string {
	var whole, frac int
	if _, err := fmt.Sscanf(price, "%d.%d", &whole, &frac); err != nil {
		fmt.Sscanf(price, "%d", &whole)
	}
	cents := qty * (whole*100 + frac)
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

func createCustomer(t *testing.T, a *apiClient, name string) string {
	t.Helper()
	return a.ok(post, "customer", map[string]any{"DisplayName": name}, "Customer")["Id"].(string)
}

func TestInvoiceLifecycle(t *testing.T) {
	t.Parallel()
	a := newAPI(t, qbotest.WithClock(newFakeClock().Now))
	cust := createCustomer(t, a, "Acme Corp")
	class := a.ok(post, "class", map[string]any{"Name": "Consulting"}, "Class")

	inv := a.ok(post, "invoice", map[string]any{
		"CustomerRef": map[string]any{"value": cust, "name": "ignored"},
		"DocNumber":   "INV-1001", "TxnDate": "2024-06-20", "DueDate": "2024-07-20",
		"BillEmail": map[string]any{"Address": "ap@acme.example"},
		"Line": []any{
			map[string]any{"Amount": json.Number("150.00"), "DetailType": "SalesItemLineDetail", "Description": "Consulting",
				"SalesItemLineDetail": map[string]any{"ItemRef": map[string]any{"value": "1"}, "Qty": 2, "UnitPrice": 75, "ClassRef": map[string]any{"value": class["Id"]}}},
			map[string]any{"Amount": json.Number("0.1"), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": map[string]any{"Qty": 1, "UnitPrice": json.Number("0.1")}},
			map[string]any{"Amount": json.Number("0.2"), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": map[string]any{"Qty": json.Number("0.5"), "UnitPrice": json.Number("0.40")}},
			map[string]any{"Amount": 999, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": map[string]any{}},
		},
		"TotalAmt": 1, "Balance": 1,
	}, "Invoice")
	require.Equal(t, json.Number("150.3"), inv["TotalAmt"], "exact decimal sum, read-only fields recomputed")
	require.Equal(t, json.Number("150.3"), inv["Balance"])
	require.Equal(t, "0", inv["SyncToken"])
	require.Equal(t, map[string]any{"value": cust, "name": "Acme Corp"}, inv["CustomerRef"])
	lines := inv["Line"].([]any)
	require.Len(t, lines, 4)
	l0 := lines[0].(map[string]any)
	require.Equal(t, "1", l0["Id"])
	require.Equal(t, json.Number("1"), l0["LineNum"])
	require.Equal(t, json.Number("150"), l0["Amount"])
	d0 := l0["SalesItemLineDetail"].(map[string]any)
	require.Equal(t, map[string]any{"value": "1", "name": "Services"}, d0["ItemRef"])
	require.Equal(t, "Consulting", d0["ClassRef"].(map[string]any)["name"])
	require.Equal(t, map[string]any{"value": "NON"}, d0["TaxCodeRef"])
	require.Equal(t, json.Number("0.4"), lines[2].(map[string]any)["SalesItemLineDetail"].(map[string]any)["UnitPrice"])
	require.Equal(t, map[string]any{"Amount": json.Number("150.3"), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": map[string]any{}}, lines[3])
	require.Equal(t, "NotSet", inv["EmailStatus"])
	require.Equal(t, []any{}, inv["LinkedTxn"])

	c := a.ok(get, "customer/"+cust, nil, "Customer")
	require.Equal(t, json.Number("150.3"), c["Balance"], "customer balance follows open invoices")

	id := inv["Id"].(string)
	up := a.ok(post, "invoice", map[string]any{"Id": id, "SyncToken": "0", "sparse": true, "PrivateNote": "hello"}, "Invoice")
	require.Equal(t, "1", up["SyncToken"])
	require.Equal(t, "INV-1001", up["DocNumber"])
	require.Equal(t, json.Number("150.3"), up["TotalAmt"])

	v := a.ok(post, "invoice?operation=void", map[string]any{"Id": id, "SyncToken": "1"}, "Invoice")
	require.Equal(t, "2", v["SyncToken"])
	require.Equal(t, json.Number("0"), v["TotalAmt"])
	require.Equal(t, json.Number("0"), v["Balance"])
	require.Equal(t, "Voided", v["PrivateNote"])

	// Auto-assigned DocNumber when none is sent.
	inv2 := a.ok(post, "invoice", invoiceBody(cust, "", 3, "19.99"), "Invoice")
	require.Equal(t, "1001", inv2["DocNumber"])
	require.Equal(t, json.Number("59.97"), inv2["TotalAmt"])

	status, del := a.do(post, "invoice?operation=delete", map[string]any{"Id": id, "SyncToken": "2"})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"status": "Deleted", "domain": "QBO", "Id": id}, del["Invoice"])
	require.Len(t, a.srv.Realm(a.realm).Invoices(), 1)

	for _, call := range []struct {
		method, path string
		body         any
	}{
		{get, "invoice/" + id, nil},
		{post, "invoice?operation=delete", map[string]any{"Id": id, "SyncToken": "2"}},
		{post, "invoice", map[string]any{"Id": id, "SyncToken": "2", "sparse": true, "PrivateNote": "x"}},
	} {
		e := a.fault(call.method, call.path, call.body)
		require.Equal(t, "610", e["code"])
		require.Equal(t, "Object Not Found", e["Message"])
		require.Equal(t, "Object Not Found : Another user has deleted this transaction.", e["Detail"])
	}
}

func TestValidationFaults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cust := createCustomer(t, a, "Taken Name")
	a.ok(post, "invoice", invoiceBody(cust, "DUP-1", 1, "10"), "Invoice")
	a.ok(post, "item", map[string]any{"Name": "Widget", "Type": "Service", "IncomeAccountRef": map[string]any{"value": "11"}}, "Item")

	badItem := invoiceBody(cust, "", 1, "10")
	badItem["Line"].([]any)[0].(map[string]any)["SalesItemLineDetail"].(map[string]any)["ItemRef"] = map[string]any{"value": "4242"}
	mismatch := invoiceBody(cust, "", 2, "10")
	mismatch["Line"].([]any)[0].(map[string]any)["Amount"] = json.Number("20.01")
	noAmount := invoiceBody(cust, "", 1, "10")
	delete(noAmount["Line"].([]any)[0].(map[string]any), "Amount")

	tests := []struct {
		name, method, path string
		body               any
		code, element      string
	}{
		{"invoice without CustomerRef", post, "invoice", map[string]any{"Line": invoiceBody(cust, "", 1, "10")["Line"]}, "2020", "CustomerRef"},
		{"invoice without lines", post, "invoice", map[string]any{"CustomerRef": map[string]any{"value": cust}}, "2020", "Line"},
		{"line without Amount", post, "invoice", noAmount, "2020", "Line.Amount"},
		{"item without Name", post, "item", map[string]any{"Type": "Service"}, "2020", "Name"},
		{"service item without income account", post, "item", map[string]any{"Name": "X", "Type": "Service"}, "2020", "IncomeAccountRef"},
		{"class without Name", post, "class", map[string]any{}, "2020", "Name"},
		{"payment method without Name", post, "paymentmethod", map[string]any{"Type": "CREDIT_CARD"}, "2020", "Name"},
		{"unknown CustomerRef", post, "invoice", invoiceBody("4242", "", 1, "10"), "2500", "CustomerRef"},
		{"unknown ItemRef", post, "invoice", badItem, "2500", "Line.SalesItemLineDetail.ItemRef"},
		{"unknown income account", post, "item", map[string]any{"Name": "Y", "Type": "Service", "IncomeAccountRef": map[string]any{"value": "4242"}}, "2500", "IncomeAccountRef"},
		{"stale SyncToken", post, "customer", map[string]any{"Id": cust, "SyncToken": "9", "DisplayName": "Z"}, "5010", ""},
		{"vendor reusing a customer name", post, "vendor", map[string]any{"DisplayName": "taken name"}, "6240", ""},
		{"duplicate customer", post, "customer", map[string]any{"DisplayName": "Taken Name"}, "6240", ""},
		{"duplicate item", post, "item", map[string]any{"Name": "Widget", "Type": "Service", "IncomeAccountRef": map[string]any{"value": "11"}}, "6240", ""},
		{"duplicate DocNumber", post, "invoice", invoiceBody(cust, "DUP-1", 1, "10"), "6140", ""},
		{"Amount != Qty x UnitPrice", post, "invoice", mismatch, "6070", ""},
		{"unknown customer id", get, "customer/4242", nil, "610", ""},
		{"unknown invoice id", get, "invoice/4242", nil, "610", ""},
		{"update of unknown id", post, "customer", map[string]any{"Id": "4242", "SyncToken": "0", "DisplayName": "Q"}, "610", ""},
		{"no name", post, "customer", map[string]any{"CompanyName": "Only Company"}, "6080", ""},
		{"account type missing", post, "account", map[string]any{"Name": "Nope"}, "6010", "AccountType"},
		{"bad account type", post, "account", map[string]any{"Name": "Nope", "AccountType": "Bogus"}, "2170", "AccountType"},
		{"DocNumber too long", post, "invoice", invoiceBody(cust, "0123456789012345678901", 1, "10"), "2050", "DocNumber"},
		{"delete of a list entity", post, "customer?operation=delete", map[string]any{"Id": cust, "SyncToken": "0"}, "500", ""},
		{"unemulated endpoint", get, "reports/ProfitAndLoss", nil, "500", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := *a
			c.t = t
			before := len(a.srv.Realm(a.realm).Invoices())
			e := c.fault(tc.method, tc.path, tc.body)
			require.Equal(t, tc.code, e["code"], "%v", e)
			require.Equal(t, tc.element, e["element"], "%v", e)
			require.NotEmpty(t, e["Message"])
			require.NotEmpty(t, e["Detail"])
			require.Equal(t, before, len(a.srv.Realm(a.realm).Invoices()), "a fault writes nothing")
		})
	}

	// allowduplicatedocnum bypasses 6140.
	a.ok(post, "invoice?include=allowduplicatedocnum", invoiceBody(cust, "DUP-1", 1, "10"), "Invoice")
}

func TestListEntities(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	parent := a.ok(post, "class", map[string]any{"Name": "East"}, "Class")
	require.Regexp(t, `^\d{19}$`, parent["Id"])
	child := a.ok(post, "class", map[string]any{"Name": "Boston", "ParentRef": map[string]any{"value": parent["Id"]}}, "Class")
	require.Equal(t, "East:Boston", child["FullyQualifiedName"])
	require.Equal(t, true, child["SubClass"])
	require.Equal(t, "East", child["ParentRef"].(map[string]any)["name"])

	acct := a.ok(post, "account", map[string]any{"Name": "Unearned Fees", "AccountSubType": "DeferredRevenue"}, "Account")
	require.Equal(t, "Other Current Liability", acct["AccountType"])
	require.Equal(t, "Liability", acct["Classification"])
	require.Equal(t, json.Number("0"), acct["CurrentBalance"])

	pm := a.ok(post, "paymentmethod", map[string]any{"Name": "Wire"}, "PaymentMethod")
	require.Equal(t, "NON_CREDIT_CARD", pm["Type"])
	off := a.ok(post, "paymentmethod", map[string]any{"Id": pm["Id"], "SyncToken": "0", "sparse": true, "Active": false}, "PaymentMethod")
	require.Equal(t, false, off["Active"])
	require.Equal(t, "1", off["SyncToken"])

	v := a.ok(post, "vendor", map[string]any{"GivenName": "Bessie", "FamilyName": "Williams", "BillAddr": map[string]any{"Line1": "15 Main St."}}, "Vendor")
	require.Equal(t, "Bessie Williams", v["DisplayName"])
	require.Regexp(t, `^\d+$`, v["BillAddr"].(map[string]any)["Id"])
	require.Equal(t, false, v["Vendor1099"])

	got, ok := a.srv.Realm(a.realm).Get("vendor", v["Id"].(string))
	require.True(t, ok)
	require.Equal(t, v, got)
}

func TestRequestIDReplay(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	realm := a.srv.Realm(a.realm)
	cust := createCustomer(t, a, "Replay Co")

	// A retried create returns the identical response and creates one invoice.
	s1, b1 := a.raw(post, "invoice?requestid=req-1", invoiceBody(cust, "", 1, "10"))
	s2, b2 := a.raw(post, "invoice?requestid=req-1", invoiceBody(cust, "", 1, "10"))
	require.Equal(t, http.StatusOK, s1)
	require.Equal(t, s1, s2)
	require.Equal(t, string(b1), string(b2))
	require.Len(t, realm.Invoices(), 1)

	// Concurrent retries of one logical write still make one object.
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := *a
			_, b := c.raw(post, "customer?requestid=req-2", map[string]any{"DisplayName": "Concurrent Co"})
			bodies[i] = string(b)
		}()
	}
	wg.Wait()
	for _, b := range bodies {
		require.Equal(t, bodies[0], b)
	}
	require.Len(t, realm.Customers(), 2)

	// A fault is replayed too (the original response), even if the retry would now succeed.
	s3, f1 := a.raw(post, "customer?requestid=req-3", map[string]any{"DisplayName": "Replay Co"})
	require.Equal(t, http.StatusBadRequest, s3)
	a.ok(post, "customer", map[string]any{"Id": cust, "SyncToken": "0", "DisplayName": "Renamed Co"}, "Customer")
	s4, f2 := a.raw(post, "customer?requestid=req-3", map[string]any{"DisplayName": "Replay Co"})
	require.Equal(t, http.StatusBadRequest, s4)
	require.Equal(t, string(f1), string(f2))

	// Updates replay as well: the second send does not bump SyncToken again.
	u1 := decode(t, must(a.raw(post, "customer?requestid=req-4", map[string]any{"Id": cust, "SyncToken": "1", "sparse": true, "CompanyName": "C"})))
	u2 := decode(t, must(a.raw(post, "customer?requestid=req-4", map[string]any{"Id": cust, "SyncToken": "1", "sparse": true, "CompanyName": "C"})))
	require.Equal(t, u1, u2)
	got, _ := realm.Get("Customer", cust)
	require.Equal(t, "2", got["SyncToken"])

	// A new requestid executes (and here makes a second invoice).
	a.ok(post, "invoice?requestid=req-5", invoiceBody(cust, "", 1, "10"), "Invoice")
	require.Len(t, realm.Invoices(), 2)

	// requestids are per realm.
	srv2 := qbotest.NewServer(t, qbotest.WithRealms(2))
	r2 := srv2.RealmIDs()[1]
	b := &apiClient{t: t, srv: srv2, realm: r2, token: srv2.IssueTokens(r2).AccessToken}
	b.ok(post, "customer?requestid=req-1", map[string]any{"DisplayName": "Other Realm"}, "Customer")
	b0 := &apiClient{t: t, srv: srv2, realm: srv2.RealmIDs()[0], token: srv2.IssueTokens(srv2.RealmIDs()[0]).AccessToken}
	b0.ok(post, "customer?requestid=req-1", map[string]any{"DisplayName": "Other Realm"}, "Customer")
}

func must(_ int, b []byte) []byte { return b }

// TestPreferences reads the company settings a realm starts with: class tracking on, custom
// transaction numbers on, and three sales-form custom field definitions.
func TestPreferences(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	p := a.ok(get, "preferences", nil, "Preferences")
	acct := p["AccountingInfoPrefs"].(map[string]any)
	require.Equal(t, true, acct["ClassTrackingPerTxnLine"])
	sales := p["SalesFormsPrefs"].(map[string]any)
	require.Equal(t, true, sales["CustomTxnNumbers"])
	groups := sales["CustomField"].([]any)
	require.Len(t, groups, 2)
	names := groups[1].(map[string]any)["CustomField"].([]any)
	require.Len(t, names, 3)
	require.Equal(t, "PO Number", names[0].(map[string]any)["StringValue"])
}
