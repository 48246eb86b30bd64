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
			Comment("The full or legal name, e.g. Initech LLC.").
			Annotations(entgql.OrderField("NAME")),
		field.String("display_name").NotEmpty().MaxLen(100).
			Comment("The name Books shows, e.g. in journal entry descriptions. Unique across the organization's " +
				"customers and vendors ignoring case, as QuickBooks requires.").
			Annotations(entgql.OrderField("DISPLAY_NAME")),
		field.String("email").Optional().MaxLen(254).Validate(func(s string) error {
			if s == "" {
				return nil
			}
			return validEmail(s)
		}).Comment("One plain email address, e.g. billing@example.com; empty when unknown."),
		field.String("phone").Optional().MaxLen(40).Validate(func(s string) error {
			if s == "" || phonePattern.MatchString(s) {
				return nil
			}
			return errInvalidPhone
		}).Comment("Phone number of 3 to 40 characters: digits, spaces and + ( ) . / - x; empty when unknown."),
		field.String("address_line1").Optional().MaxLen(200).
			Comment("First line of the postal address; empty when unknown."),
		field.String("address_line2").Optional().MaxLen(200).
			Comment("Second line of the postal address; empty when none."),
		field.String("city").Optional().MaxLen(100).
			Comment("City of the postal address; empty when unknown."),
		field.String("region").Optional().MaxLen(100).
			Comment("State, province or region of the postal address; empty when unknown."),
		field.String("postal_code").Optional().MaxLen(20).
			Comment("Postal or ZIP code of the postal address; empty when unknown."),
		field.String("country").Optional().MaxLen(2).
			Comment("Country of the postal address as an ISO 3166-1 alpha-2 code, e.g. US; empty when unknown."),
		currencyField("currency", 0, "ISO 4217 code of the currency the contact deals in, e.g. USD. A customer's "+
			"invoices, payments and credit memos are all in it, and it must be the legal entity's base currency: "+
			"Books has no exchange rates."),
		field.Bool("active").Default(true).
			Comment("Whether the contact is in use. New invoices and credit memos refuse an inactive customer."),
		field.String("hub_company_id").Optional().MaxLen(100).
			Comment("The id of the matching company in Hub; empty when not linked."),
		field.String("crm_contact_id").Optional().MaxLen(100).
			Comment("The id of the matching contact in the CRM; empty when not linked."),
		field.Enum("sync_status").GoType(syncstate.Status("")).Default(string(syncstate.NotSynced)).
			Comment("Where the contact stands with QuickBooks Online; new contacts are not synced. Set by Books, "+
				"never by clients.").
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
	return append(gqlRoot("customers", "The organization's customers."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("Someone the firm bills (accounts receivable). Invoices, payments and credit memos "+
			"belong to a customer; a client portal user sees only their own customer's records."))
}

// Vendor is someone the firm pays.
type Vendor struct{ ent.Schema }

func (Vendor) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Vendor}, timeMixin{}, orgMixin{}, contactMixin{}}
}

func (Vendor) Annotations() []schema.Annotation {
	return append(gqlRoot("vendors", "The organization's vendors."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		schema.Comment("Someone the firm pays (accounts payable). Vendors and customers share one set of "+
			"display names, as QuickBooks requires."))
}
