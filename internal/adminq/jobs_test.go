package adminq_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/dbtest"
)

type pushArgs struct {
	OrganizationID string `json:"organization_id,omitempty"`
	InvoiceID      string `json:"invoice_id"`
}

func (pushArgs) Kind() string { return "qbo_push_invoice" }

type emailArgs struct {
	OrganizationID string `json:"organization_id,omitempty"`
}

func (emailArgs) Kind() string { return "send_email" }

// riverJobs creates River's tables in db with River's own migrations and returns an insert
// through an insert-only River client, as the job runner would have them.
func riverJobs(t *testing.T, db *database.DB) func(river.JobArgs, *river.InsertOpts) int64 {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var drv riverdriver.Driver[*sql.Tx] = riversqlite.New(db.SQL)
	if db.Dialect == dialect.Postgres {
		drv = riverdatabasesql.New(db.SQL)
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: quiet})
	require.NoError(t, err)
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	c, err := river.NewClient(drv, &river.Config{Logger: quiet})
	require.NoError(t, err)
	return func(args river.JobArgs, opts *river.InsertOpts) int64 {
		res, err := c.Insert(ctx, args, opts)
		require.NoError(t, err)
		return res.Job.ID
	}
}

// discard makes job id a discarded job with two failed attempts, as River leaves one.
func discard(t *testing.T, db *database.DB, id int64) {
	t.Helper()
	const e1 = `{"at":"2026-11-21T10:00:00Z","attempt":1,"error":"QuickBooks said 401","trace":""}`
	const e2 = `{"at":"2026-11-21T10:00:10Z","attempt":2,"error":"QuickBooks said 401 again","trace":""}`
	var err error
	switch db.Dialect {
	case dialect.Postgres:
		_, err = db.SQL.Exec(`UPDATE river_job SET state = 'discarded', attempt = 2, max_attempts = 2, finalized_at = now(),
			errors = ARRAY[$1::jsonb, $2::jsonb] WHERE id = $3`, e1, e2, id)
	case dialect.SQLite:
		_, err = db.SQL.Exec(`UPDATE river_job SET state = 'discarded', attempt = 2, max_attempts = 2,
			finalized_at = datetime('now', 'subsec'), errors = json_array(json(?), json(?)) WHERE id = ?`, e1, e2, id)
	}
	require.NoError(t, err)
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := dbtest.Open(t, d)
			const orgA, orgB = "org_a", "org_b"
			list := func(org string, f adminq.JobFilter) []adminq.Job {
				t.Helper()
				page, err := adminq.ListJobs(ctx, db.SQL, db.Dialect, org, f)
				require.NoError(t, err)
				return page.Jobs
			}

			// Before River's migration there is no table: an empty list, not an error.
			require.Empty(t, list(orgA, adminq.JobFilter{}))
			require.NotNil(t, list(orgA, adminq.JobFilter{}))

			insert := riverJobs(t, db)
			start := time.Now().Add(-time.Minute)
			push1 := insert(pushArgs{OrganizationID: orgA, InvoiceID: "inv_1"}, nil)
			push2 := insert(pushArgs{OrganizationID: orgA, InvoiceID: "inv_2"}, &river.InsertOpts{MaxAttempts: 3})
			email := insert(emailArgs{}, &river.InsertOpts{Metadata: []byte(`{"organization_id":"` + orgA + `"}`)})
			insert(pushArgs{OrganizationID: orgB, InvoiceID: "inv_b"}, nil)
			insert(emailArgs{}, nil) // names no organization: nobody's
			discard(t, db, push1)

			all := list(orgA, adminq.JobFilter{})
			require.Len(t, all, 3, "org A's jobs, by args or metadata")
			require.Equal(t, []int64{email, push2, push1}, []int64{all[0].ID, all[1].ID, all[2].ID}, "newest first")
			p2 := all[1]
			require.Equal(t, "qbo_push_invoice", p2.Kind)
			require.Equal(t, "available", p2.State)
			require.Equal(t, 0, p2.Attempt)
			require.Equal(t, 3, p2.MaxAttempts)
			require.Empty(t, p2.Errors)
			require.NotNil(t, p2.Errors)
			require.Nil(t, p2.FinalizedAt)
			require.True(t, p2.CreatedAt.After(start), "created %v", p2.CreatedAt)
			require.False(t, p2.ScheduledAt.IsZero())

			p1 := all[2]
			require.Equal(t, "discarded", p1.State)
			require.Equal(t, 2, p1.Attempt)
			require.Equal(t, []string{"QuickBooks said 401", "QuickBooks said 401 again"}, p1.Errors)
			require.NotNil(t, p1.FinalizedAt)
			require.True(t, p1.FinalizedAt.After(start))

			discarded := list(orgA, adminq.JobFilter{State: "discarded"})
			require.Len(t, discarded, 1)
			require.Equal(t, push1, discarded[0].ID)
			require.Len(t, list(orgA, adminq.JobFilter{Kind: "qbo_push_invoice"}), 2)
			require.Len(t, list(orgA, adminq.JobFilter{Kind: "send_email", State: "available"}), 1)
			require.Empty(t, list(orgA, adminq.JobFilter{Kind: "send_email", State: "discarded"}))
			require.Len(t, list(orgA, adminq.JobFilter{First: 1}), 1)

			// Paging: the page after a job holds the older ones; the total counts them all.
			page, err := adminq.ListJobs(ctx, db.SQL, db.Dialect, orgA, adminq.JobFilter{First: 2})
			require.NoError(t, err)
			require.Equal(t, []int64{email, push2}, []int64{page.Jobs[0].ID, page.Jobs[1].ID})
			require.True(t, page.More)
			require.Equal(t, 3, page.Total)
			page, err = adminq.ListJobs(ctx, db.SQL, db.Dialect, orgA, adminq.JobFilter{First: 2, Before: push2})
			require.NoError(t, err)
			require.Len(t, page.Jobs, 1)
			require.Equal(t, push1, page.Jobs[0].ID)
			require.False(t, page.More)
			require.Equal(t, 3, page.Total)
			require.Len(t, list(orgB, adminq.JobFilter{}), 1)
			require.Empty(t, list("org_c", adminq.JobFilter{}))

			for _, f := range []adminq.JobFilter{{First: -1}, {First: adminq.MaxJobs + 1}, {State: "exploded"}} {
				_, err := adminq.ListJobs(ctx, db.SQL, db.Dialect, orgA, f)
				require.Equal(t, apperr.Validation, apperr.Code(err), "%+v", f)
			}
			require.Len(t, list(orgA, adminq.JobFilter{First: adminq.MaxJobs}), 3)
		})
	}
}
