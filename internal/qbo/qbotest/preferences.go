package qbotest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Custom field definitions every realm starts with: QBO exposes at most three string custom
// fields on sales forms (qbo-api.md §3); invoices reference them by DefinitionId "1".."3".
var salesCustomFields = []string{"PO Number", "Project", "Cost Center"}

// SalesCustomField is one of a realm's three sales-form custom field definitions
// (DefinitionId "1".."3"): its name, and whether it is used on sales forms.
type SalesCustomField struct {
	Name    string `json:"Name"`
	Enabled bool   `json:"Enabled"`
}

// maxCustomFieldName is the longest custom field name the emulator accepts (inferred: the API
// documents no limit; see FIDELITY.md).
const maxCustomFieldName = 30

// prefs is the part of a realm's Preferences that can change: the sales-form custom fields
// (as a QuickBooks user edits them in Account and settings), with the object's SyncToken and
// update time.
type prefs struct {
	customFields [3]SalesCustomField
	syncToken    int
	updatedAt    time.Time
}

func newPrefs(created time.Time) prefs {
	p := prefs{updatedAt: created}
	for i, n := range salesCustomFields {
		p.customFields[i] = SalesCustomField{Name: n, Enabled: true}
	}
	return p
}

// SetSalesCustomField changes custom field definition id ("1".."3") of realmID as a
// QuickBooks user would: a new name (empty: none) and whether it is used on sales forms. A
// field in use needs a name. The Preferences' SyncToken and LastUpdatedTime move on.
func (s *Server) SetSalesCustomField(realmID, id string, f SalesCustomField) error {
	realm := s.realms[realmID]
	if realm == nil {
		return fmt.Errorf("unknown realm %s", realmID)
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > len(realm.prefs.customFields) {
		return fmt.Errorf("custom field definition %q: want 1, 2 or 3", id)
	}
	if f.Enabled && f.Name == "" {
		return fmt.Errorf("custom field definition %s: a field in use needs a name", id)
	}
	if len([]rune(f.Name)) > maxCustomFieldName {
		return fmt.Errorf("custom field definition %s: name longer than %d characters", id, maxCustomFieldName)
	}
	realm.mu.Lock()
	defer realm.mu.Unlock()
	realm.prefs.customFields[n-1] = f
	realm.prefs.syncToken++
	realm.prefs.updatedAt = s.now()
	return nil
}

// preferences returns the realm's Preferences in the API's shape: class tracking per line on,
// custom transaction numbers on, and the sales-form custom field definitions: a
// UseSalesCustomN flag for each of the three, and a SalesCustomNameN for each that has a name.
func (r *Realm) preferences() obj {
	var uses, names []any
	for i, f := range r.prefs.customFields {
		k := itoa(i + 1)
		uses = append(uses, obj{"Name": "SalesFormsPrefs.UseSalesCustom" + k, "Type": "BooleanType", "BooleanValue": f.Enabled})
		if f.Name != "" {
			names = append(names, obj{"Name": "SalesFormsPrefs.SalesCustomName" + k, "Type": "StringType", "StringValue": f.Name})
		}
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
		"domain":        "QBO", "sparse": false, "Id": "1", "SyncToken": itoa(r.prefs.syncToken),
		"MetaData": obj{"CreateTime": created, "LastUpdatedTime": r.s.metaTime(r.prefs.updatedAt)},
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

// ctlSetCustomField serves POST /_control/realms/{realm}/preferences/customfields/{id}
// {"Name","Enabled"}: SetSalesCustomField over HTTP; answers the Preferences as the API would.
func (s *Server) ctlSetCustomField(w http.ResponseWriter, r *http.Request) {
	realm := s.ctlRealm(w, r)
	if realm == nil {
		return
	}
	var f SalesCustomField
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(raw, &f)
	}
	if err == nil {
		err = s.SetSalesCustomField(realm.id, r.PathValue("id"), f)
	}
	if err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	realm.mu.Lock()
	p := realm.preferences()
	realm.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"Preferences": p})
}
