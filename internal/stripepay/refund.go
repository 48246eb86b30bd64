package stripepay

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v76"

	"books/ent"
	"books/ent/payment"
	"books/ent/refund"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/tenant"
	"books/jobs"
)

// RefundPayment refunds a Stripe payment through Stripe: the refund is recorded pending
// (holding its amount, nothing posted) with a job that asks Stripe, in one transaction, and
// then, once that transaction (or the caller's) commits, Stripe is asked with an idempotency
// key derived from the refund's id, so the job and this call make one refund between them. The reversal posts when charge.refunded
// confirms it. A refusal by Stripe marks the refund failed. Payments of other processors are
// refunded at once (billing.RefundPayment).
func (s *Service) RefundPayment(ctx context.Context, client *ent.Client, in billing.CashReturnInput) (*ent.Refund, error) {
	p, err := client.Payment.Get(ctx, in.PaymentID)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "payment %q not found", in.PaymentID).WithField("paymentId")
	}
	if err != nil {
		return nil, err
	}
	if p.Processor != payment.ProcessorStripe {
		return billing.RefundPayment(ctx, client, in)
	}
	if in.ExternalRef != "" {
		return nil, apperr.New(apperr.Validation, "a Stripe refund's reference is Stripe's; leave externalRef out").WithField("externalRef")
	}
	if p.StripeAccountID == nil || p.ExternalRef == "" {
		return nil, apperr.New(apperr.StripeNotConfigured, "payment %s does not say which Stripe account it came through", p.ID)
	}
	var rf *ent.Refund
	err = ledger.WithTx(ctx, client, func(c *ent.Client) error {
		var err error
		if rf, err = billing.RequestRefund(ctx, c, in); err != nil {
			return err
		}
		if s.Runner == nil {
			return nil
		}
		// Should the call below be cut off (a crash, Stripe down), the job asks again.
		return s.Runner.InsertTx(ctx, c, RefundArgs{Tenant: jobs.Tenant{OrganizationID: p.OrganizationID, EntityID: p.EntityID},
			Subject: jobs.Subject{SubjectType: "refund", SubjectID: rf.ID}, RefundID: rf.ID},
			&river.InsertOpts{ScheduledAt: s.now().Add(time.Minute)})
	})
	if err != nil {
		return nil, err
	}
	if tx := ent.TxFromContext(ctx); tx != nil {
		// Stripe is never asked while a transaction is open: once the caller's commits. The
		// answer shows on the refund (its Stripe id, or failed); the job covers a crash.
		id := rf.ID
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(cctx context.Context, tx *ent.Tx) error {
				if err := next.Commit(cctx, tx); err != nil {
					return err
				}
				if _, err := s.sendRefund(context.WithoutCancel(ctx), s.Client, id); err != nil {
					s.log().Warn("asking Stripe for a refund failed; the job asks again", "refund", id, "err", err)
				}
				return nil
			})
		})
		return rf, nil
	}
	return s.sendRefund(ctx, client, rf.ID)
}

// SendRefund asks Stripe for a pending refund (once: the idempotency key is the refund's id)
// and stores Stripe's id of it, or marks it failed when Stripe refuses. It returns the
// refund as it then stands; Stripe unreachable leaves it pending for the job.
func (s *Service) SendRefund(ctx context.Context, client *ent.Client, refundID string) (*ent.Refund, error) {
	return s.sendRefund(ctx, client, refundID)
}

func (s *Service) sendRefund(ctx context.Context, client *ent.Client, refundID string) (*ent.Refund, error) {
	rf, err := client.Refund.Get(ctx, refundID)
	if err != nil {
		return nil, err
	}
	if rf.Status != refund.StatusPending || rf.ExternalRef != "" {
		return rf, nil
	}
	p, err := client.Payment.Get(ctx, rf.PaymentID)
	if err != nil {
		return nil, err
	}
	acct, err := client.StripeAccount.Get(ctx, *p.StripeAccountID)
	if err != nil {
		return nil, err
	}
	key, err := s.secretKey(acct)
	if err != nil {
		return nil, err
	}
	params := &stripe.RefundParams{Amount: stripe.Int64(minorUnits(rf.Amount, money.Currency(p.Currency)))}
	if objectType(p.ExternalRef) == "PaymentIntent" {
		params.PaymentIntent = stripe.String(p.ExternalRef)
	} else {
		params.Charge = stripe.String(p.ExternalRef)
	}
	params.AddMetadata(MetaRefund, rf.ID)
	params.AddMetadata(MetaEntity, rf.EntityID)
	params.SetIdempotencyKey("books:" + rf.ID)
	params.Context = ctx
	re, err := s.api(key).Refunds.New(params)
	switch {
	case err != nil && refused(err):
		return billing.FailRefund(ctx, client, rf.ID, "Stripe refused the refund: "+stripeMessage(err))
	case err != nil:
		return rf, nil
	}
	if err := billing.SetRefundRef(ctx, client, rf.ID, re.ID); err != nil {
		return nil, err
	}
	if re.Status == stripe.RefundStatusFailed || re.Status == stripe.RefundStatusCanceled {
		return billing.FailRefund(ctx, client, rf.ID, "Stripe: refund "+string(re.Status))
	}
	return client.Refund.Get(ctx, rf.ID)
}

// RefundArgs are the args of the stripe_refund job: ask Stripe for a pending refund, should
// the call at the request have been cut off.
type RefundArgs struct {
	jobs.Tenant
	jobs.Subject
	RefundID string `json:"refund_id"`
}

// Kind is the job kind.
func (RefundArgs) Kind() string { return "stripe_refund" }

// IdempotencyKey names the refund, whose id is also Stripe's idempotency key.
func (a RefundArgs) IdempotencyKey() string { return "stripe_refund:" + a.RefundID }

// InsertOpts: Stripe down for a while only delays the refund.
func (RefundArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// RefundWorker works stripe_refund jobs.
type RefundWorker struct {
	river.WorkerDefaults[RefundArgs]
	Service *Service
}

// Work asks Stripe unless the refund has Stripe's id already (or is no longer pending); a
// refund still pending with no id means Stripe could not be reached: the job tries again.
func (w *RefundWorker) Work(ctx context.Context, job *river.Job[RefundArgs]) error {
	octx := tenant.WithOrg(ctx, job.Args.OrganizationID)
	rf, err := w.Service.sendRefund(octx, w.Service.Client, job.Args.RefundID)
	if err != nil {
		return err
	}
	if rf.Status == refund.StatusPending && rf.ExternalRef == "" {
		return errors.New("stripepay: Stripe could not be reached for the refund; trying again")
	}
	return nil
}
