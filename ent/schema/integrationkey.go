package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

// IntegrationKey lets an external system post journal entries for some entities and source
// systems. Only a hash of the secret is stored; the secret is shown once, at creation.
type IntegrationKey struct{ ent.Schema }

func (IntegrationKey) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.IntegrationKey}, timeMixin{}, orgMixin{}}
}

func (IntegrationKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		field.String("prefix").Immutable().
			Comment("The first characters of the key, so people can tell keys apart."),
		field.String("secret_hash").Immutable().Sensitive().Unique().
			Annotations(entgql.Skip()),
		field.Strings("entity_ids").Immutable(),
		field.Strings("source_systems").Immutable(),
		field.String("created_by").Default("").Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (IntegrationKey) Annotations() []schema.Annotation {
	return gqlRoot("integrationKeys")
}

// IdempotencyRecord remembers the response to a request made with an Idempotency-Key, so a
// retry replays it and a different request under the same key is refused.
type IdempotencyRecord struct{ ent.Schema }

func (IdempotencyRecord) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Idempotency}, timeMixin{}, orgMixin{}}
}

func (IdempotencyRecord) Fields() []ent.Field {
	return []ent.Field{
		field.String("scope").Immutable().NotEmpty().
			Comment("Who may replay it: the integration key id."),
		field.String("key").Immutable().NotEmpty().MaxLen(255),
		field.String("request_hash").Immutable(),
		field.Int("status_code").Immutable(),
		field.Bytes("response").Immutable(),
	}
}

func (IdempotencyRecord) Indexes() []ent.Index {
	return []ent.Index{index.Fields("scope", "key").Unique()}
}

func (IdempotencyRecord) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// AuditEvent records who changed what, when, and through which interface.
type AuditEvent struct{ ent.Schema }

func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.AuditEvent}, orgMixin{}}
}

func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Time("at").Immutable().Annotations(entgql.OrderField("AT")),
		field.String("actor").Immutable().Comment("User subject, integration key id or \"system\"."),
		field.Enum("actor_type").Values("user", "integration_key", "system").Immutable().
			Annotations(entgql.Type("AuditActorType")),
		field.Enum("via").Values("graphql", "api", "cli", "system").Immutable().
			Annotations(entgql.Type("AuditInterface")),
		field.String("action").Immutable(),
		field.String("subject_id").Optional().Immutable(),
		field.String("request_id").Optional().Immutable(),
		field.String("detail").Optional().Immutable().MaxLen(8000),
	}
}

func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "at")}
}

func (AuditEvent) Annotations() []schema.Annotation {
	return gqlRoot("auditEvents")
}
