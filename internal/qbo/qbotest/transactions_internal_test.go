package qbotest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Payment void is reached over HTTP only once api.go routes it
// (`?operation=update&include=void`, §5); this exercises realm.void directly.
func TestPaymentVoidRestoresInvoice(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	r := s.Realm(s.RealmIDs()[0])
	r.mu.Lock()
	defer r.mu.Unlock()
	line := func(amount string) obj {
		return obj{"Amount": json.Number(amount), "DetailType": "SalesItemLineDetail",
			"SalesItemLineDetail": obj{"Qty": json.Number("1"), "UnitPrice": json.Number(amount)}}
	}
	cust, f := r.create(kindByName("Customer"), obj{"DisplayName": "Void Co"}, reqOpts{})
	require.Nil(t, f)
	inv, f := r.create(kindByName("Invoice"), obj{"CustomerRef": obj{"value": cust["Id"]}, "Line": []any{line("80")}}, reqOpts{})
	require.Nil(t, f)
	invID := inv["Id"].(string)
	p, f := r.create(kindByName("Payment"), obj{"CustomerRef": obj{"value": cust["Id"]}, "TotalAmt": json.Number("50"),
		"Line": []any{obj{"Amount": json.Number("50"), "LinkedTxn": []any{obj{"TxnId": invID, "TxnType": "Invoice"}}}}}, reqOpts{})
	require.Nil(t, f)
	require.Equal(t, json.Number("30"), r.objs["Invoice"][invID]["Balance"])

	v, f := r.void(kindByName("Payment"), obj{"Id": p["Id"], "SyncToken": "0"})
	require.Nil(t, f)
	require.Equal(t, json.Number("0"), v["TotalAmt"])
	require.Equal(t, json.Number("0"), v["UnappliedAmt"])
	require.Equal(t, "Voided", v["PrivateNote"])
	require.Equal(t, "1", v["SyncToken"])
	got := r.objs["Invoice"][invID]
	require.Equal(t, json.Number("80"), got["Balance"])
	require.Equal(t, []any{}, got["LinkedTxn"])
	require.Equal(t, "2", got["SyncToken"])
	last := r.changes[len(r.changes)-2:]
	require.Equal(t, "Void", last[0].Operation)
	require.Equal(t, Change{RealmID: r.id, Entity: "Invoice", ID: invID, Operation: "Update", At: last[1].At}, last[1])
}
