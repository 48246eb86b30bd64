package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
	"books/internal/qbo/settings"
)

// QBOConnection is a legal entity's link to one QuickBooks Online company (realm) and the
// OAuth tokens that reach it, sealed by internal/secrets. internal/qbo/conn alone writes
// its realm, status and tokens; internal/qbo/lists writes its settings and list times.
//
// A row is kept for every realm an entity has connected: disconnecting keeps it (and the
// links of synced records that will name it), reconnecting the same realm revives it, and a
// different realm is a new row with fresh links. Hence: a realm belongs to one connection in
// the whole table, and an entity has at most one connection that is not disconnected.
type QBOConnection struct{ ent.Schema }

func (QBOConnection) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.QBOConnection}, timeMixin{}, orgMixin{}}
}

func (QBOConnection) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity the connection belongs to; fixed at creation."),
		field.String("realm_id").Immutable().NotEmpty().MaxLen(64).
			Comment("QuickBooks' id of the company (realm) connected; unique in the whole table: a company " +
				"is kept by one Books entity, even after it disconnects, so two ledgers never push into one company."),
		field.Enum("status").Values("connected", "needs_reauth", "disconnected").Default("connected").
			Comment("Whether the connection can be used: connected; needs_reauth after QuickBooks refused the " +
				"refresh token (invalid_grant), until someone connects again; disconnected by a person, tokens cleared."),
		field.String("access_token_sealed").Optional().Nillable().Sensitive().
			Comment("The OAuth access token, sealed (AES-256-GCM with a key id) and bound to this row and " +
				"column; null once disconnected."),
		field.String("refresh_token_sealed").Optional().Nillable().Sensitive().
			Comment("The OAuth refresh token, sealed (AES-256-GCM with a key id) and bound to this row and " +
				"column; null once disconnected."),
		field.Time("access_expires_at").Optional().Nillable().
			Comment("When the access token expires (UTC); null once disconnected."),
		field.Time("refresh_expires_at").Optional().Nillable().
			Comment("When the refresh token expires unless used (UTC), from x_refresh_token_expires_in; null " +
				"once disconnected."),
		field.Time("refresh_hard_expires_at").Optional().Nillable().
			Comment("The refresh token's hard expiry, after which no refresh helps and the company must be " +
				"connected again (UTC); null when QuickBooks did not say."),
		field.Int64("token_generation").Default(0).
			Comment("Counts every change of the stored tokens. A token refresh stores its new pair only if " +
				"the generation it read is still current, so a refresh that lost a race never overwrites a newer " +
				"refresh token."),
		field.Time("connected_at").
			Comment("When the company was last connected (UTC)."),
		field.Time("disconnected_at").Optional().Nillable().
			Comment("When the connection was disconnected (UTC); null unless its status is disconnected."),
		field.String("last_error").Optional().MaxLen(2000).
			Comment("Why the connection needs re-authorization, e.g. QuickBooks' invalid_grant; empty when none."),
		field.String("base_url").NotEmpty().
			Comment("The Accounting API's base URL the company is reached at, e.g. the sandbox or production host."),
		// text, not jsonb, on PostgreSQL, as invoices' custom_fields: lib/pq's binary
		// parameters would send the JSON in a binary form jsonb refuses.
		field.JSON("settings", settings.Settings{}).Optional().
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Comment("The connection's sync settings (seed 001's Additional Settings), validated by internal/qbo/settings."),
		field.String("company_name").Optional().MaxLen(400).
			Comment("The QuickBooks company's name from CompanyInfo, read when connecting; empty when unknown."),
		field.Time("lists_updated_at").Optional().Nillable().
			Comment("When Update lists last fetched the company's lists (UTC); null before."),
		field.Time("polled_through").Optional().Nillable().
			Comment("The poller's watermark: QuickBooks changes up to this time (UTC) have been read. The next " +
				"pass reads from a little before it; null before the first pass."),
		field.Time("polled_at").Optional().Nillable().
			Comment("When the poller last finished a pass (UTC); null before the first."),
	}
}

func (QBOConnection) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable().
			Comment("The legal entity the connection belongs to."),
	}
}

func (QBOConnection) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("realm_id").Unique(),
		// At most one live connection per entity; disconnected rows stay for their links. The
		// predicate names no enum value: PostgreSQL keeps it with casts added, which SQLite
		// could not parse, and the migration test compares the stored text.
		index.Fields("entity_id").Unique().
			Annotations(entsql.IndexWhere("disconnected_at IS NULL")),
	}
}

func (QBOConnection) Annotations() []schema.Annotation {
	return []schema.Annotation{
		// The GraphQL shape (status, connect and disconnect) comes with the OAuth flow.
		entgql.Skip(entgql.SkipAll),
		// The same on both databases: a status the code does not know is refused, a live
		// connection holds both tokens, and a disconnected one holds none.
		entsql.Checks(map[string]string{
			"qbo_connection_status": "status IN ('connected', 'needs_reauth', 'disconnected')",
			"qbo_connection_tokens": "((status = 'disconnected' AND access_token_sealed IS NULL AND refresh_token_sealed IS NULL) OR " +
				"(status <> 'disconnected' AND access_token_sealed IS NOT NULL AND refresh_token_sealed IS NOT NULL))",
			"qbo_connection_generation":   "token_generation >= 0",
			"qbo_connection_disconnected": "((status = 'disconnected') = (disconnected_at IS NOT NULL))",
		}),
		schema.Comment("A legal entity's connection to one QuickBooks Online company (realm), with its OAuth " +
			"tokens sealed. Kept after disconnecting, so reconnecting the same company resumes its links."),
	}
}
