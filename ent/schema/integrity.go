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
		field.String("entity_id").Immutable().NotEmpty(),
		field.Int64("seq").Immutable().Comment("Position in the entity's chain, from 1."),
		field.String("entry_id").Immutable().NotEmpty(),
		field.String("prev_hash").Immutable().Comment("Hex SHA-256 of the previous link; empty for the first."),
		field.String("hash").Immutable().Comment("Hex SHA-256 of prev_hash and the entry's canonical content."),
		field.Time("sealed_at").Immutable(),
	}
}

func (LedgerSeal) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entity_id", "seq").Unique(),
		index.Fields("entry_id").Unique(),
	}
}

func (LedgerSeal) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// LedgerVerification records one run of the ledger verification of an entity: the hash
// chain recomputed and the ledger's invariants checked.
type LedgerVerification struct{ ent.Schema }

func (LedgerVerification) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.LedgerVerification}, orgMixin{}}
}

func (LedgerVerification) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty(),
		field.Time("verified_at").Immutable(),
		field.Bool("ok").Immutable().Comment("True when the chain and every invariant held."),
		field.Int("entries_checked").Immutable().Comment("Posted entries checked."),
		field.Int("entries_sealed").Immutable().Comment("Entries whose seal was recomputed."),
		field.Int64("head_seq").Immutable().Comment("The last link of the chain."),
		field.String("head_hash").Immutable().Comment("Hex SHA-256 of the last link; record it elsewhere to anchor the chain."),
		field.String("problem").Optional().Immutable().MaxLen(4000).
			Comment("The first broken link or invariant, when not ok."),
	}
}

func (LedgerVerification) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_id", "verified_at")}
}

func (LedgerVerification) Annotations() []schema.Annotation {
	return nil
}
