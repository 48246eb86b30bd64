-- The ledger's guarantees, enforced by the database itself so that no code path and no raw
-- SQL can break them:
--   * an entry is born a draft; lines can only be added to, changed on or removed from drafts;
--   * an entry becomes posted only with at least two lines whose debits equal its credits
--     and its total, and only on a date whose accounting period is not closed;
--   * a posted entry never changes again, except to be marked reversed; nothing posted is
--     ever deleted.

CREATE FUNCTION books_journal_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n integer;
	d numeric;
	c numeric;
	p text;
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
		RETURN NEW;
	END IF;
	-- UPDATE
	IF OLD.status <> 'draft' THEN
		IF OLD.status = 'posted' AND NEW.status = 'reversed'
			AND (to_jsonb(NEW) - 'status' - 'updated_at') = (to_jsonb(OLD) - 'status' - 'updated_at') THEN
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: journal entry % is % and cannot be changed', OLD.id, OLD.status;
	END IF;
	IF NEW.status = 'reversed' THEN
		RAISE EXCEPTION 'LEDGER_IMMUTABLE: draft journal entry % cannot be marked reversed', OLD.id;
	END IF;
	IF NEW.status = 'posted' THEN
		SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0)
			INTO n, d, c FROM journal_lines WHERE entry_id = NEW.id;
		IF n < 2 THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % has % line(s); at least two are required', NEW.id, n;
		END IF;
		IF d <> c THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % debits % <> credits % (units of 1/10000)', NEW.id, d, c;
		END IF;
		IF d <> NEW.total THEN
			RAISE EXCEPTION 'UNBALANCED_ENTRY: journal entry % total % <> sum of debits %', NEW.id, NEW.total, d;
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

CREATE FUNCTION books_journal_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		SELECT status INTO s FROM journal_entries WHERE id = OLD.entry_id;
		IF s IS DISTINCT FROM 'draft' THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: lines of % journal entry % cannot be changed', s, OLD.entry_id;
		END IF;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		SELECT status INTO s FROM journal_entries WHERE id = NEW.entry_id;
		IF s IS DISTINCT FROM 'draft' THEN
			RAISE EXCEPTION 'LEDGER_IMMUTABLE: lines cannot be added to % journal entry %', s, NEW.entry_id;
		END IF;
		RETURN NEW;
	END IF;
	RETURN OLD;
END;
$$;

CREATE TRIGGER journal_lines_guard
	BEFORE INSERT OR UPDATE OR DELETE ON journal_lines
	FOR EACH ROW EXECUTE FUNCTION books_journal_line_guard();

-- Every posting leaves an audit record, written here so that no code path can post without
-- one. The id is derived from the entry's, which is posted once.
CREATE FUNCTION books_journal_entry_audit() RETURNS trigger LANGUAGE plpgsql AS $$
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
	RETURN NULL;
END;
$$;

CREATE TRIGGER journal_entries_audit_post
	AFTER UPDATE OF status ON journal_entries
	FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.status = 'posted')
	EXECUTE FUNCTION books_journal_entry_audit();

-- books_post_journal_entry writes an entry the way the application otherwise does in three
-- statements (insert the draft, insert its lines, flip it to posted) in one call, so a busy
-- integration pays one round trip instead of three. Every trigger above still runs: the
-- function has no privileges the guards do not check.
CREATE FUNCTION books_post_journal_entry(e jsonb, lines jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO journal_entries (id, created_at, updated_at, organization_id, entity_id, date, document_date,
		description, currency, source_system, source_ref, status, total, created_by, created_via, request_id,
		idempotency_key, request_hash, reversal_of_id)
	VALUES (e->>'id', (e->>'created_at')::timestamptz, (e->>'created_at')::timestamptz, e->>'organization_id',
		e->>'entity_id', (e->>'date')::date, (e->>'document_date')::date, e->>'description', e->>'currency',
		e->>'source_system', e->>'source_ref', 'draft', (e->>'total')::bigint, e->>'created_by', e->>'created_via',
		e->>'request_id', e->>'idempotency_key', e->>'request_hash', e->>'reversal_of_id');
	INSERT INTO journal_lines (id, organization_id, entry_id, line_no, account_id, debit, credit, class_id, description)
	SELECT l->>'id', e->>'organization_id', e->>'id', (l->>'line_no')::integer, l->>'account_id',
		(l->>'debit')::bigint, (l->>'credit')::bigint, l->>'class_id', l->>'description'
	FROM jsonb_array_elements(lines) AS l;
	UPDATE journal_entries SET status = 'posted', posted_at = (e->>'posted_at')::timestamptz
	WHERE id = e->>'id';
END;
$$;
