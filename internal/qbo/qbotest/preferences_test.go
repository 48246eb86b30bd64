package qbotest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

// customFields returns the two CustomField groups of a Preferences answer: the UseSalesCustomN
// flags and the SalesCustomNameN names, each keyed by name.
func customFields(t *testing.T, p map[string]any) (uses map[string]any, names map[string]any) {
	t.Helper()
	groups := p["SalesFormsPrefs"].(map[string]any)["CustomField"].([]any)
	require.Len(t, groups, 2)
	uses, names = map[string]any{}, map[string]any{}
	for _, f := range groups[0].(map[string]any)["CustomField"].([]any) {
		f := f.(map[string]any)
		require.Equal(t, "BooleanType", f["Type"])
		uses[f["Name"].(string)] = f["BooleanValue"]
	}
	for _, f := range groups[1].(map[string]any)["CustomField"].([]any) {
		f := f.(map[string]any)
		require.Equal(t, "StringType", f["Type"])
		names[f["Name"].(string)] = f["StringValue"]
	}
	return uses, names
}

// TestPreferencesCustomFields changes the sales-form custom fields as a QuickBooks user would:
// every flag is always answered, a name only when the field has one.
func TestPreferencesCustomFields(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := newAPI(t, qbotest.WithClock(clk.Now))

	p := a.ok(get, "preferences", nil, "Preferences")
	uses, names := customFields(t, p)
	require.Equal(t, map[string]any{"SalesFormsPrefs.UseSalesCustom1": true, "SalesFormsPrefs.UseSalesCustom2": true,
		"SalesFormsPrefs.UseSalesCustom3": true}, uses)
	require.Equal(t, map[string]any{"SalesFormsPrefs.SalesCustomName1": "PO Number",
		"SalesFormsPrefs.SalesCustomName2": "Project", "SalesFormsPrefs.SalesCustomName3": "Cost Center"}, names)
	require.Equal(t, "0", p["SyncToken"])
	created := p["MetaData"].(map[string]any)["CreateTime"]

	clk.Advance(time.Minute)
	status, m := ctlDo(t, a.srv, http.MethodPost, "/_control/realms/"+a.realm+"/preferences/customfields/1",
		map[string]any{"Name": "Crew #", "Enabled": true})
	require.Equal(t, http.StatusOK, status, "%v", m)
	require.NoError(t, a.srv.SetSalesCustomField(a.realm, "2", qbotest.SalesCustomField{}))

	p = a.ok(get, "preferences", nil, "Preferences")
	uses, names = customFields(t, p)
	require.Equal(t, map[string]any{"SalesFormsPrefs.UseSalesCustom1": true, "SalesFormsPrefs.UseSalesCustom2": false,
		"SalesFormsPrefs.UseSalesCustom3": true}, uses)
	require.Equal(t, map[string]any{"SalesFormsPrefs.SalesCustomName1": "Crew #",
		"SalesFormsPrefs.SalesCustomName3": "Cost Center"}, names)
	require.Equal(t, "2", p["SyncToken"])
	meta := p["MetaData"].(map[string]any)
	require.Equal(t, created, meta["CreateTime"])
	require.NotEqual(t, created, meta["LastUpdatedTime"])

	for name, tt := range map[string]struct {
		realm, id string
		f         qbotest.SalesCustomField
	}{
		"UnknownDefinition": {a.realm, "4", qbotest.SalesCustomField{Name: "Region", Enabled: true}},
		"InUseWithoutName":  {a.realm, "3", qbotest.SalesCustomField{Enabled: true}},
		"NameTooLong":       {a.realm, "3", qbotest.SalesCustomField{Name: "A name far longer than thirty characters"}},
		"UnknownRealm":      {"123", "1", qbotest.SalesCustomField{Name: "Region"}},
	} {
		require.Error(t, a.srv.SetSalesCustomField(tt.realm, tt.id, tt.f), name)
	}
	status, _ = ctlDo(t, a.srv, http.MethodPost, "/_control/realms/"+a.realm+"/preferences/customfields/0",
		map[string]any{"Name": "Region"})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "2", a.ok(get, "preferences", nil, "Preferences")["SyncToken"], "nothing refused changed them")
}
