package schema

import (
	"net/mail"
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"

	"books/internal/ids"
	"books/internal/qbo/syncstate"
)

// contactMixin holds what customers and vendors share.
type contactMixin struct{ mixin.Schema }

var phonePattern = regexp.MustCompile(`^[0-9+()./ \-x]{3,40}$`)

func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return errInvalidEmail
	}
	return nil
}

func (contactMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("display_name").NotEmpty().MaxLen(100).
			Comment("Unique across the organization's customers and vendors, as QuickBooks requires.").
			Annotations(entgql.OrderField("DISPLAY_NAME")),
		field.String("email").Optional().MaxLen(254).Validate(func(s string) error {
			if s == "" {
				return nil
			}
			return validEmail(s)
		}),
		field.String("phone").Optional().MaxLen(40).Validate(func(s string) error {
			if s == "" || phonePattern.MatchString(s) {
				return nil
			}
			return errInvalidPhone
		}),
		field.String("address_line1").Optional().MaxLen(200),
		field.String("address_line2").Optional().MaxLen(200),
		field.String("city").Optional().MaxLen(100),
		field.String("region").Optional().MaxLen(100),
		field.String("postal_code").Optional().MaxLen(20),
		field.String("country").Optional().MaxLen(2).Comment("ISO 3166-1 alpha-2"),
		currencyField("currency", 0),
		field.Bool("active").Default(true),
		field.String("hub_company_id").Optional().MaxLen(100),
		field.String("crm_contact_id").Optional().MaxLen(100),
		field.Enum("sync_status").GoType(syncstate.Status("")).Default(string(syncstate.NotSynced)).
			Annotations(entgql.Type("SyncStatus"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

func (contactMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "display_name").Unique()}
}

// Customer is someone the firm bills (accounts receivable).
type Customer struct{ ent.Schema }

func (Customer) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Customer}, timeMixin{}, orgMixin{portal: portalByColumn("id")}, contactMixin{}}
}

func (Customer) Annotations() []schema.Annotation {
	return append(gqlRoot("customers"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}

// Vendor is someone the firm pays.
type Vendor struct{ ent.Schema }

func (Vendor) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Vendor}, timeMixin{}, orgMixin{}, contactMixin{}}
}

func (Vendor) Annotations() []schema.Annotation {
	return append(gqlRoot("vendors"),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()))
}
