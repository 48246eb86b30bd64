package push

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"books/ent"
	"books/ent/creditapplication"
	"books/ent/customer"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/ent/vendor"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/syncstate"
	"books/internal/tenant"
	"books/jobs"
)

// SyncArgs are the args of the qbo_sync job: drain one connection's pending links.
type SyncArgs struct {
	jobs.Tenant
	jobs.Subject
	ConnectionID string `json:"connection_id"`
}

// Kind is the job kind.
func (SyncArgs) Kind() string { return "qbo_sync" }

// IdempotencyKey names the drain; the writes it makes carry their own requestids.
func (a SyncArgs) IdempotencyKey() string { return "qbo_sync:" + a.ConnectionID }

// InsertOpts: a drain that keeps failing (QuickBooks down for hours) is retried with backoff
// for about a day before the admin queue hears of it; its links stay pending either way.
func (SyncArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// RetryArgs are the args of the qbo_retry_link job, an admin issue's retry: ask for a failed
// link's write again and enqueue its connection's drain.
type RetryArgs struct {
	jobs.Tenant
	jobs.Subject
	ConnectionID string `json:"connection_id"`
	LinkID       string `json:"link_id"`
}

// Kind is the job kind.
func (RetryArgs) Kind() string { return "qbo_retry_link" }

// IdempotencyKey names the link; asking twice makes one new generation per ask, harmless.
func (a RetryArgs) IdempotencyKey() string { return "qbo_retry_link:" + a.LinkID }

// InsertOpts: a retry that fails (the database is down) is tried a few times.
func (RetryArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

func retryArgs(row *ent.QBOConnection, l *ent.QBOLink) RetryArgs {
	return RetryArgs{
		Tenant:       jobs.Tenant{OrganizationID: row.OrganizationID, EntityID: row.EntityID},
		Subject:      jobs.Subject{SubjectType: string(l.RecordType), SubjectID: l.RecordID},
		ConnectionID: row.ID,
		LinkID:       l.ID,
	}
}

// RetryWorker works qbo_retry_link jobs.
type RetryWorker struct {
	river.WorkerDefaults[RetryArgs]
	Engine *Engine
	Client *ent.Client
}

// Work asks for the link's write again and enqueues the drain, in one transaction.
func (w *RetryWorker) Work(ctx context.Context, job *river.Job[RetryArgs]) error {
	ctx = tenant.WithOrg(ctx, job.Args.OrganizationID)
	tx, err := w.Client.Tx(ctx)
	if err != nil {
		return err
	}
	c := tx.Client()
	err = w.Engine.Retry(ctx, c, job.Args.LinkID)
	if err == nil {
		var row *ent.QBOConnection
		if row, err = w.Engine.Store.Get(ctx, c, job.Args.ConnectionID); err == nil {
			err = w.Engine.kick(ctx, c, row)
		}
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// SyncWorker works qbo_sync jobs.
type SyncWorker struct {
	river.WorkerDefaults[SyncArgs]
	Engine *Engine
	Client *ent.Client
}

// Timeout leaves room for a full drain under QuickBooks' limits.
func (w *SyncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return 15 * time.Minute }

// Work drains the connection.
func (w *SyncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	ctx = tenant.WithOrg(ctx, job.Args.OrganizationID)
	err := w.Engine.Drain(ctx, w.Client, job.Args.ConnectionID)
	if errors.Is(err, ErrDrainBusy) {
		return river.JobSnooze(2 * time.Second)
	}
	return err
}

// Retry asks for a failed link's write again (an admin issue's retry): pending with a new
// generation, or nothing when it has been settled since.
func (e *Engine) Retry(ctx context.Context, c *ent.Client, linkID string) error {
	_, err := c.QBOLink.Update().Where(qbolink.ID(linkID), qbolink.StatusEQ(qbolink.StatusError)).
		SetStatus(qbolink.StatusPending).AddGeneration(1).SetLastError("").SetLastErrorCode("").Save(ctx)
	return err
}

// SweepArgs are the args of the periodic qbo_sync_sweep job.
type SweepArgs struct{}

// Kind is the job kind.
func (SweepArgs) Kind() string { return "qbo_sync_sweep" }

// IdempotencyKey is constant: the sweep only enqueues unique drains.
func (SweepArgs) IdempotencyKey() string { return "qbo_sync_sweep" }

// InsertOpts: one sweep at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3}
}

// SweepWorker enqueues a drain for every connected connection with pending links: the
// backstop for a request that landed while its connection's drain was finishing (River
// counts a running job as a duplicate), and for connections resumed without a drain.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	Engine *Engine
	Client *ent.Client
}

// Work enqueues the drains.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	return w.Engine.Sweep(tenant.System(ctx), w.Client)
}

// Sweep enqueues the drain of every connected connection that has pending links.
func (e *Engine) Sweep(ctx context.Context, c *ent.Client) error {
	conns, err := c.QBOLink.Query().Where(qbolink.StatusEQ(qbolink.StatusPending)).
		Unique(true).Select(qbolink.FieldConnectionID).Strings(ctx)
	if err != nil || len(conns) == 0 {
		return err
	}
	rows, err := c.QBOConnection.Query().Where(qboconnection.IDIn(conns...),
		qboconnection.StatusEQ(qboconnection.StatusConnected)).All(ctx)
	if err != nil {
		return err
	}
	for _, row := range rows {
		tx, err := c.Tx(ctx)
		if err != nil {
			return err
		}
		if err := e.kick(ctx, tx.Client(), row); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// SweepPeriodic is the sweep's schedule.
func SweepPeriodic() jobs.Periodic {
	return jobs.Periodic{Every: time.Minute, Args: func() jobs.Args { return SweepArgs{} }, RunOnStart: true}
}

// setRecordStatus mirrors a link's state on the Books record's sync status, for the records
// that carry one.
func setRecordStatus(ctx context.Context, c *ent.Client, l *ent.QBOLink, status syncstate.Status) error {
	return setRecordsStatus(ctx, c, l.RecordType, []string{l.RecordID}, status)
}

func setRecordsStatus(ctx context.Context, c *ent.Client, t qbolink.RecordType, ids []string, status syncstate.Status) error {
	switch t {
	case qbolink.RecordTypeCustomer:
		return c.Customer.Update().Where(customer.IDIn(ids...)).SetSyncStatus(status).Exec(ctx)
	case qbolink.RecordTypeVendor:
		return c.Vendor.Update().Where(vendor.IDIn(ids...)).SetSyncStatus(status).Exec(ctx)
	case qbolink.RecordTypeInvoice:
		return c.Invoice.Update().Where(invoice.IDIn(ids...)).SetSyncStatus(status).Exec(ctx)
	case qbolink.RecordTypePayment:
		return c.Payment.Update().Where(payment.IDIn(ids...)).SetSyncStatus(status).Exec(ctx)
	}
	return nil
}

// touchInvoicesOf marks the invoices a payment or credit memo applies to for verification.
func (d *drain) touchInvoicesOf(ctx context.Context, l *ent.QBOLink) error {
	var ids []string
	var err error
	if l.RecordType == qbolink.RecordTypePayment {
		ids, err = d.c.PaymentApplication.Query().Where(paymentapplication.PaymentID(l.RecordID)).
			Select(paymentapplication.FieldInvoiceID).Strings(ctx)
	} else {
		ids, err = d.c.CreditApplication.Query().Where(creditapplication.CreditMemoID(l.RecordID)).
			Select(creditapplication.FieldInvoiceID).Strings(ctx)
	}
	if err != nil || len(ids) == 0 {
		return err
	}
	return d.unverify(ctx, ids)
}

// unverify forgets the QuickBooks balance known for the invoices' links: the balance may
// have moved, and verifyInvoices reads it again. Kept in the database, it survives a drain
// that fails before verifying.
func (d *drain) unverify(ctx context.Context, invoiceIDs []string) error {
	return d.c.QBOLink.Update().Where(qbolink.ConnectionID(d.row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
		qbolink.RecordIDIn(invoiceIDs...)).ClearQboBalance().Exec(ctx)
}

// verifyInvoices compares, for every synced invoice whose QuickBooks balance is not known
// (unverify) and whose payments and credits are all in QuickBooks, QuickBooks' total and
// balance with Books' to the cent, reading the invoices back a hundred at a time. Books'
// write-offs reach QuickBooks as journal entries, which leave its invoice balance as it was,
// so they are added back to Books' balance. A difference is an admin issue.
func (d *drain) verifyInvoices(ctx context.Context) error {
	type check struct {
		inv   *ent.Invoice
		links []*ent.QBOLink
	}
	ids, err := d.c.QBOLink.Query().Where(qbolink.ConnectionID(d.row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
		qbolink.StatusEQ(qbolink.StatusSynced), qbolink.QboBalanceIsNil()).Unique(true).
		Select(qbolink.FieldRecordID).Strings(ctx)
	if err != nil {
		return err
	}
	var ready []check
	for _, id := range ids {
		inv, err := d.c.Invoice.Get(ctx, id)
		if err != nil {
			return err
		}
		if inv.Status == invoice.StatusVoid {
			continue
		}
		links, err := d.c.QBOLink.Query().Where(qbolink.ConnectionID(d.row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
			qbolink.RecordID(id)).All(ctx)
		if err != nil {
			return err
		}
		ok := len(links) > 0
		for _, l := range links {
			ok = ok && l.Status == qbolink.StatusSynced && l.QboID != nil
		}
		if !ok {
			continue
		}
		if settled, err := d.moneySettled(ctx, id); err != nil || !settled {
			if err != nil {
				return err
			}
			continue
		}
		ready = append(ready, check{inv: inv, links: links})
	}
	const chunk = 100
	for start := 0; start < len(ready); {
		var ids []string
		end := start
		for end < len(ready) && len(ids)+len(ready[end].links) <= chunk {
			for _, l := range ready[end].links {
				ids = append(ids, qbo.Quote(*l.QboID))
			}
			end++
		}
		if end == start { // one invoice with more parts than a chunk
			end++
			for _, l := range ready[start].links {
				ids = append(ids, qbo.Quote(*l.QboID))
			}
		}
		rows, err := d.api.QueryAll(ctx, "Invoice", fmt.Sprintf("Id IN (%s)", strings.Join(ids, ", ")))
		if err != nil {
			return err
		}
		got := map[string]obj{}
		for _, raw := range rows {
			var o obj
			if err := decode(raw, &o); err != nil {
				return err
			}
			qid, _ := o["Id"].(string)
			got[qid] = o
		}
		for _, c := range ready[start:end] {
			if err := d.compare(ctx, c.inv, c.links, got); err != nil {
				return err
			}
		}
		start = end
	}
	return nil
}

func (d *drain) compare(ctx context.Context, inv *ent.Invoice, links []*ent.QBOLink, got map[string]obj) error {
	var total, balance money.Amount
	found := 0
	for _, l := range links {
		o, ok := got[*l.QboID]
		if !ok {
			continue
		}
		found++
		t, _ := amountOf(o, "TotalAmt")
		b, _ := amountOf(o, "Balance")
		total, balance = total.Add(t), balance.Add(b)
		if err := d.c.QBOLink.UpdateOne(l).SetQboTotal(t).SetQboBalance(b).Exec(ctx); err != nil {
			return err
		}
	}
	want := inv.Balance.Add(inv.WrittenOff)
	if found == len(links) && total.Cmp(inv.Total) == 0 && balance.Cmp(want) == 0 {
		return nil
	}
	return d.mismatch(ctx, links[0], fmt.Sprintf("invoice %s: QuickBooks total %s and balance %s (%d of %d records "+
		"found); Books total %s and balance %s (write-offs, journal entries in QuickBooks, counted as open there)",
		inv.ID, total, balance, found, len(links), inv.Total, want))
}

// moneySettled reports whether every payment and credit memo applied to the invoice is in
// QuickBooks as Books has it now.
func (d *drain) moneySettled(ctx context.Context, invoiceID string) (bool, error) {
	pays, err := d.c.PaymentApplication.Query().Where(paymentapplication.InvoiceID(invoiceID)).
		Select(paymentapplication.FieldPaymentID).Strings(ctx)
	if err != nil {
		return false, err
	}
	cms, err := d.c.CreditApplication.Query().Where(creditapplication.InvoiceID(invoiceID)).
		Select(creditapplication.FieldCreditMemoID).Strings(ctx)
	if err != nil {
		return false, err
	}
	check := func(t qbolink.RecordType, ids []string, part int) (bool, error) {
		for _, id := range ids {
			ok, err := d.c.QBOLink.Query().Where(qbolink.ConnectionID(d.row.ID), qbolink.RecordTypeEQ(t),
				qbolink.RecordID(id), qbolink.Part(part), qbolink.StatusEQ(qbolink.StatusSynced)).Exist(ctx)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	if ok, err := check(qbolink.RecordTypePayment, pays, 0); err != nil || !ok {
		return false, err
	}
	return check(qbolink.RecordTypeCreditMemo, cms, creditApplicationPart)
}
