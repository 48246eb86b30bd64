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
)

// StripeAccount is one Stripe account of the organization: its keys and webhook signing
// secrets. The secret key and signing secrets are sealed by internal/secrets and never leave
// Books: the API takes them and says only that they are set. internal/stripepay alone writes
// them.
type StripeAccount struct{ ent.Schema }

func (StripeAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.StripeAccount}, timeMixin{}, orgMixin{}}
}

func (StripeAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("A name for people, e.g. US operating account; unique in the organization.").
			Annotations(entgql.OrderField("NAME")),
		field.String("publishable_key").NotEmpty().MaxLen(255).
			Comment("The account's publishable key (pk_…), which the portal's payment form uses; not a secret."),
		field.String("secret_key_sealed").NotEmpty().Sensitive().
			Comment("The secret API key, sealed (AES-256-GCM with a key id) and bound to this row and column.").
			Annotations(entgql.Skip()),
		field.String("secret_key_hint").MaxLen(40).
			Comment("The secret key's mode and last four characters (sk_test_…4242), so a person can tell which " +
				"key is stored; the key itself is never returned."),
		field.Bool("livemode").Default(false).
			Comment("Whether the secret key is a live key (sk_live_ or rk_live_); test keys move no real money."),
		field.String("webhook_secrets_sealed").Optional().Sensitive().
			Comment("The webhook signing secrets (whsec_…), a JSON list sealed as one value and bound to this row " +
				"and column; during a rotation the old and new secrets are both held.").
			Annotations(entgql.Skip()),
		field.Int("webhook_secret_count").Default(0).
			Comment("How many webhook signing secrets are held (more than one during a rotation); zero means " +
				"webhooks to this account are refused."),
		field.Bool("is_default").Default(false).
			Comment("Whether this is the organization's default account: entities without a billing profile " +
				"take payments through it. At most one per organization."),
		field.Time("events_through").Optional().Nillable().
			Comment("The backstop's watermark: Stripe events created up to this time (UTC, Stripe's clock) have " +
				"been listed into the inbox; null before the first pass.").
			Annotations(entgql.Skip()),
		field.Time("events_polled_at").Optional().Nillable().
			Comment("When the backstop last listed the account's events (UTC); null before the first pass."),
	}
}

func (StripeAccount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "name").Unique(),
		// One default account per organization, however many requests race to set one.
		index.Fields("organization_id").Unique().StorageKey("stripe_accounts_one_default").
			Annotations(entsql.IndexWhere("is_default")),
	}
}

func (StripeAccount) Annotations() []schema.Annotation {
	return append(gqlRoot("stripeAccounts", "The organization's Stripe accounts (secrets are never returned)."),
		schema.Comment("A Stripe account of the organization. Its secret key and webhook signing secrets are "+
			"stored sealed and are write-only: the API says only that they are set."))
}

// BillingProfile says which Stripe account a legal entity takes payments through, and routes
// the account's events to the entity.
type BillingProfile struct{ ent.Schema }

func (BillingProfile) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.BillingProfile}, timeMixin{}, orgMixin{}}
}

func (BillingProfile) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity; one profile per entity."),
		field.String("stripe_account_id").NotEmpty().
			Comment("The Stripe account the entity's invoices are paid through."),
		field.Bool("is_default").Default(false).
			Comment("Whether the entity is the organization's default entity: a Stripe event that names no " +
				"entity, on an account no single profile routes, is posted in it. At most one per organization; " +
				"without one, the organization's oldest entity is the default."),
	}
}

func (BillingProfile) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entity", LegalEntity.Type).Field("entity_id").Unique().Required().Immutable().
			Annotations(skipInputs).
			Comment("The legal entity."),
		edge.To("stripe_account", StripeAccount.Type).Field("stripe_account_id").Unique().Required().
			Annotations(skipInputs).
			Comment("The Stripe account the entity's invoices are paid through."),
	}
}

func (BillingProfile) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entity_id").Unique(),
		index.Fields("stripe_account_id"),
		index.Fields("organization_id").Unique().StorageKey("billing_profiles_one_default").
			Annotations(entsql.IndexWhere("is_default")),
	}
}

func (BillingProfile) Annotations() []schema.Annotation {
	return append(gqlRoot("billingProfiles", "The billing profiles: which Stripe account each legal entity uses."),
		schema.Comment("Which Stripe account a legal entity takes payments through; the account's events "+
			"that name no entity are routed by it."))
}

// PaymentAttempt is a portal client's attempt to pay an invoice through Stripe: one Stripe
// PaymentIntent for the invoice's open balance. The payment it leads to is recorded from
// Stripe's events, never from the portal.
type PaymentAttempt struct{ ent.Schema }

func (PaymentAttempt) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.PaymentAttempt}, timeMixin{}, orgMixin{portal: portalByColumn("customer_id")}}
}

func (PaymentAttempt) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_id").Immutable().NotEmpty().
			Comment("The legal entity of the invoice."),
		field.String("customer_id").Immutable().NotEmpty().
			Comment("The customer paying."),
		field.String("invoice_id").Immutable().NotEmpty().
			Comment("The invoice being paid."),
		field.String("stripe_account_id").Immutable().NotEmpty().
			Comment("The Stripe account the payment goes through."),
		field.Enum("method").Values("card", "ach").Immutable().
			Comment("How the customer pays: card, or ACH bank debit.").
			Annotations(entgql.Type("InvoicePaymentMethod")),
		moneyField("amount", immutable, "The amount asked: the invoice's open balance when the attempt was made."),
		currencyField("currency", immutable, "ISO 4217 code of the amount: the invoice's currency."),
		field.String("payment_intent_id").Optional().Nillable().MaxLen(255).
			Comment("Stripe's PaymentIntent id (pi_…); null until Stripe answered."),
		field.Enum("status").Values("requires_payment", "processing", "succeeded", "failed", "canceled").
			Default("requires_payment").
			Comment("Where the attempt stands: waiting for the customer's card or bank details; processing (a "+
				"bank debit takes days); succeeded (the payment is recorded); failed (Stripe refused it; the "+
				"customer may try again); canceled (superseded, e.g. because the balance changed).").
			Annotations(entgql.Type("PaymentAttemptStatus"), entgql.OrderField("STATUS")),
		field.String("failure_message").Optional().MaxLen(1000).
			Comment("Why Stripe refused the payment, as Stripe words it for the customer; empty unless failed."),
		field.String("payment_id").Optional().Nillable().
			Comment("The payment recorded when the attempt succeeded; null before."),
	}
}

func (PaymentAttempt) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("invoice", Invoice.Type).Field("invoice_id").Unique().Required().Immutable().
			Annotations(skipInputs).
			Comment("The invoice being paid."),
		edge.To("payment", Payment.Type).Field("payment_id").Unique().
			Annotations(skipInputs).
			Comment("The payment recorded when the attempt succeeded."),
	}
}

func (PaymentAttempt) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("payment_intent_id").Unique(),
		index.Fields("invoice_id", "status"),
		index.Fields("customer_id"),
	}
}

func (PaymentAttempt) Annotations() []schema.Annotation {
	return append(gqlRoot("paymentAttempts", "Attempts to pay invoices through Stripe (a portal client: its own)."),
		schema.Comment("An attempt to pay an invoice through Stripe: one PaymentIntent for the open balance. "+
			"The payment is recorded when Stripe's events confirm it."))
}

// StripeEvent is one event a Stripe account sent (by webhook, or listed by the backstop),
// stored before it is acted on so that nothing received is lost; a job applies each once.
type StripeEvent struct{ ent.Schema }

func (StripeEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.StripeEvent}, timeMixin{}, orgMixin{}}
}

func (StripeEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("stripe_account_id").Immutable().NotEmpty().
			Comment("The Stripe account that sent the event."),
		field.String("event_id").Immutable().NotEmpty().MaxLen(255).
			Comment("Stripe's event id (evt_…); one row per account and event, so a replay is ignored."),
		field.String("type").Immutable().NotEmpty().MaxLen(100).
			Comment("The event type, e.g. charge.succeeded."),
		field.String("object_id").Immutable().MaxLen(255).
			Comment("The id of the object the event is about (ch_…, pi_…, in_…, dp_…)."),
		field.Time("stripe_created_at").Immutable().
			Comment("When Stripe created the event (UTC)."),
		field.Enum("received_via").Values("webhook", "backstop").Immutable().
			Comment("How it arrived: a webhook, or the backstop's listing of events."),
		field.Text("payload").
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Comment("The event as received (JSON)."),
		field.Enum("status").Values("pending", "processed", "ignored", "failed").Default("pending").
			Comment("pending until applied; ignored for a type Books does not act on; failed after too many " +
				"attempts (an admin issue says why)."),
		field.Int("attempts").Default(0).
			Comment("How many times applying it was tried."),
		field.String("last_error").Optional().MaxLen(2000).
			Comment("The last error applying it; empty when none."),
		field.String("entity_id").Optional().Nillable().
			Comment("The legal entity the event was routed to; null before it is applied, or when it was ignored."),
		field.String("outcome").Optional().MaxLen(1000).
			Comment("What applying the event did, in words (e.g. recorded payment pay_…); empty before."),
		field.Time("processed_at").Optional().Nillable().
			Comment("When it was applied or ignored (UTC)."),
	}
}

func (StripeEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("stripe_account_id", "event_id").Unique(),
		index.Fields("stripe_account_id", "status", "id"),
	}
}

func (StripeEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		schema.Comment("An event from a Stripe account kept until it is applied."),
	}
}
