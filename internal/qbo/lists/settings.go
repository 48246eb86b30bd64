package lists

import (
	"context"
	"fmt"

	"books/ent"
	"books/ent/qbolistentry"
	"books/internal/apperr"
	"books/internal/qbo/settings"
)

// Get returns the connection's sync settings; the zero Settings when none were saved.
func Get(ctx context.Context, c *ent.Client, connectionID string) (settings.Settings, error) {
	row, err := connection(ctx, c, connectionID)
	if err != nil {
		return settings.Settings{}, err
	}
	return row.Settings, nil
}

// Save replaces the connection's sync settings with s after checking them: s.Validate, then
// the QuickBooks ids they name against the fetched lists. Deposit accounts must be active
// accounts of type Bank or Other Current Asset, payment methods active payment methods, the
// service item an active item of type Service, and custom fields enabled sales-form
// definitions. Settings naming ids need the lists fetched first. Errors are VALIDATION naming
// the field (NOT_FOUND for the connection); a refused Save changes nothing.
func Save(ctx context.Context, c *ent.Client, connectionID string, s settings.Settings) (*ent.QBOConnection, error) {
	row, err := connection(ctx, c, connectionID)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	refs := references(s)
	if len(refs) > 0 && row.ListsUpdatedAt == nil {
		return nil, apperr.New(apperr.Validation, "%s names a QuickBooks id, but the company's lists were never "+
			"fetched; run Update lists first", refs[0].field).WithField(refs[0].field)
	}
	for _, r := range refs {
		if err := check(ctx, c, row.ID, r); err != nil {
			return nil, err
		}
	}
	return saveSettings(ctx, c, row, s)
}

func saveSettings(ctx context.Context, c *ent.Client, row *ent.QBOConnection, s settings.Settings) (*ent.QBOConnection, error) {
	return c.QBOConnection.UpdateOne(row).SetSettings(s).Save(ctx)
}

// reference is one QuickBooks id the settings name, with the field that names it.
type reference struct {
	field string
	list  qbolistentry.List
	id    string
	// deposit: the account must accept deposits; service: the item must be a Service.
	deposit, service bool
}

func references(s settings.Settings) []reference {
	var out []reference
	for i, f := range s.CustomFields {
		out = append(out, reference{field: fmt.Sprintf("customFields[%d].definitionId", i),
			list: qbolistentry.ListCustomField, id: f.DefinitionID})
	}
	if s.ServiceItemID != "" {
		out = append(out, reference{field: "serviceItemId", list: qbolistentry.ListItem, id: s.ServiceItemID, service: true})
	}
	for i, m := range s.PaymentMethods {
		if m.DepositAccountID != "" {
			out = append(out, reference{field: fmt.Sprintf("paymentMethods[%d].depositAccountId", i),
				list: qbolistentry.ListAccount, id: m.DepositAccountID, deposit: true})
		}
		if m.PaymentMethodID != "" {
			out = append(out, reference{field: fmt.Sprintf("paymentMethods[%d].paymentMethodId", i),
				list: qbolistentry.ListPaymentMethod, id: m.PaymentMethodID})
		}
	}
	if s.DefaultDepositAccountID != "" {
		out = append(out, reference{field: "defaultDepositAccountId", list: qbolistentry.ListAccount,
			id: s.DefaultDepositAccountID, deposit: true})
	}
	if s.DefaultPaymentMethodID != "" {
		out = append(out, reference{field: "defaultPaymentMethodId", list: qbolistentry.ListPaymentMethod,
			id: s.DefaultPaymentMethodID})
	}
	return out
}

var listNames = map[qbolistentry.List]string{
	qbolistentry.ListAccount:       "account",
	qbolistentry.ListPaymentMethod: "payment method",
	qbolistentry.ListItem:          "item",
	qbolistentry.ListClass:         "class",
	qbolistentry.ListCustomField:   "custom field",
}

func check(ctx context.Context, c *ent.Client, connectionID string, r reference) error {
	what := listNames[r.list]
	e, err := c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(connectionID),
		qbolistentry.ListEQ(r.list), qbolistentry.QboID(r.id)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return apperr.New(apperr.Validation, "%s: QuickBooks %s %q is not in the company's fetched lists; "+
			"run Update lists if it was added since", r.field, what, r.id).WithField(r.field)
	case err != nil:
		return err
	case r.list == qbolistentry.ListCustomField && !e.Active:
		return apperr.New(apperr.Validation, "%s: QuickBooks custom field %s (%s) is not enabled on sales forms",
			r.field, e.Name, e.QboID).WithField(r.field)
	case !e.Active:
		return apperr.New(apperr.Validation, "%s: QuickBooks %s %s (%s) is inactive", r.field, what, e.Name, e.QboID).
			WithField(r.field)
	case r.deposit && !e.DepositAllowed:
		return apperr.New(apperr.Validation, "%s: QuickBooks account %s is of type %s; only Bank and Other Current "+
			"Asset accounts can receive payments", r.field, e.Name, e.QboKind).WithField(r.field)
	case r.service && e.QboKind != "Service":
		return apperr.New(apperr.Validation, "%s: QuickBooks item %s is of type %s; the service item must be of "+
			"type Service", r.field, e.Name, e.QboKind).WithField(r.field)
	}
	return nil
}
