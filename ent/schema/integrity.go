package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"books/internal/ids"
)

// LedgerSeal is one link of an entity's hash chain: the seal of one posted journal entry,
// SHA-256 over the previous link's hash and the entry's canonical content with its lines.
// Seals are append-only (the database refuses updates, deletes and truncation).
type LedgerSeal struct{ ent.Schema }

func (LedgerSeal) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.LedgerSeal}, orgMixin{}}
}

func (LedgerSeal) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity whose chain the link belongs to."),
		field.Int64("seq").Immutable().Comment("Position in the entity's chain, from 1."),
		field.String("entry_id").Immutable().NotEmpty().
			Comment("The posted journal entry the link seals; each entry is sealed once."),
		field.String("prev_hash").Immutable().Comment("Hex SHA-256 of the previous link; empty for the first."),
		field.String("hash").Immutable().Comment("Hex SHA-256 of prev_hash and the entry's canonical content."),
		field.Time("sealed_at").Immutable().
			Comment("When the sealer appended the link (UTC)."),
	}
}

func (LedgerSeal) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entity_id", "seq").Unique(),
		index.Fields("entry_id").Unique(),
	}
}

func (LedgerSeal) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		schema.Comment("One link of a legal entity's hash chain: the seal of one posted journal entry, SHA-256 " +
			"over the previous link's hash and the entry's canonical content with its lines. Append-only."),
	}
}

// LedgerVerification records one run of the ledger verification of an entity: the hash
// chain recomputed and the ledger's invariants checked.
type LedgerVerification struct{ ent.Schema }

func (LedgerVerification) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.LedgerVerification}, orgMixin{}}
}

func (LedgerVerification) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity verified."),
		field.Time("verified_at").Immutable().
			Comment("When the verification ran (UTC)."),
		field.Bool("ok").Immutable().Comment("True when the chain and every invariant held."),
		field.Int("entries_checked").Immutable().
			Comment("How many posted or reversed journal entries were checked, sealed or not."),
		field.Int("entries_sealed").Immutable().
			Comment("How many links of the hash chain were recomputed."),
		field.Int64("head_seq").Immutable().
			Comment("Position of the chain's last link; 0 when no entry is sealed yet."),
		field.String("head_hash").Immutable().
			Comment("Hex SHA-256 of the chain's last link, empty when no entry is sealed yet; record it " +
				"outside Books to anchor the chain."),
		field.String("problem").Optional().Immutable().MaxLen(4000).
			Comment("The first broken link or invariant found; empty when ok."),
	}
}

func (LedgerVerification) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "verified_at")}
}

func (LedgerVerification) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One run of the ledger verification of a legal entity: its hash chain of sealed " +
			"journal entries recomputed, and the ledger's invariants checked (entries and trial balance " +
			"balanced, Accounts Receivable and Customer Credits equal to their documents)."),
	}
}
