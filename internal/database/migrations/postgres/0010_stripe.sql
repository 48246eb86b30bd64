-- Stripe: accounts, billing profiles, payment attempts and the event inbox; refunds asked of a
-- processor (pending until confirmed) and processor references unique per entity; the
-- reconciliation queue's source. Tables and columns produced by 'books migrate --diff'.
UPDATE "refunds" SET "external_ref" = NULL WHERE "external_ref" = '';
UPDATE "charge_reversals" SET "external_ref" = NULL WHERE "external_ref" = '';
CREATE UNIQUE INDEX "chargereversal_entity_id_external_ref" ON "charge_reversals" ("entity_id", "external_ref");
CREATE INDEX "chargereversal_payment_id" ON "charge_reversals" ("payment_id");
ALTER TABLE "reconciliation_items" ADD COLUMN "source" character varying NOT NULL DEFAULT 'quickbooks';
ALTER TABLE "refunds" ALTER COLUMN "journal_entry_id" DROP NOT NULL, ADD COLUMN "status" character varying NOT NULL DEFAULT 'succeeded', ADD COLUMN "failure_message" character varying NULL;
CREATE UNIQUE INDEX "refund_entity_id_external_ref" ON "refunds" ("entity_id", "external_ref");
CREATE INDEX "refund_payment_id" ON "refunds" ("payment_id");
CREATE TABLE "stripe_events" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "organization_id" character varying NOT NULL, "stripe_account_id" character varying NOT NULL, "event_id" character varying NOT NULL, "type" character varying NOT NULL, "object_id" character varying NOT NULL, "stripe_created_at" timestamptz NOT NULL, "received_via" character varying NOT NULL, "payload" text NOT NULL, "status" character varying NOT NULL DEFAULT 'pending', "attempts" bigint NOT NULL DEFAULT 0, "last_error" character varying NULL, "entity_id" character varying NULL, "outcome" character varying NULL, "processed_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE INDEX "stripeevent_organization_id" ON "stripe_events" ("organization_id");
CREATE UNIQUE INDEX "stripeevent_stripe_account_id_event_id" ON "stripe_events" ("stripe_account_id", "event_id");
CREATE INDEX "stripeevent_stripe_account_id_status_id" ON "stripe_events" ("stripe_account_id", "status", "id");
CREATE TABLE "stripe_accounts" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "organization_id" character varying NOT NULL, "name" character varying NOT NULL, "publishable_key" character varying NOT NULL, "secret_key_sealed" character varying NOT NULL, "secret_key_hint" character varying NOT NULL, "livemode" boolean NOT NULL DEFAULT false, "webhook_secrets_sealed" character varying NULL, "webhook_secret_count" bigint NOT NULL DEFAULT 0, "is_default" boolean NOT NULL DEFAULT false, "events_through" timestamptz NULL, "events_polled_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE INDEX "stripeaccount_organization_id" ON "stripe_accounts" ("organization_id");
CREATE UNIQUE INDEX "stripeaccount_organization_id_name" ON "stripe_accounts" ("organization_id", "name");
CREATE UNIQUE INDEX "stripe_accounts_one_default" ON "stripe_accounts" ("organization_id") WHERE is_default;
CREATE TABLE "billing_profiles" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "organization_id" character varying NOT NULL, "is_default" boolean NOT NULL DEFAULT false, "entity_id" character varying NOT NULL, "stripe_account_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "billing_profiles_legal_entities_entity" FOREIGN KEY ("entity_id") REFERENCES "legal_entities" ("id") ON DELETE NO ACTION, CONSTRAINT "billing_profiles_stripe_accounts_stripe_account" FOREIGN KEY ("stripe_account_id") REFERENCES "stripe_accounts" ("id") ON DELETE NO ACTION);
CREATE INDEX "billingprofile_organization_id" ON "billing_profiles" ("organization_id");
CREATE UNIQUE INDEX "billingprofile_entity_id" ON "billing_profiles" ("entity_id");
CREATE INDEX "billingprofile_stripe_account_id" ON "billing_profiles" ("stripe_account_id");
CREATE UNIQUE INDEX "billing_profiles_one_default" ON "billing_profiles" ("organization_id") WHERE is_default;
CREATE TABLE "payment_attempts" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "organization_id" character varying NOT NULL, "entity_id" character varying NOT NULL, "customer_id" character varying NOT NULL, "stripe_account_id" character varying NOT NULL, "method" character varying NOT NULL, "amount" bigint NOT NULL, "currency" character varying NOT NULL, "payment_intent_id" character varying NULL, "status" character varying NOT NULL DEFAULT 'requires_payment', "failure_message" character varying NULL, "invoice_id" character varying NOT NULL, "payment_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "payment_attempts_invoices_invoice" FOREIGN KEY ("invoice_id") REFERENCES "invoices" ("id") ON DELETE NO ACTION, CONSTRAINT "payment_attempts_payments_payment" FOREIGN KEY ("payment_id") REFERENCES "payments" ("id") ON DELETE SET NULL);
CREATE INDEX "paymentattempt_organization_id" ON "payment_attempts" ("organization_id");
CREATE UNIQUE INDEX "paymentattempt_payment_intent_id" ON "payment_attempts" ("payment_intent_id");
CREATE INDEX "paymentattempt_invoice_id_status" ON "payment_attempts" ("invoice_id", "status");
CREATE INDEX "paymentattempt_customer_id" ON "payment_attempts" ("customer_id");
ALTER TABLE "payments" ADD COLUMN "stripe_account_id" character varying NULL;
