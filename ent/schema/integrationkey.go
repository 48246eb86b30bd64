package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

var textJSON = map[string]string{dialect.Postgres: "text"}

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
		// Text, not jsonb, on PostgreSQL: the driver sends []byte parameters in binary format,
		// which jsonb would read as its own binary encoding.
		field.Strings("entity_ids").Immutable().SchemaType(textJSON),
		field.Strings("source_systems").Immutable().SchemaType(textJSON),
		field.String("created_by").Default("").Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (IntegrationKey) Annotations() []schema.Annotation {
	return gqlRoot("integrationKeys")
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
