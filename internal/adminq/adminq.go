// Package adminq is the admin issue queue: problems a person must look at — a job that
// gave up, an error only a person can fix — stored as one AdminIssue per problem per object,
// and announced on the realtime broker so open screens update at once.
//
// The same problem on the same object (organization, kind, subject id, error code) is one
// row: raising it again bumps its count, records when it was last seen and its latest
// message, and re-opens it if it had been resolved. An ignored issue stays ignored; its count
// still grows.
//
// # Job args convention
//
// A River job whose failure should reach the queue names its organization, and ideally the
// object it works on, with these top-level JSON keys in its args (or, failing that, in its
// metadata):
//
//	"organization_id"  the organization the job works for (required: without it no issue)
//	"entity_id"        the legal entity, when there is one
//	"subject_type"     the kind of object, e.g. "invoice"
//	"subject_id"       the object's id, e.g. "inv_01…"; failures of the same job kind on the
//	                   same subject with the same error code are one issue
//
// The `jobs` GraphQL query uses "organization_id" the same way to show an organization only
// its own jobs.
package adminq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/riverqueue/river/rivertype"

	"books/ent"
	"books/ent/adminissue"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/realtime"
	"books/internal/tenant"
)

// Problem describes an issue to raise. Kind is required; the rest may be empty.
type Problem struct {
	EntityID     string
	Kind         string // what went wrong, e.g. "qbo_push_invoice"
	SubjectType  string // e.g. "invoice"
	SubjectID    string // the object's id
	ErrorCode    string // a stable code, e.g. apperr's or "JOB_FAILED"
	ErrorMessage string
	// JobKind and JobArgs are the job to enqueue again on retry.
	JobKind string
	JobArgs string
}

// Column limits of admin_issues (ent/schema/adminissue.go).
const (
	maxKind    = 100
	maxSubject = 100
	maxType    = 50
	maxCode    = 100
	maxMessage = 4000
	maxNote    = 4000
)

// JobFailed is the error code of a job failure whose error carries no code of its own.
const JobFailed = "JOB_FAILED"

// Topic is the realtime topic announcing changes to org's issues; each event's payload is
// the id of the issue that changed.
func Topic(org string) string { return "admin_issues:" + org }

// Raise stores p as an issue of the organization of ctx (tenant.Org), or bumps the existing
// one, and returns it as stored. It publishes nothing: Queue.Raise does both.
func Raise(ctx context.Context, c *ent.Client, p Problem) (*ent.AdminIssue, error) {
	if tenant.IsSystem(ctx) {
		return nil, apperr.New(apperr.Validation, "adminq: a system context has no organization; use RaiseFor")
	}
	if _, ok := tenant.Org(ctx); !ok {
		return nil, tenant.ErrMissing
	}
	return raise(ctx, c, "", p)
}

// RaiseFor is Raise for an explicit organization, for contexts without one — tenant.System
// ones, such as a job's error handler. In a tenant context orgID must be that tenant's.
func RaiseFor(ctx context.Context, c *ent.Client, orgID string, p Problem) (*ent.AdminIssue, error) {
	if orgID == "" {
		return nil, apperr.New(apperr.Validation, "adminq: organization id required")
	}
	return raise(ctx, c, orgID, p)
}

func raise(ctx context.Context, c *ent.Client, orgID string, p Problem) (*ent.AdminIssue, error) {
	p.Kind = strings.TrimSpace(p.Kind)
	if p.Kind == "" {
		return nil, apperr.New(apperr.Validation, "an issue needs a kind").WithField("kind")
	}
	p.Kind = truncate(p.Kind, maxKind)
	p.SubjectID = truncate(p.SubjectID, maxSubject)
	p.SubjectType = truncate(p.SubjectType, maxType)
	p.ErrorCode = truncate(p.ErrorCode, maxCode)
	p.ErrorMessage = truncate(p.ErrorMessage, maxMessage)
	p.JobKind = truncate(p.JobKind, maxKind)

	now := time.Now().UTC()
	create := c.AdminIssue.Create().
		SetKind(p.Kind).
		SetSubjectID(p.SubjectID).
		SetErrorCode(p.ErrorCode).
		SetFirstSeenAt(now).
		SetLastSeenAt(now).
		SetOccurrences(1).
		SetStatus(adminissue.StatusOpen)
	if orgID != "" {
		create.SetOrganizationID(orgID)
	}
	if p.EntityID != "" {
		create.SetEntityID(p.EntityID)
	}
	if p.SubjectType != "" {
		create.SetSubjectType(p.SubjectType)
	}
	if p.ErrorMessage != "" {
		create.SetErrorMessage(p.ErrorMessage)
	}
	if p.JobKind != "" {
		create.SetJobKind(p.JobKind).SetJobArgs(p.JobArgs)
	}
	id, err := create.
		OnConflictColumns(adminissue.FieldOrganizationID, adminissue.FieldKind, adminissue.FieldSubjectID, adminissue.FieldErrorCode).
		Update(func(u *ent.AdminIssueUpsert) {
			u.SetLastSeenAt(now).SetUpdatedAt(now).AddOccurrences(1)
			// The latest details win; what this raise does not know is kept.
			if p.ErrorMessage != "" {
				u.SetErrorMessage(p.ErrorMessage)
			}
			if p.EntityID != "" {
				u.SetEntityID(p.EntityID)
			}
			if p.SubjectType != "" {
				u.SetSubjectType(p.SubjectType)
			}
			if p.JobKind != "" {
				u.SetJobKind(p.JobKind).SetJobArgs(p.JobArgs)
			}
			// A resolved issue that happens again is open again; an ignored one stays ignored.
			status := u.Table().C(adminissue.FieldStatus)
			resolved := "CASE WHEN " + status + " = '" + string(adminissue.StatusResolved) + "' THEN "
			u.Set(adminissue.FieldStatus, sql.Expr(resolved+"'"+string(adminissue.StatusOpen)+"' ELSE "+status+" END"))
			for _, col := range []string{adminissue.FieldResolvedAt, adminissue.FieldResolvedBy} {
				u.Set(col, sql.Expr(resolved+"NULL ELSE "+u.Table().C(col)+" END"))
			}
		}).
		ID(ctx)
	if err != nil {
		return nil, fmt.Errorf("raise admin issue %s: %w", p.Kind, err)
	}
	// The upsert returns the row's id; its counters are the database's.
	return c.AdminIssue.Get(ctx, id)
}

// Queue raises and settles issues and announces every change on Broker.
type Queue struct {
	// Broker carries the change events (topic Topic(org), payload the issue id). Nil
	// publishes nothing.
	Broker realtime.Broker
	// Enqueue puts a job back on the queue for Retry, in c's transaction when c has one
	// (River's InsertTx through c.SQLTx()). Nil makes Retry fail.
	Enqueue func(ctx context.Context, c *ent.Client, kind, args string) error
	// Client is the root client RaiseJobFailure writes with (a job's error handler has
	// none of its own).
	Client *ent.Client
}

// Raise is the package's Raise, then announces the issue.
func (q *Queue) Raise(ctx context.Context, c *ent.Client, p Problem) (*ent.AdminIssue, error) {
	iss, err := Raise(ctx, c, p)
	if err != nil {
		return nil, err
	}
	return iss, q.publish(ctx, c, iss)
}

// RaiseFor is the package's RaiseFor, then announces the issue.
func (q *Queue) RaiseFor(ctx context.Context, c *ent.Client, orgID string, p Problem) (*ent.AdminIssue, error) {
	iss, err := RaiseFor(ctx, c, orgID, p)
	if err != nil {
		return nil, err
	}
	return iss, q.publish(ctx, c, iss)
}

// Retry enqueues the issue's job again and marks the issue resolved with the note
// "retried". An issue without a job is VALIDATION. If the job fails again, its error handler
// raises the issue again, which re-opens it.
//
// The settle and the enqueue share one transaction (c's, or one opened here): a job enqueued
// on its own commits at once, and a poison job could then fail and re-open the issue before
// the settle, which would overwrite the re-open with "resolved".
func (q *Queue) Retry(ctx context.Context, c *ent.Client, id string) (*ent.AdminIssue, error) {
	tx, err := c.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return q.retry(ctx, c, id)
	}
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	// Carry the transaction in ctx so the realtime nudge waits for the commit.
	iss, err := q.retry(ent.NewTxContext(ctx, tx), tx.Client(), id)
	if err != nil {
		return nil, errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return iss.Unwrap(), nil
}

func (q *Queue) retry(ctx context.Context, c *ent.Client, id string) (*ent.AdminIssue, error) {
	iss, err := c.AdminIssue.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if iss.JobKind == "" {
		return nil, apperr.New(apperr.Validation, "issue %s has no job to retry", id)
	}
	if q.Enqueue == nil {
		return nil, apperr.New(apperr.Internal, "adminq: no job queue configured for retries")
	}
	// Settle first: on PostgreSQL the update locks the issue row until commit, so a raise
	// by the retried job waits for it.
	settled, err := q.settle(ctx, c, id, adminissue.StatusResolved, "retried")
	if err != nil {
		return nil, err
	}
	if err := q.Enqueue(ctx, c, iss.JobKind, iss.JobArgs); err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", iss.JobKind, err)
	}
	return settled, nil
}

// Resolve marks the issue resolved, with an optional note.
func (q *Queue) Resolve(ctx context.Context, c *ent.Client, id, note string) (*ent.AdminIssue, error) {
	return q.settle(ctx, c, id, adminissue.StatusResolved, strings.TrimSpace(note))
}

// Ignore marks the issue ignored: it stays out of the open list even when raised again. The
// note saying why is required.
func (q *Queue) Ignore(ctx context.Context, c *ent.Client, id, note string) (*ent.AdminIssue, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return nil, apperr.New(apperr.Validation, "ignoring an issue needs a note saying why").WithField("note")
	}
	return q.settle(ctx, c, id, adminissue.StatusIgnored, note)
}

// settle closes an issue as resolved or ignored, recording who did it, when, and the note.
func (q *Queue) settle(ctx context.Context, c *ent.Client, id string, status adminissue.Status, note string) (*ent.AdminIssue, error) {
	if len(note) > maxNote {
		return nil, apperr.New(apperr.Validation, "the note is longer than %d bytes", maxNote).WithField("note")
	}
	actor, _ := audit.Who(ctx)
	u := c.AdminIssue.UpdateOneID(id).
		SetStatus(status).
		SetResolvedBy(actor).
		SetResolvedAt(time.Now().UTC())
	if note != "" {
		u.SetNote(note)
	} else {
		u.ClearNote()
	}
	iss, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	return iss, q.publish(ctx, c, iss)
}

// publish announces a change of iss once c's writes are committed (realtime.PublishCommitted).
func (q *Queue) publish(ctx context.Context, c *ent.Client, iss *ent.AdminIssue) error {
	if q == nil || q.Broker == nil {
		return nil
	}
	return realtime.PublishCommitted(ctx, q.Broker, c, Topic(iss.OrganizationID), []byte(iss.ID))
}

// RaiseJobFailure raises an issue for a job that gave up or was cancelled; it implements the
// job runner's IssueRaiser. The organization, entity and subject come from the job's args or
// metadata (see the package documentation); the kind is the job's kind; the error code is
// err's apperr code, or JOB_FAILED; the job's kind and args are kept so Retry can enqueue it
// again.
func (q *Queue) RaiseJobFailure(ctx context.Context, job *rivertype.JobRow, err error) error {
	if job == nil {
		return errors.New("adminq: no job")
	}
	if q.Client == nil {
		return errors.New("adminq: Queue.Client is not set")
	}
	keys := jobKeys(job)
	org := keys["organization_id"]
	if org == "" {
		return fmt.Errorf("adminq: job %d (%s) names no organization_id in its args or metadata; no issue raised", job.ID, job.Kind)
	}
	code, msg := JobFailed, "the job gave up"
	if err != nil {
		msg = err.Error()
		if e, ok := apperr.As(err); ok && e.Code != "" {
			code = e.Code
		}
	}
	if job.State == rivertype.JobStateCancelled && err == nil {
		msg = "the job was cancelled"
	}
	_, rerr := q.RaiseFor(tenant.System(ctx), q.Client, org, Problem{
		EntityID:     keys["entity_id"],
		Kind:         job.Kind,
		SubjectType:  keys["subject_type"],
		SubjectID:    keys["subject_id"],
		ErrorCode:    code,
		ErrorMessage: msg,
		JobKind:      job.Kind,
		JobArgs:      string(job.EncodedArgs),
	})
	return rerr
}

// jobKeys reads the convention's keys from the job's args, then its metadata for any the
// args lack. Values that are not strings are ignored.
func jobKeys(job *rivertype.JobRow) map[string]string {
	out := map[string]string{}
	for _, raw := range [][]byte{job.EncodedArgs, job.Metadata} {
		var m map[string]any
		if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
			continue
		}
		for _, k := range []string{"organization_id", "entity_id", "subject_type", "subject_id"} {
			if s, ok := m[k].(string); ok && s != "" && out[k] == "" {
				out[k] = s
			}
		}
	}
	return out
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
