package qbo_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/qbo"
	"books/internal/qbo/qbotest"
)

func TestPreferences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.srv.SetSalesCustomField(b.realm, "2", qbotest.SalesCustomField{Name: "Region"}))

	raw, err := b.client.Preferences(context.Background())
	require.NoError(t, err)
	defs, err := qbo.SalesCustomFields(raw)
	require.NoError(t, err)
	require.Equal(t, []qbo.CustomFieldDefinition{
		{DefinitionID: "1", Name: "PO Number", Enabled: true},
		{DefinitionID: "2", Name: "Region", Enabled: false},
		{DefinitionID: "3", Name: "Cost Center", Enabled: true},
	}, defs)
}

func TestSalesCustomFields(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		body string
		want []qbo.CustomFieldDefinition
	}{
		{
			// The shape of Intuit's documented Preferences sample: every flag, one name.
			name: "DocumentedSample",
			body: `{"SalesFormsPrefs":{"CustomField":[
				{"CustomField":[
					{"Name":"SalesFormsPrefs.UseSalesCustom3","Type":"BooleanType","BooleanValue":false},
					{"Name":"SalesFormsPrefs.UseSalesCustom2","Type":"BooleanType","BooleanValue":false},
					{"Name":"SalesFormsPrefs.UseSalesCustom1","Type":"BooleanType","BooleanValue":true}]},
				{"CustomField":[
					{"Name":"SalesFormsPrefs.SalesCustomName1","Type":"StringType","StringValue":"Crew #"}]}]}}`,
			want: []qbo.CustomFieldDefinition{
				{DefinitionID: "1", Name: "Crew #", Enabled: true},
				{DefinitionID: "2"},
				{DefinitionID: "3"},
			},
		},
		{
			name: "NameWithoutFlag",
			body: `{"SalesFormsPrefs":{"CustomField":[{"CustomField":[
				{"Name":"SalesFormsPrefs.SalesCustomName2","Type":"StringType","StringValue":"Project"}]}]}}`,
			want: []qbo.CustomFieldDefinition{{DefinitionID: "2", Name: "Project"}},
		},
		{
			name: "NoCustomFields",
			body: `{"SalesFormsPrefs":{"CustomTxnNumbers":true}}`,
			want: []qbo.CustomFieldDefinition{},
		},
		{
			name: "OthersIgnored",
			body: `{"SalesFormsPrefs":{"CustomField":[{"CustomField":[
				{"Name":"SalesFormsPrefs.UseSalesCustom4","Type":"BooleanType","BooleanValue":true},
				{"Name":"SalesFormsPrefs.SalesCustomName1","Type":"StringType"}]}]}}`,
			want: []qbo.CustomFieldDefinition{},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := qbo.SalesCustomFields(json.RawMessage(tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	_, err := qbo.SalesCustomFields(json.RawMessage(`[]`))
	require.Error(t, err)
}
