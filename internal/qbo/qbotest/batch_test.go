package qbotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// batchOK posts a batch, requires HTTP 200 and returns the items by bId
// (and the envelope).
func (a *apiClient) batch(items ...map[string]any) (map[string]map[string]any, map[string]any) {
	a.t.Helper()
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	status, env := a.do(post, "batch", map[string]any{"BatchItemRequest": list})
	require.Equal(a.t, http.StatusOK, status, "%v", env)
	require.ElementsMatch(a.t, []string{"BatchItemResponse", "time"}, keys(env))
	require.Regexp(a.t, timeMillisRE, env["time"])
	resp := env["BatchItemResponse"].([]any)
	require.Len(a.t, resp, len(items))
	out := map[string]map[string]any{}
	for _, r := range resp {
		m := r.(map[string]any)
		out[m["bId"].(string)] = m
	}
	return out, env
}

func itemFault(t *testing.T, item map[string]any) map[string]any {
	t.Helper()
	require.ElementsMatch(t, []string{"bId", "Fault"}, keys(item), "%v", item)
	f := item["Fault"].(map[string]any)
	require.Equal(t, "ValidationFault", f["type"])
	errs := f["Error"].([]any)
	require.Len(t, errs, 1)
	e := errs[0].(map[string]any)
	require.ElementsMatch(t, []string{"Message", "Detail", "code", "element"}, keys(e))
	return e
}

func TestBatchMixed(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	existing := createCustomer(t, a, "Existing Co")
	inv := a.ok(post, "invoice", invoiceBody(existing, "B-1", 1, "10"), "Invoice")
	doomed := a.ok(post, "invoice", invoiceBody(existing, "B-2", 1, "10"), "Invoice")

	items, _ := a.batch(
		map[string]any{"bId": "1", "operation": "create", "Customer": map[string]any{"DisplayName": "Batch Co"}},
		map[string]any{"bId": "2", "operation": "create", "Customer": map[string]any{"DisplayName": "existing co"}}, // 6240
		map[string]any{"bId": "3", "operation": "update", "Invoice": map[string]any{"Id": inv["Id"], "SyncToken": "0", "sparse": true, "PrivateNote": "via batch"}},
		map[string]any{"bId": "4", "operation": "update", "Invoice": map[string]any{"Id": inv["Id"], "SyncToken": "0", "sparse": true}}, // stale now
		map[string]any{"bId": "5", "operation": "delete", "Invoice": map[string]any{"Id": doomed["Id"], "SyncToken": "0"}},
		map[string]any{"bId": "6", "Query": "select * from Customer where DisplayName like 'Batch%'"},
		map[string]any{"bId": "7", "Query": "select * from Customer where"},
		map[string]any{"bId": "8", "operation": "delete", "Customer": map[string]any{"Id": existing, "SyncToken": "0"}},
		map[string]any{"bId": "9", "operation": "create", "Invoice": invoiceBody("999999", "", 1, "5")},
		map[string]any{"bId": "10", "operation": "merge", "Customer": map[string]any{"DisplayName": "x"}},
		map[string]any{"bId": "11", "Customer": map[string]any{"DisplayName": "no op"}},
		map[string]any{"bId": "12", "Query": "select * from customer where NoSuchField = 'x'"},
		map[string]any{"bId": "13", "Query": "select * from customer"},
	)

	c := items["1"]["Customer"].(map[string]any)
	require.Equal(t, "Batch Co", c["DisplayName"])
	require.Equal(t, "0", c["SyncToken"])
	require.Equal(t, c, a.ok(get, "customer/"+c["Id"].(string), nil, "Customer"), "stored like a single create")

	e := itemFault(t, items["2"])
	require.Equal(t, "6240", e["code"])
	require.Equal(t, "Duplicate Name Exists Error", e["Message"])

	up := items["3"]["Invoice"].(map[string]any)
	require.Equal(t, "via batch", up["PrivateNote"])
	require.Equal(t, "1", up["SyncToken"])
	require.Equal(t, "5010", itemFault(t, items["4"])["code"], "items run serially, in order")

	require.Equal(t, map[string]any{"status": "Deleted", "domain": "QBO", "Id": doomed["Id"]}, items["5"]["Invoice"])
	require.Equal(t, "610", a.fault(get, "invoice/"+doomed["Id"].(string), nil)["code"])

	qr := items["6"]["QueryResponse"].(map[string]any)
	rows := qr["Customer"].([]any)
	require.Len(t, rows, 1, "the query sees the create earlier in the batch")
	require.Equal(t, "Batch Co", rows[0].(map[string]any)["DisplayName"])
	// QuickBooks omits totalCount in batch query items.
	require.ElementsMatch(t, []string{"Customer", "startPosition", "maxResults"}, keys(qr))

	require.Equal(t, "4000", itemFault(t, items["7"])["code"])
	require.Equal(t, "500", itemFault(t, items["8"])["code"], "list entities cannot be deleted")
	require.Equal(t, "2500", itemFault(t, items["9"])["code"])
	require.Equal(t, "500", itemFault(t, items["10"])["code"])
	require.Equal(t, "2020", itemFault(t, items["11"])["code"])
	require.Equal(t, "4001", itemFault(t, items["12"])["code"], "unknown property")
	// Lowercase entity names work; rows come most recently updated first
	// (the 6240 item changed nothing; Existing Co's invoices do not touch it).
	qr = items["13"]["QueryResponse"].(map[string]any)
	require.ElementsMatch(t, []string{"Customer", "startPosition", "maxResults"}, keys(qr))
	var names []string
	for _, r := range qr["Customer"].([]any) {
		names = append(names, r.(map[string]any)["DisplayName"].(string))
	}
	require.Equal(t, []string{"Batch Co", "Existing Co"}, names)

	// Response items keep request order.
	_, env := a.batch(
		map[string]any{"bId": "b", "Query": "select count(*) from Invoice"},
		map[string]any{"bId": "a", "Query": "select * from Invoice startposition 50"},
	)
	resp := env["BatchItemResponse"].([]any)
	require.Equal(t, map[string]any{"bId": "b", "QueryResponse": map[string]any{"totalCount": json.Number("1")}}, resp[0])
	require.Equal(t, map[string]any{"bId": "a", "QueryResponse": map[string]any{}}, resp[1])
}

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	mk := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"bId": fmt.Sprint(i + 1), "operation": "create", "Class": map[string]any{"Name": fmt.Sprintf("Class %d", i)}}
		}
		return out
	}
	items, _ := a.batch(toMaps(mk(30))...)
	require.Len(t, items, 30)
	for _, it := range items {
		require.Contains(t, it, "Class")
	}

	e := a.fault(post, "batch", map[string]any{"BatchItemRequest": mk(31)})
	require.Equal(t, "1040", e["code"])
	require.Equal(t, "Batch size exceeds allowed limit", e["Message"])
	require.Len(t, a.srv.Realm(a.realm).Classes(), 30, "an oversize batch runs nothing")

	require.Equal(t, "2020", a.fault(post, "batch", map[string]any{"BatchItemRequest": []any{}})["code"])
	require.Equal(t, "2020", a.fault(post, "batch", map[string]any{"BatchItemRequest": []any{map[string]any{"Query": "select * from Class"}}})["code"])
	require.Equal(t, "2050", a.fault(post, "batch", map[string]any{"BatchItemRequest": []any{map[string]any{"bId": "12345678901", "Query": "select * from Class"}}})["code"])
	require.Equal(t, "2010", a.fault(post, "batch", map[string]any{"BatchItemRequest": []any{
		map[string]any{"bId": "1", "Query": "select * from Class"}, map[string]any{"bId": "1", "Query": "select * from Class"}}})["code"])
	require.Equal(t, "500", a.fault(get, "batch", nil)["code"])
}

func TestBatchRequestIDReplay(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	body := map[string]any{"BatchItemRequest": []any{map[string]any{"bId": "1", "operation": "create", "Customer": map[string]any{"DisplayName": "Once"}}}}
	first := must(a.raw(post, "batch?requestid=b-1", body))
	second := must(a.raw(post, "batch?requestid=b-1", body))
	require.Equal(t, first, second)
	n := 0
	for _, c := range a.srv.Realm(a.realm).Customers() {
		if c["DisplayName"] == "Once" {
			n++
		}
	}
	require.Equal(t, 1, n)
	require.Equal(t, "2050", a.fault(post, "batch?requestid=0123456789012345678901234567890123456", body)["code"])
}

func TestConformanceBatch(t *testing.T) {
	t.Parallel()
	fx := stringIDs(fixture(t, "batch-response.json")).(map[string]any)
	a := newAPI(t)
	createCustomer(t, a, "Taken Name")
	_, env := a.batch(
		map[string]any{"bId": "1", "operation": "create", "Customer": map[string]any{"DisplayName": "Taken Name"}},
		map[string]any{"bId": "2", "operation": "create", "Customer": map[string]any{"DisplayName": "Fresh Name"}},
	)
	requireShape(t, fx, env)
	// Item by item: the fault item and the success item have the fixture's keys.
	byID := map[string]map[string]any{}
	for _, it := range env["BatchItemResponse"].([]any) {
		byID[it.(map[string]any)["bId"].(string)] = it.(map[string]any)
	}
	for _, it := range fx["BatchItemResponse"].([]any) {
		want := it.(map[string]any)
		got := byID[want["bId"].(string)]
		require.ElementsMatch(t, keys(want), keys(got))
		requireShape(t, want, got)
	}
	require.Equal(t, "6240", itemFault(t, byID["1"])["code"])
}

func toMaps(list []any) []map[string]any {
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}
