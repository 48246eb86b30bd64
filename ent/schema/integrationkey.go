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
		field.String("name").NotEmpty().MaxLen(200).
			Comment("What the key is for, so people can tell keys apart, e.g. PSA production."),
		field.String("prefix").Immutable().
			Comment("The first characters of the key (bk_int_ and six more), so people can tell keys apart; " +
				"the secret itself is shown once, at creation, and never stored."),
		field.String("secret_hash").Immutable().Sensitive().Unique().
			Comment("Hex SHA-256 of the secret, which is checked against it on every call.").
			Annotations(entgql.Skip()),
		// Text, not jsonb, on PostgreSQL: the driver sends []byte parameters in binary format,
		// which jsonb would read as its own binary encoding.
		// Both lists are shown typed by graph/schema.graphqls (IDs, SourceSystem values).
		field.Strings("entity_ids").Immutable().SchemaType(textJSON).
			Comment("The ids of the legal entities the key may post journal entries to; at least one.").
			Annotations(entgql.Skip()),
		field.Strings("source_systems").Immutable().SchemaType(textJSON).
			Comment("The source systems the key may post journal entries as, e.g. psa; at least one.").
			Annotations(entgql.Skip()),
		field.String("created_by").Default("").Immutable().
			Comment("Who created the key, e.g. a user's subject."),
		field.Time("revoked_at").Optional().Nillable().
			Comment("When the key was revoked (UTC); null while it is in use. A revoked key is refused."),
	}
}

func (IntegrationKey) Annotations() []schema.Annotation {
	return append(gqlRoot("integrationKeys", "The organization's integration keys, revoked ones included."),
		schema.Comment("Lets an external system post journal entries through the JE API (header "+
			"X-Integration-Key) for some legal entities and source systems. Only a hash of the secret is "+
			"stored; the secret is shown once, at creation."))
}

// AuditEvent records who changed what, when, and through which interface.
type AuditEvent struct{ ent.Schema }

func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.AuditEvent,
		note: "The audit event of a ledger posting is aud_ followed by the entry's id."}, orgMixin{}}
}

func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Time("at").Immutable().
			Comment("When the change happened (UTC).").
			Annotations(entgql.OrderField("AT")),
		field.String("actor").Immutable().
			Comment("Who made the change: a user's subject, an integration key's id, or system."),
		field.Enum("actor_type").Values("user", "integration_key", "system").Immutable().
			Comment("What kind of caller the actor is.").
			Annotations(entgql.Type("AuditActorType")),
		field.Enum("via").Values("graphql", "api", "cli", "system").Immutable().
			Comment("The interface the change came through.").
			Annotations(entgql.Type("AuditInterface")),
		field.String("action").Immutable().
			Comment("What was done: the GraphQL mutation's name, e.g. approveInvoice, or journal_entry.post " +
				"and journal_entry.reverse for ledger postings, which the database records itself."),
		field.String("subject_id").Optional().Immutable().
			Comment("The id of the record changed, e.g. the journal entry posted or the invoice approved; " +
				"empty when there is none."),
		field.String("request_id").Optional().Immutable().
			Comment("The id of the HTTP request that made the change (its X-Request-Id), to find it in the " +
				"logs; empty outside a request."),
		field.String("detail").Optional().Immutable().MaxLen(8000).
			Comment("More about the change, cut at 8,000 characters: a mutation's arguments as JSON, \"bulk\" " +
				"for an item of a bulk mutation, or source_system:source_ref of a ledger posting."),
	}
}

func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "at")}
}

func (AuditEvent) Annotations() []schema.Annotation {
	return append(gqlRoot("auditEvents", "The organization's audit log."),
		schema.Comment("Records who changed what, when, and through which interface. Written in the same "+
			"transaction as the change (every GraphQL mutation and every ledger posting), and never updated "+
			"or deleted."))
}
