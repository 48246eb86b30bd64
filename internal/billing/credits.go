package billing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"books/ent"
	"books/ent/account"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/creditmemo"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
)

// CreditMemoInput gives a customer credit, optionally applied to invoices at once.
type CreditMemoInput struct {
	EntityID, CustomerID string
	Date                 caldate.Date // defaults to today in the entity's time zone
	Amount               money.Amount
	// AccountID is the revenue account debited; empty means the entity's "revenue" mapping.
	AccountID, ClassID, Reason string
	Applications               []Application
}

// IssueCreditMemo gives a customer credit: DR the revenue account (with the class, if any),
// CR Customer Credits. Applications, if given, are then applied as ApplyCreditMemo does, in
// the same transaction.
func IssueCreditMemo(ctx context.Context, client *ent.Client, in CreditMemoInput) (*ent.CreditMemo, error) {
	var out *ent.CreditMemo
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		le, err := entityOf(ctx, c, in.EntityID)
		if err != nil {
			return err
		}
		cus, err := customerInScope(ctx, c, in.CustomerID)
		if err != nil {
			return err
		}
		if !cus.Active {
			return apperr.New(apperr.Validation, "customer %s is inactive", cus.DisplayName).WithField("customerID")
		}
		cur := money.Currency(cus.Currency)
		if err := requireCurrency(cur, cus, le); err != nil {
			return err
		}
		if err := checkMoney(in.Amount, cur, "amount"); err != nil {
			return err
		}
		if len(in.Reason) > 1000 {
			return apperr.New(apperr.Validation, "reason is longer than 1000 characters").WithField("reason")
		}
		date := in.Date
		if date.IsZero() {
			date = today(le)
		}
		acct, err := creditAccount(ctx, c, le.ID, in.AccountID)
		if err != nil {
			return err
		}
		var cls *ent.Class
		if in.ClassID != "" {
			cls, err = c.Class.Query().Where(class.ID(in.ClassID), class.EntityID(le.ID)).Only(ctx)
			if ent.IsNotFound(err) || (err == nil && !cls.Active) {
				return apperr.New(apperr.UnknownClass, "class %q is not an active class of this entity", in.ClassID).WithField("classID")
			}
			if err != nil {
				return err
			}
		}
		total, err := checkApplications(in.Applications, cur)
		if err != nil {
			return err
		}
		if total.Cmp(in.Amount) > 0 {
			return apperr.New(apperr.OverApplication, "applications total %s, more than the credit memo's %s", total, in.Amount).WithField("applications")
		}

		id := ids.New(ids.CreditMemo)
		desc := fmt.Sprintf("Credit memo for %s", cus.DisplayName)
		if r := strings.TrimSpace(in.Reason); r != "" && len(desc)+2+len(r) <= 1000 {
			desc += ": " + r
		}
		debit := ledger.Line{AccountID: acct.ID, Debit: in.Amount, Description: desc}
		b := c.CreditMemo.Create().SetID(id).SetEntityID(le.ID).SetCustomerID(cus.ID).SetDate(date).
			SetAmount(in.Amount).SetCurrency(string(cur)).SetAccountID(acct.ID).SetReason(in.Reason).
			SetApplied(money.Amount{}).SetRemaining(in.Amount)
		if cls != nil {
			debit.ClassID = cls.ID
			b.SetClassID(cls.ID)
		}
		je, err := post(ctx, c, le.ID, date, "cm:"+id, ledger.Document{Type: ledger.DocCreditMemo, ID: id}, desc, []ledger.Line{
			debit,
			{SourceCode: codeCustomerCredits, Credit: in.Amount, Description: desc, CustomerID: cus.ID},
		})
		if err != nil {
			return err
		}
		actor, _ := audit.Who(ctx)
		if out, err = b.SetJournalEntryID(je.ID).SetCreatedBy(actor).Save(ctx); err != nil {
			return err
		}
		if len(in.Applications) > 0 {
			out, err = applyCredit(ctx, c, out, in.Applications, date)
		}
		return err
	})
	return finishCreditMemo(out, owned, err)
}

// ApplyCreditMemo applies a credit memo's remaining credit to invoices: DR Customer Credits,
// CR AR, one entry for the call.
func ApplyCreditMemo(ctx context.Context, client *ent.Client, creditMemoID string, apps []Application) (*ent.CreditMemo, error) {
	var out *ent.CreditMemo
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		cm, err := lockCreditMemo(ctx, c, creditMemoID)
		if err != nil {
			return err
		}
		if len(apps) == 0 {
			return apperr.New(apperr.Validation, "no applications given").WithField("applications")
		}
		le, err := entityOf(ctx, c, cm.EntityID)
		if err != nil {
			return err
		}
		out, err = applyCredit(ctx, c, cm, apps, laterOf(today(le), cm.Date))
		return err
	})
	return finishCreditMemo(out, owned, err)
}

// applyCredit applies apps of a locked credit memo, posting one entry dated date.
func applyCredit(ctx context.Context, c *ent.Client, cm *ent.CreditMemo, apps []Application, date caldate.Date) (*ent.CreditMemo, error) {
	cur := money.Currency(cm.Currency)
	total, err := checkApplications(apps, cur)
	if err != nil {
		return nil, err
	}
	if total.Cmp(cm.Remaining) > 0 {
		return nil, apperr.New(apperr.OverApplication, "applications total %s; the credit memo has %s remaining", total, cm.Remaining).WithField("applications")
	}
	targets, err := lockTargets(ctx, c, cm.EntityID, cm.CustomerID, cur, apps)
	if err != nil {
		return nil, err
	}
	appIDs := newIDs(ids.CreditApplication, len(targets))
	desc := fmt.Sprintf("Credit memo %s applied", cm.ID)
	lines := append([]ledger.Line{{SourceCode: codeCustomerCredits, Debit: total, Description: desc, CustomerID: cm.CustomerID}},
		arCredits(targets, "Credit memo applied to invoice %s")...)
	je, err := post(ctx, c, cm.EntityID, date, "capp:"+appIDs[0], ledger.Document{Type: ledger.DocCreditApplication, ID: appIDs[0]}, desc, lines)
	if err != nil {
		return nil, err
	}
	for i, t := range targets {
		if err := c.CreditApplication.Create().SetID(appIDs[i]).SetCreditMemoID(cm.ID).SetInvoiceID(t.inv.ID).
			SetAmount(t.amount).SetJournalEntryID(je.ID).Exec(ctx); err != nil {
			return nil, err
		}
		if _, err := settle(ctx, c, t.inv, t.amount, fmt.Sprintf("credit memo %s applied (%s)", cm.ID, t.amount)); err != nil {
			return nil, err
		}
	}
	return c.CreditMemo.UpdateOne(cm).SetApplied(cm.Applied.Add(total)).SetRemaining(cm.Remaining.Sub(total)).Save(ctx)
}

// UnapplyCredit takes a credit memo's application back: DR AR, CR Customer Credits. The
// invoice re-opens by the amount and the credit is the memo's remaining credit again. An
// application already unapplied, or on an invoice no longer open or paid (void, written
// off), is an INVALID_TRANSITION.
func UnapplyCredit(ctx context.Context, client *ent.Client, applicationID string) (*ent.CreditMemo, error) {
	var out *ent.CreditMemo
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		app, err := c.CreditApplication.Get(ctx, applicationID)
		if ent.IsNotFound(err) {
			return apperr.New(apperr.NotFound, "credit application %q not found", applicationID)
		}
		if err != nil {
			return err
		}
		cm, err := lockCreditMemo(ctx, c, app.CreditMemoID)
		if err != nil {
			return err
		}
		// Read it again under the memo's lock: a concurrent unapply may have won.
		if app, err = c.CreditApplication.Get(ctx, applicationID); err != nil {
			return err
		}
		if app.UnappliedAt != nil {
			return apperr.New(apperr.InvalidTransition, "credit application %s was already unapplied", app.ID)
		}
		inv, err := lockInvoice(ctx, c, app.InvoiceID)
		if err != nil {
			return err
		}
		le, err := entityOf(ctx, c, cm.EntityID)
		if err != nil {
			return err
		}
		je, err := postUnapply(ctx, c, unapplied{
			entityID: cm.EntityID, customerID: cm.CustomerID, inv: inv, amount: app.Amount, appliedEntryID: app.JournalEntryID,
			ref: "cunapply:" + app.ID, doc: ledger.Document{Type: ledger.DocCreditApplication, ID: app.ID},
			what: "credit", source: "Credit memo " + cm.ID,
		}, laterOf(today(le), cm.Date))
		if err != nil {
			return err
		}
		if err := c.CreditApplication.UpdateOne(app).SetUnappliedAt(time.Now().UTC()).SetUnapplyEntryID(je.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := settle(ctx, c, inv, app.Amount.Neg(), fmt.Sprintf("credit memo %s unapplied (%s)", cm.ID, app.Amount)); err != nil {
			return err
		}
		out, err = c.CreditMemo.UpdateOne(cm).SetApplied(cm.Applied.Sub(app.Amount)).SetRemaining(cm.Remaining.Add(app.Amount)).Save(ctx)
		return err
	})
	return finishCreditMemo(out, owned, err)
}

// creditAccount returns the revenue account a credit memo debits: accountID, which must be
// an active revenue account of the entity, or the entity's "revenue" mapping.
func creditAccount(ctx context.Context, c *ent.Client, entityID, accountID string) (*ent.Account, error) {
	field := "accountID"
	if accountID == "" {
		m, err := c.COAMapping.Query().Where(coamapping.EntityID(entityID), coamapping.SourceSystemEQ(source.Books),
			coamapping.SourceCode(codeRevenue)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, apperr.New(apperr.UnknownSourceCode, "the entity has no %q mapping for source system %s; name the account", codeRevenue, source.Books).WithField(field)
		}
		if err != nil {
			return nil, err
		}
		accountID = m.AccountID
	}
	a, err := c.Account.Query().Where(account.ID(accountID), account.EntityID(entityID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.UnknownAccount, "account %q is not an account of this entity", accountID).WithField(field)
	}
	if err != nil {
		return nil, err
	}
	if a.Type != account.TypeRevenue || !a.Active {
		return nil, apperr.New(apperr.Validation, "account %s %s must be an active revenue account", a.Code, a.Name).WithField(field)
	}
	return a, nil
}

// lockCreditMemo is lockInvoice for credit memos.
func lockCreditMemo(ctx context.Context, c *ent.Client, id string) (*ent.CreditMemo, error) {
	q := c.CreditMemo.Query().Where(creditmemo.ID(id))
	if c.Dialect() == dialect.Postgres {
		q = q.ForUpdate()
	}
	cm, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "credit memo %q not found", id)
	}
	return cm, err
}

func finishCreditMemo(cm *ent.CreditMemo, owned bool, err error) (*ent.CreditMemo, error) {
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		cm = cm.Unwrap()
	}
	return cm, nil
}
