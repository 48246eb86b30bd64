-- The ledger guards of 0005, rewritten for speed with the same rules and messages.
--
-- PL/pgSQL runs each condition that reads a table as a prepared query whose parameters are
-- the trigger's values. A condition such as "NEW.class_id IS NOT NULL AND NOT EXISTS (…)"
-- folds to false when planned for a row without a class, so PostgreSQL judges a plan built
-- for that row's values cheaper than the generic one and plans it again for every row. Each
-- table read below therefore stands alone, inside an IF on the trigger's values, and is
-- planned once per connection. The isolation-level check is inlined for the same reason: a
-- function call per row costs more than the comparison.

CREATE OR REPLACE FUNCTION books_journal_entry_problem(p_entry text, p_status text, at_commit boolean) RETURNS text LANGUAGE plpgsql AS $$
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
	IF at_commit AND e.document_type IS NOT NULL AND e.reversal_of_id IS NULL THEN
		CASE e.document_type
		WHEN 'invoice' THEN PERFORM 1 FROM invoices d WHERE d.id = e.document_id AND d.entity_id = e.entity_id;
		WHEN 'payment' THEN PERFORM 1 FROM payments d WHERE d.id = e.document_id AND d.entity_id = e.entity_id;
		WHEN 'payment_application' THEN PERFORM 1 FROM payment_applications d WHERE d.id = e.document_id;
		WHEN 'credit_memo' THEN PERFORM 1 FROM credit_memos d WHERE d.id = e.document_id AND d.entity_id = e.entity_id;
		WHEN 'credit_application' THEN PERFORM 1 FROM credit_applications d WHERE d.id = e.document_id;
		WHEN 'refund' THEN PERFORM 1 FROM refunds d WHERE d.id = e.document_id AND d.entity_id = e.entity_id;
		WHEN 'charge_reversal' THEN PERFORM 1 FROM charge_reversals d WHERE d.id = e.document_id AND d.entity_id = e.entity_id;
		WHEN 'write_off' THEN PERFORM 1 FROM write_offs d WHERE d.id = e.document_id AND d.entity_id = e.entity_id;
		ELSE PERFORM 1 WHERE false;
		END CASE;
		IF NOT FOUND THEN
			RETURN format('DOCUMENT_OWNED: journal entry %s names %s %s, which does not exist in its entity', e.id, e.document_type, e.document_id);
		END IF;
	END IF;
	-- Posted in this transaction (the only way a posted entry is checked at commit): its period
	-- must still be open now that every close it waited for has committed.
	IF at_commit AND e.status = 'posted' THEN
		IF EXISTS (SELECT 1 FROM accounting_periods
			WHERE entity_id = e.entity_id AND status = 'closed' AND e.date BETWEEN start_date AND end_date) THEN
			RETURN format('PERIOD_CLOSED: the period of %s was closed while journal entry %s was being posted', e.date, e.id);
		END IF;
	END IF;
	IF e.status = 'reversed' THEN
		IF NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.reversal_of_id = e.id AND r.status = 'posted') THEN
			RETURN format('LEDGER_IMMUTABLE: journal entry %s is marked reversed without a posted reversing entry', e.id);
		END IF;
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
			OR (NEW.document_type = 'payment' AND NEW.source_ref = 'payment:' || NEW.document_id)
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

CREATE OR REPLACE FUNCTION books_journal_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: journal lines are written once; a draft''s line is replaced by deleting it';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		PERFORM books_require_read_committed();
	END IF;
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
	IF NEW.class_id IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM classes WHERE id = NEW.class_id AND entity_id = r.entity_id AND organization_id = r.organization_id) THEN
			RAISE EXCEPTION 'UNKNOWN_CLASS: class % is not a class of entity %', NEW.class_id, r.entity_id;
		END IF;
	END IF;
	IF NEW.customer_id IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM customers WHERE id = NEW.customer_id AND organization_id = r.organization_id) THEN
			RAISE EXCEPTION 'UNKNOWN_CUSTOMER: customer % is not a customer of this organization', NEW.customer_id;
		END IF;
	END IF;
	IF NEW.vendor_id IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM vendors WHERE id = NEW.vendor_id AND organization_id = r.organization_id) THEN
			RAISE EXCEPTION 'VALIDATION: vendor % is not a vendor of this organization', NEW.vendor_id;
		END IF;
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

CREATE OR REPLACE FUNCTION books_ledger_seal_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND entity_id = NEW.entity_id
		AND organization_id = NEW.organization_id AND status IN ('posted', 'reversed')) THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: seal % must name a posted entry of entity %', NEW.id, NEW.entity_id;
	END IF;
	IF NEW.seq = 1 THEN
		IF NEW.prev_hash <> '' THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: seal % does not extend the chain of entity % (seq %)', NEW.id, NEW.entity_id, NEW.seq;
		END IF;
	ELSIF NOT EXISTS (SELECT 1 FROM ledger_seals
		WHERE entity_id = NEW.entity_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash) THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: seal % does not extend the chain of entity % (seq %)', NEW.id, NEW.entity_id, NEW.seq;
	END IF;
	RETURN NEW;
END;
$$;

-- A posting's audit record and, for a reversing entry, marking its original reversed run in
-- one trigger: PostgreSQL reads a trigger's WHEN condition afresh for every statement.
CREATE FUNCTION books_journal_entry_posted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit_events (id, organization_id, at, actor, actor_type, via, action, subject_id, request_id, detail)
	VALUES (
		'aud_' || NEW.id, NEW.organization_id, coalesce(NEW.posted_at, now()),
		CASE WHEN NEW.created_by = '' THEN 'system' ELSE NEW.created_by END,
		CASE NEW.created_via WHEN 'api' THEN 'integration_key' WHEN 'graphql' THEN 'user' ELSE 'system' END,
		CASE WHEN NEW.created_via IN ('graphql', 'api', 'cli') THEN NEW.created_via ELSE 'system' END,
		CASE WHEN NEW.reversal_of_id IS NULL THEN 'journal_entry.post' ELSE 'journal_entry.reverse' END,
		NEW.id, NEW.request_id, NEW.source_system || ':' || NEW.source_ref
	);
	IF NEW.reversal_of_id IS NOT NULL THEN
		UPDATE journal_entries SET status = 'reversed' WHERE id = NEW.reversal_of_id;
	END IF;
	RETURN NULL;
END;
$$;

DROP TRIGGER journal_entries_audit_post ON journal_entries;
DROP TRIGGER journal_entries_reverse_original ON journal_entries;
DROP FUNCTION books_journal_entry_reverse_original();
DROP FUNCTION books_journal_entry_audit();
CREATE TRIGGER journal_entries_posted
	AFTER UPDATE OF status ON journal_entries
	FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.status = 'posted')
	EXECUTE FUNCTION books_journal_entry_posted();

-- books_post_journal_entry also names each line's account, so that the JE API posts in one
-- round trip: a line carries account_id, account_code or source_code (through the COA mapping
-- of the entry's source system), as ledger.Post accepts them. It returns the accounts it used,
-- [{"id", "code"}] in line order. A line whose account is missing, inactive or a control
-- account is not explained here: the function writes nothing and returns {"unresolved": n},
-- and the application resolves the lines itself to say which line is wrong and why.
DROP FUNCTION books_post_journal_entry(jsonb, jsonb);
CREATE FUNCTION books_post_journal_entry(e jsonb, lines jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	acct_ids text[];
	used jsonb;
	bad integer;
BEGIN
	SELECT array_agg(r.id ORDER BY l.ord), jsonb_agg(jsonb_build_object('id', r.id, 'code', r.code) ORDER BY l.ord),
		count(*) FILTER (WHERE r.id IS NULL OR r.entity_id <> e->>'entity_id' OR NOT r.active
			OR (r.subtype IN ('accounts_receivable', 'customer_credit', 'accounts_payable') AND e->>'document_type' IS NULL))
	INTO acct_ids, used, bad
	FROM jsonb_array_elements(lines) WITH ORDINALITY AS l(v, ord)
	-- One probe of a unique index per line: by id, by (entity, code), or by the mapping's key
	-- and then the account's id. LIMIT keeps each probe a nested loop, never a hash join over
	-- the table; the entity is compared outside so the id probes use the primary key.
	CROSS JOIN LATERAL (
		SELECT a.id, a.entity_id, a.code, a.active, a.subtype FROM accounts a
			WHERE l.v->>'account_id' IS NOT NULL AND a.id = l.v->>'account_id'
		UNION ALL
		SELECT a.id, a.entity_id, a.code, a.active, a.subtype FROM accounts a
			WHERE l.v->>'account_id' IS NULL AND l.v->>'account_code' IS NOT NULL
				AND a.entity_id = e->>'entity_id' AND a.code = l.v->>'account_code'
		UNION ALL
		SELECT a.id, a.entity_id, a.code, a.active, a.subtype FROM coa_mappings m JOIN accounts a ON a.id = m.account_id
			WHERE l.v->>'account_id' IS NULL AND l.v->>'account_code' IS NULL
				AND m.entity_id = e->>'entity_id' AND m.source_system = e->>'source_system'
				AND m.source_code = l.v->>'source_code'
		UNION ALL
		SELECT NULL, NULL, NULL, NULL, NULL
		LIMIT 1
	) r;
	IF bad > 0 OR acct_ids IS NULL THEN
		-- Answered, not raised: raising would abort the caller's transaction, in which the
		-- application then resolves the lines to explain the problem.
		RETURN jsonb_build_object('unresolved', coalesce(bad, 0));
	END IF;
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
	SELECT l->>'id', e->>'organization_id', e->>'id', (l->>'line_no')::integer, acct_ids[o::integer],
		(l->>'debit')::bigint, (l->>'credit')::bigint, l->>'class_id', l->>'customer_id', l->>'vendor_id',
		l->>'description'
	FROM jsonb_array_elements(lines) WITH ORDINALITY AS x(l, o);
	UPDATE journal_entries SET status = 'posted', posted_at = (e->>'posted_at')::timestamptz
	WHERE id = e->>'id';
	RETURN used;
END;
$$;

-- The sealer reads the recent end of each ledger (ledger.SealRecent).
CREATE INDEX "journalentry_entity_id_posted_at" ON "journal_entries" ("entity_id", "posted_at");
