package models

// schemaV3 adds the template sync history and the named scheduled jobs.
var schemaV3 = []string{
	`CREATE TABLE template_syncs (
		id {ID},
		app_id {BIGINT} NOT NULL REFERENCES apps(id),
		trigger_kind {SHORT} NOT NULL,
		staff_id {BIGINT} NULL,
		inserted {INT} NOT NULL DEFAULT 0,
		updated {INT} NOT NULL DEFAULT 0,
		deleted {INT} NOT NULL DEFAULT 0,
		unchanged {INT} NOT NULL DEFAULT 0,
		flagged {INT} NOT NULL DEFAULT 0,
		error {TEXT} NOT NULL,
		started_at {TIME} NOT NULL,
		finished_at {TIME} NOT NULL){OPTIONS}`,
	`CREATE INDEX ix_template_syncs_app ON template_syncs (app_id, id)`,

	`CREATE TABLE jobs (
		name {SHORT} NOT NULL PRIMARY KEY,
		schedule {SHORT} NOT NULL DEFAULT '',
		last_started_at {TIME} NULL,
		last_finished_at {TIME} NULL,
		last_duration_ms {BIGINT} NOT NULL DEFAULT 0,
		last_error {TEXT} NOT NULL,
		last_ok {BOOL} NOT NULL DEFAULT 0,
		runs {BIGINT} NOT NULL DEFAULT 0,
		failures {BIGINT} NOT NULL DEFAULT 0,
		running_until {TIME} NULL,
		running_holder {SHORT} NOT NULL DEFAULT '',
		updated_at {TIME} NOT NULL){OPTIONS}`,
}
