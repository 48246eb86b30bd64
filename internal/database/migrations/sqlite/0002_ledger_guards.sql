-- The ledger's guarantees, enforced by the database itself (see the PostgreSQL twin of this
-- migration for the rules). SQLite triggers cannot loop over columns, so the "only the
-- status may change on reversal" rule lists the columns of journal_entries: a migration that
-- adds a column to journal_entries must recreate journal_entries_immutable.

CREATE TRIGGER journal_entries_insert_draft
BEFORE INSERT ON journal_entries
WHEN NEW.status <> 'draft'
BEGIN
	SELECT RAISE(ABORT, 'UNBALANCED_ENTRY: a journal entry must be inserted as a draft and posted once its lines exist');
END;

CREATE TRIGGER journal_entries_no_delete
BEFORE DELETE ON journal_entries
WHEN OLD.status <> 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a posted journal entry cannot be deleted');
END;

CREATE TRIGGER journal_entries_immutable
BEFORE UPDATE ON journal_entries
WHEN OLD.status <> 'draft' AND NOT (
	OLD.status = 'posted' AND NEW.status = 'reversed'
	AND NEW.id IS OLD.id
	AND NEW.created_at IS OLD.created_at
	AND NEW.organization_id IS OLD.organization_id
	AND NEW.entity_id IS OLD.entity_id
	AND NEW.date IS OLD.date
	AND NEW.document_date IS OLD.document_date
	AND NEW.description IS OLD.description
	AND NEW.currency IS OLD.currency
	AND NEW.source_system IS OLD.source_system
	AND NEW.source_ref IS OLD.source_ref
	AND NEW.total IS OLD.total
	AND NEW.posted_at IS OLD.posted_at
	AND NEW.reversal_of_id IS OLD.reversal_of_id
	AND NEW.created_by IS OLD.created_by
	AND NEW.created_via IS OLD.created_via
	AND NEW.request_id IS OLD.request_id
	AND NEW.idempotency_key IS OLD.idempotency_key
	AND NEW.request_hash IS OLD.request_hash
)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a posted journal entry cannot be changed');
END;

CREATE TRIGGER journal_entries_draft_not_reversed
BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'reversed'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a draft journal entry cannot be marked reversed');
END;

CREATE TRIGGER journal_entries_post_balanced
BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND (
	(SELECT count(*) FROM journal_lines WHERE entry_id = NEW.id) < 2
	OR (SELECT coalesce(sum(debit), 0) FROM journal_lines WHERE entry_id = NEW.id)
		<> (SELECT coalesce(sum(credit), 0) FROM journal_lines WHERE entry_id = NEW.id)
	OR (SELECT coalesce(sum(debit), 0) FROM journal_lines WHERE entry_id = NEW.id) <> NEW.total
)
BEGIN
	SELECT RAISE(ABORT, 'UNBALANCED_ENTRY: a journal entry needs at least two lines with debits equal to credits and to its total');
END;

CREATE TRIGGER journal_entries_post_open_period
BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND EXISTS (
	SELECT 1 FROM accounting_periods
	WHERE entity_id = NEW.entity_id AND status = 'closed' AND NEW.date BETWEEN start_date AND end_date
)
BEGIN
	SELECT RAISE(ABORT, 'PERIOD_CLOSED: the accounting period of this date is closed');
END;

CREATE TRIGGER journal_lines_insert_draft
BEFORE INSERT ON journal_lines
WHEN (SELECT status FROM journal_entries WHERE id = NEW.entry_id) IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: lines can only be added to a draft journal entry');
END;

CREATE TRIGGER journal_lines_update_draft
BEFORE UPDATE ON journal_lines
WHEN (SELECT status FROM journal_entries WHERE id = OLD.entry_id) IS NOT 'draft'
	OR (SELECT status FROM journal_entries WHERE id = NEW.entry_id) IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: lines of a posted journal entry cannot be changed');
END;

CREATE TRIGGER journal_lines_delete_draft
BEFORE DELETE ON journal_lines
WHEN (SELECT status FROM journal_entries WHERE id = OLD.entry_id) IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: lines of a posted journal entry cannot be deleted');
END;

-- Every posting leaves an audit record, written here so that no code path can post without
-- one. The id is derived from the entry's, which is posted once.
CREATE TRIGGER journal_entries_audit_post
AFTER UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted'
BEGIN
	INSERT INTO audit_events (id, organization_id, at, actor, actor_type, via, action, subject_id, request_id, detail)
	VALUES (
		'aud_' || NEW.id, NEW.organization_id, coalesce(NEW.posted_at, CURRENT_TIMESTAMP),
		CASE WHEN NEW.created_by = '' THEN 'system' ELSE NEW.created_by END,
		CASE NEW.created_via WHEN 'api' THEN 'integration_key' WHEN 'graphql' THEN 'user' ELSE 'system' END,
		CASE WHEN NEW.created_via IN ('graphql', 'api', 'cli') THEN NEW.created_via ELSE 'system' END,
		CASE WHEN NEW.reversal_of_id IS NULL THEN 'journal_entry.post' ELSE 'journal_entry.reverse' END,
		NEW.id, NEW.request_id, NEW.source_system || ':' || NEW.source_ref
	);
END;
