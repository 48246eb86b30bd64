-- QuickBooks links, lists, OAuth states and connection settings. Produced by 'books migrate --diff'.
PRAGMA foreign_keys = off;
ALTER TABLE `qbo_connections` ADD COLUMN `settings` json NULL;
ALTER TABLE `qbo_connections` ADD COLUMN `company_name` text NULL;
ALTER TABLE `qbo_connections` ADD COLUMN `lists_updated_at` datetime NULL;
CREATE TABLE `qbo_auth_states` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `organization_id` text NOT NULL, `entity_id` text NOT NULL, `principal` text NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, PRIMARY KEY (`id`));
CREATE INDEX `qboauthstate_organization_id` ON `qbo_auth_states` (`organization_id`);
CREATE TABLE `qbo_links` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `organization_id` text NOT NULL, `entity_id` text NOT NULL, `record_type` text NOT NULL, `record_id` text NOT NULL, `part` integer NOT NULL DEFAULT (0), `qbo_type` text NOT NULL, `qbo_id` text NULL, `claim` text NULL, `sync_token` text NULL, `doc_number` text NULL, `status` text NOT NULL DEFAULT ('pending'), `operation` text NOT NULL DEFAULT ('upsert'), `generation` integer NOT NULL DEFAULT (1), `synced_generation` integer NOT NULL DEFAULT (0), `sent_key` text NULL, `sent_email` text NULL, `attempts` integer NOT NULL DEFAULT (0), `last_error_code` text NULL, `last_error` text NULL, `synced_at` datetime NULL, `qbo_total` integer NULL, `qbo_balance` integer NULL, `connection_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `qbo_links_qbo_connections_connection` FOREIGN KEY (`connection_id`) REFERENCES `qbo_connections` (`id`) ON DELETE NO ACTION, CONSTRAINT `qbo_link_claim` CHECK (claim IS NULL OR claim = qbo_id), CONSTRAINT `qbo_link_generation` CHECK (synced_generation >= 0 AND synced_generation <= generation AND attempts >= 0), CONSTRAINT `qbo_link_synced` CHECK (status <> 'synced' OR qbo_id IS NOT NULL));
CREATE INDEX `qbolink_organization_id` ON `qbo_links` (`organization_id`);
CREATE UNIQUE INDEX `qbolink_connection_id_record_type_record_id_part` ON `qbo_links` (`connection_id`, `record_type`, `record_id`, `part`);
CREATE UNIQUE INDEX `qbolink_connection_id_qbo_type_claim` ON `qbo_links` (`connection_id`, `qbo_type`, `claim`);
CREATE INDEX `qbolink_connection_id_status_record_type_id` ON `qbo_links` (`connection_id`, `status`, `record_type`, `id`);
CREATE INDEX `qbolink_record_id` ON `qbo_links` (`record_id`);
CREATE TABLE `qbo_list_entries` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `organization_id` text NOT NULL, `connection_id` text NOT NULL, `list` text NOT NULL, `qbo_id` text NOT NULL, `name` text NOT NULL, `qbo_kind` text NULL, `qbo_subkind` text NULL, `active` bool NOT NULL DEFAULT (true), `deposit_allowed` bool NOT NULL DEFAULT (false), `fetched_at` datetime NOT NULL, PRIMARY KEY (`id`));
CREATE INDEX `qbolistentry_organization_id` ON `qbo_list_entries` (`organization_id`);
CREATE UNIQUE INDEX `qbolistentry_connection_id_list_qbo_id` ON `qbo_list_entries` (`connection_id`, `list`, `qbo_id`);
PRAGMA foreign_keys = on;
