package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"books/ent"
	"books/ent/legalentity"
	"books/internal/adminq"
	"books/internal/ledger"
	"books/internal/tenant"
	"books/jobs"
)

// The background work that keeps the chains current and checked.
const (
	// SealKind seals every entity's pending entries, so entries are sealed within seconds
	// of their commit while posting itself never waits for the chain.
	SealKind = "ledger_seal"
	// VerifyKind verifies every entity (or the one its args name), records each outcome
	// and raises an admin issue for each entity that fails.
	VerifyKind = "ledger_verify"

	// SealEvery and VerifyEvery are the production intervals of the periodic jobs.
	SealEvery   = 2 * time.Second
	VerifyEvery = time.Hour

	// IssueKind and TamperedCode file a failed verification in the admin queue: one issue
	// per entity, whose count grows while the breach stays.
	IssueKind    = "ledger_verification_failed"
	TamperedCode = "LEDGER_TAMPERED"

	// verifyTimeout bounds one verification run; a large ledger takes longer than the
	// runner's default job timeout to recompute.
	verifyTimeout = 30 * time.Minute
)

// SealArgs are the args of the sealing job. It works across organizations, so its Tenant
// is empty.
type SealArgs struct {
	jobs.Tenant
}

func (SealArgs) Kind() string { return SealKind }

// IdempotencyKey is constant: sealing calls nothing external, and a repeated run appends
// nothing twice.
func (SealArgs) IdempotencyKey() string { return SealKind }

// InsertOpts gives the sealer one attempt: the next period's run is its retry.
func (SealArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// VerifyArgs are the args of the verification job: every entity when Tenant is empty,
// else the entity it names. An admin issue's retry enqueues the one-entity form.
type VerifyArgs struct {
	jobs.Tenant
}

func (VerifyArgs) Kind() string { return VerifyKind }

func (a VerifyArgs) IdempotencyKey() string { return VerifyKind + ":" + a.EntityID }

func (VerifyArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

// Raiser files admin issues; *adminq.Queue is one, and also announces them.
type Raiser interface {
	RaiseFor(ctx context.Context, c *ent.Client, orgID string, p adminq.Problem) (*ent.AdminIssue, error)
}

// RegisterJobs adds the sealing and verification workers to kinds. They work with client
// in the system tenant context and raise failed verifications through issues.
func RegisterJobs(kinds *jobs.Kinds, client *ent.Client, issues Raiser) {
	jobs.Register(kinds, &sealWorker{client: client})
	jobs.Register(kinds, &verifyWorker{client: client, issues: issues})
}

// PeriodicJobs returns the sealing job every sealEvery and the verification job every
// verifyEvery, both also run when a leader starts (SealEvery and VerifyEvery in production).
func PeriodicJobs(sealEvery, verifyEvery time.Duration) []jobs.Periodic {
	return []jobs.Periodic{
		{Every: sealEvery, RunOnStart: true, Args: func() jobs.Args { return SealArgs{} }},
		{Every: verifyEvery, RunOnStart: true, Args: func() jobs.Args { return VerifyArgs{} }},
	}
}

// The sealing job reads only the recent end of each ledger (ledger.SealRecent with
// SealWindow), and everything pending once every SealFullEvery, which seals the rare entry
// whose transaction stayed open longer than the window.
const (
	SealWindow    = 10 * time.Minute
	SealFullEvery = time.Hour
)

type sealWorker struct {
	river.WorkerDefaults[SealArgs]
	client *ent.Client

	mu       sync.Mutex
	lastFull time.Time // of this process; its first run is a full one
}

func (w *sealWorker) Work(ctx context.Context, _ *river.Job[SealArgs]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	started := time.Now()
	window := SealWindow
	if started.Sub(w.lastFull) >= SealFullEvery {
		window = 0
	}
	n, err := ledger.SealAllRecent(ctx, w.client, window)
	if n > 0 {
		slog.DebugContext(ctx, "sealed journal entries", "count", n, "full", window == 0)
	}
	if window == 0 {
		// Even when an entity failed: its error is reported, and retrying the whole ledger
		// every 2 s would only slow every other entity's sealing.
		w.lastFull = started
	}
	return err
}

type verifyWorker struct {
	river.WorkerDefaults[VerifyArgs]
	client *ent.Client
	issues Raiser
}

func (w *verifyWorker) Timeout(*river.Job[VerifyArgs]) time.Duration { return verifyTimeout }

func (w *verifyWorker) Work(ctx context.Context, job *river.Job[VerifyArgs]) error {
	ctx = tenant.System(ctx)
	q := w.client.LegalEntity.Query().Order(legalentity.ByID())
	if id := job.Args.EntityID; id != "" {
		q = q.Where(legalentity.ID(id))
	}
	entities, err := q.All(ctx)
	if err != nil {
		return fmt.Errorf("list legal entities: %w", err)
	}
	var errs []error
	for _, e := range entities {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := w.verify(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// verify checks one entity, records the outcome and raises an issue when it failed.
func (w *verifyWorker) verify(ctx context.Context, e *ent.LegalEntity) error {
	r, _, err := VerifyAndRecord(ctx, w.client, e.ID, false)
	if err != nil {
		return err
	}
	if r.OK {
		return nil
	}
	slog.ErrorContext(ctx, "ledger verification failed", "organization_id", e.OrganizationID, "entity_id", e.ID, "problem", r.Problem)
	args, err := json.Marshal(VerifyArgs{Tenant: jobs.Tenant{OrganizationID: e.OrganizationID, EntityID: e.ID}})
	if err != nil {
		return err
	}
	p := adminq.Problem{
		EntityID:     e.ID,
		Kind:         IssueKind,
		SubjectType:  "legal_entity",
		SubjectID:    e.ID,
		ErrorCode:    TamperedCode,
		ErrorMessage: fmt.Sprintf("The ledger of %s (%s) failed verification: %s", e.Name, e.Code, r.Problem),
		JobKind:      VerifyKind,
		JobArgs:      string(args),
	}
	if _, err := w.issues.RaiseFor(ctx, w.client, e.OrganizationID, p); err != nil {
		return fmt.Errorf("raise ledger verification issue for %s: %w", e.ID, err)
	}
	return nil
}
