package qbotest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

func ref(id string) map[string]any { return map[string]any{"value": id} }

func accountID(t *testing.T, a *apiClient, name string) string {
	t.Helper()
	acct, ok := a.srv.Realm(a.realm).FindByName("Account", name)
	require.True(t, ok, name)
	return acct["Id"].(string)
}

func paymentBody(cust, total string, lines ...map[string]any) map[string]any {
	ls := make([]any, len(lines))
	for i, l := range lines {
		ls[i] = l
	}
	return map[string]any{"CustomerRef": ref(cust), "TotalAmt": json.Number(total), "Line": ls}
}

func payLine(amount, txnType, txnID string) map[string]any {
	return map[string]any{"Amount": json.Number(amount), "LinkedTxn": []any{map[string]any{"TxnId": txnID, "TxnType": txnType}}}
}

func payLinks(ids ...string) []any {
	out := []any{}
	for _, id := range ids {
		out = append(out, map[string]any{"TxnId": id, "TxnType": "Payment"})
	}
	return out
}

func TestPaymentAppliesToInvoice(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clock.Now))
	realm := a.srv.Realm(a.realm)
	cust := createCustomer(t, a, "Payer Co")
	inv := a.ok(post, "invoice", invoiceBody(cust, "", 10, "10.05"), "Invoice")
	invID := inv["Id"].(string)
	require.Equal(t, json.Number("100.5"), inv["Balance"])
	created := inv["MetaData"].(map[string]any)["LastUpdatedTime"]

	// A partial payment.
	clock.Advance(10 * time.Minute)
	start := clock.Now()
	p1 := a.ok(post, "payment", map[string]any{
		"CustomerRef": ref(cust), "TotalAmt": json.Number("40.25"), "TxnDate": "2024-06-25", "PaymentRefNum": "CHK-4411",
		"PaymentMethodRef": ref("2"), "UnappliedAmt": 999,
		"Line": []any{payLine("40.25", "Invoice", invID)},
	}, "Payment")
	p1ID := p1["Id"].(string)
	require.Equal(t, "0", p1["SyncToken"])
	require.Equal(t, json.Number("40.25"), p1["TotalAmt"])
	require.Equal(t, json.Number("0"), p1["UnappliedAmt"], "read-only, recomputed")
	require.Equal(t, false, p1["ProcessPayment"])
	require.Equal(t, map[string]any{"value": "2", "name": "Check"}, p1["PaymentMethodRef"])
	require.Equal(t, "Undeposited Funds", p1["DepositToAccountRef"].(map[string]any)["name"], "default deposit account")
	require.Equal(t, map[string]any{"value": cust, "name": "Payer Co"}, p1["CustomerRef"])
	require.Equal(t, "QBO", p1["domain"])
	require.Equal(t, false, p1["sparse"])
	require.Equal(t, p1, a.ok(get, "payment/"+p1ID, nil, "Payment"))

	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("60.25"), inv["Balance"])
	require.Equal(t, json.Number("100.5"), inv["TotalAmt"])
	require.Equal(t, "1", inv["SyncToken"])
	require.Equal(t, payLinks(p1ID), inv["LinkedTxn"])
	require.NotEqual(t, created, inv["MetaData"].(map[string]any)["LastUpdatedTime"])
	require.Equal(t, json.Number("60.25"), a.ok(get, "customer/"+cust, nil, "Customer")["Balance"])

	// The second payment pays the rest and leaves 9.75 unapplied.
	p2 := a.ok(post, "payment", paymentBody(cust, "70", payLine("60.25", "Invoice", invID)), "Payment")
	p2ID := p2["Id"].(string)
	require.Equal(t, json.Number("9.75"), p2["UnappliedAmt"])
	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("0"), inv["Balance"])
	require.Equal(t, "2", inv["SyncToken"])
	require.Equal(t, payLinks(p1ID, p2ID), inv["LinkedTxn"])
	require.Equal(t, json.Number("0"), a.ok(get, "customer/"+cust, nil, "Customer")["Balance"])

	var ops []string
	for _, c := range realm.ChangesSince(start) {
		ops = append(ops, c.Entity+" "+c.ID+" "+c.Operation)
	}
	require.Equal(t, []string{
		"Payment " + p1ID + " Create", "Invoice " + invID + " Update",
		"Payment " + p2ID + " Create", "Invoice " + invID + " Update",
	}, ops)

	// An invoice update keeps the payment-derived Balance and LinkedTxn.
	inv = a.ok(post, "invoice", map[string]any{"Id": invID, "SyncToken": "2", "sparse": true, "PrivateNote": "paid", "LinkedTxn": []any{}}, "Invoice")
	require.Equal(t, json.Number("0"), inv["Balance"])
	require.Equal(t, payLinks(p1ID, p2ID), inv["LinkedTxn"])
	require.Equal(t, "3", inv["SyncToken"])
	// …and cannot drop its total below what was paid.
	lower := invoiceBody(cust, "", 1, "10")
	lower["Id"], lower["SyncToken"], lower["sparse"] = invID, "3", true
	delete(lower, "CustomerRef")
	e := a.fault(post, "invoice", lower)
	require.Equal(t, "6000", e["code"])

	// Deleting the first payment restores its amount on the invoice.
	status, del := a.do(post, "payment?operation=delete", map[string]any{"Id": p1ID, "SyncToken": "0"})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"status": "Deleted", "domain": "QBO", "Id": p1ID}, del["Payment"])
	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("40.25"), inv["Balance"])
	require.Equal(t, payLinks(p2ID), inv["LinkedTxn"])
	require.Equal(t, "4", inv["SyncToken"])
	require.Equal(t, "610", a.fault(get, "payment/"+p1ID, nil)["code"])

	// A sparse update of the remaining payment re-applies it.
	p2 = a.ok(post, "payment", map[string]any{"Id": p2ID, "SyncToken": "0", "sparse": true,
		"Line": []any{payLine("30", "Invoice", invID)}}, "Payment")
	require.Equal(t, "1", p2["SyncToken"])
	require.Equal(t, json.Number("40"), p2["UnappliedAmt"])
	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("70.5"), inv["Balance"])
	require.Equal(t, "5", inv["SyncToken"])

	// A full update without lines unapplies it entirely.
	p2 = a.ok(post, "payment", map[string]any{"Id": p2ID, "SyncToken": "1", "CustomerRef": ref(cust), "TotalAmt": 70}, "Payment")
	require.Equal(t, json.Number("70"), p2["UnappliedAmt"])
	require.Equal(t, []any{}, p2["Line"])
	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("100.5"), inv["Balance"])
	require.Equal(t, []any{}, inv["LinkedTxn"])
	require.Len(t, realm.Payments(), 1)
}

func TestPaymentFaults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	realm := a.srv.Realm(a.realm)
	cust := createCustomer(t, a, "Owes Co")
	other := createCustomer(t, a, "Other Co")
	invID := a.ok(post, "invoice", invoiceBody(cust, "", 5, "10"), "Invoice")["Id"].(string)
	otherInv := a.ok(post, "invoice", invoiceBody(other, "", 1, "10"), "Invoice")["Id"].(string)
	a.ok(post, "payment", paymentBody(cust, "20", payLine("20", "Invoice", invID)), "Payment") // balance now 30

	withRef := func(key string, v any) map[string]any {
		b := paymentBody(cust, "10", payLine("10", "Invoice", invID))
		b[key] = v
		return b
	}
	noTotal := paymentBody(cust, "10")
	delete(noTotal, "TotalAmt")

	tests := []struct {
		name          string
		body          map[string]any
		code, element string
		detail        string
	}{
		{"missing CustomerRef", map[string]any{"TotalAmt": 10}, "2020", "CustomerRef", ""},
		{"unknown CustomerRef", paymentBody("4242", "10"), "2500", "CustomerRef", ""},
		{"missing TotalAmt", noTotal, "2020", "TotalAmt", ""},
		{"unknown invoice", paymentBody(cust, "10", payLine("10", "Invoice", "4242")), "2500", "Line.LinkedTxn.TxnId", ""},
		{"unknown credit memo", paymentBody(cust, "10", payLine("10", "CreditMemo", invID)), "2500", "Line.LinkedTxn.TxnId", ""},
		{"bad TxnType", paymentBody(cust, "10", payLine("10", "Estimate", invID)), "2170", "Line.LinkedTxn.TxnType", ""},
		{"line without LinkedTxn", paymentBody(cust, "10", map[string]any{"Amount": 10}), "2020", "Line.LinkedTxn", ""},
		{"negative line", paymentBody(cust, "10", payLine("-1", "Invoice", invID)), "2290", "Line.Amount", ""},
		{"over-applied invoice", paymentBody(cust, "30.01", payLine("30.01", "Invoice", invID)), "6000", "",
			"Business Validation Error: The amount applied to Invoice " + invID + " (30.01) is more than its open balance (30)."},
		{"over-applied across lines", paymentBody(cust, "40", payLine("20", "Invoice", invID), payLine("20", "Invoice", invID)), "6000", "", ""},
		{"lines exceed TotalAmt", paymentBody(cust, "5", payLine("10", "Invoice", invID)), "6000", "", ""},
		{"invoice of another customer", paymentBody(cust, "10", payLine("10", "Invoice", otherInv)), "6000", "", ""},
		{"unknown DepositToAccountRef", withRef("DepositToAccountRef", ref("4242")), "2500", "DepositToAccountRef", ""},
		{"unknown PaymentMethodRef", withRef("PaymentMethodRef", ref("4242")), "2500", "PaymentMethodRef", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := *a
			c.t = t
			e := c.fault(post, "payment", tc.body)
			require.Equal(t, tc.code, e["code"], "%v", e)
			require.Equal(t, tc.element, e["element"], "%v", e)
			require.NotEmpty(t, e["Message"])
			if tc.detail != "" {
				require.Equal(t, tc.detail, e["Detail"])
			}
			if tc.code == "6000" {
				require.Equal(t, "A business validation error has occurred while processing your request", e["Message"])
			}
		})
	}
	t.Cleanup(func() {
		require.Len(t, realm.Payments(), 1, "a fault writes nothing")
		inv, _ := realm.Get("Invoice", invID)
		require.Equal(t, json.Number("30"), inv["Balance"])
		require.Equal(t, "1", inv["SyncToken"])
	})
}

func TestInvoiceDeleteUnlinksPayment(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cust := createCustomer(t, a, "Unlink Co")
	invID := a.ok(post, "invoice", invoiceBody(cust, "", 5, "10"), "Invoice")["Id"].(string)
	p := a.ok(post, "payment", paymentBody(cust, "50", payLine("50", "Invoice", invID)), "Payment")
	a.ok(post, "invoice?operation=delete", map[string]any{"Id": invID, "SyncToken": "1"}, "Invoice")
	got := a.ok(get, "payment/"+p["Id"].(string), nil, "Payment")
	require.Equal(t, []any{}, got["Line"])
	require.Equal(t, json.Number("50"), got["UnappliedAmt"])
	require.Equal(t, "1", got["SyncToken"])

	// Voiding a paid invoice unlinks the same way and keeps the voided invoice.
	inv2 := a.ok(post, "invoice", invoiceBody(cust, "", 2, "10"), "Invoice")["Id"].(string)
	p2 := a.ok(post, "payment", paymentBody(cust, "20", payLine("20", "Invoice", inv2)), "Payment")
	v := a.ok(post, "invoice?operation=void", map[string]any{"Id": inv2, "SyncToken": "1"}, "Invoice")
	require.Equal(t, []any{}, v["LinkedTxn"])
	require.Equal(t, json.Number("0"), v["Balance"])
	got = a.ok(get, "payment/"+p2["Id"].(string), nil, "Payment")
	require.Equal(t, json.Number("20"), got["UnappliedAmt"])
	require.Equal(t, []any{}, got["Line"])
}

func jeLine(amount, posting, account string) map[string]any {
	return map[string]any{"Amount": json.Number(amount), "DetailType": "JournalEntryLineDetail",
		"JournalEntryLineDetail": map[string]any{"PostingType": posting, "AccountRef": ref(account)}}
}

func TestJournalEntry(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cust := createCustomer(t, a, "JE Customer")
	ar, rev, bank := accountID(t, a, "Accounts Receivable (A/R)"), accountID(t, a, "Services"), accountID(t, a, "Checking")
	class := a.ok(post, "class", map[string]any{"Name": "Consulting"}, "Class")["Id"].(string)

	debit := jeLine("500.10", "Debit", ar)
	debit["JournalEntryLineDetail"].(map[string]any)["Entity"] = map[string]any{"Type": "Customer", "EntityRef": ref(cust)}
	credit := jeLine("500.1", "Credit", rev)
	credit["JournalEntryLineDetail"].(map[string]any)["ClassRef"] = ref(class)
	je := a.ok(post, "journalentry", map[string]any{"TxnDate": "2024-06-30", "DocNumber": "JE-77", "PrivateNote": "accrual",
		"TotalAmt": 1, "Line": []any{debit, credit}}, "JournalEntry")
	id := je["Id"].(string)
	require.NotContains(t, je, "TotalAmt", "QuickBooks answers no TotalAmt for a journal entry; the one sent is ignored")
	require.Equal(t, false, je["Adjustment"])
	require.Equal(t, "JE-77", je["DocNumber"])
	require.Equal(t, map[string]any{}, je["TxnTaxDetail"])
	lines := je["Line"].([]any)
	require.Equal(t, "0", lines[0].(map[string]any)["Id"])
	require.Equal(t, "1", lines[1].(map[string]any)["Id"])
	d0 := lines[0].(map[string]any)["JournalEntryLineDetail"].(map[string]any)
	require.Equal(t, "Accounts Receivable (A/R)", d0["AccountRef"].(map[string]any)["name"])
	require.Equal(t, "JE Customer", d0["Entity"].(map[string]any)["EntityRef"].(map[string]any)["name"])
	require.Equal(t, "Consulting", lines[1].(map[string]any)["JournalEntryLineDetail"].(map[string]any)["ClassRef"].(map[string]any)["name"])
	require.Equal(t, je, a.ok(get, "journalentry/"+id, nil, "JournalEntry"))

	// Full update.
	up := a.ok(post, "journalentry", map[string]any{"Id": id, "SyncToken": "0",
		"Line": []any{jeLine("20", "Debit", bank), jeLine("5", "Credit", rev), jeLine("15", "Credit", rev)}}, "JournalEntry")
	require.Equal(t, "1", up["SyncToken"])
	require.NotContains(t, up, "TotalAmt")
	require.NotContains(t, up, "DocNumber")
	// Sparse update keeps the lines.
	up = a.ok(post, "journalentry", map[string]any{"Id": id, "SyncToken": "1", "sparse": true, "Adjustment": true}, "JournalEntry")
	require.Equal(t, true, up["Adjustment"])
	require.Len(t, up["Line"], 3)

	a.ok(post, "journalentry", map[string]any{"DocNumber": "JE-78", "Line": []any{jeLine("1", "Debit", bank), jeLine("1", "Credit", rev)}}, "JournalEntry")

	noPosting := jeLine("10", "", rev)
	delete(noPosting["JournalEntryLineDetail"].(map[string]any), "PostingType")
	arNoCustomer := jeLine("10", "Debit", ar)
	employee := jeLine("10", "Debit", bank)
	employee["JournalEntryLineDetail"].(map[string]any)["Entity"] = map[string]any{"Type": "Employee", "EntityRef": ref("1")}
	tests := []struct {
		name                  string
		lines                 []any
		code, element, detail string
	}{
		{"unbalanced", []any{jeLine("100", "Debit", bank), jeLine("99.99", "Credit", rev)}, "2300", "Line",
			"Amount on debits not equal to credits. Debits: 100, Credits: 99.99"},
		{"one line", []any{jeLine("100", "Debit", bank)}, "6000", "",
			"Business Validation Error: Fill out at least two detail lines to continue."},
		{"no lines", []any{}, "6000", "", "Business Validation Error: Fill out at least two detail lines to continue."},
		{"negative amount", []any{jeLine("-5", "Debit", bank), jeLine("-5", "Credit", rev)}, "2290", "Line.Amount", ""},
		{"missing posting type", []any{jeLine("10", "Debit", bank), noPosting}, "2260", "Line.JournalEntryLineDetail.PostingType", ""},
		{"bad posting type", []any{jeLine("10", "Debit", bank), jeLine("10", "Both", rev)}, "2170", "Line.JournalEntryLineDetail.PostingType", ""},
		{"unknown account", []any{jeLine("10", "Debit", "4242"), jeLine("10", "Credit", rev)}, "2500", "Line.JournalEntryLineDetail.AccountRef", ""},
		{"A/R without customer", []any{arNoCustomer, jeLine("10", "Credit", rev)}, "6000", "",
			"Business Validation Error: When you use Accounts Receivable, you must choose a customer in the Name field."},
		{"employee entity", []any{employee, jeLine("10", "Credit", rev)}, "2500", "Line.JournalEntryLineDetail.Entity.EntityRef", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := *a
			c.t = t
			e := c.fault(post, "journalentry", map[string]any{"Line": tc.lines})
			require.Equal(t, tc.code, e["code"], "%v", e)
			require.Equal(t, tc.element, e["element"], "%v", e)
			if tc.detail != "" {
				require.Equal(t, tc.detail, e["Detail"])
			}
		})
	}
	t.Run("duplicate DocNumber", func(t *testing.T) {
		t.Parallel()
		c := *a
		c.t = t
		e := c.fault(post, "journalentry", map[string]any{"DocNumber": "JE-78", "Line": []any{jeLine("1", "Debit", bank), jeLine("1", "Credit", rev)}})
		require.Equal(t, "6140", e["code"])
		require.Contains(t, e["Detail"], "TxnType=Journal Entry")
	})
	t.Cleanup(func() {
		require.Len(t, a.srv.Realm(a.realm).JournalEntries(), 2)
		status, _ := a.do(post, "journalentry?operation=delete", map[string]any{"Id": id, "SyncToken": "2"})
		require.Equal(t, http.StatusOK, status)
		require.Len(t, a.srv.Realm(a.realm).JournalEntries(), 1)
	})
}

func TestCreditMemoAppliedByPayment(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cust := createCustomer(t, a, "Credit Co")
	cmBody := invoiceBody(cust, "", 3, "10")
	cmBody["RemainingCredit"], cmBody["Balance"] = 1, 1
	cm := a.ok(post, "creditmemo", cmBody, "CreditMemo")
	cmID := cm["Id"].(string)
	require.Equal(t, json.Number("30"), cm["TotalAmt"])
	require.Equal(t, json.Number("30"), cm["Balance"])
	require.Equal(t, json.Number("30"), cm["RemainingCredit"])
	require.Equal(t, "1001", cm["DocNumber"])
	lines := cm["Line"].([]any)
	require.Len(t, lines, 2)
	require.Equal(t, "SubTotalLineDetail", lines[1].(map[string]any)["DetailType"])
	require.Equal(t, map[string]any{"value": "1", "name": "Services"}, lines[0].(map[string]any)["SalesItemLineDetail"].(map[string]any)["ItemRef"])

	mismatch := invoiceBody(cust, "", 2, "10")
	mismatch["Line"].([]any)[0].(map[string]any)["Amount"] = json.Number("20.01")
	require.Equal(t, "6070", a.fault(post, "creditmemo", mismatch)["code"])
	e := a.fault(post, "creditmemo", map[string]any{"Line": cmBody["Line"]})
	require.Equal(t, "2020", e["code"])
	require.Equal(t, "CustomerRef", e["element"])
	require.Equal(t, "2500", a.fault(post, "creditmemo", invoiceBody("4242", "", 1, "10"))["code"])

	// Invoice 100, paid with the 25 of the credit plus 75 of money.
	invID := a.ok(post, "invoice", invoiceBody(cust, "", 10, "10"), "Invoice")["Id"].(string)
	p := a.ok(post, "payment", paymentBody(cust, "75", payLine("100", "Invoice", invID), payLine("25", "CreditMemo", cmID)), "Payment")
	require.Equal(t, json.Number("0"), p["UnappliedAmt"])
	cm = a.ok(get, "creditmemo/"+cmID, nil, "CreditMemo")
	require.Equal(t, json.Number("5"), cm["RemainingCredit"])
	require.Equal(t, json.Number("5"), cm["Balance"])
	require.Equal(t, "1", cm["SyncToken"])
	require.Equal(t, payLinks(p["Id"].(string)), cm["LinkedTxn"])
	require.Equal(t, json.Number("0"), a.ok(get, "invoice/"+invID, nil, "Invoice")["Balance"])

	// The credit cannot be over-consumed.
	e = a.fault(post, "payment", paymentBody(cust, "0", payLine("5.01", "CreditMemo", cmID)))
	require.Equal(t, "6000", e["code"])
	require.Contains(t, e["Detail"], "remaining credit (5)")

	// Sparse update of the credit memo keeps RemainingCredit derived.
	cm = a.ok(post, "creditmemo", map[string]any{"Id": cmID, "SyncToken": "1", "sparse": true, "PrivateNote": "x"}, "CreditMemo")
	require.Equal(t, json.Number("5"), cm["RemainingCredit"])
	require.Equal(t, "2", cm["SyncToken"])

	// Deleting the payment restores the credit and the invoice.
	a.ok(post, "payment?operation=delete", map[string]any{"Id": p["Id"], "SyncToken": "0"}, "Payment")
	cm = a.ok(get, "creditmemo/"+cmID, nil, "CreditMemo")
	require.Equal(t, json.Number("30"), cm["RemainingCredit"])
	require.Equal(t, []any{}, cm["LinkedTxn"])
	require.Equal(t, json.Number("100"), a.ok(get, "invoice/"+invID, nil, "Invoice")["Balance"])

	a.ok(post, "creditmemo?operation=delete", map[string]any{"Id": cmID, "SyncToken": "3"}, "CreditMemo")
	require.Empty(t, a.srv.Realm(a.realm).CreditMemos())
}

func TestRefundReceipt(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cust := createCustomer(t, a, "Refund Co")
	bank := accountID(t, a, "Checking")
	body := invoiceBody(cust, "RR-1", 2, "12.50")
	body["DepositToAccountRef"] = ref(bank)
	body["PaymentMethodRef"] = ref("1")
	body["PaymentRefNum"] = "R-77"
	body["Balance"] = 99
	rr := a.ok(post, "refundreceipt", body, "RefundReceipt")
	id := rr["Id"].(string)
	require.Equal(t, json.Number("25"), rr["TotalAmt"])
	require.Equal(t, json.Number("0"), rr["Balance"])
	require.Equal(t, map[string]any{"value": bank, "name": "Checking"}, rr["DepositToAccountRef"])
	require.Equal(t, map[string]any{"value": "1", "name": "Cash"}, rr["PaymentMethodRef"])
	require.Equal(t, "R-77", rr["PaymentRefNum"])
	require.Equal(t, rr, a.ok(get, "refundreceipt/"+id, nil, "RefundReceipt"))

	noDeposit := invoiceBody(cust, "", 1, "10")
	e := a.fault(post, "refundreceipt", noDeposit)
	require.Equal(t, "2020", e["code"])
	require.Equal(t, "DepositToAccountRef", e["element"])
	badAcct := invoiceBody(cust, "", 1, "10")
	badAcct["DepositToAccountRef"] = ref("4242")
	require.Equal(t, "2500", a.fault(post, "refundreceipt", badAcct)["code"])
	mismatch := invoiceBody(cust, "", 2, "10")
	mismatch["Line"].([]any)[0].(map[string]any)["Amount"] = json.Number("20.01")
	mismatch["DepositToAccountRef"] = ref(bank)
	require.Equal(t, "6070", a.fault(post, "refundreceipt", mismatch)["code"])
	dup := invoiceBody(cust, "RR-1", 1, "10")
	dup["DepositToAccountRef"] = ref(bank)
	require.Equal(t, "6140", a.fault(post, "refundreceipt", dup)["code"])

	up := a.ok(post, "refundreceipt", map[string]any{"Id": id, "SyncToken": "0", "sparse": true,
		"Line": invoiceBody(cust, "", 3, "10")["Line"]}, "RefundReceipt")
	require.Equal(t, json.Number("30"), up["TotalAmt"])
	require.Equal(t, "1", up["SyncToken"])
	a.ok(post, "refundreceipt?operation=delete", map[string]any{"Id": id, "SyncToken": "1"}, "RefundReceipt")
	require.Equal(t, "610", a.fault(get, "refundreceipt/"+id, nil)["code"])
}

// TestPaymentVoidOverHTTP voids a payment the way QBO documents it (operation=update with
// include=void): the payment is kept with zero amounts and its invoice re-opens.
func TestPaymentVoidOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cust := createCustomer(t, a, "Void Pay Co")
	invID := a.ok(post, "invoice", invoiceBody(cust, "", 3, "10"), "Invoice")["Id"].(string)
	p := a.ok(post, "payment", paymentBody(cust, "30", payLine("30", "Invoice", invID)), "Payment")
	inv := a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("0"), inv["Balance"])

	v := a.ok(post, "payment?operation=update&include=void",
		map[string]any{"Id": p["Id"], "SyncToken": p["SyncToken"], "sparse": true}, "Payment")
	require.Equal(t, json.Number("0"), v["TotalAmt"])
	require.Equal(t, "Voided", v["PrivateNote"])
	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("30"), inv["Balance"], "voiding the payment re-opens its invoice")

	// operation=void is the Invoice form only; a payment is left as it is.
	p2 := a.ok(post, "payment", paymentBody(cust, "10", payLine("10", "Invoice", invID)), "Payment")
	require.Equal(t, "500", a.fault(post, "payment?operation=void", map[string]any{"Id": p2["Id"], "SyncToken": p2["SyncToken"]})["code"])
	inv = a.ok(get, "invoice/"+invID, nil, "Invoice")
	require.Equal(t, json.Number("20"), inv["Balance"])
}
