package qbotest_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

func (a *apiClient) cdc(entities string, since time.Time) (int, map[string]any) {
	a.t.Helper()
	return a.do(get, "cdc?entities="+url.QueryEscape(entities)+"&changedSince="+url.QueryEscape(since.Format(time.RFC3339Nano)), nil)
}

// cdcEntries requires HTTP 200 and returns CDCResponse[0].QueryResponse.
func (a *apiClient) cdcEntries(entities string, since time.Time) []any {
	a.t.Helper()
	status, env := a.cdc(entities, since)
	require.Equal(a.t, http.StatusOK, status, "%v", env)
	require.ElementsMatch(a.t, []string{"CDCResponse", "time"}, keys(env))
	require.Regexp(a.t, timeMillisRE, env["time"])
	cdc := env["CDCResponse"].([]any)
	require.Len(a.t, cdc, 1)
	return cdc[0].(map[string]any)["QueryResponse"].([]any)
}

// cdcObjects returns the objects of entity in a CDC response, checking the
// entry's paging fields (no totalCount: QuickBooks does not always send it).
func cdcObjects(t *testing.T, entries []any, entity string) []map[string]any {
	t.Helper()
	for _, e := range entries {
		m := e.(map[string]any)
		list, ok := m[entity].([]any)
		if !ok {
			continue
		}
		n := json.Number(strconv.Itoa(len(list)))
		require.Equal(t, json.Number("1"), m["startPosition"])
		require.Equal(t, n, m["maxResults"])
		require.ElementsMatch(t, []string{entity, "startPosition", "maxResults"}, keys(m))
		out := make([]map[string]any, len(list))
		for i, o := range list {
			out[i] = o.(map[string]any)
		}
		return out
	}
	return nil
}

func TestCDC(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	start := clk.Now()

	// Nothing yet (the seeded chart of accounts is not a change): one empty
	// QueryResponse per requested entity.
	require.Equal(t, []any{map[string]any{}, map[string]any{}, map[string]any{}}, a.cdcEntries("Invoice,Customer,Account", start.Add(-time.Hour)))

	a.advance(clk, time.Minute)
	cust := createCustomer(t, a, "CDC Customer")
	other := createCustomer(t, a, "Other Customer")
	inv1 := a.ok(post, "invoice", invoiceBody(cust, "C-1", 1, "10"), "Invoice")
	inv2 := a.ok(post, "invoice", invoiceBody(cust, "C-2", 1, "20"), "Invoice")
	a.advance(clk, time.Hour)
	mid := clk.Now()
	// Update one invoice twice and delete the other; rename a customer.
	up := a.ok(post, "invoice", map[string]any{"Id": inv1["Id"], "SyncToken": "0", "sparse": true, "PrivateNote": "one"}, "Invoice")
	up = a.ok(post, "invoice", map[string]any{"Id": inv1["Id"], "SyncToken": up["SyncToken"], "sparse": true, "PrivateNote": "two"}, "Invoice")
	a.ok(post, "invoice?operation=delete", map[string]any{"Id": inv2["Id"], "SyncToken": "0"}, "Invoice")
	a.ok(post, "customer", map[string]any{"Id": other, "SyncToken": "0", "sparse": true, "Active": false}, "Customer")

	// Since the start: both customers (current state), invoice 1 once in its
	// current state, invoice 2 as a Deleted stub; entries follow the entities
	// order, and Account, unchanged, gets an empty one.
	entries := a.cdcEntries("Invoice,Customer,Account", start)
	require.Len(t, entries, 3)
	require.Contains(t, entries[0], "Invoice")
	require.Contains(t, entries[1], "Customer")
	require.Equal(t, map[string]any{}, entries[2])
	invs := cdcObjects(t, entries, "Invoice")
	require.Len(t, invs, 2)
	require.Equal(t, up, invs[0], "changed several times: once, current state")
	require.Equal(t, map[string]any{"domain": "QBO", "status": "Deleted", "Id": inv2["Id"],
		"MetaData": map[string]any{"LastUpdatedTime": "2024-06-20T14:17:17-07:00"}}, invs[1])
	custs := cdcObjects(t, entries, "Customer")
	require.Len(t, custs, 2)
	require.Equal(t, cust, custs[0]["Id"])
	require.Equal(t, "Other Customer (deleted)", custs[1]["DisplayName"], "inactive list objects are reported")
	require.Equal(t, a.ok(get, "customer/"+cust, nil, "Customer"), custs[0])

	// Since mid: only the later writes.
	entries = a.cdcEntries("Customer,Invoice", mid)
	require.Equal(t, []string{other}, idsOf(cdcObjects(t, entries, "Customer")))
	require.Equal(t, []string{inv1["Id"].(string), inv2["Id"].(string)}, idsOf(cdcObjects(t, entries, "Invoice")))
	// Entity names are matched case-insensitively; only the requested ones
	// come back, once each.
	entries = a.cdcEntries("customer,Customer", mid)
	require.Len(t, entries, 1)
	require.Nil(t, cdcObjects(t, entries, "Invoice"))
	require.Equal(t, []string{other}, idsOf(cdcObjects(t, entries, "Customer")))
	// An entity without changes in the window keeps its (empty) place.
	entries = a.cdcEntries("Account,Customer,Vendor", mid)
	require.Len(t, entries, 3)
	require.Equal(t, map[string]any{}, entries[0])
	require.Equal(t, []string{other}, idsOf(cdcObjects(t, entries, "Customer")))
	require.Equal(t, map[string]any{}, entries[2])

	// In the future: nothing.
	require.Equal(t, []any{map[string]any{}}, a.cdcEntries("Invoice", clk.Now().Add(time.Second)))
}

func idsOf(objs []map[string]any) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o["Id"].(string))
	}
	return out
}

func TestCDCLookBackLimit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	start := clk.Now()
	id := createCustomer(t, a, "Old Customer")
	a.advance(clk, 30*24*time.Hour)
	// Exactly 30 days back is allowed.
	require.Equal(t, []string{id}, idsOf(cdcObjects(t, a.cdcEntries("Customer", start), "Customer")))
	a.advance(clk, time.Second)
	status, env := a.cdc("Customer", start)
	require.Equal(t, http.StatusBadRequest, status)
	e := requireFault(t, env)
	require.Equal(t, "500", e["code"])
	require.Equal(t, "Unsupported Operation", e["Message"])
	require.Contains(t, e["Detail"], "older than fixed days")
}

func TestCDCRequestErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for path, code := range map[string]string{
		"cdc?changedSince=2024-06-01T00:00:00-07:00":   "2020",
		"cdc?entities=Customer":                        "2020",
		"cdc?entities=Customer&changedSince=yesterday": "2010",
		"cdc?entities=Nope&changedSince=" + nowParam(): "2010",
	} {
		e := a.fault(get, path, nil)
		require.Equal(t, code, e["code"], path)
	}
	// A bare date is accepted.
	status, _ := a.do(get, "cdc?entities=Customer&changedSince="+time.Now().Format("2006-01-02"), nil)
	require.Equal(t, http.StatusOK, status)
}

func nowParam() string { return url.QueryEscape(time.Now().Format(time.RFC3339)) }

func TestCDCCap(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now), qbotest.WithoutLimits()) // 1,001 writes on a frozen clock
	start := clk.Now()
	for i := range 1001 {
		a.ok(post, "class", map[string]any{"Name": fmt.Sprintf("C%04d", i)}, "Class")
	}
	entries := a.cdcEntries("Class", start)
	require.Len(t, cdcObjects(t, entries, "Class"), 1000)
}

// ids become strings (the fixture was written by hand with numeric Ids; the
// real API sends digit strings, §2).
func stringIDs(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(json.Number); ok && k == "Id" {
				x[k] = n.String()
			} else {
				x[k] = stringIDs(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = stringIDs(e)
		}
	}
	return v
}

func TestConformanceCDC(t *testing.T) {
	t.Parallel()
	fx := stringIDs(fixture(t, "cdc-response.json")).(map[string]any)
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	start := clk.Now()
	cust := createCustomer(t, a, "TestCustomer")
	a.ok(post, "invoice", invoiceBody(cust, "12344", 1, "10"), "Invoice")
	a.ok(post, "invoice", invoiceBody(cust, "12345", 1, "10"), "Invoice")
	status, env := a.cdc("Customer,Invoice", start)
	require.Equal(t, http.StatusOK, status)
	requireShape(t, fx, env)
	// Entries have exactly the fixture's keys (no totalCount).
	entries := env["CDCResponse"].([]any)[0].(map[string]any)["QueryResponse"].([]any)
	fxEntries := fx["CDCResponse"].([]any)[0].(map[string]any)["QueryResponse"].([]any)
	require.Len(t, entries, 2)
	for i := range entries {
		require.ElementsMatch(t, keys(fxEntries[i].(map[string]any)), keys(entries[i].(map[string]any)))
	}

	// No changes for the one requested entity: exactly the fixture.
	empty := fixture(t, "cdc-response-empty.json")
	status, env = a.cdc("Customer", clk.Now().Add(time.Minute))
	require.Equal(t, http.StatusOK, status)
	requireShape(t, empty, env)
	requireShape(t, env, empty)
	require.Equal(t, empty["CDCResponse"], env["CDCResponse"])
	// Two entities: one empty QueryResponse each.
	require.Equal(t, []any{map[string]any{}, map[string]any{}}, a.cdcEntries("Customer,Invoice", clk.Now().Add(time.Minute)))
}

// rubyCDCEntities is the entity order of quickbooks-ruby's CDC client; its
// recorded response (cdc-response-ruby.xml) has one QueryResponse for each
// of the first eleven.
var rubyCDCEntities = []string{"Bill", "BillPayment", "CreditMemo", "Deposit", "Invoice",
	"JournalEntry", "Payment", "Purchase", "RefundReceipt", "SalesReceipt", "PurchaseOrder"}

// xmlCDCBlock is one <QueryResponse> of a recorded XML CDC response.
type xmlCDCBlock struct {
	Attrs []xml.Attr `xml:",any,attr"`
	Items []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// The recorded response answers every requested entity, changed or not
// (empty <QueryResponse/>), in request order, and one changed block has no
// totalCount. The emulator answers the emulated entities of that request
// with the same pattern and never sends totalCount.
func TestConformanceCDCEveryEntity(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "qbo", "cdc-response-ruby.xml"))
	require.NoError(t, err)
	var doc struct {
		Blocks []xmlCDCBlock `xml:"CDCResponse>QueryResponse"`
	}
	require.NoError(t, xml.Unmarshal(raw, &doc))
	require.Len(t, doc.Blocks, len(rubyCDCEntities))
	changed := map[string]bool{}
	withoutTotal := 0
	for i, b := range doc.Blocks {
		if len(b.Items) == 0 {
			require.Empty(t, b.Attrs, "an unchanged entity's block is empty")
			continue
		}
		require.Equal(t, rubyCDCEntities[i], b.Items[0].XMLName.Local, "blocks follow the request order")
		changed[rubyCDCEntities[i]] = true
		attrs := map[string]bool{}
		for _, a := range b.Attrs {
			attrs[a.Name.Local] = true
		}
		if !attrs["totalCount"] {
			withoutTotal++
		}
	}
	require.Equal(t, map[string]bool{"Bill": true, "BillPayment": true, "Invoice": true, "Payment": true}, changed)
	require.Equal(t, 1, withoutTotal, "the Payment block has no totalCount")

	// The same request, limited to emulated entities, with changes to an
	// invoice and a payment only.
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))
	cust := createCustomer(t, a, "Geeta Kalapatapu")
	a.advance(clk, time.Minute)
	start := clk.Now()
	inv := a.ok(post, "invoice", invoiceBody(cust, "1033", 1, "629.10"), "Invoice")
	a.ok(post, "payment", paymentBody(cust, "629.10", payLine("629.10", "Invoice", inv["Id"].(string))), "Payment")
	requested := []string{"CreditMemo", "Invoice", "JournalEntry", "Payment", "RefundReceipt"}
	entries := a.cdcEntries(strings.Join(requested, ","), start)
	require.Len(t, entries, len(requested))
	for i, name := range requested {
		m := entries[i].(map[string]any)
		if !changed[name] {
			require.Equal(t, map[string]any{}, m, name)
			continue
		}
		require.NotEmpty(t, cdcObjects(t, entries[i:i+1], name), name)
		require.NotContains(t, m, "totalCount", name)
	}
}
