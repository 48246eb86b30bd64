-- Ledger integrity (see docs/architecture.md, "Who enforces what"). The rules the SQLite twin
-- of this migration states, for PostgreSQL, where transactions run concurrently: a line write
-- locks its draft's row, as posting it does, so a line and the posting of its entry never
-- interleave (the second waits, then sees the first with a fresh READ COMMITTED snapshot;
-- ledger writes are refused at other isolation levels), and document entries and reversals are
-- checked again at commit by a deferred constraint trigger.

DROP TRIGGER journal_entries_guard ON journal_entries;
DROP TRIGGER journal_lines_guard ON journal_lines;
DROP TRIGGER journal_entries_audit_post ON journal_entries;
DROP FUNCTION books_journal_entry_guard();
DROP FUNCTION books_journal_line_guard();

-- Produced by 'books migrate --diff'.
ALTER TABLE "credit_applications" ADD COLUMN "unapplied_at" timestamptz NULL, ADD COLUMN "unapply_entry_id" character varying NULL;
ALTER TABLE "journal_entries" ADD CONSTRAINT "journal_entry_dates" CHECK (date >= '1900-01-01' AND date <= '2199-12-31' AND (document_date IS NULL OR (document_date >= '1900-01-01' AND document_date <= '2199-12-31'))), ADD CONSTRAINT "journal_entry_document" CHECK ((document_type IS NULL AND document_id IS NULL) OR (document_type IS NOT NULL AND document_id IS NOT NULL AND source_system = 'books')), ADD CONSTRAINT "journal_entry_reversal_ref" CHECK ((reversal_of_id IS NULL AND substr(source_ref, 1, 9) <> 'reversal:') OR (reversal_of_id IS NOT NULL AND source_ref = 'reversal:' || reversal_of_id)), ADD CONSTRAINT "journal_entry_status" CHECK (status IN ('draft', 'posted', 'reversed')), ADD CONSTRAINT "journal_entry_total" CHECK (total > 0), ADD COLUMN "document_type" character varying NULL, ADD COLUMN "document_id" character varying NULL;
CREATE TABLE "ledger_seals" ("id" character varying NOT NULL, "organization_id" character varying NOT NULL, "entity_id" character varying NOT NULL, "seq" bigint NOT NULL, "entry_id" character varying NOT NULL, "prev_hash" character varying NOT NULL, "hash" character varying NOT NULL, "sealed_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "ledgerseal_organization_id" ON "ledger_seals" ("organization_id");
CREATE UNIQUE INDEX "ledgerseal_entity_id_seq" ON "ledger_seals" ("entity_id", "seq");
CREATE UNIQUE INDEX "ledgerseal_entry_id" ON "ledger_seals" ("entry_id");
CREATE TABLE "ledger_verifications" ("id" character varying NOT NULL, "organization_id" character varying NOT NULL, "entity_id" character varying NOT NULL, "verified_at" timestamptz NOT NULL, "ok" boolean NOT NULL, "entries_checked" bigint NOT NULL, "entries_sealed" bigint NOT NULL, "head_seq" bigint NOT NULL, "head_hash" character varying NOT NULL, "problem" character varying NULL, PRIMARY KEY ("id"));
CREATE INDEX "ledgerverification_organization_id" ON "ledger_verifications" ("organization_id");
CREATE INDEX "ledgerverification_entity_id_verified_at" ON "ledger_verifications" ("entity_id", "verified_at");
ALTER TABLE "journal_lines" ADD COLUMN "customer_id" character varying NULL, ADD COLUMN "vendor_id" character varying NULL, ADD CONSTRAINT "journal_lines_customers_customer" FOREIGN KEY ("customer_id") REFERENCES "customers" ("id") ON DELETE SET NULL, ADD CONSTRAINT "journal_lines_vendors_vendor" FOREIGN KEY ("vendor_id") REFERENCES "vendors" ("id") ON DELETE SET NULL;

-- Entries posted by billing documents before this migration get their document, so that only
-- the document can undo them.
UPDATE journal_entries SET
	document_type = CASE split_part(source_ref, ':', 1)
		WHEN 'invoice' THEN 'invoice' WHEN 'payment' THEN 'payment'
		WHEN 'papply' THEN 'payment_application' WHEN 'unapply' THEN 'payment_application'
		WHEN 'cm' THEN 'credit_memo' WHEN 'capp' THEN 'credit_application'
		WHEN 'refund' THEN 'refund' WHEN 'chargeback' THEN 'charge_reversal'
		WHEN 'writeoff' THEN 'write_off' END,
	document_id = substr(source_ref, strpos(source_ref, ':') + 1)
WHERE source_system = 'books' AND reversal_of_id IS NULL
	AND split_part(source_ref, ':', 1) IN
		('invoice', 'payment', 'papply', 'unapply', 'cm', 'capp', 'refund', 'chargeback', 'writeoff');
UPDATE journal_entries je SET document_type = 'invoice', document_id = i.id
FROM invoices i WHERE i.void_entry_id = je.id;

-- The currencies the ledger accepts (internal/money's ISO 4217 table; a test keeps the two
-- equal) and the smallest amount each posts, in the ledger's units of 1/10,000.
CREATE TABLE books_currencies (code text PRIMARY KEY, minor_units integer NOT NULL, unit bigint NOT NULL);
INSERT INTO books_currencies (code, minor_units, unit) VALUES
	('AED', 2, 100), ('AFN', 2, 100), ('ALL', 2, 100), ('AMD', 2, 100), ('AOA', 2, 100), ('ARS', 2, 100),
	('AUD', 2, 100), ('AWG', 2, 100), ('AZN', 2, 100), ('BAM', 2, 100), ('BBD', 2, 100), ('BDT', 2, 100),
	('BGN', 2, 100), ('BHD', 3, 10), ('BIF', 0, 10000), ('BMD', 2, 100), ('BND', 2, 100), ('BOB', 2, 100),
	('BRL', 2, 100), ('BSD', 2, 100), ('BTN', 2, 100), ('BWP', 2, 100), ('BYN', 2, 100), ('BZD', 2, 100),
	('CAD', 2, 100), ('CDF', 2, 100), ('CHF', 2, 100), ('CLF', 4, 1), ('CLP', 0, 10000), ('CNY', 2, 100),
	('COP', 2, 100), ('CRC', 2, 100), ('CUP', 2, 100), ('CVE', 2, 100), ('CZK', 2, 100), ('DJF', 0, 10000),
	('DKK', 2, 100), ('DOP', 2, 100), ('DZD', 2, 100), ('EGP', 2, 100), ('ERN', 2, 100), ('ETB', 2, 100),
	('EUR', 2, 100), ('FJD', 2, 100), ('FKP', 2, 100), ('GBP', 2, 100), ('GEL', 2, 100), ('GHS', 2, 100),
	('GIP', 2, 100), ('GMD', 2, 100), ('GNF', 0, 10000), ('GTQ', 2, 100), ('GYD', 2, 100), ('HKD', 2, 100),
	('HNL', 2, 100), ('HTG', 2, 100), ('HUF', 2, 100), ('IDR', 2, 100), ('ILS', 2, 100), ('INR', 2, 100),
	('IQD', 3, 10), ('IRR', 2, 100), ('ISK', 0, 10000), ('JMD', 2, 100), ('JOD', 3, 10), ('JPY', 0, 10000),
	('KES', 2, 100), ('KGS', 2, 100), ('KHR', 2, 100), ('KMF', 0, 10000), ('KRW', 0, 10000), ('KWD', 3, 10),
	('KYD', 2, 100), ('KZT', 2, 100), ('LAK', 2, 100), ('LBP', 2, 100), ('LKR', 2, 100), ('LRD', 2, 100),
	('LSL', 2, 100), ('LYD', 3, 10), ('MAD', 2, 100), ('MDL', 2, 100), ('MGA', 2, 100), ('MKD', 2, 100),
	('MMK', 2, 100), ('MNT', 2, 100), ('MOP', 2, 100), ('MRU', 2, 100), ('MUR', 2, 100), ('MVR', 2, 100),
	('MWK', 2, 100), ('MXN', 2, 100), ('MYR', 2, 100), ('MZN', 2, 100), ('NAD', 2, 100), ('NGN', 2, 100),
	('NIO', 2, 100), ('NOK', 2, 100), ('NPR', 2, 100), ('NZD', 2, 100), ('OMR', 3, 10), ('PAB', 2, 100),
	('PEN', 2, 100), ('PGK', 2, 100), ('PHP', 2, 100), ('PKR', 2, 100), ('PLN', 2, 100), ('PYG', 0, 10000),
	('QAR', 2, 100), ('RON', 2, 100), ('RSD', 2, 100), ('RUB', 2, 100), ('RWF', 0, 10000), ('SAR', 2, 100),
	('SBD', 2, 100), ('SCR', 2, 100), ('SDG', 2, 100), ('SEK', 2, 100), ('SGD', 2, 100), ('SHP', 2, 100),
	('SLE', 2, 100), ('SOS', 2, 100), ('SRD', 2, 100), ('SSP', 2, 100), ('STN', 2, 100), ('SVC', 2, 100),
	('SYP', 2, 100), ('SZL', 2, 100), ('THB', 2, 100), ('TJS', 2, 100), ('TMT', 2, 100), ('TND', 3, 10),
	('TOP', 2, 100), ('TRY', 2, 100), ('TTD', 2, 100), ('TWD', 2, 100), ('TZS', 2, 100), ('UAH', 2, 100),
	('UGX', 0, 10000), ('USD', 2, 100), ('UYU', 2, 100), ('UZS', 2, 100), ('VES', 2, 100), ('VND', 0, 10000),
	('VUV', 0, 10000), ('WST', 2, 100), ('XAF', 0, 10000), ('XCD', 2, 100), ('XCG', 2, 100), ('XOF', 0, 10000),
	('XPF', 0, 10000), ('YER', 2, 100), ('ZAR', 2, 100), ('ZMW', 2, 100), ('ZWG', 2, 100);

-- The ledger's triggers judge with the snapshot of each statement after taking their locks,
-- which is READ COMMITTED's behaviour; a transaction at a stronger level would judge with a
-- snapshot taken before the locks it waited for. Ledger writes are therefore refused outside
-- READ COMMITTED (the application never leaves it).
CREATE FUNCTION books_require_read_committed() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: ledger writes run under READ COMMITTED, not %', current_setting('transaction_isolation');
	END IF;
END;
$$;

CREATE FUNCTION books_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '%', TG_ARGV[0];
END;
$$;

CREATE TRIGGER books_currencies_fixed BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON books_currencies
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: currencies change only through a migration');

-- books_journal_entry_problem says what is wrong with entry p_entry, or NULL: the rules of a
-- posted (or reversed) entry, checked as the entry is posted (p_status = 'posted', before the
-- row changes) and again at commit (p_status NULL: the row as it then stands).
CREATE FUNCTION books_journal_entry_problem(p_entry text, p_status text, at_commit boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	e journal_entries%ROWTYPE;
	o journal_entries%ROWTYPE;
	n integer;
	d numeric;
	c numeric;
	bad integer;
BEGIN
	SELECT * INTO e FROM journal_entries WHERE id = p_entry;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	e.status := coalesce(p_status, e.status);
	IF e.status = 'draft' THEN
		RETURN NULL;
	END IF;
	SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0)
		INTO n, d, c FROM journal_lines l WHERE l.entry_id = e.id;
	IF n < 2 THEN
		RETURN format('UNBALANCED_ENTRY: journal entry %s has %s line(s); at least two are required', e.id, n);
	END IF;
	IF d <> c THEN
		RETURN format('UNBALANCED_ENTRY: journal entry %s debits %s <> credits %s (units of 1/10000)', e.id, d, c);
	END IF;
	IF d <> e.total THEN
		RETURN format('UNBALANCED_ENTRY: journal entry %s total %s <> sum of debits %s', e.id, e.total, d);
	END IF;
	IF at_commit AND e.document_type IS NOT NULL AND e.reversal_of_id IS NULL AND NOT EXISTS (
		SELECT 1 FROM invoices d WHERE e.document_type = 'invoice' AND d.id = e.document_id AND d.entity_id = e.entity_id
		UNION ALL SELECT 1 FROM payments d WHERE e.document_type = 'payment' AND d.id = e.document_id AND d.entity_id = e.entity_id
		UNION ALL SELECT 1 FROM payment_applications d WHERE e.document_type = 'payment_application' AND d.id = e.document_id
		UNION ALL SELECT 1 FROM credit_memos d WHERE e.document_type = 'credit_memo' AND d.id = e.document_id AND d.entity_id = e.entity_id
		UNION ALL SELECT 1 FROM credit_applications d WHERE e.document_type = 'credit_application' AND d.id = e.document_id
		UNION ALL SELECT 1 FROM refunds d WHERE e.document_type = 'refund' AND d.id = e.document_id AND d.entity_id = e.entity_id
		UNION ALL SELECT 1 FROM charge_reversals d WHERE e.document_type = 'charge_reversal' AND d.id = e.document_id AND d.entity_id = e.entity_id
		UNION ALL SELECT 1 FROM write_offs d WHERE e.document_type = 'write_off' AND d.id = e.document_id AND d.entity_id = e.entity_id) THEN
		RETURN format('DOCUMENT_OWNED: journal entry %s names %s %s, which does not exist in its entity', e.id, e.document_type, e.document_id);
	END IF;
	-- Posted in this transaction (the only way a posted entry is checked at commit): its period
	-- must still be open now that every close it waited for has committed.
	IF at_commit AND e.status = 'posted' AND EXISTS (SELECT 1 FROM accounting_periods
		WHERE entity_id = e.entity_id AND status = 'closed' AND e.date BETWEEN start_date AND end_date) THEN
		RETURN format('PERIOD_CLOSED: the period of %s was closed while journal entry %s was being posted', e.date, e.id);
	END IF;
	IF e.status = 'reversed' AND NOT EXISTS (
		SELECT 1 FROM journal_entries r WHERE r.reversal_of_id = e.id AND r.status = 'posted') THEN
		RETURN format('LEDGER_IMMUTABLE: journal entry %s is marked reversed without a posted reversing entry', e.id);
	END IF;
	IF e.reversal_of_id IS NOT NULL THEN
		SELECT * INTO o FROM journal_entries WHERE id = e.reversal_of_id;
		IF NOT FOUND OR o.entity_id <> e.entity_id OR o.organization_id <> e.organization_id
			OR o.reversal_of_id IS NOT NULL OR o.total <> e.total
			OR o.status <> (CASE WHEN at_commit THEN 'reversed' ELSE 'posted' END) THEN
			RETURN format('ALREADY_REVERSED: reversal %s needs a posted, unreversed entry of the same entity that is not itself a reversal', e.id);
		END IF;
		IF o.document_type IS DISTINCT FROM e.document_type OR o.document_id IS DISTINCT FROM e.document_id THEN
			RETURN format('DOCUMENT_OWNED: journal entry %s belongs to %s %s and is reversed only by it', o.id, o.document_type, o.document_id);
		END IF;
		SELECT count(*) INTO bad
			FROM (SELECT * FROM journal_lines l WHERE l.entry_id = e.id) r
			FULL JOIN (SELECT * FROM journal_lines l WHERE l.entry_id = o.id) ol ON ol.line_no = r.line_no
			WHERE r.id IS NULL OR ol.id IS NULL
				OR ol.account_id IS DISTINCT FROM r.account_id OR ol.class_id IS DISTINCT FROM r.class_id
				OR ol.customer_id IS DISTINCT FROM r.customer_id OR ol.vendor_id IS DISTINCT FROM r.vendor_id
				OR ol.debit <> r.credit OR ol.credit <> r.debit;
		IF bad > 0 THEN
			RETURN format('LEDGER_IMMUTABLE: reversal %s does not have the lines of %s with sides swapped', e.id, o.id);
		END IF;
	END IF;
	RETURN NULL;
END;
$$;

CREATE FUNCTION books_journal_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	ent record;
	u bigint;
	p text;
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
		PERFORM books_require_read_committed();
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
			OR (NEW.document_type = 'payment' AND NEW.source_ref = 'payment:' || NEW.document_id)
			OR (NEW.document_type = 'payment_application' AND NEW.source_ref IN ('papply:' || NEW.document_id, 'unapply:' || NEW.document_id))
			OR (NEW.document_type = 'credit_memo' AND NEW.source_ref = 'cm:' || NEW.document_id)
			OR (NEW.document_type = 'credit_application' AND NEW.source_ref IN ('capp:' || NEW.document_id, 'cunapply:' || NEW.document_id))
			OR (NEW.document_type = 'refund' AND NEW.source_ref = 'refund:' || NEW.document_id)
			OR (NEW.document_type = 'charge_reversal' AND NEW.source_ref = 'chargeback:' || NEW.document_id)
			OR (NEW.document_type = 'write_off' AND NEW.source_ref = 'writeoff:' || NEW.document_id)) THEN
			RAISE EXCEPTION 'DOCUMENT_OWNED: the reference of a % entry is <kind>:<document id>, not %', NEW.document_type, NEW.source_ref;
		END IF;
		IF NEW.document_type = 'invoice' AND NOT EXISTS (SELECT 1 FROM invoices
			WHERE id = NEW.document_id AND entity_id = NEW.entity_id AND organization_id = NEW.organization_id) THEN
			RAISE EXCEPTION 'DOCUMENT_OWNED: invoice % of this entry does not exist in entity %', NEW.document_id, NEW.entity_id;
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
		PERFORM books_require_read_committed();
		NEW.posted_at := coalesce(NEW.posted_at, now());
		IF NOT isfinite(NEW.posted_at) THEN
			RAISE EXCEPTION 'VALIDATION: journal entry % needs a finite posted_at time to be posted', NEW.id;
		END IF;
		-- The lines as they stand once this update holds the entry's row: a line writer locks
		-- the draft's row before its line can count (books_journal_line_guard), so every line
		-- there will ever be is here, under READ COMMITTED's fresh snapshot.
		SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0)
			INTO nl, sd, sc FROM journal_lines WHERE entry_id = NEW.id;
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
			p := books_journal_entry_problem(NEW.id, 'posted', false);
			IF p IS NOT NULL THEN
				RAISE EXCEPTION '%', p;
			END IF;
		END IF;
		SELECT name INTO p FROM accounting_periods
			WHERE entity_id = NEW.entity_id AND status = 'closed' AND NEW.date BETWEEN start_date AND end_date
			LIMIT 1;
		IF p IS NOT NULL THEN
			RAISE EXCEPTION 'PERIOD_CLOSED: period % is closed; % cannot be posted into it', p, NEW.date;
		END IF;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER journal_entries_guard
	BEFORE INSERT OR UPDATE OR DELETE ON journal_entries
	FOR EACH ROW EXECUTE FUNCTION books_journal_entry_guard();

CREATE TRIGGER journal_entries_audit_post
	AFTER UPDATE OF status ON journal_entries
	FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.status = 'posted')
	EXECUTE FUNCTION books_journal_entry_audit();

-- Posting a reversing entry marks its original reversed in the same statement, so the two
-- can never be seen apart.
CREATE FUNCTION books_journal_entry_reverse_original() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE journal_entries SET status = 'reversed' WHERE id = NEW.reversal_of_id;
	RETURN NULL;
END;
$$;

CREATE TRIGGER journal_entries_reverse_original
	AFTER UPDATE OF status ON journal_entries
	FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.status = 'posted' AND NEW.reversal_of_id IS NOT NULL)
	EXECUTE FUNCTION books_journal_entry_reverse_original();

-- At commit, a document entry or reversal whose status changed in the transaction is checked
-- again as it then stands: its document present (billing writes the document after its entry),
-- its reversal state consistent, still balanced. Other postings need no second look: their
-- lines cannot change once posted (lines are added only to drafts, under the draft's row
-- lock), and a period close waits for every transaction writing entries (SHARE lock).
CREATE FUNCTION books_journal_entry_recheck() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	p text;
BEGIN
	p := books_journal_entry_problem(NEW.id, NULL, true);
	IF p IS NOT NULL THEN
		RAISE EXCEPTION '%', p;
	END IF;
	RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER journal_entries_recheck
	AFTER UPDATE OF status ON journal_entries DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND (NEW.document_type IS NOT NULL OR NEW.reversal_of_id IS NOT NULL))
	EXECUTE FUNCTION books_journal_entry_recheck();


-- Lines: written once, on a draft, against accounts, classes and contacts of the entry's own
-- entity and organization, in whole minor units; control accounts only from documents. Each
-- line writer locks the draft's row (FOR NO KEY UPDATE, as the posting update does) before its
-- line can count, so a concurrent posting of the draft waits for the line and then counts it,
-- or the line waits and finds the entry posted. Updates are refused; a draft's line is deleted
-- and inserted again.
CREATE FUNCTION books_journal_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: journal lines are written once; a draft''s line is replaced by deleting it';
	END IF;
	PERFORM books_require_read_committed();
	IF TG_OP = 'DELETE' THEN
		PERFORM 1 FROM journal_entries WHERE id = OLD.entry_id AND status = 'draft' FOR NO KEY UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: lines of journal entry % can only be deleted while it is a draft', OLD.entry_id;
		END IF;
		RETURN OLD;
	END IF;
	-- One query reads what the line is checked against.
	SELECT e.organization_id, e.entity_id, e.currency, e.document_type, e.reversal_of_id, e.xmin::text AS xmin, cur.unit,
		a.id AS account_id, a.entity_id AS account_entity, a.organization_id AS account_org, a.subtype, a.code
	INTO r
	FROM journal_entries e
	JOIN books_currencies cur ON cur.code = e.currency
	LEFT JOIN accounts a ON a.id = NEW.account_id
	WHERE e.id = NEW.entry_id AND e.status = 'draft';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: lines can only be added to a draft journal entry (%)', NEW.entry_id;
	END IF;
	-- A draft written by this very transaction is seen by no other, so nothing can post it
	-- concurrently (the application's case); a draft another transaction wrote is locked.
	IF r.xmin <> (txid_current() % 4294967296)::text THEN
		PERFORM 1 FROM journal_entries WHERE id = NEW.entry_id AND status = 'draft' FOR NO KEY UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: lines can only be added to a draft journal entry (%)', NEW.entry_id;
		END IF;
	END IF;
	IF NEW.organization_id <> r.organization_id THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: line % belongs to the organization of its entry', NEW.id;
	END IF;
	IF r.account_id IS NULL OR r.account_entity <> r.entity_id OR r.account_org <> r.organization_id THEN
		RAISE EXCEPTION 'UNKNOWN_ACCOUNT: account % is not an account of entity %', NEW.account_id, r.entity_id;
	END IF;
	IF (NEW.debit + NEW.credit) % r.unit <> 0 OR NEW.debit > 1000000000000000 OR NEW.credit > 1000000000000000 THEN
		RAISE EXCEPTION 'INVALID_AMOUNT: line % is not a whole number of % minor units within range', NEW.id, r.currency;
	END IF;
	IF NEW.class_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM classes
		WHERE id = NEW.class_id AND entity_id = r.entity_id AND organization_id = r.organization_id) THEN
		RAISE EXCEPTION 'UNKNOWN_CLASS: class % is not a class of entity %', NEW.class_id, r.entity_id;
	END IF;
	IF NEW.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers
		WHERE id = NEW.customer_id AND organization_id = r.organization_id) THEN
		RAISE EXCEPTION 'UNKNOWN_CUSTOMER: customer % is not a customer of this organization', NEW.customer_id;
	END IF;
	IF NEW.vendor_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM vendors
		WHERE id = NEW.vendor_id AND organization_id = r.organization_id) THEN
		RAISE EXCEPTION 'VALIDATION: vendor % is not a vendor of this organization', NEW.vendor_id;
	END IF;
	IF r.subtype IN ('accounts_receivable', 'customer_credit', 'accounts_payable') THEN
		IF r.document_type IS NULL AND r.reversal_of_id IS NULL THEN
			RAISE EXCEPTION 'CONTROL_ACCOUNT: account % (%) is posted only by documents', r.code, r.subtype;
		END IF;
		IF r.document_type IS NOT NULL AND ((r.subtype <> 'accounts_payable' AND NEW.customer_id IS NULL)
			OR (r.subtype = 'accounts_payable' AND NEW.vendor_id IS NULL)) THEN
			RAISE EXCEPTION 'VALIDATION: a document''s % line names its %', r.subtype,
				CASE r.subtype WHEN 'accounts_payable' THEN 'vendor' ELSE 'customer' END;
		END IF;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER journal_lines_guard
	BEFORE INSERT OR UPDATE OR DELETE ON journal_lines
	FOR EACH ROW EXECUTE FUNCTION books_journal_line_guard();

-- What the lines point at.
CREATE FUNCTION books_ledger_reference_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'accounts' THEN
		IF TG_OP = 'DELETE' THEN
			IF EXISTS (SELECT 1 FROM journal_lines WHERE account_id = OLD.id) THEN
				RAISE EXCEPTION 'ACCOUNT_IN_USE: account % has postings and cannot be deleted', OLD.code;
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.id <> OLD.id OR NEW.entity_id <> OLD.entity_id OR NEW.organization_id <> OLD.organization_id THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: account % never moves to another entity', OLD.code;
		END IF;
		IF (NEW.type <> OLD.type OR NEW.subtype <> OLD.subtype) THEN
			-- Reclassifying is rare: wait for every transaction writing lines and keep new ones
			-- out until commit, so the check below sees every line that will ever be posted
			-- to the account under its old type (a fresh snapshot, READ COMMITTED).
			PERFORM books_require_read_committed();
			LOCK TABLE journal_lines IN SHARE MODE;
			IF EXISTS (SELECT 1 FROM journal_lines WHERE account_id = OLD.id) THEN
				RAISE EXCEPTION 'ACCOUNT_IN_USE: account % has postings; its type and subtype are fixed', OLD.code;
			END IF;
		END IF;
		RETURN NEW;
	END IF;
	IF TG_TABLE_NAME = 'classes' THEN
		IF TG_OP = 'DELETE' THEN
			IF EXISTS (SELECT 1 FROM journal_lines WHERE class_id = OLD.id) THEN
				RAISE EXCEPTION 'LEDGER_IMMUTABLE: class % has postings and cannot be deleted', OLD.name;
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.id <> OLD.id OR NEW.entity_id <> OLD.entity_id OR NEW.organization_id <> OLD.organization_id THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: class % never moves to another entity', OLD.name;
		END IF;
		RETURN NEW;
	END IF;
	IF TG_TABLE_NAME = 'legal_entities' THEN
		IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.organization_id <> OLD.organization_id
			OR NEW.base_currency <> OLD.base_currency THEN
			-- Rare: wait for every transaction writing entries, then look with a fresh snapshot.
			PERFORM books_require_read_committed();
			LOCK TABLE journal_entries IN SHARE MODE;
			IF EXISTS (SELECT 1 FROM journal_entries WHERE entity_id = OLD.id) THEN
				RAISE EXCEPTION 'LEDGER_IMMUTABLE: entity % has entries; its organization and base currency are fixed', OLD.code;
			END IF;
		END IF;
		IF TG_OP = 'DELETE' THEN
			RETURN OLD;
		END IF;
		RETURN NEW;
	END IF;
	IF TG_TABLE_NAME IN ('customers', 'vendors') THEN
		IF TG_OP = 'DELETE' THEN
			IF EXISTS (SELECT 1 FROM journal_lines WHERE customer_id = OLD.id OR vendor_id = OLD.id) THEN
				RAISE EXCEPTION 'LEDGER_IMMUTABLE: % % has postings and cannot be deleted', TG_TABLE_NAME, OLD.id;
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.id <> OLD.id OR NEW.organization_id <> OLD.organization_id THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: % % never moves to another organization', TG_TABLE_NAME, OLD.id;
		END IF;
		RETURN NEW;
	END IF;
	-- accounting_periods
	IF TG_OP <> 'DELETE' AND NEW.status = 'closed' AND (TG_OP = 'INSERT' OR OLD.status <> 'closed') THEN
		-- Closing is rare: wait for every transaction writing entries and keep new ones out
		-- until this close commits; they then see the period closed (READ COMMITTED), so no
		-- entry lands in a period as it closes.
		PERFORM books_require_read_committed();
		LOCK TABLE journal_entries IN SHARE MODE;
	END IF;
	IF TG_OP = 'DELETE' THEN
		IF OLD.status = 'closed' THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: closed period % is reopened, never deleted', OLD.name;
		END IF;
		RETURN OLD;
	END IF;
	IF TG_OP = 'UPDATE' AND (NEW.id <> OLD.id OR NEW.entity_id <> OLD.entity_id OR NEW.organization_id <> OLD.organization_id
		OR NEW.start_date <> OLD.start_date OR NEW.end_date <> OLD.end_date) THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: period % only opens and closes', OLD.name;
	END IF;
	IF NEW.status NOT IN ('open', 'closed') THEN
		RAISE EXCEPTION 'VALIDATION: a period is open or closed, not %', NEW.status;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER accounts_guard BEFORE UPDATE OR DELETE ON accounts
	FOR EACH ROW EXECUTE FUNCTION books_ledger_reference_guard();
CREATE TRIGGER classes_guard BEFORE UPDATE OR DELETE ON classes
	FOR EACH ROW EXECUTE FUNCTION books_ledger_reference_guard();
CREATE TRIGGER legal_entities_guard BEFORE UPDATE OR DELETE ON legal_entities
	FOR EACH ROW EXECUTE FUNCTION books_ledger_reference_guard();
CREATE TRIGGER accounting_periods_guard BEFORE INSERT OR UPDATE OR DELETE ON accounting_periods
	FOR EACH ROW EXECUTE FUNCTION books_ledger_reference_guard();
CREATE TRIGGER customers_guard BEFORE UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION books_ledger_reference_guard();
CREATE TRIGGER vendors_guard BEFORE UPDATE OR DELETE ON vendors
	FOR EACH ROW EXECUTE FUNCTION books_ledger_reference_guard();

-- Each seal extends its entity's chain by one link, for a posted entry of that entity.
CREATE FUNCTION books_ledger_seal_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND entity_id = NEW.entity_id
		AND organization_id = NEW.organization_id AND status IN ('posted', 'reversed')) THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: seal % must name a posted entry of entity %', NEW.id, NEW.entity_id;
	END IF;
	IF NOT ((NEW.seq = 1 AND NEW.prev_hash = '') OR EXISTS (SELECT 1 FROM ledger_seals
		WHERE entity_id = NEW.entity_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash)) THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: seal % does not extend the chain of entity % (seq %)', NEW.id, NEW.entity_id, NEW.seq;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_seals_link BEFORE INSERT ON ledger_seals
	FOR EACH ROW EXECUTE FUNCTION books_ledger_seal_link();

-- Append-only history: no UPDATE or DELETE of audit events, seals and verification records,
-- and no TRUNCATE of any table of the ledger or its history.
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('AUDIT_APPEND_ONLY: audit events are never changed or deleted');
CREATE TRIGGER ledger_seals_append_only BEFORE UPDATE OR DELETE ON ledger_seals
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: seals are never changed or deleted');
CREATE TRIGGER ledger_verifications_append_only BEFORE UPDATE OR DELETE ON ledger_verifications
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('AUDIT_APPEND_ONLY: verification records are never changed or deleted');

CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: the ledger is never truncated');
CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: the ledger is never truncated');
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: the chart of accounts is never truncated');
CREATE TRIGGER classes_no_truncate BEFORE TRUNCATE ON classes
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: classes are never truncated');
CREATE TRIGGER legal_entities_no_truncate BEFORE TRUNCATE ON legal_entities
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: legal entities are never truncated');
CREATE TRIGGER accounting_periods_no_truncate BEFORE TRUNCATE ON accounting_periods
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: accounting periods are never truncated');
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('AUDIT_APPEND_ONLY: audit events are never truncated');
CREATE TRIGGER ledger_seals_no_truncate BEFORE TRUNCATE ON ledger_seals
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('LEDGER_IMMUTABLE: seals are never truncated');
CREATE TRIGGER ledger_verifications_no_truncate BEFORE TRUNCATE ON ledger_verifications
	FOR EACH STATEMENT EXECUTE FUNCTION books_refuse('AUDIT_APPEND_ONLY: verification records are never truncated');

-- books_post_journal_entry (see 0002) writes the new columns too.
CREATE OR REPLACE FUNCTION books_post_journal_entry(e jsonb, lines jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, document_date,
		description, currency, source_system, source_ref, status, total, created_by, created_via, request_id,
		idempotency_key, request_hash, reversal_of_id, document_type, document_id)
	VALUES (e->>'id', (e->>'created_at')::timestamptz, (e->>'created_at')::timestamptz, e->>'organization_id',
		e->>'entity_id', (e->>'date')::date, (e->>'document_date')::date, e->>'description', e->>'currency',
		e->>'source_system', e->>'source_ref', 'draft', (e->>'total')::bigint, e->>'created_by', e->>'created_via',
		e->>'request_id', e->>'idempotency_key', e->>'request_hash', e->>'reversal_of_id',
		e->>'document_type', e->>'document_id');
	INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, class_id,
		customer_id, vendor_id, description)
	SELECT l->>'id', e->>'organization_id', e->>'id', (l->>'line_no')::integer, l->>'account_id',
		(l->>'debit')::bigint, (l->>'credit')::bigint, l->>'class_id', l->>'customer_id', l->>'vendor_id',
		l->>'description'
	FROM jsonb_array_elements(lines) AS l;
	UPDATE journal_entries SET status = 'posted', posted_at = (e->>'posted_at')::timestamptz
	WHERE id = e->>'id';
END;
$$;
