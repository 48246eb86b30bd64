// Package jobs runs background work with River (github.com/riverqueue/river) on the
// process's one *sql.DB, on PostgreSQL (riverdatabasesql over lib/pq) and SQLite
// (riversqlite over modernc) alike. Work that calls other systems (QuickBooks, Stripe, email)
// is enqueued here in the same transaction as the business write that implies it, and a
// worker performs the call after commit.
//
// # Setting up
//
// Migrate creates River's tables next to ours (cmd/books runs it right after
// database.DB.Migrate). New builds a Runner from the registered Kinds; Start works jobs
// until Stop. A Runner without kinds only enqueues.
//
//	kinds := jobs.NewKinds()
//	jobs.Register(kinds, &PushInvoiceWorker{…})
//	r, err := jobs.New(db, jobs.Config{Kinds: kinds, Issues: issues, Registerer: reg})
//	err = r.Start(ctx)
//	defer r.Stop(context.Background())
//
// # Enqueueing with the business write
//
// Runner.InsertTx takes a transactional ent client (tx.Client(), or ent.FromContext(ctx)
// inside a GraphQL mutation, where entgql.Transactioner opened the transaction) and inserts
// the job on that client's *sql.Tx, so the domain rows and their jobs commit or roll back
// together. It refuses a client that is not transactional: a job enqueued outside the
// transaction could run for a write that later rolls back, or be lost when the process dies
// between commit and enqueue.
//
// # Conventions for job kinds
//
//   - Args carry the ids the worker needs, never the data: the worker re-reads the current
//     rows. Args embed Tenant ("organization_id", "entity_id"), so a worker can scope its ent
//     context (tenant.WithOrg) and a failure lands in the right organization's admin queue,
//     and Subject ("subject_type", "subject_id"), the object whose failures make one issue.
//   - Args implement Args: besides river.JobArgs an IdempotencyKey derived from our own ids,
//     "<kind>:<object id>:<version>" (for example "qbo_push_invoice:inv_01…:3"). The worker
//     sends it with the external call (Stripe's Idempotency-Key, QBO's requestid), so a retry
//     of a call whose answer was lost, or a job re-run after its worker died, does not act
//     twice. Register only accepts such args.
//   - Kinds whose duplicates make no sense are unique: InsertOpts returns
//     river.UniqueOpts{ByArgs: true} (one pending push per invoice version), ByPeriod for
//     "at most once per interval", and ByState to narrow which states count as a duplicate.
//     A skipped duplicate is not an error.
//   - Each kind sets MaxAttempts in its InsertOpts (Config.MaxAttempts is the default).
//     Retries back off exponentially with jitter (RetryPolicy).
//   - A worker returns river.JobCancel(err) for an error no retry can fix (bad data, a
//     disconnected QuickBooks company, a customer without an email): the job stops and the
//     error goes to the admin queue through IssueRaiser. Cancelling therefore means "a person
//     must act"; when nothing needs doing (the invoice was voided meanwhile) return nil.
//     Any other error is retried until the kind's last attempt, whose error is raised too.
//     Prefer an apperr.Error, whose code becomes the error code.
//   - Workers honour ctx: it carries the job timeout (Config.JobTimeout, or the worker's
//     Timeout) and is cancelled when a stop's grace period runs out.
//   - Nothing external is called inside a database transaction, and a worker records the
//     outcome of its call in its own short transaction.
//
// # Failures
//
// River recovers a worker's panic and retries the job like an error (ErrorHandler.HandlePanic
// logs the stack). When a job fails its last attempt, or a worker cancels it, the Runner calls
// Config.Issues (IssueRaiser), which the admin queue (adminq.Queue) implements by raising
// one AdminIssue per organization, kind, subject and error code; retrying the issue enqueues
// its job again through Runner.Enqueue. Raising happens before River
// records the job's final state, so a crash in between may raise twice; the admin queue
// counts that as another occurrence of the same issue. A job that exhausts its attempts in
// River's rescuer (its worker died on the last attempt) is discarded without a call.
//
// # Crashes and shutdown
//
// Stop first stops fetching and lets running jobs finish within Config.StopGrace, then
// cancels their contexts (River's StopAndCancel); a cancelled worker's error is retried like
// any other. A job whose process died mid-run stays "running" until River's rescuer (run by
// the elected leader) sees it older than Config.RescueStuckJobsAfter and schedules it again,
// which is why every external call carries the idempotency key.
//
// # Periodic jobs
//
// Config.Periodic lists jobs River inserts on a schedule. Only the elected leader schedules
// them, and each is unique per period (UniqueOpts.ByPeriod), so a leader change inside a
// period cannot run it twice.
//
// # Observability
//
// Metrics per kind, registered on Config.Registerer (Runner.Collectors returns them for a
// registry of one's own): books_jobs_queued{kind,state} (refreshed from the jobs table every
// Config.QueuedRefresh), books_jobs_running{kind}, books_jobs_succeeded_total,
// books_jobs_retried_total, books_jobs_failed_total{kind,reason="discarded"|"cancelled"},
// books_jobs_duration_seconds and books_jobs_wait_seconds (insert or retry time to start).
// Outcomes come from River's event subscription, the running gauge from a worker middleware.
//
// # SQLite
//
// riversqlite works on the single-connection pool database.Open makes for SQLite: River's
// queries wait for the connection like ent's do. River has no LISTEN/NOTIFY on either
// database here, so workers poll every Config.FetchPollInterval (50 ms by default); a job
// inserted by the same process is fetched at once.
package jobs
