package adminq

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"books/internal/apperr"
)

// Job is a River job as the admin screens show it.
type Job struct {
	ID          int64
	Kind        string
	State       string
	Attempt     int
	MaxAttempts int
	Errors      []string // each failed attempt's error, oldest first
	CreatedAt   time.Time
	ScheduledAt time.Time
	FinalizedAt *time.Time
}

// JobFilter narrows ListJobs. Empty fields match everything; First defaults to
// DefaultJobs and may not exceed MaxJobs. Before, when set, pages on: only jobs with a
// smaller id (older ones) are listed.
type JobFilter struct {
	State  string
	Kind   string
	First  int
	Before int64
}

// JobPage is one page of ListJobs.
type JobPage struct {
	Jobs []Job
	// Total counts the jobs matching State and Kind, on every page.
	Total int
	// More says whether older jobs follow this page.
	More bool
}

// Page sizes of ListJobs.
const (
	DefaultJobs = 100
	MaxJobs     = 500
)

// JobStates are River's job states.
var JobStates = []string{"available", "cancelled", "completed", "discarded", "pending", "retryable", "running", "scheduled"}

// ListJobs reads a page of org's jobs from River's river_job table, newest first. River's
// tables are not tenant-scoped: a job belongs to the organization its args (or metadata)
// name as "organization_id" (see the package documentation), and jobs naming none are shown
// to nobody. Before River's migration has created the table, the list is empty.
//
// It reads with plain SQL because River, not ent, owns the table.
func ListJobs(ctx context.Context, db *sql.DB, dialectName, org string, f JobFilter) (JobPage, error) {
	page := JobPage{Jobs: []Job{}}
	if org == "" {
		return page, apperr.New(apperr.Validation, "an organization is required")
	}
	switch {
	case f.First == 0:
		f.First = DefaultJobs
	case f.First < 0 || f.First > MaxJobs:
		return page, apperr.New(apperr.Validation, "first must be between 0 and %d", MaxJobs).WithField("first")
	}
	if f.State != "" && !slices.Contains(JobStates, f.State) {
		return page, apperr.New(apperr.Validation, "unknown job state %q; one of %s", f.State, strings.Join(JobStates, ", ")).WithField("state")
	}
	exists, err := jobTableExists(ctx, db, dialectName)
	if err != nil || !exists {
		return page, err
	}

	var where strings.Builder
	args := []any{org}
	arg := func(v any) string {
		args = append(args, v)
		if dialectName == dialect.Postgres {
			return fmt.Sprintf("$%d", len(args))
		}
		return "?"
	}
	var columns string
	switch dialectName {
	case dialect.Postgres:
		// errors is jsonb[]: to_json gives one JSON array of the attempt errors.
		columns = `id, kind, state::text, attempt, max_attempts, coalesce(to_json(errors)::text, '[]'),
	created_at, scheduled_at, finalized_at`
		where.WriteString(`coalesce(args->>'organization_id', metadata->>'organization_id') = $1`)
		if f.State != "" {
			where.WriteString(" AND state::text = " + arg(f.State))
		}
	case dialect.SQLite:
		// River's SQLite driver keeps JSON in blobs; read them as text.
		columns = `id, kind, state, attempt, max_attempts, coalesce(CAST(errors AS text), '[]'),
	created_at, scheduled_at, finalized_at`
		where.WriteString(`coalesce(json_extract(CAST(args AS text), '$.organization_id'), json_extract(CAST(metadata AS text), '$.organization_id')) = ?`)
		if f.State != "" {
			where.WriteString(" AND state = " + arg(f.State))
		}
	default:
		return page, fmt.Errorf("adminq: unsupported dialect %q", dialectName)
	}
	if f.Kind != "" {
		where.WriteString(" AND kind = " + arg(f.Kind))
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE "+where.String(), args...).Scan(&page.Total); err != nil {
		return page, fmt.Errorf("count jobs: %w", err)
	}
	if f.Before > 0 {
		where.WriteString(" AND id < " + arg(f.Before))
	}
	// One more than asked says whether another page follows.
	q := "SELECT " + columns + " FROM river_job WHERE " + where.String() + " ORDER BY id DESC LIMIT " + arg(f.First+1)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			j                           Job
			errs                        string
			created, scheduled, finTime timeValue
		)
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &j.Attempt, &j.MaxAttempts, &errs, &created, &scheduled, &finTime); err != nil {
			return page, fmt.Errorf("list jobs: %w", err)
		}
		j.CreatedAt, j.ScheduledAt = created.t, scheduled.t
		if finTime.valid {
			t := finTime.t
			j.FinalizedAt = &t
		}
		j.Errors = attemptErrors(errs)
		page.Jobs = append(page.Jobs, j)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list jobs: %w", err)
	}
	if len(page.Jobs) > f.First {
		page.Jobs, page.More = page.Jobs[:f.First], true
	}
	return page, nil
}

func jobTableExists(ctx context.Context, db *sql.DB, dialectName string) (bool, error) {
	var exists bool
	var err error
	switch dialectName {
	case dialect.Postgres:
		// In the schema the connection uses (search_path), as River's migrations do.
		err = db.QueryRowContext(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&exists)
	case dialect.SQLite:
		err = db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'river_job')`).Scan(&exists)
	default:
		return false, fmt.Errorf("adminq: unsupported dialect %q", dialectName)
	}
	if err != nil {
		return false, fmt.Errorf("look for the jobs table: %w", err)
	}
	return exists, nil
}

// attemptErrors returns the "error" of each of River's attempt error objects.
func attemptErrors(raw string) []string {
	var errs []struct {
		Error string `json:"error"`
	}
	out := []string{}
	if json.Unmarshal([]byte(raw), &errs) != nil {
		return out
	}
	for _, e := range errs {
		out = append(out, e.Error)
	}
	return out
}

// timeValue scans a timestamp: a time.Time from lib/pq, or from SQLite either a time.Time
// or the text River's SQLite driver writes ("2006-01-02 15:04:05.999", UTC).
type timeValue struct {
	t     time.Time
	valid bool
}

var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
}

func (v *timeValue) Scan(src any) error {
	switch s := src.(type) {
	case nil:
		*v = timeValue{}
		return nil
	case time.Time:
		*v = timeValue{t: s.UTC(), valid: true}
		return nil
	case []byte:
		return v.Scan(string(s))
	case string:
		for _, layout := range sqliteTimeLayouts {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				*v = timeValue{t: t.UTC(), valid: true}
				return nil
			}
		}
		return fmt.Errorf("unrecognized time %q", s)
	case int64:
		*v = timeValue{t: time.Unix(s, 0).UTC(), valid: true}
		return nil
	}
	return fmt.Errorf("cannot scan %T into a time", src)
}
