package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/auditevent"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/server"
)

// adRecorder is an Enqueue that records what it was asked to enqueue.
type adRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *adRecorder) enqueue(_ context.Context, c *ent.Client, kind, args string) error {
	_, inTx := c.SQLTx()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s %s tx=%v", kind, args, inTx))
	return nil
}

func (r *adRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// adSetup is setup with a server whose admin queue enqueues into rec.
func adSetup(t *testing.T, d string) (*testBundle, *adRecorder) {
	t.Helper()
	b := setup(t, d)
	rec := &adRecorder{}
	// A client straight over the database, as `books serve` has: the bundle's counts
	// statements through a wrapper under which SQLTx (River's InsertTx) cannot work.
	client := b.db.Client()
	srv := server.New(server.Config{
		DB: b.db, Client: client, Auth: auth.NewService(b.tokens, client),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Queue:  &adminq.Queue{Enqueue: rec.enqueue},
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b.server = hs
	return b, rec
}

// adRaise raises an issue of org directly in the domain.
func (b *testBundle) adRaise(t *testing.T, org testOrg, p adminq.Problem) *ent.AdminIssue {
	t.Helper()
	iss, err := adminq.Raise(orgCtx(org), b.client, p)
	require.NoError(t, err)
	return iss
}

type adIssue struct {
	ID, Kind, Status, SubjectID, ErrorCode, Note, ResolvedBy string
	EntityID, JobKind                                        *string
	Occurrences                                              int
}

const adIssueFields = `id kind status subjectId errorCode note resolvedBy entityId jobKind occurrences`

// adIssues runs the adminIssues query with where and returns the ids and total count.
func (b *testBundle) adIssues(t *testing.T, token string, where map[string]any) (int, []adIssue) {
	t.Helper()
	var out struct {
		AdminIssues struct {
			TotalCount int
			Edges      []struct{ Node adIssue }
		}
	}
	b.gqlOK(t, token, `query($where: AdminIssueWhereInput) {
		adminIssues(where: $where, orderBy: {field: KIND, direction: ASC}) { totalCount edges { node { `+adIssueFields+` } } } }`,
		map[string]any{"where": where}, &out)
	var list []adIssue
	for _, e := range out.AdminIssues.Edges {
		list = append(list, e.Node)
	}
	return out.AdminIssues.TotalCount, list
}

// adMutate runs one of the admin issue mutations with vars "id" (the issue) and, when
// given, "note", and decodes the issue of its payload.
func (b *testBundle) adMutate(t *testing.T, token, op string, vars map[string]any) (adIssue, gqlResponse) {
	t.Helper()
	decl := []string{"$id: ID!"}
	fields := []string{"adminIssueId: $id"}
	if _, ok := vars["note"]; ok {
		decl = append(decl, "$note: String")
		fields = append(fields, "note: $note")
	}
	q := fmt.Sprintf(`mutation(%s) { %s(input: {%s}) { adminIssue { %s } } }`,
		strings.Join(decl, ", "), op, strings.Join(fields, ", "), adIssueFields)
	r := b.gql(t, token, q, vars)
	var out map[string]struct{ AdminIssue adIssue }
	if len(r.Errors) == 0 {
		require.NoError(t, json.Unmarshal(r.Data, &out))
		require.Equal(t, vars["id"], out[op].AdminIssue.ID, "%s: the payload carries the issue", op)
	} else {
		biRequireNoData(t, r)
	}
	return out[op].AdminIssue, r
}

func (b *testBundle) adIssue(t *testing.T, org testOrg, id string) *ent.AdminIssue {
	t.Helper()
	iss, err := b.client.AdminIssue.Get(orgCtx(org), id)
	require.NoError(t, err)
	return iss
}

func TestAdminIssues(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, rec := adSetup(t, d)
			a := b.orgA
			us := a.Entities[0].ID
			push := b.adRaise(t, a, adminq.Problem{EntityID: us, Kind: "qbo_push_invoice", SubjectType: "invoice", SubjectID: "inv_1",
				ErrorCode: "QBO_AUTH", ErrorMessage: "token expired", JobKind: "qbo_push_invoice", JobArgs: `{"organization_id":"` + a.ID + `","subject_id":"inv_1"}`})
			b.adRaise(t, a, adminq.Problem{EntityID: us, Kind: "qbo_push_invoice", SubjectType: "invoice", SubjectID: "inv_1", ErrorCode: "QBO_AUTH"})
			email := b.adRaise(t, a, adminq.Problem{Kind: "missing_customer_email", SubjectType: "customer", SubjectID: "cus_1"})
			other := b.adRaise(t, a, adminq.Problem{Kind: "qbo_push_invoice", SubjectID: "inv_2", ErrorCode: "QBO_AUTH"})
			issB := b.adRaise(t, b.orgB, adminq.Problem{Kind: "qbo_push_invoice", SubjectID: "inv_1", ErrorCode: "QBO_AUTH",
				JobKind: "qbo_push_invoice", JobArgs: `{}`})

			t.Run("query with filters", func(t *testing.T) {
				n, list := b.adIssues(t, a.Viewer, nil)
				require.Equal(t, 3, n, "org A's three issues; raising one twice made no new row")
				require.Equal(t, "missing_customer_email", list[0].Kind)
				n, list = b.adIssues(t, a.Viewer, map[string]any{"status": "OPEN", "kind": "qbo_push_invoice"})
				require.Equal(t, 2, n)
				for _, iss := range list {
					require.Equal(t, "qbo_push_invoice", iss.Kind)
					if iss.ID == push.ID {
						require.Equal(t, 2, iss.Occurrences)
						require.Equal(t, us, *iss.EntityID)
						require.Equal(t, "qbo_push_invoice", *iss.JobKind)
					}
				}
				n, _ = b.adIssues(t, a.Viewer, map[string]any{"entityId": us})
				require.Equal(t, 1, n)
				n, _ = b.adIssues(t, a.Viewer, map[string]any{"statusIn": []string{"RESOLVED", "IGNORED"}})
				require.Equal(t, 0, n)
				n, list = b.adIssues(t, b.orgB.Viewer, nil)
				require.Equal(t, 1, n, "org B sees its own issue only")
				require.Equal(t, issB.ID, list[0].ID)
				// jobArgs is not part of the API.
				r := b.gql(t, a.Admin, `{ adminIssues { edges { node { jobArgs } } } }`, nil)
				require.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, r.errorCodes())
			})

			t.Run("roles", func(t *testing.T) {
				for _, tt := range []struct {
					op     string
					vars   map[string]any
					denied []string // tokens refused
				}{
					{"retryAdminIssue", map[string]any{"id": other.ID}, []string{a.Accountant, a.Viewer}},
					{"resolveAdminIssue", map[string]any{"id": other.ID, "note": "x"}, []string{a.Viewer}},
					{"ignoreAdminIssue", map[string]any{"id": other.ID, "note": "x"}, []string{a.Accountant, a.Viewer}},
				} {
					for _, tok := range tt.denied {
						_, r := b.adMutate(t, tok, tt.op, tt.vars)
						require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes(), tt.op)
					}
				}
				require.Equal(t, adminissue.StatusOpen, b.adIssue(t, a, other.ID).Status)
				require.Empty(t, rec.all())
			})

			t.Run("retry", func(t *testing.T) {
				iss, r := b.adMutate(t, a.FinanceLead, "retryAdminIssue", map[string]any{"id": push.ID})
				require.Empty(t, r.Errors)
				require.Equal(t, "RESOLVED", iss.Status)
				require.Equal(t, "retried", iss.Note)
				require.Equal(t, "user-finance_lead-"+a.ID, iss.ResolvedBy)
				require.Equal(t, []string{`qbo_push_invoice {"organization_id":"` + a.ID + `","subject_id":"inv_1"} tx=true`}, rec.all(),
					"enqueued once, in the mutation's transaction")
				n, err := b.client.AuditEvent.Query().Where(auditevent.Action("retryAdminIssue"), auditevent.SubjectID(push.ID)).Count(orgCtx(a))
				require.NoError(t, err)
				require.Equal(t, 1, n, "audited")
				// Nothing to retry: VALIDATION, nothing enqueued.
				_, r = b.adMutate(t, a.Admin, "retryAdminIssue", map[string]any{"id": email.ID})
				require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
				require.Len(t, rec.all(), 1)
				// The job fails again: the issue re-opens.
				again := b.adRaise(t, a, adminq.Problem{EntityID: us, Kind: "qbo_push_invoice", SubjectID: "inv_1", ErrorCode: "QBO_AUTH"})
				require.Equal(t, push.ID, again.ID)
				require.Equal(t, adminissue.StatusOpen, again.Status)
				require.Equal(t, 3, again.Occurrences)
			})

			t.Run("resolve", func(t *testing.T) {
				iss, r := b.adMutate(t, a.Accountant, "resolveAdminIssue", map[string]any{"id": email.ID, "note": "added the email"})
				require.Empty(t, r.Errors)
				require.Equal(t, "RESOLVED", iss.Status)
				require.Equal(t, "added the email", iss.Note)
				iss, r = b.adMutate(t, a.Accountant, "resolveAdminIssue", map[string]any{"id": email.ID})
				require.Empty(t, r.Errors)
				require.Equal(t, "RESOLVED", iss.Status)
				_, r = b.adMutate(t, a.Accountant, "resolveAdminIssue", map[string]any{"id": email.ID, "note": strings.Repeat("x", 4001)})
				require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
				n, _ := b.adIssues(t, a.Viewer, map[string]any{"status": "RESOLVED"})
				require.Equal(t, 1, n)
			})

			t.Run("ignore needs a note", func(t *testing.T) {
				_, r := b.adMutate(t, a.Admin, "ignoreAdminIssue", map[string]any{"id": other.ID, "note": "  "})
				require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
				// The note is optional in AdminIssueActionInput, which the other admin issue
				// mutations share: the resolver requires it.
				_, r = b.adMutate(t, a.Admin, "ignoreAdminIssue", map[string]any{"id": other.ID})
				require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
				require.Equal(t, "note", r.Errors[0].Extensions["field"])
				require.Equal(t, adminissue.StatusOpen, b.adIssue(t, a, other.ID).Status)
				iss, r := b.adMutate(t, a.Admin, "ignoreAdminIssue", map[string]any{"id": other.ID, "note": "a test invoice"})
				require.Empty(t, r.Errors)
				require.Equal(t, "IGNORED", iss.Status)
				require.Equal(t, "a test invoice", iss.Note)
				// Raised again: still ignored, counted.
				again := b.adRaise(t, a, adminq.Problem{Kind: "qbo_push_invoice", SubjectID: "inv_2", ErrorCode: "QBO_AUTH"})
				require.Equal(t, adminissue.StatusIgnored, again.Status)
				require.Equal(t, 2, again.Occurrences)
			})

			t.Run("tenancy", func(t *testing.T) {
				before := b.adIssue(t, a, email.ID)
				for _, tt := range []struct {
					op   string
					vars map[string]any
				}{
					{"retryAdminIssue", map[string]any{"id": push.ID}},
					{"resolveAdminIssue", map[string]any{"id": email.ID, "note": "not yours"}},
					{"ignoreAdminIssue", map[string]any{"id": email.ID, "note": "not yours"}},
				} {
					_, r := b.adMutate(t, b.orgB.Admin, tt.op, tt.vars)
					require.Equal(t, []string{"NOT_FOUND"}, r.errorCodes(), tt.op)
				}
				after := b.adIssue(t, a, email.ID)
				require.Equal(t, before.Status, after.Status)
				require.Equal(t, before.Note, after.Note)
				require.Len(t, rec.all(), 1, "org B enqueued nothing")
				n, list := b.adIssues(t, b.orgB.Admin, map[string]any{"idIn": []string{push.ID, email.ID, other.ID, issB.ID}})
				require.Equal(t, 1, n)
				require.Equal(t, issB.ID, list[0].ID)
				// Org B retries its own.
				iss, r := b.adMutate(t, b.orgB.Admin, "retryAdminIssue", map[string]any{"id": issB.ID})
				require.Empty(t, r.Errors)
				require.Equal(t, "RESOLVED", iss.Status)
				require.Len(t, rec.all(), 2)
			})

			t.Run("portal clients get none of it", func(t *testing.T) {
				portal, err := b.tokens.Mint("p1", a.ID, nil, "cus_x", time.Hour)
				require.NoError(t, err)
				portalAdmin, err := b.tokens.Mint("p2", a.ID, []auth.Role{auth.RoleAdmin}, "cus_y", time.Hour)
				require.NoError(t, err)
				for _, tok := range []string{portal, portalAdmin} {
					r := b.gql(t, tok, `{ adminIssues { totalCount } }`, nil)
					require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
					r = b.gql(t, tok, `{ jobs { totalCount } }`, nil)
					require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
					_, r = b.adMutate(t, tok, "resolveAdminIssue", map[string]any{"id": email.ID})
					require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
				}
				r := b.gql(t, "", `{ adminIssues { totalCount } }`, nil)
				require.Equal(t, []string{"UNAUTHENTICATED"}, r.errorCodes())
			})
		})
	}
}

// adRiver creates River's tables with River's own migrations and returns an insert through
// an insert-only River client, as the job runner would use them.
func adRiver(t *testing.T, db *database.DB) func(river.JobArgs) int64 {
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
	return func(args river.JobArgs) int64 {
		res, err := c.Insert(ctx, args, nil)
		require.NoError(t, err)
		return res.Job.ID
	}
}

type adJobArgs struct {
	OrganizationID string `json:"organization_id"`
	Kind_          string `json:"-"`
}

func (a adJobArgs) Kind() string { return a.Kind_ }

func TestJobsQuery(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			type job struct {
				ID, Kind, State      string
				Attempt, MaxAttempts int
				Errors               []string
				CreatedAt            time.Time
				FinalizedAt          *time.Time
			}
			page := func(token string, vars map[string]any) gqConn[job] {
				t.Helper()
				var out struct{ Jobs gqConn[job] }
				b.gqlOK(t, token, `query($state: JobState, $kind: String, $first: Int, $after: Cursor) {
					jobs(state: $state, kind: $kind, first: $first, after: $after) { totalCount
						pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
						edges { cursor node { id kind state attempt maxAttempts errors createdAt scheduledAt finalizedAt } } } }`, vars, &out)
				require.LessOrEqual(t, len(out.Jobs.Edges), out.Jobs.TotalCount)
				return out.Jobs
			}
			jobs := func(token string, vars map[string]any) []job {
				t.Helper()
				return page(token, vars).nodes()
			}

			// Before River's tables exist: an empty list.
			require.Empty(t, jobs(a.Admin, nil))
			require.Zero(t, page(a.Admin, nil).TotalCount)

			insert := adRiver(t, b.db)
			j1 := insert(adJobArgs{OrganizationID: a.ID, Kind_: "qbo_push_invoice"})
			j2 := insert(adJobArgs{OrganizationID: a.ID, Kind_: "send_email"})
			insert(adJobArgs{OrganizationID: b.orgB.ID, Kind_: "send_email"})

			list := jobs(a.Admin, nil)
			require.Len(t, list, 2, "org A's jobs only")
			require.Equal(t, fmt.Sprint(j2), list[0].ID, "newest first")
			require.Equal(t, fmt.Sprint(j1), list[1].ID)
			require.Equal(t, "AVAILABLE", list[1].State)
			require.Equal(t, 2, page(a.Admin, nil).TotalCount)
			require.Equal(t, "qbo_push_invoice", list[1].Kind)
			require.Equal(t, 25, list[1].MaxAttempts)
			require.NotNil(t, list[1].Errors)
			require.Nil(t, list[1].FinalizedAt)
			require.WithinDuration(t, time.Now(), list[1].CreatedAt, time.Minute)

			require.Len(t, jobs(a.Admin, map[string]any{"kind": "send_email"}), 1)
			require.Len(t, jobs(a.Admin, map[string]any{"state": "AVAILABLE", "first": 1}), 1)
			require.Empty(t, jobs(a.Admin, map[string]any{"state": "DISCARDED"}))
			require.Empty(t, jobs(a.Admin, map[string]any{"first": 0}))
			require.Len(t, jobs(b.orgB.Admin, nil), 1)

			// Pages of one walk the list newest first, by cursor.
			first := page(a.Admin, map[string]any{"first": 1})
			require.Equal(t, 2, first.TotalCount)
			require.Equal(t, []string{fmt.Sprint(j2)}, idsOf(first.nodes(), func(j job) string { return j.ID }))
			require.True(t, first.PageInfo.HasNextPage)
			require.NotNil(t, first.PageInfo.EndCursor)
			second := page(a.Admin, map[string]any{"first": 1, "after": *first.PageInfo.EndCursor})
			require.Equal(t, []string{fmt.Sprint(j1)}, idsOf(second.nodes(), func(j job) string { return j.ID }))
			require.False(t, second.PageInfo.HasNextPage)
			require.True(t, second.PageInfo.HasPreviousPage)

			for _, vars := range []map[string]any{{"first": 501}, {"first": -1}} {
				r := b.gql(t, a.Admin, `query($first: Int) { jobs(first: $first) { totalCount } }`, vars)
				require.Equal(t, []string{"VALIDATION"}, r.errorCodes(), "%v", vars)
				biRequireNoData(t, r)
			}
			// The state is a JobState: an unknown one fails validation before anything runs.
			r := b.gql(t, a.Admin, `query($state: JobState) { jobs(state: $state) { totalCount } }`, map[string]any{"state": "bogus"})
			require.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, r.errorCodes())
			for _, tok := range []string{a.FinanceLead, a.Accountant, a.Viewer} {
				r := b.gql(t, tok, `{ jobs { totalCount } }`, nil)
				require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes(), "admin only")
				biRequireNoData(t, r)
			}
		})
	}
}
