-- Ledger integrity (see docs/architecture.md, "Who enforces what"). The ledger's rules hold
-- in the database itself, whatever tool opens the file: SQLite triggers fire for every client,
-- while foreign keys are off by default in other tools, so no rule below relies on them.
--
-- SQLite serializes writers, so a check made when an entry is posted cannot be raced; the
-- PostgreSQL twin of this migration re-checks at commit as well. SQLite triggers cannot loop
-- over columns: a migration that adds a column to journal_entries must recreate
-- journal_entries_immutable and journal_entries_draft_fixed.

DROP TRIGGER IF EXISTS journal_entries_insert_draft;
DROP TRIGGER IF EXISTS journal_entries_no_delete;
DROP TRIGGER IF EXISTS journal_entries_immutable;
DROP TRIGGER IF EXISTS journal_entries_draft_not_reversed;
DROP TRIGGER IF EXISTS journal_entries_post_balanced;
DROP TRIGGER IF EXISTS journal_entries_post_open_period;
DROP TRIGGER IF EXISTS journal_lines_insert_draft;
DROP TRIGGER IF EXISTS journal_lines_update_draft;
DROP TRIGGER IF EXISTS journal_lines_delete_draft;
DROP TRIGGER IF EXISTS journal_entries_audit_post;

-- Produced by 'books migrate --diff' (the migration runner turns foreign keys off around a
-- SQLite migration, as a table rebuild needs).
CREATE TABLE `new_journal_entries` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `organization_id` text NOT NULL, `date` text NOT NULL, `document_date` text NULL, `description` text NOT NULL DEFAULT (''), `currency` text NOT NULL, `source_system` text NOT NULL, `source_ref` text NOT NULL, `status` text NOT NULL DEFAULT ('draft'), `total` integer NOT NULL, `posted_at` datetime NULL, `created_by` text NOT NULL DEFAULT (''), `created_via` text NOT NULL DEFAULT (''), `request_id` text NULL, `idempotency_key` text NULL, `request_hash` text NULL, `document_type` text NULL, `document_id` text NULL, `reversal_of_id` text NULL, `entity_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `journal_entries_journal_entries_reversed_by` FOREIGN KEY (`reversal_of_id`) REFERENCES `journal_entries` (`id`) ON DELETE SET NULL, CONSTRAINT `journal_entries_legal_entities_journal_entries` FOREIGN KEY (`entity_id`) REFERENCES `legal_entities` (`id`) ON DELETE NO ACTION, CONSTRAINT `journal_entry_dates` CHECK (date >= '1900-01-01' AND date <= '2199-12-31' AND (document_date IS NULL OR (document_date >= '1900-01-01' AND document_date <= '2199-12-31'))), CONSTRAINT `journal_entry_document` CHECK ((document_type IS NULL AND document_id IS NULL) OR (document_type IS NOT NULL AND document_id IS NOT NULL AND source_system = 'books')), CONSTRAINT `journal_entry_reversal_ref` CHECK ((reversal_of_id IS NULL AND substr(source_ref, 1, 9) <> 'reversal:') OR (reversal_of_id IS NOT NULL AND source_ref = 'reversal:' || reversal_of_id)), CONSTRAINT `journal_entry_status` CHECK (status IN ('draft', 'posted', 'reversed')), CONSTRAINT `journal_entry_total` CHECK (total > 0));
INSERT INTO `new_journal_entries` (`id`, `created_at`, `updated_at`, `organization_id`, `date`, `document_date`, `description`, `currency`, `source_system`, `source_ref`, `status`, `total`, `posted_at`, `created_by`, `created_via`, `request_id`, `idempotency_key`, `request_hash`, `reversal_of_id`, `entity_id`) SELECT `id`, `created_at`, `updated_at`, `organization_id`, `date`, `document_date`, `description`, `currency`, `source_system`, `source_ref`, `status`, `total`, `posted_at`, `created_by`, `created_via`, `request_id`, `idempotency_key`, `request_hash`, `reversal_of_id`, `entity_id` FROM `journal_entries`;
DROP TABLE `journal_entries`;
ALTER TABLE `new_journal_entries` RENAME TO `journal_entries`;
CREATE UNIQUE INDEX `journal_entries_reversal_of_id_key` ON `journal_entries` (`reversal_of_id`);
CREATE INDEX `journalentry_organization_id` ON `journal_entries` (`organization_id`);
CREATE UNIQUE INDEX `journalentry_entity_id_source_system_source_ref` ON `journal_entries` (`entity_id`, `source_system`, `source_ref`);
CREATE INDEX `journalentry_entity_id_date` ON `journal_entries` (`entity_id`, `date`);
CREATE UNIQUE INDEX `journalentry_created_by_idempotency_key` ON `journal_entries` (`created_by`, `idempotency_key`);
CREATE TABLE `new_journal_lines` (`id` text NOT NULL, `organization_id` text NOT NULL, `line_no` integer NOT NULL, `debit` integer NOT NULL, `credit` integer NOT NULL, `description` text NOT NULL DEFAULT (''), `entry_id` text NOT NULL, `account_id` text NOT NULL, `class_id` text NULL, `customer_id` text NULL, `vendor_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `journal_lines_journal_entries_lines` FOREIGN KEY (`entry_id`) REFERENCES `journal_entries` (`id`) ON DELETE NO ACTION, CONSTRAINT `journal_lines_accounts_account` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`) ON DELETE NO ACTION, CONSTRAINT `journal_lines_classes_class` FOREIGN KEY (`class_id`) REFERENCES `classes` (`id`) ON DELETE SET NULL, CONSTRAINT `journal_lines_customers_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE SET NULL, CONSTRAINT `journal_lines_vendors_vendor` FOREIGN KEY (`vendor_id`) REFERENCES `vendors` (`id`) ON DELETE SET NULL, CONSTRAINT `journal_line_one_side` CHECK ((debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)));
INSERT INTO `new_journal_lines` (`id`, `organization_id`, `line_no`, `debit`, `credit`, `description`, `entry_id`, `account_id`, `class_id`) SELECT `id`, `organization_id`, `line_no`, `debit`, `credit`, `description`, `entry_id`, `account_id`, `class_id` FROM `journal_lines`;
DROP TABLE `journal_lines`;
ALTER TABLE `new_journal_lines` RENAME TO `journal_lines`;
CREATE INDEX `journalline_organization_id` ON `journal_lines` (`organization_id`);
CREATE UNIQUE INDEX `journalline_entry_id_line_no` ON `journal_lines` (`entry_id`, `line_no`);
CREATE INDEX `journalline_account_id` ON `journal_lines` (`account_id`);
ALTER TABLE `credit_applications` ADD COLUMN `unapplied_at` datetime NULL;
ALTER TABLE `credit_applications` ADD COLUMN `unapply_entry_id` text NULL;
CREATE TABLE `ledger_seals` (`id` text NOT NULL, `organization_id` text NOT NULL, `entity_id` text NOT NULL, `seq` integer NOT NULL, `entry_id` text NOT NULL, `prev_hash` text NOT NULL, `hash` text NOT NULL, `sealed_at` datetime NOT NULL, PRIMARY KEY (`id`));
CREATE INDEX `ledgerseal_organization_id` ON `ledger_seals` (`organization_id`);
CREATE UNIQUE INDEX `ledgerseal_entity_id_seq` ON `ledger_seals` (`entity_id`, `seq`);
CREATE UNIQUE INDEX `ledgerseal_entry_id` ON `ledger_seals` (`entry_id`);
CREATE TABLE `ledger_verifications` (`id` text NOT NULL, `organization_id` text NOT NULL, `entity_id` text NOT NULL, `verified_at` datetime NOT NULL, `ok` bool NOT NULL, `entries_checked` integer NOT NULL, `entries_sealed` integer NOT NULL, `head_seq` integer NOT NULL, `head_hash` text NOT NULL, `problem` text NULL, PRIMARY KEY (`id`));
CREATE INDEX `ledgerverification_organization_id` ON `ledger_verifications` (`organization_id`);
CREATE INDEX `ledgerverification_entity_id_verified_at` ON `ledger_verifications` (`entity_id`, `verified_at`);

-- Entries posted by billing documents before this migration get their document, so that only
-- the document can undo them.
UPDATE journal_entries SET
	document_type = CASE substr(source_ref, 1, instr(source_ref, ':') - 1)
		WHEN 'invoice' THEN 'invoice' WHEN 'payment' THEN 'payment'
		WHEN 'papply' THEN 'payment_application' WHEN 'unapply' THEN 'payment_application'
		WHEN 'cm' THEN 'credit_memo' WHEN 'capp' THEN 'credit_application'
		WHEN 'refund' THEN 'refund' WHEN 'chargeback' THEN 'charge_reversal'
		WHEN 'writeoff' THEN 'write_off' END,
	document_id = substr(source_ref, instr(source_ref, ':') + 1)
WHERE source_system = 'books' AND reversal_of_id IS NULL
	AND substr(source_ref, 1, instr(source_ref, ':') - 1) IN
		('invoice', 'payment', 'papply', 'unapply', 'cm', 'capp', 'refund', 'chargeback', 'writeoff');
UPDATE journal_entries SET document_type = 'invoice',
	document_id = (SELECT i.id FROM invoices i WHERE i.void_entry_id = journal_entries.id)
WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.void_entry_id = journal_entries.id);

-- The currencies the ledger accepts (internal/money's ISO 4217 table; a test keeps the two
-- equal) and the smallest amount each posts, in the ledger's units of 1/10,000.
CREATE TABLE books_currencies (code text NOT NULL PRIMARY KEY, minor_units integer NOT NULL, unit integer NOT NULL);
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
CREATE TRIGGER books_currencies_fixed BEFORE UPDATE ON books_currencies
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: currencies change only through a migration');
END;
CREATE TRIGGER books_currencies_no_delete BEFORE DELETE ON books_currencies
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: currencies change only through a migration');
END;
CREATE TRIGGER books_currencies_no_insert BEFORE INSERT ON books_currencies
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: currencies change only through a migration');
END;

------------------------------------------------------------------------------------------
-- REPLACE. INSERT OR REPLACE (and REPLACE INTO) deletes a conflicting row without firing
-- delete triggers, so every table whose rows the ledger relies on refuses an insert that
-- would collide with an existing row on any unique key. The message keeps SQLite's own
-- wording, so callers that look for a unique violation still see one.
------------------------------------------------------------------------------------------

CREATE TRIGGER journal_entries_no_replace BEFORE INSERT ON journal_entries
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.id
	OR (entity_id = NEW.entity_id AND source_system = NEW.source_system AND source_ref = NEW.source_ref)
	OR (NEW.idempotency_key IS NOT NULL AND created_by = NEW.created_by AND idempotency_key = NEW.idempotency_key)
	OR (NEW.reversal_of_id IS NOT NULL AND reversal_of_id = NEW.reversal_of_id))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: journal_entries (LEDGER_IMMUTABLE: an entry with this id, source reference, idempotency key or reversal exists; it is never replaced)');
END;

CREATE TRIGGER journal_lines_no_replace BEFORE INSERT ON journal_lines
WHEN EXISTS (SELECT 1 FROM journal_lines WHERE id = NEW.id OR (entry_id = NEW.entry_id AND line_no = NEW.line_no))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: journal_lines (LEDGER_IMMUTABLE: a line with this id or number exists; it is never replaced)');
END;

CREATE TRIGGER accounts_no_replace BEFORE INSERT ON accounts
WHEN EXISTS (SELECT 1 FROM accounts WHERE id = NEW.id OR (entity_id = NEW.entity_id AND code = NEW.code))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: accounts (an account with this id or code exists; it is never replaced)');
END;

CREATE TRIGGER classes_no_replace BEFORE INSERT ON classes
WHEN EXISTS (SELECT 1 FROM classes WHERE id = NEW.id OR (entity_id = NEW.entity_id AND name = NEW.name))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: classes (a class with this id or name exists; it is never replaced)');
END;

CREATE TRIGGER legal_entities_no_replace BEFORE INSERT ON legal_entities
WHEN EXISTS (SELECT 1 FROM legal_entities WHERE id = NEW.id OR (organization_id = NEW.organization_id AND code = NEW.code))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: legal_entities (a legal entity with this id or code exists; it is never replaced)');
END;

CREATE TRIGGER accounting_periods_no_replace BEFORE INSERT ON accounting_periods
WHEN EXISTS (SELECT 1 FROM accounting_periods WHERE id = NEW.id OR (entity_id = NEW.entity_id AND start_date = NEW.start_date))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: accounting_periods (a period with this id or start exists; it is never replaced)');
END;

CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: audit_events (AUDIT_APPEND_ONLY: an audit event is never replaced)');
END;

CREATE TRIGGER ledger_seals_no_replace BEFORE INSERT ON ledger_seals
WHEN EXISTS (SELECT 1 FROM ledger_seals WHERE id = NEW.id OR entry_id = NEW.entry_id
	OR (entity_id = NEW.entity_id AND seq = NEW.seq))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: ledger_seals (LEDGER_IMMUTABLE: a seal is never replaced)');
END;

CREATE TRIGGER ledger_verifications_no_replace BEFORE INSERT ON ledger_verifications
WHEN EXISTS (SELECT 1 FROM ledger_verifications WHERE id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: ledger_verifications (a verification is never replaced)');
END;

------------------------------------------------------------------------------------------
-- Journal entries.
------------------------------------------------------------------------------------------

CREATE TRIGGER journal_entries_insert_draft BEFORE INSERT ON journal_entries
WHEN NEW.status IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'UNBALANCED_ENTRY: a journal entry must be inserted as a draft and posted once its lines exist');
END;

-- SQLite keeps any value in any column; the ledger's columns keep their declared types, and
-- dates their one canonical spelling, so that comparisons (the closed-period check) are exact.
CREATE TRIGGER journal_entries_insert_types BEFORE INSERT ON journal_entries
WHEN typeof(NEW.total) IS NOT 'integer'
	OR typeof(NEW.date) IS NOT 'text' OR date(NEW.date, '+0 days') IS NOT NEW.date
	OR (NEW.document_date IS NOT NULL AND (typeof(NEW.document_date) IS NOT 'text'
		OR date(NEW.document_date, '+0 days') IS NOT NEW.document_date))
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: a journal entry total is an integer of 1/10000 units and its dates are YYYY-MM-DD');
END;

CREATE TRIGGER journal_entries_insert_entity BEFORE INSERT ON journal_entries
WHEN NOT EXISTS (SELECT 1 FROM legal_entities WHERE id = NEW.entity_id AND organization_id = NEW.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'UNKNOWN_ENTITY: the entry''s legal entity is not an entity of its organization');
END;

CREATE TRIGGER journal_entries_insert_currency BEFORE INSERT ON journal_entries
WHEN NEW.currency IS NOT (SELECT base_currency FROM legal_entities WHERE id = NEW.entity_id)
	OR NOT EXISTS (SELECT 1 FROM books_currencies WHERE code = NEW.currency)
BEGIN
	SELECT RAISE(ABORT, 'CURRENCY_MISMATCH: a journal entry is in its entity''s base currency');
END;

CREATE TRIGGER journal_entries_insert_minor_unit BEFORE INSERT ON journal_entries
WHEN NEW.total % (SELECT unit FROM books_currencies WHERE code = NEW.currency) <> 0
BEGIN
	SELECT RAISE(ABORT, 'INVALID_AMOUNT: amounts are whole multiples of the currency''s minor unit');
END;

-- "kind:id" references of source system books are the namespace of Books documents.
CREATE TRIGGER journal_entries_insert_namespace BEFORE INSERT ON journal_entries
WHEN NEW.source_system = 'books' AND NEW.document_type IS NULL AND NEW.reversal_of_id IS NULL
	AND instr(NEW.source_ref, ':') > 0
BEGIN
	SELECT RAISE(ABORT, 'DOCUMENT_OWNED: source references kind:id of source system books belong to Books documents');
END;

CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
WHEN OLD.status IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a posted journal entry cannot be deleted');
END;

-- A draft changes only by being posted (status and posted_at).
CREATE TRIGGER journal_entries_draft_fixed BEFORE UPDATE ON journal_entries
WHEN OLD.status = 'draft' AND NOT (
	NEW.id IS OLD.id
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
	AND NEW.reversal_of_id IS OLD.reversal_of_id
	AND NEW.created_by IS OLD.created_by
	AND NEW.created_via IS OLD.created_via
	AND NEW.request_id IS OLD.request_id
	AND NEW.idempotency_key IS OLD.idempotency_key
	AND NEW.request_hash IS OLD.request_hash
	AND NEW.document_type IS OLD.document_type
	AND NEW.document_id IS OLD.document_id
)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a draft journal entry changes only by being posted');
END;

-- A posted entry changes in exactly one way: to reversed, nothing else.
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE ON journal_entries
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
	AND NEW.document_type IS OLD.document_type
	AND NEW.document_id IS OLD.document_id
)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a posted journal entry cannot be changed');
END;

CREATE TRIGGER journal_entries_draft_not_reversed BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'reversed'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a draft journal entry cannot be marked reversed');
END;

-- Posted → reversed happens only together with the posted mirror entry that references it
-- (journal_entries_reverse_original below makes that one step).
CREATE TRIGGER journal_entries_reversed_by_mirror BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'posted' AND NEW.status = 'reversed' AND NOT EXISTS (
	SELECT 1 FROM journal_entries WHERE reversal_of_id = OLD.id AND status = 'posted')
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: an entry is marked reversed only by posting its reversing entry');
END;

CREATE TRIGGER journal_entries_post_balanced BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND (
	(SELECT count(*) FROM journal_lines WHERE entry_id = NEW.id) < 2
	OR (SELECT coalesce(sum(debit), 0) FROM journal_lines WHERE entry_id = NEW.id)
		<> (SELECT coalesce(sum(credit), 0) FROM journal_lines WHERE entry_id = NEW.id)
	OR (SELECT coalesce(sum(debit), 0) FROM journal_lines WHERE entry_id = NEW.id) <> NEW.total
)
BEGIN
	SELECT RAISE(ABORT, 'UNBALANCED_ENTRY: a journal entry needs at least two lines with debits equal to credits and to its total');
END;

CREATE TRIGGER journal_entries_post_open_period BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND EXISTS (
	SELECT 1 FROM accounting_periods
	WHERE entity_id = NEW.entity_id AND status = 'closed' AND NEW.date BETWEEN start_date AND end_date
)
BEGIN
	SELECT RAISE(ABORT, 'PERIOD_CLOSED: the accounting period of this date is closed');
END;

-- A reversing entry is the exact mirror of a posted entry of the same entity that is not
-- itself a reversal, and an entry owned by a document is reversed only by that document.
CREATE TRIGGER journal_entries_post_reversal_target BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND NEW.reversal_of_id IS NOT NULL AND NOT EXISTS (
	SELECT 1 FROM journal_entries o
	WHERE o.id = NEW.reversal_of_id AND o.status = 'posted' AND o.entity_id = NEW.entity_id
		AND o.organization_id = NEW.organization_id AND o.reversal_of_id IS NULL AND o.total = NEW.total)
BEGIN
	SELECT RAISE(ABORT, 'ALREADY_REVERSED: a reversal needs a posted, unreversed entry of the same entity that is not itself a reversal');
END;

CREATE TRIGGER journal_entries_post_reversal_owner BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND NEW.reversal_of_id IS NOT NULL AND EXISTS (
	SELECT 1 FROM journal_entries o WHERE o.id = NEW.reversal_of_id
		AND (o.document_type IS NOT NEW.document_type OR o.document_id IS NOT NEW.document_id))
BEGIN
	SELECT RAISE(ABORT, 'DOCUMENT_OWNED: an entry posted by a document is reversed only by that document');
END;

CREATE TRIGGER journal_entries_post_reversal_mirror BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND NEW.reversal_of_id IS NOT NULL AND (
	(SELECT count(*) FROM journal_lines WHERE entry_id = NEW.id)
		<> (SELECT count(*) FROM journal_lines WHERE entry_id = NEW.reversal_of_id)
	OR EXISTS (
		SELECT 1 FROM journal_lines r LEFT JOIN journal_lines o ON o.entry_id = NEW.reversal_of_id AND o.line_no = r.line_no
		WHERE r.entry_id = NEW.id AND (o.id IS NULL OR o.account_id IS NOT r.account_id
			OR o.class_id IS NOT r.class_id OR o.customer_id IS NOT r.customer_id OR o.vendor_id IS NOT r.vendor_id
			OR o.debit IS NOT r.credit OR o.credit IS NOT r.debit)))
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a reversing entry has the lines of the entry it reverses, sides swapped');
END;

-- Every posting leaves an audit record, written here so that no code path can post without
-- one. The id is derived from the entry's, which is posted once.
CREATE TRIGGER journal_entries_audit_post AFTER UPDATE OF status ON journal_entries
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

-- Posting a reversing entry marks its original reversed in the same statement, so the two
-- can never be seen apart.
CREATE TRIGGER journal_entries_reverse_original AFTER UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND NEW.reversal_of_id IS NOT NULL
BEGIN
	UPDATE journal_entries SET status = 'reversed' WHERE id = NEW.reversal_of_id;
END;

------------------------------------------------------------------------------------------
-- Journal lines: written once, on a draft, against accounts, classes and contacts of the
-- entry's own entity and organization, in whole minor units; control accounts only from
-- documents.
------------------------------------------------------------------------------------------

CREATE TRIGGER journal_lines_insert_draft BEFORE INSERT ON journal_lines
WHEN (SELECT status FROM journal_entries WHERE id = NEW.entry_id) IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: lines can only be added to a draft journal entry');
END;

CREATE TRIGGER journal_lines_insert_types BEFORE INSERT ON journal_lines
WHEN typeof(NEW.debit) IS NOT 'integer' OR typeof(NEW.credit) IS NOT 'integer' OR typeof(NEW.line_no) IS NOT 'integer'
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: line amounts are integers of 1/10000 units');
END;

CREATE TRIGGER journal_lines_insert_org BEFORE INSERT ON journal_lines
WHEN NEW.organization_id IS NOT (SELECT organization_id FROM journal_entries WHERE id = NEW.entry_id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a line belongs to the organization of its entry');
END;

CREATE TRIGGER journal_lines_insert_account BEFORE INSERT ON journal_lines
WHEN NOT EXISTS (SELECT 1 FROM accounts a JOIN journal_entries e ON e.id = NEW.entry_id
	WHERE a.id = NEW.account_id AND a.entity_id = e.entity_id AND a.organization_id = e.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'UNKNOWN_ACCOUNT: a line''s account is an account of its entry''s entity');
END;

CREATE TRIGGER journal_lines_insert_class BEFORE INSERT ON journal_lines
WHEN NEW.class_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM classes c JOIN journal_entries e ON e.id = NEW.entry_id
	WHERE c.id = NEW.class_id AND c.entity_id = e.entity_id AND c.organization_id = e.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'UNKNOWN_CLASS: a line''s class is a class of its entry''s entity');
END;

CREATE TRIGGER journal_lines_insert_customer BEFORE INSERT ON journal_lines
WHEN NEW.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers WHERE id = NEW.customer_id AND organization_id = NEW.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'UNKNOWN_CUSTOMER: a line''s customer is a customer of its organization');
END;

CREATE TRIGGER journal_lines_insert_vendor BEFORE INSERT ON journal_lines
WHEN NEW.vendor_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM vendors WHERE id = NEW.vendor_id AND organization_id = NEW.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: a line''s vendor is a vendor of its organization');
END;

CREATE TRIGGER journal_lines_insert_minor_unit BEFORE INSERT ON journal_lines
WHEN (NEW.debit + NEW.credit) % (SELECT c.unit FROM books_currencies c JOIN journal_entries e ON e.currency = c.code
	WHERE e.id = NEW.entry_id) <> 0
BEGIN
	SELECT RAISE(ABORT, 'INVALID_AMOUNT: amounts are whole multiples of the currency''s minor unit');
END;

CREATE TRIGGER journal_lines_insert_control BEFORE INSERT ON journal_lines
WHEN (SELECT subtype FROM accounts WHERE id = NEW.account_id) IN ('accounts_receivable', 'customer_credit', 'accounts_payable')
	AND EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND document_type IS NULL AND reversal_of_id IS NULL)
BEGIN
	SELECT RAISE(ABORT, 'CONTROL_ACCOUNT: Accounts Receivable, Customer Credits and Accounts Payable are posted only by documents');
END;

CREATE TRIGGER journal_lines_insert_contact BEFORE INSERT ON journal_lines
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND document_type IS NOT NULL)
	AND (((SELECT subtype FROM accounts WHERE id = NEW.account_id) IN ('accounts_receivable', 'customer_credit') AND NEW.customer_id IS NULL)
		OR ((SELECT subtype FROM accounts WHERE id = NEW.account_id) = 'accounts_payable' AND NEW.vendor_id IS NULL))
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: a document''s receivable and customer credit lines name the customer, its payable lines the vendor');
END;

CREATE TRIGGER journal_lines_no_update BEFORE UPDATE ON journal_lines
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: journal lines are written once; a draft''s line is replaced by deleting it');
END;

CREATE TRIGGER journal_lines_delete_draft BEFORE DELETE ON journal_lines
WHEN (SELECT status FROM journal_entries WHERE id = OLD.entry_id) IS NOT 'draft'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: lines of a posted journal entry cannot be deleted');
END;

------------------------------------------------------------------------------------------
-- What the lines point at.
------------------------------------------------------------------------------------------

CREATE TRIGGER accounts_owner_fixed BEFORE UPDATE ON accounts
WHEN NEW.id IS NOT OLD.id OR NEW.entity_id IS NOT OLD.entity_id OR NEW.organization_id IS NOT OLD.organization_id
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: an account never moves to another entity');
END;

CREATE TRIGGER accounts_in_use_type BEFORE UPDATE ON accounts
WHEN (NEW.type IS NOT OLD.type OR NEW.subtype IS NOT OLD.subtype)
	AND EXISTS (SELECT 1 FROM journal_lines WHERE account_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'ACCOUNT_IN_USE: the type and subtype of an account with postings are fixed');
END;

CREATE TRIGGER accounts_in_use_delete BEFORE DELETE ON accounts
WHEN EXISTS (SELECT 1 FROM journal_lines WHERE account_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'ACCOUNT_IN_USE: an account with postings cannot be deleted');
END;

CREATE TRIGGER classes_owner_fixed BEFORE UPDATE ON classes
WHEN NEW.id IS NOT OLD.id OR NEW.entity_id IS NOT OLD.entity_id OR NEW.organization_id IS NOT OLD.organization_id
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a class never moves to another entity');
END;

CREATE TRIGGER classes_in_use_delete BEFORE DELETE ON classes
WHEN EXISTS (SELECT 1 FROM journal_lines WHERE class_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a class with postings cannot be deleted');
END;

CREATE TRIGGER legal_entities_in_use BEFORE UPDATE ON legal_entities
WHEN (NEW.id IS NOT OLD.id OR NEW.organization_id IS NOT OLD.organization_id OR NEW.base_currency IS NOT OLD.base_currency)
	AND EXISTS (SELECT 1 FROM journal_entries WHERE entity_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: the organization and base currency of an entity with entries are fixed');
END;

CREATE TRIGGER legal_entities_in_use_delete BEFORE DELETE ON legal_entities
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE entity_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: an entity with entries cannot be deleted');
END;

CREATE TRIGGER accounting_periods_dates BEFORE INSERT ON accounting_periods
WHEN typeof(NEW.start_date) IS NOT 'text' OR date(NEW.start_date, '+0 days') IS NOT NEW.start_date
	OR typeof(NEW.end_date) IS NOT 'text' OR date(NEW.end_date, '+0 days') IS NOT NEW.end_date
	OR NEW.status NOT IN ('open', 'closed')
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: period dates are YYYY-MM-DD and its status open or closed');
END;

CREATE TRIGGER accounting_periods_fixed BEFORE UPDATE ON accounting_periods
WHEN NEW.id IS NOT OLD.id OR NEW.entity_id IS NOT OLD.entity_id OR NEW.organization_id IS NOT OLD.organization_id
	OR NEW.start_date IS NOT OLD.start_date OR NEW.end_date IS NOT OLD.end_date OR NEW.status NOT IN ('open', 'closed')
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a period only opens and closes');
END;

CREATE TRIGGER accounting_periods_closed_kept BEFORE DELETE ON accounting_periods
WHEN OLD.status = 'closed'
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a closed period is reopened, never deleted');
END;

------------------------------------------------------------------------------------------
-- Append-only history.
------------------------------------------------------------------------------------------

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'AUDIT_APPEND_ONLY: audit events are never changed');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'AUDIT_APPEND_ONLY: audit events are never deleted');
END;

-- Each seal extends its entity's chain by one link, for a posted entry of that entity.
CREATE TRIGGER ledger_seals_link BEFORE INSERT ON ledger_seals
WHEN NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND entity_id = NEW.entity_id
		AND organization_id = NEW.organization_id AND status IN ('posted', 'reversed'))
	OR typeof(NEW.seq) IS NOT 'integer'
	OR NOT ((NEW.seq = 1 AND NEW.prev_hash = '')
		OR EXISTS (SELECT 1 FROM ledger_seals WHERE entity_id = NEW.entity_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash))
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a seal links a posted entry of its entity to the previous seal of the chain');
END;

CREATE TRIGGER ledger_seals_no_update BEFORE UPDATE ON ledger_seals
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: seals are never changed');
END;

CREATE TRIGGER ledger_seals_no_delete BEFORE DELETE ON ledger_seals
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: seals are never deleted');
END;

CREATE TRIGGER ledger_verifications_no_update BEFORE UPDATE ON ledger_verifications
BEGIN
	SELECT RAISE(ABORT, 'AUDIT_APPEND_ONLY: verification records are never changed');
END;

CREATE TRIGGER ledger_verifications_no_delete BEFORE DELETE ON ledger_verifications
BEGIN
	SELECT RAISE(ABORT, 'AUDIT_APPEND_ONLY: verification records are never deleted');
END;

------------------------------------------------------------------------------------------
-- What a CHECK says, said again by a trigger: PRAGMA ignore_check_constraints turns CHECKs
-- off for a connection, triggers stay.
------------------------------------------------------------------------------------------

CREATE TRIGGER journal_entries_check_status BEFORE INSERT ON journal_entries
WHEN NEW.status NOT IN ('draft', 'posted', 'reversed')
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: journal_entry_status: a journal entry is draft, posted or reversed');
END;

CREATE TRIGGER journal_entries_check_total BEFORE INSERT ON journal_entries
WHEN NOT (NEW.total > 0 AND NEW.total <= 500000000000000000)
BEGIN
	SELECT RAISE(ABORT, 'INVALID_AMOUNT: journal_entry_total: an entry''s total is positive');
END;

CREATE TRIGGER journal_entries_check_dates BEFORE INSERT ON journal_entries
WHEN NOT (NEW.date BETWEEN '1900-01-01' AND '2199-12-31')
	OR NOT (NEW.document_date IS NULL OR NEW.document_date BETWEEN '1900-01-01' AND '2199-12-31')
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: journal_entry_dates: ledger dates are 1900-01-01 … 2199-12-31');
END;

CREATE TRIGGER journal_entries_check_reversal_ref BEFORE INSERT ON journal_entries
WHEN NOT ((NEW.reversal_of_id IS NULL AND substr(NEW.source_ref, 1, 9) <> 'reversal:')
	OR (NEW.reversal_of_id IS NOT NULL AND NEW.source_ref = 'reversal:' || NEW.reversal_of_id))
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: journal_entry_reversal_ref: reversal:<id> is the reference of the reversal of <id> only');
END;

CREATE TRIGGER journal_entries_check_document BEFORE INSERT ON journal_entries
WHEN NOT ((NEW.document_type IS NULL AND NEW.document_id IS NULL)
	OR (NEW.document_type IS NOT NULL AND NEW.document_id IS NOT NULL AND NEW.source_system = 'books'))
BEGIN
	SELECT RAISE(ABORT, 'DOCUMENT_OWNED: journal_entry_document: a document entry names its document and is posted by books');
END;

CREATE TRIGGER journal_entries_checks_update BEFORE UPDATE ON journal_entries
WHEN NEW.status NOT IN ('draft', 'posted', 'reversed')
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: journal_entry_status: a journal entry is draft, posted or reversed');
END;

CREATE TRIGGER journal_lines_checks_insert BEFORE INSERT ON journal_lines
WHEN NOT ((NEW.debit > 0 AND NEW.credit = 0) OR (NEW.credit > 0 AND NEW.debit = 0))
	OR NEW.debit > 1000000000000000 OR NEW.credit > 1000000000000000
BEGIN
	SELECT RAISE(ABORT, 'INVALID_AMOUNT: journal_line_one_side: a line has one positive side of at most 100,000,000,000');
END;

-- A document entry's reference is its document's: "<kind>:<document id>" with the kind of its
-- document type (a reversal's is "reversal:<original>"), and an invoice's entry needs the
-- invoice, in the same entity. The other documents are written after their entry in the same
-- transaction, so their existence is for the verifier.
CREATE TRIGGER journal_entries_document_ref BEFORE INSERT ON journal_entries
WHEN NEW.document_type IS NOT NULL AND NEW.reversal_of_id IS NULL AND NOT (
	(NEW.document_type = 'invoice' AND NEW.source_ref = 'invoice:' || NEW.document_id)
	OR (NEW.document_type = 'payment' AND NEW.source_ref = 'payment:' || NEW.document_id)
	OR (NEW.document_type = 'payment_application' AND NEW.source_ref IN ('papply:' || NEW.document_id, 'unapply:' || NEW.document_id))
	OR (NEW.document_type = 'credit_memo' AND NEW.source_ref = 'cm:' || NEW.document_id)
	OR (NEW.document_type = 'credit_application' AND NEW.source_ref IN ('capp:' || NEW.document_id, 'cunapply:' || NEW.document_id))
	OR (NEW.document_type = 'refund' AND NEW.source_ref = 'refund:' || NEW.document_id)
	OR (NEW.document_type = 'charge_reversal' AND NEW.source_ref = 'chargeback:' || NEW.document_id)
	OR (NEW.document_type = 'write_off' AND NEW.source_ref = 'writeoff:' || NEW.document_id))
BEGIN
	SELECT RAISE(ABORT, 'DOCUMENT_OWNED: a document entry''s reference is <kind>:<document id> of its document type');
END;

CREATE TRIGGER journal_entries_document_invoice BEFORE INSERT ON journal_entries
WHEN NEW.document_type = 'invoice' AND NOT EXISTS (SELECT 1 FROM invoices
	WHERE id = NEW.document_id AND entity_id = NEW.entity_id AND organization_id = NEW.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'DOCUMENT_OWNED: an invoice entry needs its invoice, in the same entity');
END;

-- Lines left behind by a deleted draft (possible with foreign keys off) are never adopted by
-- a new entry with the same id: they were checked against another entry.
CREATE TRIGGER journal_entries_no_orphan_lines BEFORE INSERT ON journal_entries
WHEN EXISTS (SELECT 1 FROM journal_lines WHERE entry_id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: lines of an earlier entry with this id exist; use a new id');
END;

-- When an entry is posted, every line is checked again against the entry as it now stands,
-- so nothing checked against another state of it (a reversal draft, another currency) passes.
CREATE TRIGGER journal_entries_post_lines BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted' AND (
	NEW.currency IS NOT (SELECT base_currency FROM legal_entities WHERE id = NEW.entity_id)
	OR EXISTS (SELECT 1 FROM journal_lines l LEFT JOIN accounts a ON a.id = l.account_id
		WHERE l.entry_id = NEW.id AND (a.id IS NULL OR a.entity_id IS NOT NEW.entity_id
			OR l.organization_id IS NOT NEW.organization_id
			OR (l.debit + l.credit) % (SELECT unit FROM books_currencies WHERE code = NEW.currency) <> 0
			OR (a.subtype IN ('accounts_receivable', 'customer_credit', 'accounts_payable')
				AND NEW.document_type IS NULL AND NEW.reversal_of_id IS NULL)
			OR (l.class_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM classes c
				WHERE c.id = l.class_id AND c.entity_id = NEW.entity_id)))))
BEGIN
	SELECT RAISE(ABORT, 'UNKNOWN_ACCOUNT: a line of this entry is not on its entity''s accounts and classes, in whole minor units, or is a manual line on a control account');
END;

CREATE TRIGGER journal_entries_post_stamp BEFORE UPDATE OF status ON journal_entries
WHEN OLD.status = 'draft' AND NEW.status = 'posted'
	AND NEW.posted_at IS NOT NULL AND julianday(NEW.posted_at) IS NULL
BEGIN
	SELECT RAISE(ABORT, 'VALIDATION: a posted entry has a valid posted_at time');
END;

------------------------------------------------------------------------------------------
-- UPDATE OR REPLACE deletes the row an update collides with, without delete triggers: no
-- update of a table the ledger points at may collide with another row's unique key.
------------------------------------------------------------------------------------------

CREATE TRIGGER accounts_no_update_replace BEFORE UPDATE ON accounts
WHEN EXISTS (SELECT 1 FROM accounts WHERE id <> OLD.id AND (id = NEW.id OR (entity_id = NEW.entity_id AND code = NEW.code)))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: accounts (an account with this id or code exists; it is never replaced)');
END;

CREATE TRIGGER classes_no_update_replace BEFORE UPDATE ON classes
WHEN EXISTS (SELECT 1 FROM classes WHERE id <> OLD.id AND (id = NEW.id OR (entity_id = NEW.entity_id AND name = NEW.name)))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: classes (a class with this id or name exists; it is never replaced)');
END;

CREATE TRIGGER legal_entities_no_update_replace BEFORE UPDATE ON legal_entities
WHEN EXISTS (SELECT 1 FROM legal_entities WHERE id <> OLD.id AND (id = NEW.id OR (organization_id = NEW.organization_id AND code = NEW.code)))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: legal_entities (an entity with this id or code exists; it is never replaced)');
END;

CREATE TRIGGER customers_no_update_replace BEFORE UPDATE ON customers
WHEN EXISTS (SELECT 1 FROM customers WHERE id <> OLD.id AND (id = NEW.id OR (organization_id = NEW.organization_id AND display_name = NEW.display_name)))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: customers (a customer with this id or name exists; it is never replaced)');
END;

CREATE TRIGGER vendors_no_update_replace BEFORE UPDATE ON vendors
WHEN EXISTS (SELECT 1 FROM vendors WHERE id <> OLD.id AND (id = NEW.id OR (organization_id = NEW.organization_id AND display_name = NEW.display_name)))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: vendors (a vendor with this id or name exists; it is never replaced)');
END;

-- A customer or vendor named on posted lines stays where it is.
CREATE TRIGGER customers_in_use BEFORE UPDATE ON customers
WHEN (NEW.id IS NOT OLD.id OR NEW.organization_id IS NOT OLD.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a customer never moves to another organization');
END;

CREATE TRIGGER customers_in_use_delete BEFORE DELETE ON customers
WHEN EXISTS (SELECT 1 FROM journal_lines WHERE customer_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a customer with postings cannot be deleted');
END;

CREATE TRIGGER customers_no_replace BEFORE INSERT ON customers
WHEN EXISTS (SELECT 1 FROM customers c WHERE (c.id = NEW.id OR (c.organization_id = NEW.organization_id AND c.display_name = NEW.display_name))
	AND EXISTS (SELECT 1 FROM journal_lines WHERE customer_id = c.id))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: customers (a customer with postings is never replaced)');
END;

CREATE TRIGGER vendors_in_use BEFORE UPDATE ON vendors
WHEN (NEW.id IS NOT OLD.id OR NEW.organization_id IS NOT OLD.organization_id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a vendor never moves to another organization');
END;

CREATE TRIGGER vendors_in_use_delete BEFORE DELETE ON vendors
WHEN EXISTS (SELECT 1 FROM journal_lines WHERE vendor_id = OLD.id)
BEGIN
	SELECT RAISE(ABORT, 'LEDGER_IMMUTABLE: a vendor with postings cannot be deleted');
END;

CREATE TRIGGER vendors_no_replace BEFORE INSERT ON vendors
WHEN EXISTS (SELECT 1 FROM vendors v WHERE (v.id = NEW.id OR (v.organization_id = NEW.organization_id AND v.display_name = NEW.display_name))
	AND EXISTS (SELECT 1 FROM journal_lines WHERE vendor_id = v.id))
BEGIN
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: vendors (a vendor with postings is never replaced)');
END;
