package models

// schemaV4 adds what support lookups, the JSON API and user import need:
//   - api_keys.calls: every API call made with a key is counted;
//   - subscription_events.matched_id: an accept reported by the mini
//     program's backend (source "client") and WeChat's popup push of the
//     same tap point at each other, so the tap grants one credit, not two;
//   - subscription_events.note: the reason staff gave for a manual change;
//   - user_tags: one row per user and tag, so a tag search is an index
//     lookup rather than a scan of every user's JSON;
//   - users (app_id, id) and deliveries (app_id, id): an account's newest
//     users and deliveries, read by keyset pagination;
//   - user_imports: CSV imports with their progress and rejected rows.
var schemaV4 = []string{
	`ALTER TABLE api_keys ADD COLUMN calls {BIGINT} NOT NULL DEFAULT 0`,
	`CREATE INDEX ix_api_keys_app ON api_keys (app_id, id)`,

	`ALTER TABLE subscription_events ADD COLUMN matched_id {BIGINT} NULL`,
	`ALTER TABLE subscription_events ADD COLUMN note {KEY} NOT NULL DEFAULT ''`,

	`CREATE TABLE user_tags (
		app_id {BIGINT} NOT NULL,
		tag {KEY} NOT NULL,
		user_id {BIGINT} NOT NULL,
		PRIMARY KEY (app_id, tag, user_id)){OPTIONS}`,
	`CREATE INDEX ix_user_tags_user ON user_tags (user_id)`,

	`CREATE INDEX ix_users_app ON users (app_id, id)`,
	`CREATE INDEX ix_deliveries_app ON deliveries (app_id, id)`,

	`CREATE TABLE user_imports (
		id {ID},
		app_id {BIGINT} NOT NULL REFERENCES apps(id),
		staff_id {BIGINT} NULL,
		filename {KEY} NOT NULL DEFAULT '',
		encoding {SHORT} NOT NULL DEFAULT '',
		status {SHORT} NOT NULL DEFAULT 'running',
		size_bytes {BIGINT} NOT NULL DEFAULT 0,
		done_bytes {BIGINT} NOT NULL DEFAULT 0,
		total_rows {BIGINT} NOT NULL DEFAULT 0,
		imported {BIGINT} NOT NULL DEFAULT 0,
		rejected {BIGINT} NOT NULL DEFAULT 0,
		report {TEXT} NOT NULL,
		error {KEY} NOT NULL DEFAULT '',
		created_at {TIME} NOT NULL,
		finished_at {TIME} NULL){OPTIONS}`,
	`CREATE INDEX ix_user_imports_app ON user_imports (app_id, id)`,
}
