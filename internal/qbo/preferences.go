package qbo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Preferences returns the realm's Preferences (GET /preferences): the company settings,
// read-only through the API, among them the sales-form custom-field definitions.
func (c *Client) Preferences(ctx context.Context) (json.RawMessage, error) {
	env, err := c.do(ctx, http.MethodGet, "preferences", nil, nil)
	if err != nil {
		return nil, err
	}
	return envelopeEntity(env, "Preferences")
}

// CustomFieldDefinition is one of the (at most three) string custom fields QuickBooks offers
// on sales forms. Invoices reference it by DefinitionID ("1".."3").
type CustomFieldDefinition struct {
	DefinitionID string
	// Name is the field's label; empty when QuickBooks gave none.
	Name string
	// Enabled is SalesFormsPrefs.UseSalesCustomN: whether the field is shown on sales forms.
	Enabled bool
}

// SalesCustomFields reads the sales-form custom-field definitions from a Preferences body:
// SalesFormsPrefs.CustomField is a list of groups, each {"CustomField":[…]}, holding
// "SalesFormsPrefs.UseSalesCustomN" booleans and "SalesFormsPrefs.SalesCustomNameN" strings.
// A definition is returned when either names it, ordered by DefinitionID.
func SalesCustomFields(prefs json.RawMessage) ([]CustomFieldDefinition, error) {
	var p struct {
		SalesFormsPrefs struct {
			CustomField []struct {
				CustomField []struct {
					Name         string
					Type         string
					BooleanValue *bool
					StringValue  *string
				}
			}
		}
	}
	if err := json.Unmarshal(prefs, &p); err != nil {
		return nil, fmt.Errorf("qbo: Preferences: %w", err)
	}
	const (
		usePrefix  = "SalesFormsPrefs.UseSalesCustom"
		namePrefix = "SalesFormsPrefs.SalesCustomName"
	)
	defs := map[string]*CustomFieldDefinition{}
	def := func(id string) *CustomFieldDefinition {
		if defs[id] == nil {
			defs[id] = &CustomFieldDefinition{DefinitionID: id}
		}
		return defs[id]
	}
	for _, g := range p.SalesFormsPrefs.CustomField {
		for _, f := range g.CustomField {
			switch {
			case strings.HasPrefix(f.Name, usePrefix) && f.BooleanValue != nil:
				def(strings.TrimPrefix(f.Name, usePrefix)).Enabled = *f.BooleanValue
			case strings.HasPrefix(f.Name, namePrefix) && f.StringValue != nil:
				def(strings.TrimPrefix(f.Name, namePrefix)).Name = *f.StringValue
			}
		}
	}
	out := make([]CustomFieldDefinition, 0, len(defs))
	for _, id := range []string{"1", "2", "3"} {
		if d := defs[id]; d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}
