package qbotest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

// query runs a query by GET and returns status and envelope.
func (a *apiClient) query(q string) (int, map[string]any) {
	a.t.Helper()
	return a.do(get, "query?query="+url.QueryEscape(q), nil)
}

// queryOK requires HTTP 200 and returns the QueryResponse object.
func (a *apiClient) queryOK(q string) map[string]any {
	a.t.Helper()
	status, env := a.query(q)
	require.Equal(a.t, http.StatusOK, status, "%s: %v", q, env)
	require.ElementsMatch(a.t, []string{"QueryResponse", "time"}, keys(env))
	require.Regexp(a.t, timeMillisRE, env["time"])
	return env["QueryResponse"].(map[string]any)
}

// queryField runs q and returns field of each returned row, in order.
func (a *apiClient) queryField(q, entity, field string) []string {
	a.t.Helper()
	qr := a.queryOK(q)
	rows, _ := qr[entity].([]any)
	out := []string{}
	for _, r := range rows {
		v, _ := r.(map[string]any)[field].(string)
		out = append(out, v)
	}
	return out
}

// queryFault requires a 400 ValidationFault and returns its code.
func (a *apiClient) queryFault(q string) map[string]any {
	a.t.Helper()
	status, env := a.query(q)
	require.Equal(a.t, http.StatusBadRequest, status, "%s: %v", q, env)
	return requireFault(a.t, env)
}

// advance moves the fake clock and issues a fresh access token (tokens
// live one hour on that clock).
func (a *apiClient) advance(clk *fakeClock, d time.Duration) {
	clk.Advance(d)
	a.token = a.srv.IssueTokens(a.realm).AccessToken
}

// queryFixture sets up three customers (one inactive) and four invoices at
// different times.
func queryFixture(t *testing.T) (*apiClient, *fakeClock, map[string]string) {
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	ids := map[string]string{}
	for _, n := range []string{"Alpha Co", "Beta LLC", "Gamma Inc", "Retired Ltd"} {
		ids[n] = createCustomer(t, a, n)
		a.advance(clk, time.Hour)
	}
	a.ok(post, "customer", map[string]any{"Id": ids["Retired Ltd"], "SyncToken": "0", "sparse": true, "Active": false}, "Customer")
	for i, c := range []struct{ cust, doc, price string }{
		{"Alpha Co", "A-1", "10"}, {"Beta LLC", "B-1", "20.50"}, {"Alpha Co", "A-2", "30"}, {"Gamma Inc", "G-1", "5"},
	} {
		inv := a.ok(post, "invoice", invoiceBody(ids[c.cust], c.doc, 1, c.price), "Invoice")
		ids[c.doc] = inv["Id"].(string)
		if i < 3 {
			a.advance(clk, 24*time.Hour)
		}
	}
	return a, clk, ids
}

func TestQueryOperators(t *testing.T) {
	t.Parallel()
	a, _, ids := queryFixture(t)
	docs := func(q string) []string { return a.queryField(q, "Invoice", "DocNumber") }

	require.Equal(t, []string{"G-1", "A-2", "B-1", "A-1"}, docs("SELECT * FROM Invoice"))
	require.Equal(t, []string{"B-1"}, docs("SELECT * FROM Invoice WHERE DocNumber = 'B-1'"))
	require.Equal(t, []string{"G-1", "A-1"}, docs("SELECT * FROM Invoice WHERE TotalAmt < '20.50'"))
	require.Equal(t, []string{"G-1", "B-1", "A-1"}, docs("SELECT * FROM Invoice WHERE TotalAmt <= 20.5"))
	require.Equal(t, []string{"A-2"}, docs("SELECT * FROM Invoice WHERE TotalAmt > 20.5"))
	require.Equal(t, []string{"A-2", "B-1"}, docs("SELECT * FROM Invoice WHERE TotalAmt >= '20.5'"))
	require.Equal(t, []string{"G-1", "A-1"}, docs("SELECT * FROM Invoice WHERE DocNumber IN ('A-1', 'G-1', 'nope')"))
	require.Equal(t, []string{"A-2", "A-1"}, docs("SELECT * FROM Invoice WHERE DocNumber LIKE 'A-%'"))
	require.Equal(t, []string{"G-1", "B-1", "A-1"}, docs("SELECT * FROM Invoice WHERE DocNumber LIKE '%-1'"))
	require.Equal(t, []string{"B-1"}, docs("SELECT * FROM Invoice WHERE DocNumber LIKE '%b%'"), "LIKE is case-insensitive")
	// Ref fields compare the ref's value; conditions are ANDed.
	require.Equal(t, []string{"A-2", "A-1"}, docs("SELECT * FROM Invoice WHERE CustomerRef = '"+ids["Alpha Co"]+"'"))
	require.Equal(t, []string{"A-2"}, docs("SELECT * FROM Invoice WHERE CustomerRef = '"+ids["Alpha Co"]+"' AND TotalAmt > '15'"))
	require.Equal(t, []string{"G-1", "B-1"}, docs("SELECT * FROM Invoice WHERE CustomerRef IN ('"+ids["Beta LLC"]+"', '"+ids["Gamma Inc"]+"')"))
	// Ids compare numerically.
	require.Equal(t, []string{"G-1", "A-2"}, docs("SELECT * FROM Invoice WHERE Id >= '"+ids["A-2"]+"'"))
	require.Equal(t, []string{"A-1"}, docs("select * from Invoice where Id = '"+ids["A-1"]+"'"), "keywords are case-insensitive")
	require.Equal(t, []string{"A-2"}, docs("SELECT * FROM Invoice WHERE TxnDate = '2024-06-22'"))
	// A condition on a property of the entity that the object lacks matches nothing.
	require.Empty(t, a.queryOK("SELECT * FROM Invoice WHERE ShipDate = '2024-06-20'"))

	// Customers: only active ones unless filtered on Active (§5); nested and string fields.
	names := func(q string) []string { return a.queryField(q, "Customer", "DisplayName") }
	require.Equal(t, []string{"Gamma Inc", "Beta LLC", "Alpha Co"}, names("SELECT * FROM Customer"))
	require.Equal(t, []string{"Retired Ltd (deleted)"}, names("SELECT * FROM Customer WHERE Active = false"))
	require.Equal(t, []string{"Gamma Inc", "Beta LLC", "Alpha Co"}, names("SELECT * FROM Customer WHERE Active = true"))
	require.Equal(t, []string{"Beta LLC"}, names("SELECT * FROM Customer WHERE DisplayName = 'beta llc'"))
	require.Equal(t, []string{"Gamma Inc"}, names("SELECT * FROM Customer WHERE DisplayName > 'Beta LLC'"))
	require.Equal(t, []string{"Alpha Co"}, names("SELECT * FROM Customer WHERE Balance = '40'"), "computed fields are queryable")
	require.Equal(t, []string{"Services"}, a.queryField("SELECT * FROM Item WHERE IncomeAccountRef.name = 'Services'", "Item", "Name"))
}

func TestQueryMetaDataTimes(t *testing.T) {
	t.Parallel()
	a, _, _ := queryFixture(t)
	docs := func(q string) []string { return a.queryField(q, "Invoice", "DocNumber") }
	// Invoices were created at 2024-06-20 17:16:17-07:00, then a day apart.
	require.Equal(t, []string{"G-1", "A-2"}, docs("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2024-06-22T17:16:17-07:00'"))
	// The same instant in another offset.
	require.Equal(t, []string{"G-1", "A-2"}, docs("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2024-06-23T00:16:17Z'"))
	require.Equal(t, []string{"B-1", "A-1"}, docs("SELECT * FROM Invoice WHERE MetaData.CreateTime < '2024-06-22T00:00:00-07:00'"))
	require.Equal(t, []string{"G-1", "A-2", "B-1", "A-1"}, docs("SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime DESC"))
}

func TestQueryOrderPagingCount(t *testing.T) {
	t.Parallel()
	a, _, _ := queryFixture(t)
	docs := func(q string) []string { return a.queryField(q, "Invoice", "DocNumber") }

	require.Equal(t, []string{"A-2", "B-1", "A-1", "G-1"}, docs("SELECT * FROM Invoice ORDERBY TotalAmt DESC"))
	require.Equal(t, []string{"G-1", "A-1", "B-1", "A-2"}, docs("SELECT * FROM Invoice ORDERBY TotalAmt"))
	require.Equal(t, []string{"A-2", "A-1", "B-1", "G-1"}, docs("SELECT * FROM Invoice ORDERBY CustomerRef ASC, TotalAmt DESC"))
	require.Equal(t, []string{"A-1", "A-2", "B-1", "G-1"}, docs("SELECT * FROM Invoice Orderby DocNumber"))

	// Paging is 1-based; maxResults is the number of rows returned.
	qr := a.queryOK("SELECT * FROM Invoice ORDERBY DocNumber STARTPOSITION 2 MAXRESULTS 2")
	require.Equal(t, json.Number("2"), qr["startPosition"])
	require.Equal(t, json.Number("2"), qr["maxResults"])
	require.Equal(t, json.Number("2"), qr["totalCount"])
	require.Equal(t, []string{"A-2", "B-1"}, docs("SELECT * FROM Invoice ORDERBY DocNumber STARTPOSITION 2 MAXRESULTS 2"))
	qr = a.queryOK("SELECT * FROM Invoice ORDERBY DocNumber MAXRESULTS 3 STARTPOSITION 4")
	require.Equal(t, json.Number("4"), qr["startPosition"])
	require.Equal(t, json.Number("1"), qr["maxResults"])
	require.Len(t, qr["Invoice"], 1)
	// The page after the last one: no keys at all.
	require.Equal(t, map[string]any{}, a.queryOK("SELECT * FROM Invoice STARTPOSITION 5 MAXRESULTS 100"))
	require.Equal(t, map[string]any{}, a.queryOK("SELECT * FROM Invoice WHERE DocNumber = 'nope'"))

	require.Equal(t, map[string]any{"totalCount": json.Number("4")}, a.queryOK("SELECT count(*) FROM Invoice"))
	require.Equal(t, map[string]any{"totalCount": json.Number("2")}, a.queryOK("SELECT COUNT(*) FROM Invoice WHERE DocNumber LIKE 'A%' MAXRESULTS 1"))
	require.Equal(t, map[string]any{"totalCount": json.Number("0")}, a.queryOK("SELECT count(*) FROM Invoice WHERE TotalAmt > '1000'"))
	require.Equal(t, map[string]any{"totalCount": json.Number("3")}, a.queryOK("SELECT count(*) FROM Customer"))

	// Deleted transactions never appear.
	inv := a.queryOK("SELECT * FROM Invoice WHERE DocNumber = 'G-1'")["Invoice"].([]any)[0].(map[string]any)
	a.ok(post, "invoice?operation=delete", map[string]any{"Id": inv["Id"], "SyncToken": inv["SyncToken"]}, "Invoice")
	require.Equal(t, []string{"A-2", "B-1", "A-1"}, docs("SELECT * FROM Invoice"))
	require.Equal(t, map[string]any{"totalCount": json.Number("3")}, a.queryOK("SELECT count(*) FROM Invoice"))
}

func TestQueryMaxResults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for i := range 105 {
		a.ok(post, "class", map[string]any{"Name": fmt.Sprintf("Class %03d", i)}, "Class")
	}
	qr := a.queryOK("SELECT * FROM Class")
	require.Len(t, qr["Class"], 100, "default MAXRESULTS is 100")
	require.Equal(t, json.Number("1"), qr["startPosition"])
	require.Equal(t, json.Number("100"), qr["maxResults"])
	require.Len(t, a.queryOK("SELECT * FROM Class STARTPOSITION 101")["Class"], 5)
	require.Len(t, a.queryOK("SELECT * FROM Class MAXRESULTS 1000")["Class"], 105)
	e := a.queryFault("SELECT * FROM Class MAXRESULTS 1001")
	require.Equal(t, "4001", e["code"])
	require.Contains(t, e["Detail"], "QueryValidationError")
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, q := range []string{
		"",
		"SELEC * FROM Customer",
		"SELECT FROM Customer",
		"SELECT Id, DisplayName FROM Customer", // projections are not emulated
		"SELECT * Customer",
		"SELECT * FROM",
		"SELECT * FROM Customer WHERE",
		"SELECT * FROM Customer WHERE DisplayName = ",
		"SELECT * FROM Customer WHERE DisplayName = 'unterminated",
		"SELECT * FROM Customer WHERE DisplayName 'x'",
		"SELECT * FROM Customer WHERE DisplayName = 'a' OR DisplayName = 'b'",
		"SELECT * FROM Customer WHERE DisplayName IN 'a'",
		"SELECT * FROM Customer WHERE DisplayName IN ('a'",
		"SELECT * FROM Customer WHERE DisplayName LIKE 5",
		"SELECT * FROM Customer ORDER BY DisplayName",
		"SELECT * FROM Customer ORDERBY",
		"SELECT * FROM Customer STARTPOSITION x",
		"SELECT * FROM Customer MAXRESULTS 10 MAXRESULTS 20",
		"SELECT * FROM Customer; DROP TABLE x",
		"SELECT count(* FROM Customer",
		"SELECT * FROM Customer WHERE Balance = 1.2.3",
	} {
		e := a.queryFault(q)
		require.Equal(t, "4000", e["code"], q)
		require.Equal(t, "Error parsing query", e["Message"], q)
		require.True(t, strings.HasPrefix(e["Detail"].(string), "QueryParserError: "), q)
	}
	e := a.queryFault("")
	require.Equal(t, "QueryParserError: The query provided was empty", e["Detail"])

	// An unknown entity, or a property the entity lacks anywhere in the
	// query: 4001, not an empty answer.
	for _, q := range []string{
		"SELECT * FROM Nope",
		"SELECT * FROM Customer WHERE NoSuchField = 'x'",
		"SELECT * FROM Customer WHERE DisplayName = 'x' AND NoSuchField IN ('x')",
		"SELECT * FROM Customer ORDERBY NoSuchField",
		"SELECT * FROM Customer ORDERBY DisplayName, NoSuchField DESC",
		"SELECT NoSuchField FROM Customer",
		"SELECT Id, NoSuchField FROM Customer",
		"SELECT count(*) FROM Customer WHERE NoSuchField = 'x'",
		"SELECT * FROM Customer WHERE MetaData.NoSuchTime > '2024-06-01'",
		"SELECT * FROM Customer WHERE NoSuch.value = '1'",
		"SELECT * FROM Invoice WHERE DisplayName = 'x'", // a Customer property
		"select * from customer where nosuchfield = 'x'",
	} {
		e := a.queryFault(q)
		require.Equal(t, "4001", e["code"], q)
		require.Equal(t, "Invalid query", e["Message"], q)
	}
	// Property names compare case-insensitively, as values are matched.
	require.Empty(t, a.queryOK("SELECT * FROM Customer WHERE displayname = 'x' ORDERBY metadata.lastupdatedtime"))
}

// Every property the emulator renders can be named in a query, so the
// 4001 check never refuses a field a client has seen in a response.
func TestQueryRenderedFieldsQueryable(t *testing.T) {
	t.Parallel()
	a, _, ids := queryFixture(t)
	cust, bank := ids["Alpha Co"], accountID(t, a, "Checking")
	// One object of every entity, with as many properties as the emulator fills.
	a.ok(post, "class", map[string]any{"Name": "Consulting"}, "Class")
	vendor := map[string]any{"DisplayName": "Vend Co", "CompanyName": "Vend Co", "GivenName": "V", "FamilyName": "C",
		"PrimaryEmailAddr": map[string]any{"Address": "v@example.com"}, "BillAddr": map[string]any{"Line1": "1 Main St"}}
	a.ok(post, "vendor", vendor, "Vendor")
	a.ok(post, "payment", paymentBody(cust, "10", payLine("10", "Invoice", ids["A-1"])), "Payment")
	a.ok(post, "journalentry", map[string]any{"Line": []any{jeLine("5", "Debit", bank), jeLine("5", "Credit", accountID(t, a, "Services"))}}, "JournalEntry")
	a.ok(post, "creditmemo", invoiceBody(cust, "", 1, "3"), "CreditMemo")
	refund := invoiceBody(cust, "", 1, "2")
	refund["DepositToAccountRef"] = ref(bank)
	a.ok(post, "refundreceipt", refund, "RefundReceipt")
	for _, entity := range []string{"Account", "PaymentMethod", "Item", "Class", "Customer", "Vendor",
		"Invoice", "Payment", "JournalEntry", "CreditMemo", "RefundReceipt"} {
		rows := a.srv.Realm(a.realm).List(entity)
		require.NotEmpty(t, rows, entity)
		fields := map[string]bool{}
		for _, r := range rows {
			for f := range r {
				fields[f] = true
			}
		}
		for field := range fields {
			if field == "domain" || field == "sparse" {
				continue // envelope attributes, not properties
			}
			q := "SELECT * FROM " + entity + " WHERE " + field + " = 'x' ORDERBY " + field
			status, env := a.query(q)
			require.Equal(t, http.StatusOK, status, "%s: %v", q, env)
		}
	}
}

// Entity names match case-insensitively; the response names the entity
// canonically.
func TestQueryEntityNameCase(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := createCustomer(t, a, "Lower Co")
	for _, q := range []string{"select * from customer", "SELECT * FROM CUSTOMER", "Select * From cUsToMeR Where DisplayName = 'Lower Co'"} {
		qr := a.queryOK(q)
		require.ElementsMatch(t, []string{"Customer", "startPosition", "maxResults", "totalCount"}, keys(qr), q)
		require.Equal(t, id, qr["Customer"].([]any)[0].(map[string]any)["Id"], q)
	}
	require.Equal(t, map[string]any{"totalCount": json.Number("1")}, a.queryOK("select count(*) from customer"))
	require.Contains(t, a.queryOK("select * from paymentmethod"), "PaymentMethod")
	require.Equal(t, map[string]any{}, a.queryOK("select * from journalentry"))
}

// customerNames returns the DisplayName of each row of a Customer query.
func (a *apiClient) customerNames(q string) []string {
	a.t.Helper()
	return a.queryField(q, "Customer", "DisplayName")
}

// Without ORDERBY, rows come most recently updated first, as QuickBooks
// answered in every recording, so paging over a list that changes between
// pages skips and repeats rows; ORDERBY Id pages the same list safely.
func TestQueryDefaultOrderPaging(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	ids := map[string]string{}
	for _, n := range []string{"C1", "C2", "C3", "C4", "C5"} {
		ids[n] = createCustomer(t, a, n)
		a.advance(clk, time.Second)
	}
	require.Equal(t, []string{"C5", "C4", "C3", "C2", "C1"}, a.customerNames("SELECT * FROM Customer"))

	page := func(q string, start int) []string {
		return a.customerNames(fmt.Sprintf("%s STARTPOSITION %d MAXRESULTS 2", q, start))
	}
	touch := func(name string) {
		cur := a.ok(get, "customer/"+ids[name], nil, "Customer")
		a.ok(post, "customer", map[string]any{"Id": ids[name], "SyncToken": cur["SyncToken"], "sparse": true, "Notes": "touched"}, "Customer")
		a.advance(clk, time.Second)
	}

	// Default order: an update between pages moves C1 to the front.
	seen := page("SELECT * FROM Customer", 1)
	require.Equal(t, []string{"C5", "C4"}, seen)
	touch("C1")
	seen = append(seen, page("SELECT * FROM Customer", 3)...)
	seen = append(seen, page("SELECT * FROM Customer", 5)...)
	require.Equal(t, []string{"C5", "C4", "C4", "C3", "C2"}, seen, "C4 repeated, C1 skipped")

	// ORDERBY Id: the same kind of change does not disturb the pages.
	seen = page("SELECT * FROM Customer ORDERBY Id", 1)
	touch("C5")
	seen = append(seen, page("SELECT * FROM Customer ORDERBY Id", 3)...)
	seen = append(seen, page("SELECT * FROM Customer ORDERBY Id", 5)...)
	require.Equal(t, []string{"C1", "C2", "C3", "C4", "C5"}, seen)

	// Writes within the same second: the later write comes first.
	touch("C2")
	clk.Advance(0)
	touch3 := a.ok(get, "customer/"+ids["C3"], nil, "Customer")
	a.ok(post, "customer", map[string]any{"Id": ids["C3"], "SyncToken": touch3["SyncToken"], "sparse": true, "Notes": "same second"}, "Customer")
	cur4 := a.ok(get, "customer/"+ids["C4"], nil, "Customer")
	a.ok(post, "customer", map[string]any{"Id": ids["C4"], "SyncToken": cur4["SyncToken"], "sparse": true, "Notes": "same second"}, "Customer")
	require.Equal(t, []string{"C4", "C3", "C2", "C5", "C1"}, a.customerNames("SELECT * FROM Customer"))
	// Conditions and paging keep that order.
	require.Equal(t, []string{"C3", "C2"}, a.customerNames("SELECT * FROM Customer WHERE DisplayName IN ('C2', 'C3', 'C1') MAXRESULTS 2"))

	// The seeded chart of accounts was never written: Id descending; a
	// written account moves to the front.
	accts := a.queryField("SELECT * FROM Account", "Account", "Id")
	require.True(t, sort.SliceIsSorted(accts, func(i, j int) bool { return atoi(t, accts[i]) > atoi(t, accts[j]) }), "%v", accts)
	acct := a.srv.Realm(a.realm).Accounts()[0]
	a.ok(post, "account", map[string]any{"Id": acct["Id"], "SyncToken": acct["SyncToken"], "sparse": true, "Description": "moved"}, "Account")
	require.Equal(t, acct["Id"], a.queryField("SELECT * FROM Account", "Account", "Id")[0])
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// The recorded sandbox query (no ORDERBY) lists invoices by
// MetaData.LastUpdatedTime descending, and so does the emulator.
func TestConformanceQueryDefaultOrder(t *testing.T) {
	t.Parallel()
	lastUpdated := func(rows []any) []time.Time {
		t.Helper()
		out := make([]time.Time, len(rows))
		for i, r := range rows {
			s := r.(map[string]any)["MetaData"].(map[string]any)["LastUpdatedTime"].(string)
			tm, err := time.Parse(time.RFC3339, s)
			require.NoError(t, err)
			out[i] = tm
		}
		return out
	}
	newestFirst := func(ts []time.Time) bool {
		return sort.SliceIsSorted(ts, func(i, j int) bool { return ts[i].After(ts[j]) })
	}
	fx := fixture(t, "query-invoices.json")["response"].(map[string]any)
	recorded := lastUpdated(fx["QueryResponse"].(map[string]any)["Invoice"].([]any))
	require.True(t, newestFirst(recorded))
	// The recorded Ids are in neither Id order, so the order is by time.
	var ids []int
	for _, r := range fx["QueryResponse"].(map[string]any)["Invoice"].([]any) {
		ids = append(ids, atoi(t, r.(map[string]any)["Id"].(string)))
	}
	require.False(t, sort.IntsAreSorted(ids))
	require.False(t, sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] > ids[j] }))

	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	cust := createCustomer(t, a, "Order Co")
	var first map[string]any
	for i := range 4 {
		inv := a.ok(post, "invoice", invoiceBody(cust, "", 1, "10"), "Invoice")
		if i == 0 {
			first = inv
		}
		a.advance(clk, time.Minute)
	}
	a.ok(post, "invoice", map[string]any{"Id": first["Id"], "SyncToken": first["SyncToken"], "sparse": true, "PrivateNote": "edited"}, "Invoice")
	rows := a.queryOK("SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 100")["Invoice"].([]any)
	require.True(t, newestFirst(lastUpdated(rows)))
	require.Equal(t, first["Id"], rows[0].(map[string]any)["Id"], "the edited invoice comes first")
}

func TestQueryByPOST(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	createCustomer(t, a, "Posted Co")
	req, err := http.NewRequest(post, a.srv.URL+"/v3/company/"+a.realm+"/query?minorversion=75",
		strings.NewReader("SELECT * FROM Customer WHERE DisplayName LIKE 'Posted%'"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/text")
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	env := decode(t, b)
	rows := env["QueryResponse"].(map[string]any)["Customer"].([]any)
	require.Len(t, rows, 1)
	require.Equal(t, "Posted Co", rows[0].(map[string]any)["DisplayName"])
}

// Query responses are the same objects a read returns.
func TestQueryMatchesRead(t *testing.T) {
	t.Parallel()
	a, _, ids := queryFixture(t)
	rows := a.queryOK("SELECT * FROM Invoice WHERE Id = '" + ids["B-1"] + "'")["Invoice"].([]any)
	require.Equal(t, a.ok(get, "invoice/"+ids["B-1"], nil, "Invoice"), rows[0])
	got, ok := a.srv.Realm(a.realm).Get("Invoice", ids["B-1"])
	require.True(t, ok)
	require.Equal(t, got["DocNumber"], rows[0].(map[string]any)["DocNumber"])
}

func TestConformanceQueryEnvelope(t *testing.T) {
	t.Parallel()
	fx := fixture(t, "query-invoices.json")["response"].(map[string]any)
	a := newAPI(t)
	cust := createCustomer(t, a, "Sonnenschein Family Store")
	addr := map[string]any{"Line1": "5647 Cypress Hill Ave.", "Line2": "x", "Line3": "y", "Line4": "z", "City": "Middlefield", "CountrySubDivisionCode": "CA", "PostalCode": "94303"}
	for i := range 3 {
		body := invoiceBody(cust, "", 2, "9.50")
		body["BillAddr"], body["ShipAddr"] = addr, addr
		body["BillEmail"] = map[string]any{"Address": "Familiystore@intuit.com"}
		body["CustomerMemo"] = map[string]any{"value": "Thank you"}
		body["PrivateNote"] = fmt.Sprintf("note %d", i)
		line := body["Line"].([]any)[0].(map[string]any)
		line["Description"] = "Concrete for fountain installation"
		line["SalesItemLineDetail"].(map[string]any)["ServiceDate"] = "2024-06-20"
		a.ok(post, "invoice", body, "Invoice")
	}
	_, env := a.query("SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 100")
	// The invoice objects lack what TestConformanceInvoice lists (FIDELITY.md).
	requireShape(t, fx, env,
		"QueryResponse.Invoice[].DeliveryInfo",
		"QueryResponse.Invoice[].Line[].DiscountLineDetail",
		"QueryResponse.Invoice[].Line[].LinkedTxn",
		"QueryResponse.Invoice[].LinkedTxn[] (emulator sent an empty array)",
		"QueryResponse.Invoice[].SalesTermRef",
		"QueryResponse.Invoice[].TxnTaxDetail.TaxLine",
		"QueryResponse.Invoice[].TxnTaxDetail.TxnTaxCodeRef",
		"QueryResponse.Invoice[].BillAddr.Lat", "QueryResponse.Invoice[].BillAddr.Long",
		"QueryResponse.Invoice[].ShipAddr.Lat", "QueryResponse.Invoice[].ShipAddr.Long",
	)
	// The envelope has exactly the fixture's keys.
	require.ElementsMatch(t, keys(fx), keys(env))
	require.ElementsMatch(t, keys(fx["QueryResponse"].(map[string]any)), keys(env["QueryResponse"].(map[string]any)))
	qr := env["QueryResponse"].(map[string]any)
	require.Equal(t, json.Number("1"), qr["startPosition"])
	require.Equal(t, json.Number("3"), qr["maxResults"])
}

func TestConformanceQueryEmptyPage(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, name := range []string{"query-payments-empty.json", "query-credit-memos.json"} {
		fx := fixture(t, name)["response"].(map[string]any)
		require.Equal(t, map[string]any{}, fx["QueryResponse"])
		// The fixture is the page after the last one (STARTPOSITION 101).
		_, env := a.query("SELECT * FROM Invoice STARTPOSITION 101 MAXRESULTS 100")
		requireShape(t, fx, env)
		requireShape(t, env, fx)
		require.Equal(t, map[string]any{}, env["QueryResponse"])
		require.Regexp(t, timeMillisRE, env["time"])
	}
}
