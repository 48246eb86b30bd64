package adminq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/realtime"
	"books/internal/tenant"
)

type env struct {
	db     *database.DB
	client *ent.Client
	orgA   string
	orgB   string
	broker *realtime.Local
	queue  *adminq.Queue
	// enqueued records the queue's Enqueue calls.
	mu       sync.Mutex
	enqueued []string
}

func newEnv(t *testing.T, d string) *env {
	t.Helper()
	db := dbtest.Open(t, d)
	e := &env{db: db, client: db.Client(), broker: realtime.NewLocal()}
	t.Cleanup(func() { e.broker.Close() })
	sys := tenant.System(context.Background())
	for _, id := range []*string{&e.orgA, &e.orgB} {
		org, err := e.client.Organization.Create().SetName("Org").Save(sys)
		require.NoError(t, err)
		*id = org.ID
	}
	e.queue = &adminq.Queue{
		Broker: e.broker,
		Client: e.client,
		Enqueue: func(_ context.Context, c *ent.Client, kind, args string) error {
			_, inTx := c.SQLTx()
			e.mu.Lock()
			defer e.mu.Unlock()
			e.enqueued = append(e.enqueued, fmt.Sprintf("%s %s tx=%v", kind, args, inTx))
			return nil
		},
	}
	return e
}

// as returns a context of a staff user of org.
func as(org string) context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindUser, Subject: "user-" + org, Org: org, Roles: []auth.Role{auth.RoleAdmin}})
}

func (e *env) count(t *testing.T, org string) int {
	t.Helper()
	n, err := e.client.AdminIssue.Query().Count(tenant.WithOrg(context.Background(), org))
	require.NoError(t, err)
	return n
}

func code(err error) string { return apperr.Code(err) }

func TestRaise(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			ctx := tenant.WithOrg(context.Background(), e.orgA)
			p := adminq.Problem{
				Kind: "qbo_push_invoice", SubjectType: "invoice", SubjectID: "inv_1", ErrorCode: "QBO_AUTH",
				ErrorMessage: "token expired", JobKind: "qbo_push_invoice", JobArgs: `{"organization_id":"` + e.orgA + `","subject_id":"inv_1"}`,
			}

			t.Run("the same problem three times is one issue", func(t *testing.T) {
				var first *ent.AdminIssue
				for i := range 3 {
					p := p
					p.ErrorMessage = fmt.Sprintf("token expired (%d)", i+1)
					iss, err := adminq.Raise(ctx, e.client, p)
					require.NoError(t, err)
					require.Equal(t, i+1, iss.Occurrences)
					if first == nil {
						first = iss
					}
					require.Equal(t, first.ID, iss.ID)
					time.Sleep(5 * time.Millisecond)
				}
				require.Equal(t, 1, e.count(t, e.orgA))
				iss, err := e.client.AdminIssue.Get(ctx, first.ID)
				require.NoError(t, err)
				require.Equal(t, 3, iss.Occurrences)
				require.Equal(t, adminissue.StatusOpen, iss.Status)
				require.Equal(t, "token expired (3)", iss.ErrorMessage, "the latest message")
				require.Equal(t, e.orgA, iss.OrganizationID)
				require.Equal(t, "invoice", iss.SubjectType)
				require.Equal(t, "qbo_push_invoice", iss.JobKind)
				require.True(t, iss.LastSeenAt.After(iss.FirstSeenAt), "first %v last %v", iss.FirstSeenAt, iss.LastSeenAt)
				require.True(t, iss.FirstSeenAt.Equal(first.FirstSeenAt))
			})

			t.Run("another subject or error code is another issue", func(t *testing.T) {
				q := p
				q.SubjectID = "inv_2"
				_, err := adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				require.Equal(t, 2, e.count(t, e.orgA))
				q.ErrorCode = "OTHER"
				_, err = adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				require.Equal(t, 3, e.count(t, e.orgA))
				// The same problem in another organization is that organization's own issue.
				iss, err := adminq.Raise(tenant.WithOrg(context.Background(), e.orgB), e.client, p)
				require.NoError(t, err)
				require.Equal(t, 1, iss.Occurrences)
				require.Equal(t, e.orgB, iss.OrganizationID)
				require.Equal(t, 3, e.count(t, e.orgA))
				require.Equal(t, 1, e.count(t, e.orgB))
			})

			t.Run("a resolved issue raised again re-opens", func(t *testing.T) {
				q := p
				q.Kind = "reopen"
				iss, err := adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				res, err := e.queue.Resolve(as(e.orgA), e.client, iss.ID, "fixed the token")
				require.NoError(t, err)
				require.Equal(t, adminissue.StatusResolved, res.Status)
				require.Equal(t, "user-"+e.orgA, res.ResolvedBy)
				require.NotNil(t, res.ResolvedAt)
				require.Equal(t, "fixed the token", res.Note)

				again, err := adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				require.Equal(t, iss.ID, again.ID)
				require.Equal(t, adminissue.StatusOpen, again.Status)
				require.Equal(t, 2, again.Occurrences)
				require.Nil(t, again.ResolvedAt)
				require.Empty(t, again.ResolvedBy)
			})

			t.Run("an ignored issue stays ignored and counts", func(t *testing.T) {
				q := p
				q.Kind = "ignored"
				iss, err := adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				for _, note := range []string{"", "   "} {
					_, err = e.queue.Ignore(as(e.orgA), e.client, iss.ID, note)
					require.Equal(t, apperr.Validation, code(err), "a note is required")
				}
				ign, err := e.queue.Ignore(as(e.orgA), e.client, iss.ID, "known QuickBooks outage")
				require.NoError(t, err)
				require.Equal(t, adminissue.StatusIgnored, ign.Status)
				require.Equal(t, "known QuickBooks outage", ign.Note)
				again, err := adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				require.Equal(t, adminissue.StatusIgnored, again.Status)
				require.Equal(t, 2, again.Occurrences)
				require.Equal(t, "known QuickBooks outage", again.Note)
			})

			t.Run("validation", func(t *testing.T) {
				_, err := adminq.Raise(ctx, e.client, adminq.Problem{Kind: "  "})
				require.Equal(t, apperr.Validation, code(err))
				_, err = adminq.Raise(context.Background(), e.client, adminq.Problem{Kind: "x"})
				require.ErrorIs(t, err, tenant.ErrMissing)
				_, err = adminq.Raise(tenant.System(context.Background()), e.client, adminq.Problem{Kind: "x"})
				require.Equal(t, apperr.Validation, code(err), "a system context must name the organization")
				// Long messages are cut to the column's size, on a character boundary.
				q := p
				q.Kind = "long"
				q.ErrorMessage = strings.Repeat("é", 3000)
				iss, err := adminq.Raise(ctx, e.client, q)
				require.NoError(t, err)
				require.LessOrEqual(t, len(iss.ErrorMessage), 4000)
				require.Equal(t, strings.Repeat("é", 2000), iss.ErrorMessage)
			})

			t.Run("RaiseFor under tenant.System", func(t *testing.T) {
				sys := tenant.System(context.Background())
				q := p
				q.Kind = "system"
				iss, err := adminq.RaiseFor(sys, e.client, e.orgB, q)
				require.NoError(t, err)
				require.Equal(t, e.orgB, iss.OrganizationID)
				iss, err = adminq.RaiseFor(sys, e.client, e.orgB, q)
				require.NoError(t, err)
				require.Equal(t, 2, iss.Occurrences)
				// Org A does not see it.
				_, err = e.client.AdminIssue.Get(ctx, iss.ID)
				require.True(t, ent.IsNotFound(err))
				_, err = adminq.RaiseFor(sys, e.client, "", q)
				require.Equal(t, apperr.Validation, code(err))
				// In a tenant context, only that tenant's organization.
				_, err = adminq.RaiseFor(ctx, e.client, e.orgB, q)
				require.Error(t, err)
				iss, err = adminq.RaiseFor(ctx, e.client, e.orgA, q)
				require.NoError(t, err)
				require.Equal(t, e.orgA, iss.OrganizationID)
			})
		})
	}
}

func TestQueue(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			ctxA := as(e.orgA)
			events, err := e.broker.Subscribe(context.Background(), adminq.Topic(e.orgA))
			require.NoError(t, err)
			next := func() string {
				t.Helper()
				select {
				case p := <-events:
					return string(p)
				case <-time.After(2 * time.Second):
					t.Fatal("no event")
				}
				return ""
			}
			none := func() {
				t.Helper()
				select {
				case p := <-events:
					t.Fatalf("unexpected event %s", p)
				case <-time.After(50 * time.Millisecond):
				}
			}

			withJob, err := e.queue.Raise(ctxA, e.client, adminq.Problem{Kind: "push", SubjectID: "inv_1", JobKind: "push", JobArgs: `{"n":1}`})
			require.NoError(t, err)
			require.Equal(t, withJob.ID, next(), "raising announces the issue")
			noJob, err := e.queue.Raise(ctxA, e.client, adminq.Problem{Kind: "missing_email", SubjectID: "cus_1"})
			require.NoError(t, err)
			require.Equal(t, noJob.ID, next())

			t.Run("retry", func(t *testing.T) {
				_, err := e.queue.Retry(ctxA, e.client, noJob.ID)
				require.Equal(t, apperr.Validation, code(err), "nothing to retry")
				iss, err := e.queue.Retry(ctxA, e.client, withJob.ID)
				require.NoError(t, err)
				require.Equal(t, adminissue.StatusResolved, iss.Status)
				require.Equal(t, "retried", iss.Note)
				// Settled and enqueued in one transaction, opened by Retry when the caller has none.
				require.Equal(t, []string{`push {"n":1} tx=true`}, e.enqueued)
				require.Equal(t, withJob.ID, next())
				// Retried in a transaction: enqueued in it, announced after commit.
				tx, err := e.client.Tx(ctxA)
				require.NoError(t, err)
				tctx := ent.NewTxContext(ctxA, tx)
				_, err = e.queue.Retry(tctx, tx.Client(), withJob.ID)
				require.NoError(t, err)
				require.Equal(t, `push {"n":1} tx=true`, e.enqueued[1])
				none()
				require.NoError(t, tx.Commit())
				require.Equal(t, withJob.ID, next())
				// Without an Enqueue, retry cannot work.
				q := &adminq.Queue{Broker: e.broker}
				_, err = q.Retry(ctxA, e.client, withJob.ID)
				require.Equal(t, apperr.Internal, code(err))
				// A failing Enqueue changes nothing.
				q.Enqueue = func(context.Context, *ent.Client, string, string) error { return errors.New("queue down") }
				_, err = e.queue.Resolve(ctxA, e.client, withJob.ID, "")
				require.NoError(t, err)
				require.Equal(t, withJob.ID, next())
				iss, err = e.client.AdminIssue.Get(ctxA, withJob.ID)
				require.NoError(t, err)
				require.Empty(t, iss.Note, "resolving without a note clears the old one")
				_, err = q.Retry(ctxA, e.client, withJob.ID)
				require.ErrorContains(t, err, "queue down")
				none()
			})

			t.Run("a rolled back change announces nothing", func(t *testing.T) {
				tx, err := e.client.Tx(ctxA)
				require.NoError(t, err)
				_, err = e.queue.Ignore(ent.NewTxContext(ctxA, tx), tx.Client(), noJob.ID, "not ours")
				require.NoError(t, err)
				require.NoError(t, tx.Rollback())
				none()
				iss, err := e.client.AdminIssue.Get(ctxA, noJob.ID)
				require.NoError(t, err)
				require.Equal(t, adminissue.StatusOpen, iss.Status)
			})

			t.Run("tenancy", func(t *testing.T) {
				ctxB := as(e.orgB)
				_, err := e.queue.Resolve(ctxB, e.client, noJob.ID, "")
				require.True(t, ent.IsNotFound(err), "org B cannot resolve org A's issue: %v", err)
				_, err = e.queue.Ignore(ctxB, e.client, noJob.ID, "mine now")
				require.True(t, ent.IsNotFound(err))
				_, err = e.queue.Retry(ctxB, e.client, withJob.ID)
				require.True(t, ent.IsNotFound(err))
				none()
				iss, err := e.client.AdminIssue.Get(ctxA, noJob.ID)
				require.NoError(t, err)
				require.Equal(t, adminissue.StatusOpen, iss.Status)
			})

			t.Run("RaiseJobFailure", func(t *testing.T) {
				job := &rivertype.JobRow{
					ID: 42, Kind: "qbo_push_invoice", Attempt: 10, MaxAttempts: 10, State: rivertype.JobStateRetryable,
					EncodedArgs: []byte(`{"organization_id":"` + e.orgA + `","entity_id":"le_1","subject_type":"invoice","subject_id":"inv_9","invoice_id":"inv_9"}`),
					Metadata:    []byte(`{}`),
				}
				require.NoError(t, e.queue.RaiseJobFailure(context.Background(), job, apperr.New("QBO_AUTH", "QuickBooks refused the token")))
				id := next()
				iss, err := e.client.AdminIssue.Get(ctxA, id)
				require.NoError(t, err)
				require.Equal(t, "qbo_push_invoice", iss.Kind)
				require.Equal(t, "QBO_AUTH", iss.ErrorCode)
				require.Equal(t, "QuickBooks refused the token", iss.ErrorMessage)
				require.Equal(t, "inv_9", iss.SubjectID)
				require.Equal(t, "invoice", iss.SubjectType)
				require.Equal(t, "le_1", *iss.EntityID)
				require.Equal(t, "qbo_push_invoice", iss.JobKind)
				require.Equal(t, string(job.EncodedArgs), iss.JobArgs, "kept for retry")

				// An uncoded error is JOB_FAILED; the same failure again is the same issue.
				wrapped := fmt.Errorf("attempt 10: %w", errors.New("connection reset"))
				require.NoError(t, e.queue.RaiseJobFailure(context.Background(), job, wrapped))
				require.NoError(t, e.queue.RaiseJobFailure(context.Background(), job, wrapped))
				first, second := next(), next()
				require.Equal(t, first, second)
				iss, err = e.client.AdminIssue.Get(ctxA, first)
				require.NoError(t, err)
				require.Equal(t, adminq.JobFailed, iss.ErrorCode)
				require.Equal(t, 2, iss.Occurrences)
				require.Equal(t, "attempt 10: connection reset", iss.ErrorMessage)

				// The organization may come from the metadata instead; a cancelled job without
				// an error still raises.
				meta := &rivertype.JobRow{ID: 43, Kind: "send_email", State: rivertype.JobStateCancelled,
					EncodedArgs: []byte(`{"to":"x@example.com"}`), Metadata: []byte(`{"organization_id":"` + e.orgB + `"}`)}
				require.NoError(t, e.queue.RaiseJobFailure(context.Background(), meta, nil))
				iss, err = e.client.AdminIssue.Query().Only(tenant.WithOrg(context.Background(), e.orgB))
				require.NoError(t, err)
				require.Equal(t, "send_email", iss.Kind)
				require.Equal(t, "the job was cancelled", iss.ErrorMessage)
				none() // org B's event is not on org A's topic

				// No organization: no issue, and an error the runner logs.
				orphan := &rivertype.JobRow{ID: 44, Kind: "x", EncodedArgs: []byte(`{}`)}
				require.ErrorContains(t, e.queue.RaiseJobFailure(context.Background(), orphan, errors.New("boom")), "organization_id")
			})
		})
	}
}
