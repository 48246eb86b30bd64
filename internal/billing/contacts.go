package billing

import (
	"context"
	"strings"

	"books/ent"
	"books/ent/account"
	"books/ent/customer"
	"books/ent/item"
	"books/ent/vendor"
	"books/internal/apperr"
	"books/internal/money"
)

// displayNameTaken reports whether a customer or vendor other than self already uses name:
// QuickBooks requires display names unique across both lists.
func displayNameTaken(ctx context.Context, c *ent.Client, name, self string) (bool, error) {
	cus, err := c.Customer.Query().Where(customer.DisplayNameEqualFold(name), customer.IDNEQ(self)).Exist(ctx)
	if err != nil || cus {
		return cus, err
	}
	return c.Vendor.Query().Where(vendor.DisplayNameEqualFold(name), vendor.IDNEQ(self)).Exist(ctx)
}

func checkDisplayName(ctx context.Context, c *ent.Client, name, self string) error {
	name = strings.TrimSpace(name)
	if name == "" {
		return apperr.New(apperr.Validation, "display name is required").WithField("displayName")
	}
	taken, err := displayNameTaken(ctx, c, name, self)
	if err != nil {
		return err
	}
	if taken {
		return apperr.New(apperr.DuplicateName, "display name %q is already used by a customer or vendor", name).WithField("displayName")
	}
	return nil
}

func checkCurrency(cur string) error {
	if _, err := money.ParseCurrency(cur); err != nil {
		return apperr.New(apperr.Validation, "currency %q is not an ISO 4217 code", cur).WithField("currency")
	}
	return nil
}

// checkContact validates what customers and vendors share before a create (self "") or an
// update. The display-name check and the write are separate statements; the unique index
// per list still refuses a same-list duplicate that races past it.
func checkContact(ctx context.Context, c *ent.Client, self string, displayName, currency *string) error {
	if displayName != nil {
		if err := checkDisplayName(ctx, c, *displayName, self); err != nil {
			return err
		}
	}
	if currency != nil {
		return checkCurrency(*currency)
	}
	return nil
}

// CreateCustomer adds a customer.
func CreateCustomer(ctx context.Context, c *ent.Client, in ent.CreateCustomerInput) (*ent.Customer, error) {
	if err := checkContact(ctx, c, "", &in.DisplayName, &in.Currency); err != nil {
		return nil, err
	}
	out, err := c.Customer.Create().SetInput(in).Save(ctx)
	return out, inputError(err)
}

// UpdateCustomer changes a customer.
func UpdateCustomer(ctx context.Context, c *ent.Client, id string, in ent.UpdateCustomerInput) (*ent.Customer, error) {
	if err := checkContact(ctx, c, id, in.DisplayName, in.Currency); err != nil {
		return nil, err
	}
	out, err := c.Customer.UpdateOneID(id).SetInput(in).Save(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "customer %q not found", id)
	}
	return out, inputError(err)
}

// CreateVendor adds a vendor.
func CreateVendor(ctx context.Context, c *ent.Client, in ent.CreateVendorInput) (*ent.Vendor, error) {
	if err := checkContact(ctx, c, "", &in.DisplayName, &in.Currency); err != nil {
		return nil, err
	}
	out, err := c.Vendor.Create().SetInput(in).Save(ctx)
	return out, inputError(err)
}

// UpdateVendor changes a vendor.
func UpdateVendor(ctx context.Context, c *ent.Client, id string, in ent.UpdateVendorInput) (*ent.Vendor, error) {
	if err := checkContact(ctx, c, id, in.DisplayName, in.Currency); err != nil {
		return nil, err
	}
	out, err := c.Vendor.UpdateOneID(id).SetInput(in).Save(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "vendor %q not found", id)
	}
	return out, inputError(err)
}

// checkIncomeAccount verifies the account is an active revenue account of the entity.
func checkIncomeAccount(ctx context.Context, c *ent.Client, entityID, accountID string) error {
	a, err := c.Account.Query().Where(account.ID(accountID), account.EntityID(entityID)).Only(ctx)
	if ent.IsNotFound(err) {
		return apperr.New(apperr.UnknownAccount, "account %q is not an account of this entity", accountID).WithField("incomeAccountID")
	}
	if err != nil {
		return err
	}
	if a.Type != account.TypeRevenue || !a.Active {
		return apperr.New(apperr.Validation, "income account %s %s must be an active revenue account", a.Code, a.Name).WithField("incomeAccountID")
	}
	return nil
}

// CreateItem adds a service item to an entity.
func CreateItem(ctx context.Context, c *ent.Client, in ent.CreateItemInput) (*ent.Item, error) {
	if _, err := entityOf(ctx, c, in.EntityID); err != nil {
		return nil, err
	}
	if err := checkIncomeAccount(ctx, c, in.EntityID, in.IncomeAccountID); err != nil {
		return nil, err
	}
	if in.DefaultRate.IsNegative() {
		return nil, apperr.New(apperr.InvalidAmount, "default rate cannot be negative").WithField("defaultRate")
	}
	if taken, err := c.Item.Query().Where(item.EntityID(in.EntityID), item.NameEqualFold(in.Name)).Exist(ctx); err != nil {
		return nil, err
	} else if taken {
		return nil, apperr.New(apperr.Conflict, "item %q already exists in this entity", in.Name).WithField("name")
	}
	it, err := c.Item.Create().SetInput(in).Save(ctx)
	if err != nil {
		return nil, inputError(err)
	}
	return it, nil
}

// UpdateItem changes an item; invoices already approved keep what they posted.
func UpdateItem(ctx context.Context, c *ent.Client, id string, in ent.UpdateItemInput) (*ent.Item, error) {
	it, err := c.Item.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "item %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	if in.IncomeAccountID != nil {
		if err := checkIncomeAccount(ctx, c, it.EntityID, *in.IncomeAccountID); err != nil {
			return nil, err
		}
	}
	if in.DefaultRate != nil && in.DefaultRate.IsNegative() {
		return nil, apperr.New(apperr.InvalidAmount, "default rate cannot be negative").WithField("defaultRate")
	}
	if in.Name != nil && !strings.EqualFold(*in.Name, it.Name) {
		if taken, err := c.Item.Query().Where(item.EntityID(it.EntityID), item.NameEqualFold(*in.Name), item.IDNEQ(id)).Exist(ctx); err != nil {
			return nil, err
		} else if taken {
			return nil, apperr.New(apperr.Conflict, "item %q already exists in this entity", *in.Name).WithField("name")
		}
	}
	it, err = c.Item.UpdateOne(it).SetInput(in).Save(ctx)
	if err != nil {
		return nil, inputError(err)
	}
	return it, nil
}

// inputError turns ent's validation and constraint errors into coded ones.
func inputError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if ent.IsValidationError(err) {
		return apperr.Wrap(apperr.Validation, err, err.Error())
	}
	if ent.IsConstraintError(err) {
		return apperr.Wrap(apperr.Conflict, err, "the change conflicts with an existing record")
	}
	return err
}
