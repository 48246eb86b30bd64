package qbotest

import (
	"encoding/json"
	"net/http"
)

// Custom field definitions every realm starts with: QBO exposes at most three string custom
// fields on sales forms (qbo-api.md §3); invoices reference them by DefinitionId "1".."3".
var salesCustomFields = []string{"PO Number", "Project", "Cost Center"}

// preferences returns the realm's Preferences in the API's shape: class tracking per line on,
// custom transaction numbers on, and the three sales-form custom field definitions.
func (r *Realm) preferences() obj {
	var uses, names []any
	for i, n := range salesCustomFields {
		k := itoa(i + 1)
		uses = append(uses, obj{"Name": "SalesFormsPrefs.UseSalesCustom" + k, "Type": "BooleanType", "BooleanValue": true})
		names = append(names, obj{"Name": "SalesFormsPrefs.SalesCustomName" + k, "Type": "StringType", "StringValue": n})
	}
	created := r.s.metaTime(r.createdAt)
	return obj{
		"AccountingInfoPrefs": obj{
			"TrackDepartments": false, "ClassTrackingPerTxn": false, "ClassTrackingPerTxnLine": true,
			"CustomerTerminology": "Customers", "UseAccountNumbers": true,
		},
		"SalesFormsPrefs": obj{
			"CustomTxnNumbers": true, "AllowDeposit": true, "AllowDiscount": true, "AllowServiceDate": true,
			"CustomField": []any{obj{"CustomField": uses}, obj{"CustomField": names}},
		},
		"CurrencyPrefs": obj{"MultiCurrencyEnabled": false, "HomeCurrency": obj{"value": "USD"}},
		"domain":        "QBO", "sparse": false, "Id": "1", "SyncToken": "0",
		"MetaData": obj{"CreateTime": created, "LastUpdatedTime": created},
	}
}

// handlePreferences serves GET /v3/company/{realm}/preferences (read-only here).
func (s *Server) handlePreferences(w http.ResponseWriter, r *http.Request, realm *Realm) {
	if r.Method != http.MethodGet {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" preferences (read-only in the emulator)")))
		return
	}
	realm.mu.Lock()
	p := realm.preferences()
	realm.mu.Unlock()
	b, err := json.Marshal(map[string]any{"Preferences": p, "time": s.envelopeTime()})
	if err != nil {
		panic(err)
	}
	s.writeResponse(w, response{status: http.StatusOK, body: b})
}
