package qbotest_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Issue 10 part 0: empty refs, unknown properties, dates and nulls are
// answered the way QuickBooks answers them, for every entity alike.

// emptyRefs are the spellings of "no reference" that clients send.
var emptyRefs = map[string]any{
	"{}":                  map[string]any{},
	"empty value":         map[string]any{"value": ""},
	"python-quickbooks":   map[string]any{"value": "", "name": "", "type": ""},
	"whitespace value":    map[string]any{"value": "  "},
	"null value and name": map[string]any{"value": nil, "name": nil},
}

// withT returns a copy of a that fails t, for use in a subtest.
func (a *apiClient) withT(t *testing.T) *apiClient {
	t.Helper()
	c := *a
	c.t = t
	return &c
}

// shapeFixture is one realm with a customer, a class and accounts to refer to.
type shapeFixture struct {
	a                 *apiClient
	cust, class, bank string
	rev, ar           string
}

func newShapeFixture(t *testing.T) shapeFixture {
	t.Helper()
	a := newAPI(t)
	return shapeFixture{
		a:     a,
		cust:  createCustomer(t, a, "Shape Co"),
		class: a.ok(post, "class", map[string]any{"Name": "Shape Class"}, "Class")["Id"].(string),
		bank:  accountID(t, a, "Checking"),
		rev:   accountID(t, a, "Services"),
		ar:    accountID(t, a, "Accounts Receivable (A/R)"),
	}
}

// salesLineBody is one SalesItemLineDetail line of 10.
func salesLineBody(detail map[string]any) map[string]any {
	d := map[string]any{"ItemRef": ref("1"), "Qty": 1, "UnitPrice": 10}
	for k, v := range detail {
		d[k] = v
	}
	return map[string]any{"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": d}
}

func jeBody(f shapeFixture, debitDetail map[string]any) map[string]any {
	debit := jeLine("10", "Debit", f.bank)
	for k, v := range debitDetail {
		debit["JournalEntryLineDetail"].(map[string]any)[k] = v
	}
	return map[string]any{"Line": []any{debit, jeLine("10", "Credit", f.rev)}}
}

func lineDetail(o map[string]any, i int, detail string) map[string]any {
	return o["Line"].([]any)[i].(map[string]any)[detail].(map[string]any)
}

func TestEmptyRefIsAbsent(t *testing.T) {
	t.Parallel()
	f := newShapeFixture(t)
	a := f.a
	undeposited := accountID(t, a, "Undeposited Funds")

	type refCase struct {
		name, path, key string
		body            func(empty any) map[string]any
		// check asserts the answer treats the ref as absent; code is the
		// fault expected instead when the ref is required.
		check func(t *testing.T, o map[string]any)
		code  string
	}
	cases := []refCase{
		{name: "invoice CustomerRef (required)", path: "invoice", key: "Invoice", code: "2020",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": e, "Line": []any{salesLineBody(nil)}}
			}},
		{name: "invoice line ItemRef defaults to Services", path: "invoice", key: "Invoice",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(map[string]any{"ItemRef": e})}}
			},
			check: func(t *testing.T, o map[string]any) {
				require.Equal(t, map[string]any{"value": "1", "name": "Services"}, lineDetail(o, 0, "SalesItemLineDetail")["ItemRef"])
			}},
		{name: "invoice line ClassRef", path: "invoice", key: "Invoice",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(map[string]any{"ClassRef": e})}}
			},
			check: func(t *testing.T, o map[string]any) {
				require.NotContains(t, lineDetail(o, 0, "SalesItemLineDetail"), "ClassRef")
			}},
		{name: "invoice line TaxCodeRef defaults", path: "invoice", key: "Invoice",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(map[string]any{"TaxCodeRef": e})}}
			},
			check: func(t *testing.T, o map[string]any) {
				require.Equal(t, map[string]any{"value": "NON"}, lineDetail(o, 0, "SalesItemLineDetail")["TaxCodeRef"])
			}},
		{name: "invoice CurrencyRef defaults", path: "invoice", key: "Invoice",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "CurrencyRef": e, "Line": []any{salesLineBody(nil)}}
			},
			check: func(t *testing.T, o map[string]any) {
				require.Equal(t, map[string]any{"value": "USD", "name": "United States Dollar"}, o["CurrencyRef"])
			}},
		{name: "invoice SalesTermRef (not validated) is not echoed", path: "invoice", key: "Invoice",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "SalesTermRef": e, "Line": []any{salesLineBody(nil)}}
			},
			check: func(t *testing.T, o map[string]any) { require.NotContains(t, o, "SalesTermRef") }},
		{name: "payment DepositToAccountRef defaults to Undeposited Funds", path: "payment", key: "Payment",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 5, "DepositToAccountRef": e}
			},
			check: func(t *testing.T, o map[string]any) {
				require.Equal(t, undeposited, o["DepositToAccountRef"].(map[string]any)["value"])
			}},
		{name: "payment PaymentMethodRef", path: "payment", key: "Payment",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 5, "PaymentMethodRef": e}
			},
			check: func(t *testing.T, o map[string]any) { require.NotContains(t, o, "PaymentMethodRef") }},
		{name: "payment CustomerRef (required)", path: "payment", key: "Payment", code: "2020",
			body: func(e any) map[string]any { return map[string]any{"CustomerRef": e, "TotalAmt": 5} }},
		{name: "refund receipt CustomerRef", path: "refundreceipt", key: "RefundReceipt",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": e, "DepositToAccountRef": ref(f.bank), "Line": []any{salesLineBody(nil)}}
			},
			check: func(t *testing.T, o map[string]any) { require.NotContains(t, o, "CustomerRef") }},
		{name: "refund receipt DepositToAccountRef (required)", path: "refundreceipt", key: "RefundReceipt", code: "2020",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "DepositToAccountRef": e, "Line": []any{salesLineBody(nil)}}
			}},
		{name: "credit memo line ClassRef", path: "creditmemo", key: "CreditMemo",
			body: func(e any) map[string]any {
				return map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(map[string]any{"ClassRef": e})}}
			},
			check: func(t *testing.T, o map[string]any) {
				require.NotContains(t, lineDetail(o, 0, "SalesItemLineDetail"), "ClassRef")
			}},
		{name: "journal entry line ClassRef", path: "journalentry", key: "JournalEntry",
			body: func(e any) map[string]any { return jeBody(f, map[string]any{"ClassRef": e}) },
			check: func(t *testing.T, o map[string]any) {
				require.NotContains(t, lineDetail(o, 0, "JournalEntryLineDetail"), "ClassRef")
			}},
		{name: "journal entry line DepartmentRef", path: "journalentry", key: "JournalEntry",
			body: func(e any) map[string]any { return jeBody(f, map[string]any{"DepartmentRef": e}) },
			check: func(t *testing.T, o map[string]any) {
				require.NotContains(t, lineDetail(o, 0, "JournalEntryLineDetail"), "DepartmentRef")
			}},
		{name: "journal entry line AccountRef (required)", path: "journalentry", key: "JournalEntry", code: "2020",
			body: func(e any) map[string]any { return jeBody(f, map[string]any{"AccountRef": e}) }},
		{name: "journal entry Entity.EntityRef (required)", path: "journalentry", key: "JournalEntry", code: "2020",
			body: func(e any) map[string]any {
				return jeBody(f, map[string]any{"Entity": map[string]any{"Type": "Customer", "EntityRef": e}})
			}},
		{name: "account ParentRef", path: "account", key: "Account",
			body: func(e any) map[string]any {
				return map[string]any{"Name": "Acct " + refName(e), "AccountType": "Expense", "ParentRef": e}
			},
			check: func(t *testing.T, o map[string]any) {
				require.NotContains(t, o, "ParentRef")
				require.Equal(t, false, o["SubAccount"])
			}},
		{name: "class ParentRef", path: "class", key: "Class",
			body: func(e any) map[string]any { return map[string]any{"Name": "Class " + refName(e), "ParentRef": e} },
			check: func(t *testing.T, o map[string]any) {
				require.NotContains(t, o, "ParentRef")
				require.Equal(t, false, o["SubClass"])
			}},
		{name: "item ExpenseAccountRef", path: "item", key: "Item",
			body: func(e any) map[string]any {
				return map[string]any{"Name": "Item " + refName(e), "Type": "Service", "IncomeAccountRef": ref(f.rev), "ExpenseAccountRef": e}
			},
			check: func(t *testing.T, o map[string]any) { require.NotContains(t, o, "ExpenseAccountRef") }},
		{name: "item IncomeAccountRef (required)", path: "item", key: "Item", code: "2020",
			body: func(e any) map[string]any {
				return map[string]any{"Name": "Item2 " + refName(e), "Type": "Service", "IncomeAccountRef": e}
			}},
		{name: "customer SalesTermRef", path: "customer", key: "Customer",
			body: func(e any) map[string]any {
				return map[string]any{"DisplayName": "Cust " + refName(e), "SalesTermRef": e}
			},
			check: func(t *testing.T, o map[string]any) { require.NotContains(t, o, "SalesTermRef") }},
		{name: "vendor CurrencyRef defaults", path: "vendor", key: "Vendor",
			body: func(e any) map[string]any {
				return map[string]any{"DisplayName": "Vend " + refName(e), "CurrencyRef": e}
			},
			check: func(t *testing.T, o map[string]any) {
				require.Equal(t, map[string]any{"value": "USD", "name": "United States Dollar"}, o["CurrencyRef"])
			}},
	}
	for _, tc := range cases {
		for spelling, empty := range emptyRefs {
			t.Run(tc.name+"/"+spelling, func(t *testing.T) {
				t.Parallel()
				a := a.withT(t)
				if tc.code != "" {
					e := a.fault(post, tc.path, tc.body(empty))
					require.Equal(t, tc.code, e["code"])
					return
				}
				o := a.ok(post, tc.path, tc.body(empty), tc.key)
				tc.check(t, o)
				tc.check(t, a.ok(get, tc.path+"/"+o["Id"].(string), nil, tc.key))
			})
		}
	}
}

// refName makes names unique per empty-ref spelling (names must not clash).
func refName(e any) string {
	b, _ := json.Marshal(e)
	return string(b)
}

func TestUnknownPropertiesAreRefused(t *testing.T) {
	t.Parallel()
	f := newShapeFixture(t)
	a := f.a
	invID := a.ok(post, "invoice", map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(nil)}}, "Invoice")["Id"].(string)
	with := func(m map[string]any, key string, v any) map[string]any {
		m[key] = v
		return m
	}
	salesWith := func(detail map[string]any, lineKey string) map[string]any {
		l := salesLineBody(detail)
		if lineKey != "" {
			l[lineKey] = 1
		}
		return map[string]any{"CustomerRef": ref(f.cust), "DepositToAccountRef": ref(f.bank), "Line": []any{l}}
	}
	jeEntity := jeBody(f, map[string]any{"AccountRef": ref(f.ar), "Entity": map[string]any{"Type": "Customer", "EntityRef": ref(f.cust), "Bogus": 1}})
	payLn := payLine("10", "Invoice", invID)
	payLn["LinkedTxn"].([]any)[0].(map[string]any)["Bogus"] = 1

	tests := []struct {
		name, path string
		body       map[string]any
	}{
		{"customer", "customer", map[string]any{"DisplayName": "U1", "Bogus": 1}},
		{"customer null", "customer", map[string]any{"DisplayName": "U2", "Bogus": nil}},
		{"customer address", "customer", map[string]any{"DisplayName": "U3", "BillAddr": map[string]any{"Line1": "1 Main", "Bogus": 1}}},
		{"customer email", "customer", map[string]any{"DisplayName": "U4", "PrimaryEmailAddr": map[string]any{"Address": "a@example.com", "Bogus": 1}}},
		{"customer PrivateNote (a transaction property)", "customer", map[string]any{"DisplayName": "U5", "PrivateNote": "x"}},
		{"vendor", "vendor", map[string]any{"DisplayName": "U6", "Taxable": true}},
		{"item", "item", map[string]any{"Name": "U7", "Type": "Service", "IncomeAccountRef": ref(f.rev), "Bogus": 1}},
		{"class", "class", map[string]any{"Name": "U8", "Bogus": 1}},
		{"account", "account", map[string]any{"Name": "U9", "AccountType": "Expense", "Bogus": 1}},
		{"payment method", "paymentmethod", map[string]any{"Name": "U10", "Bogus": 1}},
		{"invoice", "invoice", with(salesWith(nil, ""), "Bogus", 1)},
		{"invoice lowercase name", "invoice", with(salesWith(nil, ""), "privateNote", "x")},
		{"invoice ref", "invoice", with(salesWith(nil, ""), "CustomerRef", map[string]any{"value": f.cust, "Bogus": 1})},
		{"invoice line", "invoice", salesWith(nil, "Bogus")},
		{"invoice line detail", "invoice", salesWith(map[string]any{"Bogus": 1}, "")},
		{"credit memo line detail", "creditmemo", salesWith(map[string]any{"Bogus": 1}, "")},
		{"refund receipt line", "refundreceipt", salesWith(nil, "Bogus")},
		{"payment", "payment", map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 1, "Bogus": 1}},
		{"payment LinkedTxn", "payment", map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 10, "Line": []any{payLn}}},
		{"journal entry", "journalentry", with(jeBody(f, nil), "CustomerRef", ref(f.cust))},
		{"journal entry Entity", "journalentry", jeEntity},
		{"ref not an object", "invoice", with(salesWith(nil, ""), "SalesTermRef", "3")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.withT(t)
			e := a.fault(post, tc.path, tc.body)
			require.Equal(t, "2010", e["code"], "%v", e)
		})
	}

	t.Run("nothing is stored", func(t *testing.T) {
		t.Parallel()
		a := a.withT(t)
		e := a.fault(post, "customer", map[string]any{"DisplayName": "Never Stored", "Bogus": 1})
		require.Equal(t, "2010", e["code"])
		_, found := a.srv.Realm(a.realm).FindByName("Customer", "Never Stored")
		require.False(t, found)
	})

	t.Run("sparse update", func(t *testing.T) {
		t.Parallel()
		a := a.withT(t)
		c := a.ok(post, "customer", map[string]any{"DisplayName": "Sparse Bogus"}, "Customer")
		e := a.fault(post, "customer", map[string]any{"Id": c["Id"], "SyncToken": c["SyncToken"], "sparse": true, "Bogus": 1, "Notes": "n"})
		require.Equal(t, "2010", e["code"])
		got := a.ok(get, "customer/"+c["Id"].(string), nil, "Customer")
		require.Equal(t, c["SyncToken"], got["SyncToken"], "a refused update changes nothing")
		require.NotContains(t, got, "Notes")
	})

	// Schema properties the emulator does not model are accepted and kept.
	t.Run("known but not emulated", func(t *testing.T) {
		t.Parallel()
		a := a.withT(t)
		c := a.ok(post, "customer", map[string]any{"DisplayName": "Known Props", "Notes": "vip", "ContactName": "Ann",
			"Mobile": map[string]any{"FreeFormNumber": "555"}}, "Customer")
		require.Equal(t, "vip", c["Notes"])
		require.Equal(t, "Ann", c["ContactName"])
		require.Equal(t, map[string]any{"FreeFormNumber": "555"}, c["Mobile"])
	})
}

// TestAnswersAreAcceptedBack: whatever the emulator answers can be sent
// back as a full update (clients read, change and write whole objects).
func TestAnswersAreAcceptedBack(t *testing.T) {
	t.Parallel()
	f := newShapeFixture(t)
	a := f.a
	inv := a.ok(post, "invoice", map[string]any{"CustomerRef": ref(f.cust), "BillAddr": map[string]any{"Line1": "1 Main"},
		"BillEmail": map[string]any{"Address": "a@example.com"}, "Line": []any{salesLineBody(map[string]any{"ClassRef": ref(f.class)})}}, "Invoice")
	je := jeBody(f, map[string]any{"AccountRef": ref(f.ar), "Entity": map[string]any{"Type": "Customer", "EntityRef": ref(f.cust)}})
	created := map[string]map[string]any{
		"customer":      a.ok(post, "customer", map[string]any{"DisplayName": "Round Trip", "ShipAddr": map[string]any{"Line1": "2 Main"}}, "Customer"),
		"vendor":        a.ok(post, "vendor", map[string]any{"DisplayName": "Round Trip Vendor"}, "Vendor"),
		"item":          a.ok(post, "item", map[string]any{"Name": "Round Trip", "Type": "Service", "IncomeAccountRef": ref(f.rev)}, "Item"),
		"class":         a.ok(post, "class", map[string]any{"Name": "Round Trip", "ParentRef": ref(f.class)}, "Class"),
		"account":       a.ok(post, "account", map[string]any{"Name": "Round Trip", "AccountType": "Expense"}, "Account"),
		"paymentmethod": a.ok(post, "paymentmethod", map[string]any{"Name": "Round Trip"}, "PaymentMethod"),
		"invoice":       inv,
		"payment": a.ok(post, "payment", map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 10,
			"Line": []any{payLine("10", "Invoice", inv["Id"].(string))}}, "Payment"),
		"creditmemo":    a.ok(post, "creditmemo", map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(nil)}}, "CreditMemo"),
		"refundreceipt": a.ok(post, "refundreceipt", map[string]any{"DepositToAccountRef": ref(f.bank), "Line": []any{salesLineBody(nil)}}, "RefundReceipt"),
		"journalentry":  a.ok(post, "journalentry", je, "JournalEntry"),
	}
	// Sequential: a payment write may bump its invoice.
	for path, o := range created {
		t.Run(path, func(t *testing.T) {
			a := a.withT(t)
			key := map[string]string{"customer": "Customer", "vendor": "Vendor", "item": "Item", "class": "Class", "account": "Account",
				"paymentmethod": "PaymentMethod", "invoice": "Invoice", "payment": "Payment", "creditmemo": "CreditMemo",
				"refundreceipt": "RefundReceipt", "journalentry": "JournalEntry"}[path]
			got := a.ok(get, path+"/"+o["Id"].(string), nil, key)
			up := a.ok(post, path, got, key)
			require.NotEqual(t, got["SyncToken"], up["SyncToken"])
		})
	}
}

func TestDatesAreAnsweredAsDates(t *testing.T) {
	t.Parallel()
	f := newShapeFixture(t)
	a := f.a
	good := []struct{ sent, want string }{
		{"2024-06-20", "2024-06-20"},
		{"2024-06-20T13:16:17-07:00", "2024-06-20"},
		{"2024-06-20T23:30:00Z", "2024-06-20"}, // the date as written, no zone conversion
		{"2024-06-20T13:16:17.123+02:00", "2024-06-20"},
		{"2024-06-20T13:16:17", "2024-06-20"},
		{" 2024-06-20 ", "2024-06-20"},
	}
	for _, tc := range good {
		t.Run("accepts "+tc.sent, func(t *testing.T) {
			t.Parallel()
			a := a.withT(t)
			inv := a.ok(post, "invoice", map[string]any{"CustomerRef": ref(f.cust), "TxnDate": tc.sent, "DueDate": tc.sent, "ShipDate": tc.sent,
				"Line": []any{salesLineBody(map[string]any{"ServiceDate": tc.sent})}}, "Invoice")
			for _, o := range []map[string]any{inv, a.ok(get, "invoice/"+inv["Id"].(string), nil, "Invoice")} {
				require.Equal(t, tc.want, o["TxnDate"])
				require.Equal(t, tc.want, o["DueDate"])
				require.Equal(t, tc.want, o["ShipDate"])
				require.Equal(t, tc.want, lineDetail(o, 0, "SalesItemLineDetail")["ServiceDate"])
			}
			p := a.ok(post, "payment", map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 1, "TxnDate": tc.sent}, "Payment")
			require.Equal(t, tc.want, p["TxnDate"])
			je := jeBody(f, nil)
			je["TxnDate"] = tc.sent
			require.Equal(t, tc.want, a.ok(post, "journalentry", je, "JournalEntry")["TxnDate"])
		})
	}

	bad := []any{"20/06/2024", "2024-02-30", "tomorrow", "2024-06-20junk", "2024-06-20T25:00:00Z", "", json.Number("20240620")}
	for _, sent := range bad {
		t.Run("refuses "+refName(sent), func(t *testing.T) {
			t.Parallel()
			a := a.withT(t)
			bodies := map[string]map[string]any{
				"invoice TxnDate": {"CustomerRef": ref(f.cust), "TxnDate": sent, "Line": []any{salesLineBody(nil)}},
				"invoice DueDate": {"CustomerRef": ref(f.cust), "DueDate": sent, "Line": []any{salesLineBody(nil)}},
				"line ServiceDate": {"CustomerRef": ref(f.cust),
					"Line": []any{salesLineBody(map[string]any{"ServiceDate": sent})}},
			}
			for name, body := range bodies {
				e := a.fault(post, "invoice", body)
				require.Equal(t, "2010", e["code"], name)
			}
			e := a.fault(post, "item", map[string]any{"Name": "Inv " + refName(sent), "Type": "Inventory", "IncomeAccountRef": ref(f.rev),
				"ExpenseAccountRef": ref(f.rev), "AssetAccountRef": ref(f.bank), "QtyOnHand": 1, "InvStartDate": sent})
			require.Equal(t, "2010", e["code"], "InvStartDate")
		})
	}
}

func TestSparseUpdateNullIsAbsent(t *testing.T) {
	t.Parallel()
	f := newShapeFixture(t)
	a := f.a
	invID := a.ok(post, "invoice", map[string]any{"CustomerRef": ref(f.cust), "Line": []any{salesLineBody(nil)}}, "Invoice")["Id"].(string)

	tests := []struct {
		name, path, key string
		create          map[string]any
	}{
		{"invoice", "invoice", "Invoice", map[string]any{"CustomerRef": ref(f.cust), "PrivateNote": "note", "Line": []any{salesLineBody(nil)}}},
		{"credit memo", "creditmemo", "CreditMemo", map[string]any{"CustomerRef": ref(f.cust), "PrivateNote": "note", "Line": []any{salesLineBody(nil)}}},
		{"refund receipt", "refundreceipt", "RefundReceipt", map[string]any{"DepositToAccountRef": ref(f.bank), "PrivateNote": "note", "Line": []any{salesLineBody(nil)}}},
		{"payment", "payment", "Payment", map[string]any{"CustomerRef": ref(f.cust), "TotalAmt": 10, "PrivateNote": "note",
			"Line": []any{payLine("10", "Invoice", invID)}}},
		{"journal entry", "journalentry", "JournalEntry", func() map[string]any {
			b := jeBody(f, nil)
			b["PrivateNote"] = "note"
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.withT(t)
			o := a.ok(post, tc.path, tc.create, tc.key)
			up := a.ok(post, tc.path, map[string]any{"Id": o["Id"], "SyncToken": o["SyncToken"], "sparse": true,
				"Line": nil, "PrivateNote": nil, "TxnDate": "2024-01-02"}, tc.key)
			require.Equal(t, "2024-01-02", up["TxnDate"], "the non-null property is applied")
			require.Equal(t, o["Line"], up["Line"], "Line: null leaves the lines")
			require.Equal(t, "note", up["PrivateNote"], "PrivateNote: null leaves it")
			require.Equal(t, o["TotalAmt"], up["TotalAmt"])
		})
	}

	// A full update is the way to clear: a null property there is as if
	// omitted, so it is cleared like any omitted writable field (§5).
	other := a.ok(post, "invoice", map[string]any{"CustomerRef": ref(f.cust), "PrivateNote": "note",
		"Line": []any{salesLineBody(nil), salesLineBody(nil)}}, "Invoice")
	full := a.ok(post, "invoice", map[string]any{"Id": other["Id"], "SyncToken": other["SyncToken"], "CustomerRef": ref(f.cust), "PrivateNote": nil,
		"Line": []any{salesLineBody(nil)}}, "Invoice")
	require.NotContains(t, full, "PrivateNote")
	require.Equal(t, json.Number("10"), full["TotalAmt"])
	// An empty Line array in a sparse update still means "no lines" (2020).
	e := a.fault(post, "invoice", map[string]any{"Id": other["Id"], "SyncToken": full["SyncToken"], "sparse": true, "Line": []any{}})
	require.Equal(t, "2020", e["code"])
}
