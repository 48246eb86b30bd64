-- The sealer reads the recent end of each ledger (ledger.SealRecent).
CREATE INDEX `journalentry_entity_id_posted_at` ON `journal_entries` (`entity_id`, `posted_at`);
