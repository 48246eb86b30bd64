-- QuickBooks payment sync: the webhook inbox, the reconciliation queue, the poller's watermark
-- and voided payments. Tables and columns produced by 'books migrate --diff'.
ALTER TABLE "qbo_connections" ADD COLUMN "polled_through" timestamptz NULL, ADD COLUMN "polled_at" timestamptz NULL;
CREATE TABLE "qbo_inbox_events" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "dedupe_key" character varying NOT NULL, "realm_id" character varying NOT NULL, "organization_id" character varying NULL, "connection_id" character varying NULL, "source" character varying NOT NULL, "qbo_type" character varying NOT NULL, "qbo_id" character varying NOT NULL, "operation" character varying NOT NULL, "occurred_at" timestamptz NULL, "payload" text NULL, "status" character varying NOT NULL DEFAULT 'pending', "attempts" bigint NOT NULL DEFAULT 0, "last_error" character varying NULL, "processed_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "qboinboxevent_dedupe_key" ON "qbo_inbox_events" ("dedupe_key");
CREATE INDEX "qboinboxevent_connection_id_status_id" ON "qbo_inbox_events" ("connection_id", "status", "id");
CREATE INDEX "qboinboxevent_realm_id_status" ON "qbo_inbox_events" ("realm_id", "status");
ALTER TABLE "payments" ADD COLUMN "voided_at" timestamptz NULL, ADD COLUMN "void_entry_id" character varying NULL;
CREATE TABLE "reconciliation_items" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "organization_id" character varying NOT NULL, "connection_id" character varying NOT NULL, "kind" character varying NOT NULL, "qbo_type" character varying NOT NULL, "qbo_id" character varying NOT NULL, "record_type" character varying NULL, "record_id" character varying NULL, "amount" bigint NULL, "currency" character varying NULL, "txn_date" date NULL, "reference" character varying NULL, "reason" character varying NOT NULL, "snapshot" text NULL, "sync_token" character varying NULL, "status" character varying NOT NULL DEFAULT 'open', "note" character varying NULL, "resolved_by" character varying NULL, "resolved_at" timestamptz NULL, "last_seen_at" timestamptz NOT NULL, "entity_id" character varying NOT NULL, "customer_id" character varying NULL, "payment_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "reconciliation_items_legal_entities_entity" FOREIGN KEY ("entity_id") REFERENCES "legal_entities" ("id") ON DELETE NO ACTION, CONSTRAINT "reconciliation_items_customers_customer" FOREIGN KEY ("customer_id") REFERENCES "customers" ("id") ON DELETE SET NULL, CONSTRAINT "reconciliation_items_payments_payment" FOREIGN KEY ("payment_id") REFERENCES "payments" ("id") ON DELETE SET NULL);
CREATE INDEX "reconciliationitem_organization_id" ON "reconciliation_items" ("organization_id");
CREATE UNIQUE INDEX "reconciliationitem_connection_id_qbo_type_qbo_id" ON "reconciliation_items" ("connection_id", "qbo_type", "qbo_id");
CREATE INDEX "reconciliationitem_entity_id_status" ON "reconciliation_items" ("entity_id", "status");

-- A payment voided in QuickBooks takes the money it left in Customer Credits out again by an
-- entry of its own: a document entry of the payment, referenced "pvoid:<payment id>". The
-- guard is 0006's with that one reference added.
CREATE OR REPLACE FUNCTION books_journal_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	ent record;
	u bigint;
	p text;
	problem text;
	nl integer;
	sd numeric;
	sc numeric;
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF OLD.status <> 'draft' THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: journal entry % is % and cannot be deleted', OLD.id, OLD.status;
		END IF;
		RETURN OLD;
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.status <> 'draft' THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % must be inserted as a draft and posted once its lines exist', NEW.id;
		END IF;
		IF current_setting('transaction_isolation') <> 'read committed' THEN
			PERFORM books_require_read_committed();
		END IF;
		SELECT le.organization_id, le.base_currency, le.code, cur.unit INTO ent
			FROM legal_entities le LEFT JOIN books_currencies cur ON cur.code = NEW.currency
			WHERE le.id = NEW.entity_id;
		IF NOT FOUND OR ent.organization_id <> NEW.organization_id THEN
			RAISE EXCEPTION 'UNKNOWN_ENTITY: legal entity % is not an entity of organization %', NEW.entity_id, NEW.organization_id;
		END IF;
		u := ent.unit;
		IF u IS NULL OR NEW.currency <> ent.base_currency THEN
			RAISE EXCEPTION 'CURRENCY_MISMATCH: journal entry % is in %; entity % posts in %', NEW.id, NEW.currency, ent.code, ent.base_currency;
		END IF;
		IF NEW.total % u <> 0 OR NEW.total > 500000000000000000 THEN
			RAISE EXCEPTION 'INVALID_AMOUNT: journal entry % total is not a whole number of % minor units within range', NEW.id, NEW.currency;
		END IF;
		-- A document entry's reference is its document's, "<kind>:<document id>" (a
		-- reversal's is "reversal:<original>"); an invoice entry needs its invoice. The other
		-- documents are written after their entry, so their existence is checked at commit.
		IF NEW.document_type IS NOT NULL AND NEW.reversal_of_id IS NULL AND NOT (
			(NEW.document_type = 'invoice' AND NEW.source_ref = 'invoice:' || NEW.document_id)
			OR (NEW.document_type = 'payment' AND NEW.source_ref IN ('payment:' || NEW.document_id, 'pvoid:' || NEW.document_id))
			OR (NEW.document_type = 'payment_application' AND NEW.source_ref IN ('papply:' || NEW.document_id, 'unapply:' || NEW.document_id))
			OR (NEW.document_type = 'credit_memo' AND NEW.source_ref = 'cm:' || NEW.document_id)
			OR (NEW.document_type = 'credit_application' AND NEW.source_ref IN ('capp:' || NEW.document_id, 'cunapply:' || NEW.document_id))
			OR (NEW.document_type = 'refund' AND NEW.source_ref = 'refund:' || NEW.document_id)
			OR (NEW.document_type = 'charge_reversal' AND NEW.source_ref = 'chargeback:' || NEW.document_id)
			OR (NEW.document_type = 'write_off' AND NEW.source_ref = 'writeoff:' || NEW.document_id)) THEN
			RAISE EXCEPTION 'DOCUMENT_OWNED: the reference of a % entry is <kind>:<document id>, not %', NEW.document_type, NEW.source_ref;
		END IF;
		IF NEW.document_type = 'invoice' THEN
			IF NOT EXISTS (SELECT 1 FROM invoices
				WHERE id = NEW.document_id AND entity_id = NEW.entity_id AND organization_id = NEW.organization_id) THEN
				RAISE EXCEPTION 'DOCUMENT_OWNED: invoice % of this entry does not exist in entity %', NEW.document_id, NEW.entity_id;
			END IF;
		END IF;
		IF NEW.source_system = 'books' AND NEW.document_type IS NULL AND NEW.reversal_of_id IS NULL
			AND strpos(NEW.source_ref, ':') > 0 THEN
			RAISE EXCEPTION 'DOCUMENT_OWNED: source references kind:id of source system books belong to Books documents';
		END IF;
		RETURN NEW;
	END IF;
	-- UPDATE
	IF OLD.status <> 'draft' THEN
		IF OLD.status = 'posted' AND NEW.status = 'reversed'
			AND (to_jsonb(NEW) - 'status' - 'updated_at') = (to_jsonb(OLD) - 'status' - 'updated_at') THEN
			IF NOT EXISTS (SELECT 1 FROM journal_entries WHERE reversal_of_id = OLD.id AND status = 'posted') THEN
				RAISE EXCEPTION 'LEDGER_IMMUTABLE: journal entry % is marked reversed only by posting its reversing entry', OLD.id;
			END IF;
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: journal entry % is % and cannot be changed', OLD.id, OLD.status;
	END IF;
	-- A draft changes only by being posted. The columns are listed (a migration adding one to
	-- journal_entries adds it here) because this runs on every posting, where building JSON of
	-- both rows would cost more than the rest of the check.
	IF (NEW.id, NEW.created_at, NEW.organization_id, NEW.entity_id, NEW.date, NEW.document_date, NEW.description,
		NEW.currency, NEW.source_system, NEW.source_ref, NEW.total, NEW.reversal_of_id, NEW.created_by, NEW.created_via,
		NEW.request_id, NEW.idempotency_key, NEW.request_hash, NEW.document_type, NEW.document_id)
		IS DISTINCT FROM (OLD.id, OLD.created_at, OLD.organization_id, OLD.entity_id, OLD.date, OLD.document_date,
		OLD.description, OLD.currency, OLD.source_system, OLD.source_ref, OLD.total, OLD.reversal_of_id, OLD.created_by,
		OLD.created_via, OLD.request_id, OLD.idempotency_key, OLD.request_hash, OLD.document_type, OLD.document_id) THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: draft journal entry % changes only by being posted', OLD.id;
	END IF;
	IF NEW.status = 'reversed' THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: draft journal entry % cannot be marked reversed', OLD.id;
	END IF;
	IF NEW.status = 'posted' THEN
		IF current_setting('transaction_isolation') <> 'read committed' THEN
			PERFORM books_require_read_committed();
		END IF;
		NEW.posted_at := coalesce(NEW.posted_at, now());
		IF NOT isfinite(NEW.posted_at) THEN
			RAISE EXCEPTION 'VALIDATION: journal entry % needs a finite posted_at time to be posted', NEW.id;
		END IF;
		-- The lines as they stand once this update holds the entry's row: a line writer locks
		-- the draft's row before its line can count (books_journal_line_guard), so every line
		-- there will ever be is here, under READ COMMITTED's fresh snapshot.
		-- One query reads the lines and any closed period holding the date.
		SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0),
			(SELECT name FROM accounting_periods
				WHERE entity_id = NEW.entity_id AND status = 'closed' AND NEW.date BETWEEN start_date AND end_date
				LIMIT 1)
			INTO nl, sd, sc, p FROM journal_lines WHERE entry_id = NEW.id;
		IF nl < 2 THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % has % line(s); at least two are required', NEW.id, nl;
		END IF;
		IF sd <> sc THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % debits % <> credits % (units of 1/10000)', NEW.id, sd, sc;
		END IF;
		IF sd <> NEW.total THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % total % <> sum of debits %', NEW.id, NEW.total, sd;
		END IF;
		IF NEW.reversal_of_id IS NOT NULL THEN
			problem := books_journal_entry_problem(NEW.id, 'posted', false);
			IF problem IS NOT NULL THEN
				RAISE EXCEPTION '%', problem;
			END IF;
		END IF;
		IF p IS NOT NULL THEN
			RAISE EXCEPTION 'PERIOD_CLOSED: period % is closed; % cannot be posted into it', p, NEW.date;
		END IF;
	END IF;
	RETURN NEW;
END;
$$;
