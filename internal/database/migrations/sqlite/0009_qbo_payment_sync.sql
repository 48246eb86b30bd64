-- QuickBooks payment sync: the webhook inbox, the reconciliation queue, the poller's watermark
-- and voided payments. Tables and columns produced by 'books migrate --diff'.
PRAGMA foreign_keys = off;
ALTER TABLE `payments` ADD COLUMN `voided_at` datetime NULL;
ALTER TABLE `payments` ADD COLUMN `void_entry_id` text NULL;
ALTER TABLE `qbo_connections` ADD COLUMN `polled_through` datetime NULL;
ALTER TABLE `qbo_connections` ADD COLUMN `polled_at` datetime NULL;
CREATE TABLE `qbo_inbox_events` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `dedupe_key` text NOT NULL, `realm_id` text NOT NULL, `organization_id` text NULL, `connection_id` text NULL, `source` text NOT NULL, `qbo_type` text NOT NULL, `qbo_id` text NOT NULL, `operation` text NOT NULL, `occurred_at` datetime NULL, `payload` text NULL, `status` text NOT NULL DEFAULT ('pending'), `attempts` integer NOT NULL DEFAULT (0), `last_error` text NULL, `processed_at` datetime NULL, PRIMARY KEY (`id`));
CREATE UNIQUE INDEX `qboinboxevent_dedupe_key` ON `qbo_inbox_events` (`dedupe_key`);
CREATE INDEX `qboinboxevent_connection_id_status_id` ON `qbo_inbox_events` (`connection_id`, `status`, `id`);
CREATE INDEX `qboinboxevent_realm_id_status` ON `qbo_inbox_events` (`realm_id`, `status`);
CREATE TABLE `reconciliation_items` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `organization_id` text NOT NULL, `connection_id` text NOT NULL, `kind` text NOT NULL, `qbo_type` text NOT NULL, `qbo_id` text NOT NULL, `record_type` text NULL, `record_id` text NULL, `amount` integer NULL, `currency` text NULL, `txn_date` text NULL, `reference` text NULL, `reason` text NOT NULL, `snapshot` text NULL, `sync_token` text NULL, `status` text NOT NULL DEFAULT ('open'), `note` text NULL, `resolved_by` text NULL, `resolved_at` datetime NULL, `last_seen_at` datetime NOT NULL, `entity_id` text NOT NULL, `customer_id` text NULL, `payment_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `reconciliation_items_legal_entities_entity` FOREIGN KEY (`entity_id`) REFERENCES `legal_entities` (`id`) ON DELETE NO ACTION, CONSTRAINT `reconciliation_items_customers_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE SET NULL, CONSTRAINT `reconciliation_items_payments_payment` FOREIGN KEY (`payment_id`) REFERENCES `payments` (`id`) ON DELETE SET NULL);
CREATE INDEX `reconciliationitem_organization_id` ON `reconciliation_items` (`organization_id`);
CREATE UNIQUE INDEX `reconciliationitem_connection_id_qbo_type_qbo_id` ON `reconciliation_items` (`connection_id`, `qbo_type`, `qbo_id`);
CREATE INDEX `reconciliationitem_entity_id_status` ON `reconciliation_items` (`entity_id`, `status`);
PRAGMA foreign_keys = on;

-- A payment voided in QuickBooks takes the money it left in Customer Credits out again by an
-- entry of its own: a document entry of the payment, referenced "pvoid:<payment id>".
DROP TRIGGER journal_entries_document_ref;
CREATE TRIGGER journal_entries_document_ref BEFORE INSERT ON journal_entries
WHEN NEW.document_type IS NOT NULL AND NEW.reversal_of_id IS NULL AND NOT (
	(NEW.document_type = 'invoice' AND NEW.source_ref = 'invoice:' || NEW.document_id)
	OR (NEW.document_type = 'payment' AND NEW.source_ref IN ('payment:' || NEW.document_id, 'pvoid:' || NEW.document_id))
	OR (NEW.document_type = 'payment_application' AND NEW.source_ref IN ('papply:' || NEW.document_id, 'unapply:' || NEW.document_id))
	OR (NEW.document_type = 'credit_memo' AND NEW.source_ref = 'cm:' || NEW.document_id)
	OR (NEW.document_type = 'credit_application' AND NEW.source_ref IN ('capp:' || NEW.document_id, 'cunapply:' || NEW.document_id))
	OR (NEW.document_type = 'refund' AND NEW.source_ref = 'refund:' || NEW.document_id)
	OR (NEW.document_type = 'charge_reversal' AND NEW.source_ref = 'chargeback:' || NEW.document_id)
	OR (NEW.document_type = 'write_off' AND NEW.source_ref = 'writeoff:' || NEW.document_id))
BEGIN
	SELECT RAISE(ABORT, 'DOCUMENT_OWNED: a document entry''s reference is <kind>:<document id> of its document type');
END;
