package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

// AdminIssue is a problem a person must look at: a job that gave up, or an error only a
// person can fix (a disconnected QuickBooks company, a customer without an email). The same
// problem on the same object is one issue whose count grows, not a flood of rows.
type AdminIssue struct{ ent.Schema }

func (AdminIssue) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.AdminIssue}, timeMixin{}, orgMixin{}}
}

func (AdminIssue) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Optional().Nillable().
			Comment("The legal entity the problem concerns; null when it concerns none or the failed job did not name one."),
		field.String("kind").NotEmpty().MaxLen(100).
			Comment("What went wrong, e.g. qbo_push_invoice or missing_customer_email; for a background job " +
				"that gave up, the job's kind.").
			Annotations(entgql.OrderField("KIND")),
		field.String("subject_type").Optional().MaxLen(50).
			Comment("The kind of object the problem is about, e.g. invoice; empty when unknown."),
		field.String("subject_id").Default("").MaxLen(100).
			Comment("The id of the object the problem is about, e.g. inv_01jd8x…; empty when unknown. " +
				"The same kind of problem with the same error code on the same object is one issue."),
		field.String("error_code").Default("").MaxLen(100).
			Comment("A stable code for the error: an API error code such as VALIDATION, or JOB_FAILED for " +
				"a job error without a code of its own; empty when none."),
		field.String("error_message").Optional().MaxLen(4000).
			Comment("The latest error message; an occurrence that carries a message replaces the one before. " +
				"Empty when none."),
		field.Time("first_seen_at").
			Comment("When the problem first occurred (UTC).").
			Annotations(entgql.OrderField("FIRST_SEEN_AT")),
		field.Time("last_seen_at").
			Comment("When the problem last occurred (UTC).").
			Annotations(entgql.OrderField("LAST_SEEN_AT")),
		field.Int("occurrences").Default(1).
			Comment("How many times the problem has occurred; 1 the first time."),
		field.Enum("status").Values("open", "resolved", "ignored").Default("open").
			Comment("Whether the issue still needs a person. A resolved issue that occurs again is open again; " +
				"an ignored one stays ignored while its count grows.").
			Annotations(entgql.Type("AdminIssueStatus")),
		field.String("note").Optional().MaxLen(4000).
			Comment("The note left by whoever last resolved or ignored the issue (ignoring needs one; a retry " +
				"leaves \"retried\"); empty when none."),
		field.String("job_kind").Optional().MaxLen(100).
			Comment("The kind of the background job that gave up; retrying the issue enqueues that job again " +
				"with its stored arguments. Empty when there is no job to retry."),
		field.String("job_args").Optional().
			Comment("The failed job's arguments as JSON, enqueued again with job_kind on retry.").
			Annotations(entgql.Skip()),
		field.String("resolved_by").Optional().
			Comment("Who last resolved, retried or ignored the issue: a user's subject, or system. Empty while " +
				"open; cleared when a resolved issue re-opens."),
		field.Time("resolved_at").Optional().Nillable().
			Comment("When the issue was last resolved, retried or ignored (UTC). Null while open; cleared when " +
				"a resolved issue re-opens."),
	}
}

func (AdminIssue) Indexes() []ent.Index {
	return []ent.Index{
		// One row per problem per object: raising it again bumps the count.
		index.Fields("organization_id", "kind", "subject_id", "error_code").Unique(),
		index.Fields("organization_id", "status", "last_seen_at"),
	}
}

func (AdminIssue) Annotations() []schema.Annotation {
	return append(gqlRoot("adminIssues", "The organization's admin issues: problems a person must look at."),
		schema.Comment("A problem a person must look at: a background job that gave up, or an error only a "+
			"person can fix. The same problem on the same object is one issue whose count grows, not a flood "+
			"of rows."))
}
