package stripepay

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/stripe/stripe-go/v76"

	"books/ent"
	"books/ent/invoice"
	"books/ent/paymentattempt"
	"books/internal/apperr"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/tenant"
)

// Payment is what CreateInvoicePayment returns: the attempt and the PaymentIntent's client
// secret, which the portal's payment form (Stripe.js) confirms with. The client secret is
// Stripe's to keep: Books hands it to the paying client and never stores it.
type Payment struct {
	Attempt        *ent.PaymentAttempt
	ClientSecret   string
	PublishableKey string
}

// CreateInvoicePayment starts (or resumes) paying an invoice through Stripe: a PaymentIntent
// on the entity's Stripe account for the invoice's open balance, with the entity, invoice,
// customer and attempt in its metadata and an idempotency key derived from the attempt's
// id. Asking again while an attempt for the same balance and method waits for the customer
// returns the same PaymentIntent; any other waiting attempt (another balance or method) is
// canceled, so one balance is never asked for twice. A paid, void or unapproved invoice is
// refused (INVALID_TRANSITION), and so is an invoice with a bank debit still processing
// (PAYMENT_IN_PROGRESS); an invoice the caller cannot see is NOT_FOUND (a portal client sees
// only its customer's).
func (s *Service) CreateInvoicePayment(ctx context.Context, client *ent.Client, invoiceID string, method paymentattempt.Method) (*Payment, error) {
	if err := paymentattempt.MethodValidator(method); err != nil {
		return nil, apperr.New(apperr.Validation, "unknown payment method %q (CARD or ACH)", method).WithField("method")
	}
	var (
		att     *ent.PaymentAttempt
		acct    *ent.StripeAccount
		inv     *ent.Invoice
		cancels []*ent.PaymentAttempt
	)
	// The invoice is read as the caller sees it (a portal client: only its customer's); the
	// account, which a portal client may not read, and the attempt as the organization.
	caller, ctx := ctx, tenant.WithPortalCustomer(ctx, "")
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		var err error
		if inv, err = lockInvoice(caller, c, invoiceID); err != nil {
			return err
		}
		switch inv.Status {
		case invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed, invoice.StatusPartiallyPaid:
		case invoice.StatusPaid:
			return apperr.New(apperr.InvalidTransition, "invoice %s is paid", label(inv)).WithField("invoiceId")
		case invoice.StatusVoid:
			return apperr.New(apperr.InvalidTransition, "invoice %s is void", label(inv)).WithField("invoiceId")
		default:
			return apperr.New(apperr.InvalidTransition, "invoice %s is %s and cannot be paid", label(inv), inv.Status).WithField("invoiceId")
		}
		if !inv.Balance.IsPositive() {
			return apperr.New(apperr.InvalidTransition, "invoice %s has nothing left to pay", label(inv)).WithField("invoiceId")
		}
		if method == paymentattempt.MethodAch && inv.Currency != "USD" {
			return apperr.New(apperr.Validation, "ACH debits are in USD; invoice %s is in %s", label(inv), inv.Currency).WithField("method")
		}
		if acct, err = AccountFor(ctx, c, inv.EntityID); err != nil {
			return err
		}
		// Money already on its way (a bank debit processing) is not asked for again.
		busy, err := c.PaymentAttempt.Query().Where(paymentattempt.InvoiceID(inv.ID),
			paymentattempt.StatusEQ(paymentattempt.StatusProcessing)).First(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		if busy != nil {
			return apperr.New(apperr.PaymentInProgress, "a payment of %s on invoice %s is processing; wait until it succeeds or fails",
				busy.Amount, label(inv)).WithField("invoiceId")
		}
		open, err := c.PaymentAttempt.Query().Where(paymentattempt.InvoiceID(inv.ID),
			paymentattempt.StatusEQ(paymentattempt.StatusRequiresPayment)).All(ctx)
		if err != nil {
			return err
		}
		// One attempt waits for the customer at a time: the one for this balance, method and
		// account is reused; any other (another balance, method or account) is canceled, so
		// the customer cannot pay the same balance twice.
		for _, a := range open {
			if att == nil && a.Method == method && a.Amount.Cmp(inv.Balance) == 0 && a.StripeAccountID == acct.ID {
				att = a
				continue
			}
			if err := c.PaymentAttempt.UpdateOne(a).SetStatus(paymentattempt.StatusCanceled).Exec(ctx); err != nil {
				return err
			}
			cancels = append(cancels, a)
		}
		if att == nil {
			att, err = c.PaymentAttempt.Create().SetID(ids.New(ids.PaymentAttempt)).SetEntityID(inv.EntityID).
				SetCustomerID(inv.CustomerID).SetInvoiceID(inv.ID).SetStripeAccountID(acct.ID).SetMethod(method).
				SetAmount(inv.Balance).SetCurrency(inv.Currency).Save(ctx)
		}
		return err
	})
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		att, acct = att.Unwrap(), acct.Unwrap()
	}
	key, err := s.secretKey(acct)
	if err != nil {
		return nil, err
	}
	api := s.api(key)
	for _, a := range cancels {
		if a.PaymentIntentID != nil {
			// Best effort: a PaymentIntent left open cannot be confirmed for more than the
			// customer owes without the customer, and its events are matched by its id.
			if _, err := api.PaymentIntents.Cancel(*a.PaymentIntentID, nil); err != nil {
				s.log().Warn("could not cancel a superseded Stripe PaymentIntent", "attempt", a.ID, "err", stripeMessage(err))
			}
		}
	}
	cur := money.Currency(att.Currency)
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(minorUnits(att.Amount, cur)),
		Currency:           stripe.String(strings.ToLower(att.Currency)),
		PaymentMethodTypes: stripe.StringSlice([]string{stripeMethod(att.Method)}),
		Description:        stripe.String(fmt.Sprintf("Invoice %s", label(inv))),
	}
	params.AddMetadata(MetaEntity, att.EntityID)
	params.AddMetadata(MetaInvoice, att.InvoiceID)
	params.AddMetadata(MetaCustomer, att.CustomerID)
	params.AddMetadata(MetaAttempt, att.ID)
	params.SetIdempotencyKey("books:" + att.ID)
	pi, err := api.PaymentIntents.New(params)
	if err != nil {
		return nil, stripeErr(err, "Stripe did not create the payment")
	}
	if att.PaymentIntentID == nil {
		if err := client.PaymentAttempt.UpdateOneID(att.ID).SetPaymentIntentID(pi.ID).Exec(ctx); err != nil {
			return nil, err
		}
		att.PaymentIntentID = &pi.ID
	}
	return &Payment{Attempt: att, ClientSecret: pi.ClientSecret, PublishableKey: acct.PublishableKey}, nil
}

// Metadata keys Books puts on its PaymentIntents (and reads on any Stripe object).
const (
	MetaEntity   = "entity_id"
	MetaInvoice  = "invoice_id"
	MetaCustomer = "customer_id"
	MetaAttempt  = "attempt_id"
	MetaRefund   = "books_refund_id"
)

func stripeMethod(m paymentattempt.Method) string {
	if m == paymentattempt.MethodAch {
		return string(stripe.PaymentMethodTypeUSBankAccount)
	}
	return string(stripe.PaymentMethodTypeCard)
}

// lockInvoice reads an invoice for update (PostgreSQL; SQLite has one writer at a time), so
// two requests to pay it make one attempt.
func lockInvoice(ctx context.Context, c *ent.Client, id string) (*ent.Invoice, error) {
	q := c.Invoice.Query().Where(invoice.ID(id))
	if c.Dialect() == dialect.Postgres {
		q = q.ForUpdate()
	}
	inv, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "invoice %q not found", id).WithField("invoiceId")
	}
	return inv, err
}

func label(inv *ent.Invoice) string {
	if inv.Number != nil && *inv.Number != "" {
		return *inv.Number
	}
	return inv.ID
}

// stripeErr codes an error of a Stripe call: Stripe's refusal is STRIPE_ERROR with its code
// and message (which never carry a full key); Stripe unreachable or failing is UNAVAILABLE.
func stripeErr(err error, what string) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != 429 {
		return apperr.Wrap(apperr.StripeError, err, fmt.Sprintf("%s: %s", what, stripeMessage(err)))
	}
	return apperr.Wrap(apperr.Unavailable, err, fmt.Sprintf("%s: Stripe could not be reached; try again", what))
}

// stripeMessage is Stripe's code and message of err, or err's text.
func stripeMessage(err error) string {
	var se *stripe.Error
	if errors.As(err, &se) {
		if se.Code != "" {
			return fmt.Sprintf("%s (%s)", se.Msg, se.Code)
		}
		return se.Msg
	}
	return err.Error()
}

// refused reports whether Stripe answered err and refused for good (a 4xx other than 429).
func refused(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != 429
}
