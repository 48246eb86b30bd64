package ledger

import (
	"context"
	"fmt"

	"books/ent"
	"books/ent/account"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/journalline"
	"books/ent/legalentity"
	"books/internal/apperr"
	"books/internal/ledger/source"
)

// DefaultAccount is an account of the default chart of accounts.
type DefaultAccount struct {
	Code    string
	Name    string
	Type    account.Type
	Subtype account.Subtype
}

// DefaultChart is the chart of accounts a new entity starts with: the accounts the posting
// rules in the accounting design need.
var DefaultChart = []DefaultAccount{
	{"1000", "Operating Bank", account.TypeAsset, account.SubtypeBank},
	{"1200", "Accounts Receivable", account.TypeAsset, account.SubtypeAccountsReceivable},
	{"1250", "Unbilled Receivables", account.TypeAsset, account.SubtypeUnbilledReceivables},
	{"1300", "Undeposited Funds", account.TypeAsset, account.SubtypeUndepositedFunds},
	{"2000", "Accounts Payable", account.TypeLiability, account.SubtypeAccountsPayable},
	{"2100", "Customer Credits (Unapplied Cash)", account.TypeLiability, account.SubtypeCustomerCredit},
	{"2400", "Deferred Revenue", account.TypeLiability, account.SubtypeDeferredRevenue},
	{"3000", "Owner's Equity", account.TypeEquity, account.SubtypeEquity},
	{"3900", "Retained Earnings", account.TypeEquity, account.SubtypeRetainedEarnings},
	{"4000", "Consulting Revenue", account.TypeRevenue, account.SubtypeIncome},
	{"4100", "Managed Services Revenue", account.TypeRevenue, account.SubtypeIncome},
	{"4200", "Subscription Revenue", account.TypeRevenue, account.SubtypeIncome},
	{"5000", "Cost of Services", account.TypeExpense, account.SubtypeCostOfSales},
	{"6000", "Operating Expenses", account.TypeExpense, account.SubtypeExpense},
	{"6100", "Bad Debt Expense", account.TypeExpense, account.SubtypeBadDebt},
	{"6200", "Payment Processing Fees", account.TypeExpense, account.SubtypeExpense},
}

// DefaultMappings maps the source codes every source system starts with to account codes
// of DefaultChart.
var DefaultMappings = map[string]string{
	"bank":                 "1000",
	"ar":                   "1200",
	"accounts_receivable":  "1200",
	"unbilled_receivables": "1250",
	"undeposited_funds":    "1300",
	"customer_credit":      "2100",
	"deferred_revenue":     "2400",
	"revenue":              "4000",
	"consulting_revenue":   "4000",
	"managed_services":     "4100",
	"subscription_revenue": "4200",
	"bad_debt":             "6100",
	"processing_fees":      "6200",
}

// subtypeTypes says which account type each subtype belongs to.
var subtypeTypes = map[account.Subtype]account.Type{
	account.SubtypeBank: account.TypeAsset, account.SubtypeAccountsReceivable: account.TypeAsset,
	account.SubtypeUndepositedFunds: account.TypeAsset, account.SubtypeUnbilledReceivables: account.TypeAsset,
	account.SubtypeOtherCurrentAsset: account.TypeAsset, account.SubtypeFixedAsset: account.TypeAsset,
	account.SubtypeOtherAsset: account.TypeAsset, account.SubtypeAccountsPayable: account.TypeLiability,
	account.SubtypeCreditCard: account.TypeLiability, account.SubtypeDeferredRevenue: account.TypeLiability,
	account.SubtypeCustomerCredit: account.TypeLiability, account.SubtypeOtherCurrentLiability: account.TypeLiability,
	account.SubtypeLongTermLiability: account.TypeLiability, account.SubtypeEquity: account.TypeEquity,
	account.SubtypeRetainedEarnings: account.TypeEquity, account.SubtypeIncome: account.TypeRevenue,
	account.SubtypeOtherIncome: account.TypeRevenue, account.SubtypeCostOfSales: account.TypeExpense,
	account.SubtypeExpense: account.TypeExpense, account.SubtypeBadDebt: account.TypeExpense,
	account.SubtypeOtherExpense: account.TypeExpense,
}

// CreateEntity creates a legal entity in the organization of ctx with the default chart of
// accounts and COA mappings for every source system.
func CreateEntity(ctx context.Context, client *ent.Client, in ent.CreateLegalEntityInput) (*ent.LegalEntity, error) {
	var le *ent.LegalEntity
	owned, err := InTx(ctx, client, func(c *ent.Client) error {
		exists, err := c.LegalEntity.Query().Where(legalentity.Code(in.Code)).Exist(ctx)
		if err != nil {
			return err
		}
		if exists {
			return apperr.New(apperr.Conflict, "a legal entity with code %q already exists", in.Code).WithField("code")
		}
		le, err = c.LegalEntity.Create().SetInput(in).Save(ctx)
		if err != nil {
			return err
		}
		return seedChart(ctx, c, le.ID)
	})
	if err != nil {
		return nil, mapInputError(err)
	}
	if owned {
		le = le.Unwrap()
	}
	return le, nil
}

func seedChart(ctx context.Context, c *ent.Client, entityID string) error {
	accts := make([]*ent.AccountCreate, len(DefaultChart))
	for i, a := range DefaultChart {
		accts[i] = c.Account.Create().SetEntityID(entityID).SetCode(a.Code).SetName(a.Name).
			SetType(a.Type).SetSubtype(a.Subtype)
	}
	created, err := c.Account.CreateBulk(accts...).Save(ctx)
	if err != nil {
		return err
	}
	byCode := map[string]string{}
	for _, a := range created {
		byCode[a.Code] = a.ID
	}
	var maps []*ent.COAMappingCreate
	for _, sys := range source.All() {
		for code, acct := range DefaultMappings {
			maps = append(maps, c.COAMapping.Create().SetEntityID(entityID).SetSourceSystem(sys).
				SetSourceCode(code).SetAccountID(byCode[acct]))
		}
	}
	return c.COAMapping.CreateBulk(maps...).Exec(ctx)
}

// requireEntity checks that entityID is an entity of the organization in ctx.
func requireEntity(ctx context.Context, c *ent.Client, entityID string) error {
	ok, err := c.LegalEntity.Query().Where(legalentity.ID(entityID)).Exist(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "legal entity %q not found", entityID).WithField("entityID")
	}
	return nil
}

func checkSubtype(t account.Type, st account.Subtype) error {
	if subtypeTypes[st] != t {
		return apperr.New(apperr.Validation, "subtype %s belongs to %s accounts, not %s", st, subtypeTypes[st], t).WithField("subtype")
	}
	return nil
}

// CreateAccount adds an account to an entity's chart.
func CreateAccount(ctx context.Context, c *ent.Client, in ent.CreateAccountInput) (*ent.Account, error) {
	if err := requireEntity(ctx, c, in.EntityID); err != nil {
		return nil, err
	}
	if err := checkSubtype(in.Type, in.Subtype); err != nil {
		return nil, err
	}
	taken, err := c.Account.Query().Where(account.EntityID(in.EntityID), account.Code(in.Code)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, apperr.New(apperr.Conflict, "account code %q is already used in this entity", in.Code).WithField("code")
	}
	a, err := c.Account.Create().SetInput(in).Save(ctx)
	return a, mapInputError(err)
}

// UpdateAccount changes an account. Its type may change only within the subtype's type, and
// a code change keeps history intact because lines refer to accounts by id.
func UpdateAccount(ctx context.Context, c *ent.Client, id string, in ent.UpdateAccountInput) (*ent.Account, error) {
	a, err := c.Account.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "account %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	t, st := a.Type, a.Subtype
	if in.Type != nil {
		t = *in.Type
	}
	if in.Subtype != nil {
		st = *in.Subtype
	}
	if err := checkSubtype(t, st); err != nil {
		return nil, err
	}
	if t != a.Type || st != a.Subtype {
		// Reclassifying an account with postings would move its history to another line of
		// the statements (AR becoming revenue); the database refuses it too.
		used, err := c.JournalLine.Query().Where(journalline.AccountID(a.ID)).Exist(ctx)
		if err != nil {
			return nil, err
		}
		if used {
			return nil, apperr.New(apperr.AccountInUse, "account %s %s has postings; its type and subtype cannot change (its name and code can)", a.Code, a.Name).WithField("type")
		}
	}
	if in.Code != nil && *in.Code != a.Code {
		taken, err := c.Account.Query().Where(account.EntityID(a.EntityID), account.Code(*in.Code)).Exist(ctx)
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, apperr.New(apperr.Conflict, "account code %q is already used in this entity", *in.Code).WithField("code")
		}
	}
	a, err = c.Account.UpdateOne(a).SetInput(in).Save(ctx)
	if err != nil {
		if code, ok := dbCode(err); ok {
			return nil, apperr.Wrap(code, err, "the database refused the change: "+code)
		}
	}
	return a, mapInputError(err)
}

// CreateClass adds a class, optionally under a parent of the same entity.
func CreateClass(ctx context.Context, c *ent.Client, in ent.CreateClassInput) (*ent.Class, error) {
	if err := requireEntity(ctx, c, in.EntityID); err != nil {
		return nil, err
	}
	if in.ParentID != nil {
		if err := checkParent(ctx, c, in.EntityID, "", *in.ParentID); err != nil {
			return nil, err
		}
	}
	if err := checkChildren(ctx, c, in.EntityID, "", deref(in.ParentID), in.ChildIDs); err != nil {
		return nil, err
	}
	if taken, err := c.Class.Query().Where(class.EntityID(in.EntityID), class.NameEqualFold(in.Name)).Exist(ctx); err != nil {
		return nil, err
	} else if taken {
		return nil, apperr.New(apperr.Conflict, "class %q already exists in this entity", in.Name).WithField("name")
	}
	cl, err := c.Class.Create().SetInput(in).Save(ctx)
	return cl, mapInputError(err)
}

// UpdateClass changes a class; a class cannot become its own ancestor.
func UpdateClass(ctx context.Context, c *ent.Client, id string, in ent.UpdateClassInput) (*ent.Class, error) {
	cl, err := c.Class.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "class %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	if in.ParentID != nil {
		if err := checkParent(ctx, c, cl.EntityID, cl.ID, *in.ParentID); err != nil {
			return nil, err
		}
	}
	parent := deref(cl.ParentID)
	switch {
	case in.ParentID != nil:
		parent = *in.ParentID
	case in.ClearParent:
		parent = ""
	}
	if err := checkChildren(ctx, c, cl.EntityID, cl.ID, parent, in.AddChildIDs); err != nil {
		return nil, err
	}
	if in.Name != nil && *in.Name != cl.Name {
		if taken, err := c.Class.Query().Where(class.EntityID(cl.EntityID), class.NameEqualFold(*in.Name), class.IDNEQ(cl.ID)).Exist(ctx); err != nil {
			return nil, err
		} else if taken {
			return nil, apperr.New(apperr.Conflict, "class %q already exists in this entity", *in.Name).WithField("name")
		}
	}
	cl, err = c.Class.UpdateOne(cl).SetInput(in).Save(ctx)
	return cl, mapInputError(err)
}

// checkParent verifies parentID is a class of the entity and not self (self = "" on create)
// or a descendant of self.
func checkParent(ctx context.Context, c *ent.Client, entityID, self, parentID string) error {
	for id, depth := parentID, 0; id != ""; depth++ {
		if id == self || depth > 50 {
			return apperr.New(apperr.Validation, "a class cannot be nested under itself").WithField("parentID")
		}
		p, err := c.Class.Query().Where(class.ID(id), class.EntityID(entityID)).Only(ctx)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "parent class %q not found in this entity", id).WithField("parentID")
		}
		if err != nil {
			return err
		}
		if p.ParentID == nil {
			break
		}
		id = *p.ParentID
	}
	return nil
}

// checkChildren verifies every class in children, to be put under self (self = "" on create,
// whose parent is parentID), is a class of the entity and neither self nor an ancestor of
// self, which would make a cycle.
func checkChildren(ctx context.Context, c *ent.Client, entityID, self, parentID string, children []string) error {
	for _, child := range children {
		ok, err := c.Class.Query().Where(class.ID(child), class.EntityID(entityID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.New(apperr.NotFound, "child class %q not found in this entity", child).WithField("childIDs")
		}
		if child == self {
			return apperr.New(apperr.Validation, "a class cannot be nested under itself").WithField("childIDs")
		}
		if parentID != "" {
			if err := checkParent(ctx, c, entityID, child, parentID); err != nil {
				if e, ok := apperr.As(err); ok {
					return e.WithField("childIDs")
				}
				return err
			}
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreateMapping maps a source code to an account of the same entity.
func CreateMapping(ctx context.Context, c *ent.Client, in ent.CreateCOAMappingInput) (*ent.COAMapping, error) {
	if err := requireEntity(ctx, c, in.EntityID); err != nil {
		return nil, err
	}
	if err := requireAccountOf(ctx, c, in.EntityID, in.AccountID); err != nil {
		return nil, err
	}
	taken, err := c.COAMapping.Query().Where(coamapping.EntityID(in.EntityID),
		coamapping.SourceSystemEQ(in.SourceSystem), coamapping.SourceCode(in.SourceCode)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, apperr.New(apperr.Conflict, "source code %q of %s is already mapped in this entity", in.SourceCode, in.SourceSystem).WithField("sourceCode")
	}
	m, err := c.COAMapping.Create().SetInput(in).Save(ctx)
	return m, mapInputError(err)
}

// UpdateMapping repoints or renames a mapping.
func UpdateMapping(ctx context.Context, c *ent.Client, id string, in ent.UpdateCOAMappingInput) (*ent.COAMapping, error) {
	m, err := c.COAMapping.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "COA mapping %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	if in.AccountID != nil {
		if err := requireAccountOf(ctx, c, m.EntityID, *in.AccountID); err != nil {
			return nil, err
		}
	}
	m, err = c.COAMapping.UpdateOne(m).SetInput(in).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.New(apperr.Conflict, "that source code is already mapped in this entity")
	}
	return m, mapInputError(err)
}

// DeleteMapping removes a mapping; entries already posted through it keep their accounts.
func DeleteMapping(ctx context.Context, c *ent.Client, id string) error {
	n, err := c.COAMapping.Delete().Where(coamapping.ID(id)).Exec(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "COA mapping %q not found", id)
	}
	return nil
}

func requireAccountOf(ctx context.Context, c *ent.Client, entityID, accountID string) error {
	ok, err := c.Account.Query().Where(account.ID(accountID), account.EntityID(entityID)).Exist(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "account %q not found in this entity", accountID).WithField("accountID")
	}
	return nil
}

// mapInputError turns ent's validation errors into coded ones.
func mapInputError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if ent.IsValidationError(err) {
		return apperr.Wrap(apperr.Validation, err, fmt.Sprint(err))
	}
	if ent.IsConstraintError(err) {
		return apperr.Wrap(apperr.Conflict, err, "the change conflicts with an existing record")
	}
	return err
}
