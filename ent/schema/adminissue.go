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
		field.String("entity_id").Optional().Nillable(),
		field.String("kind").NotEmpty().MaxLen(100).
			Comment("What went wrong, e.g. qbo_push_invoice or missing_customer_email.").
			Annotations(entgql.OrderField("KIND")),
		field.String("subject_type").Optional().MaxLen(50),
		field.String("subject_id").Default("").MaxLen(100),
		field.String("error_code").Default("").MaxLen(100),
		field.String("error_message").Optional().MaxLen(4000),
		field.Time("first_seen_at").Annotations(entgql.OrderField("FIRST_SEEN_AT")),
		field.Time("last_seen_at").Annotations(entgql.OrderField("LAST_SEEN_AT")),
		field.Int("occurrences").Default(1),
		field.Enum("status").Values("open", "resolved", "ignored").Default("open").
			Annotations(entgql.Type("AdminIssueStatus")),
		field.String("note").Optional().MaxLen(4000),
		field.String("job_kind").Optional().MaxLen(100).
			Comment("The job to enqueue again on retry, with job_args."),
		field.String("job_args").Optional().Annotations(entgql.Skip()),
		field.String("resolved_by").Optional(),
		field.Time("resolved_at").Optional().Nillable(),
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
	return gqlRoot("adminIssues")
}
