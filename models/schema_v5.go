package models

// schemaV5 adds what campaigns need beyond migration 1:
//   - campaign_runs.paused: the counter of the run's deliveries held back by
//     a pause (status paused), so the run's counters still add up to its rows;
//   - campaign_runs.reason: why a run was paused or canceled (a stable code);
//   - campaign_runs.resend_of: the run a "resend to failed" run repeats, and
//     expanded_at: when its audience was fully expanded into deliveries;
//   - campaigns.end_at (last firing of a recurring campaign), status_reason
//     (why it stands where it is: misfire skipped, auto-paused, …), the
//     approval columns and the auto-pause threshold;
//   - apps.require_approval: campaigns of the account need an admin's approval;
//   - campaign_recipients: an uploaded list of recipients, resolved to users.
var schemaV5 = []string{
	`ALTER TABLE campaign_runs ADD COLUMN paused {BIGINT} NOT NULL DEFAULT 0`,
	`ALTER TABLE campaign_runs ADD COLUMN reason {KEY} NOT NULL DEFAULT ''`,
	`ALTER TABLE campaign_runs ADD COLUMN resend_of {BIGINT} NULL`,
	`ALTER TABLE campaign_runs ADD COLUMN expanded_at {TIME} NULL`,
	`CREATE INDEX ix_runs_campaign ON campaign_runs (campaign_id, id)`,

	`ALTER TABLE campaigns ADD COLUMN end_at {TIME} NULL`,
	`ALTER TABLE campaigns ADD COLUMN status_reason {KEY} NOT NULL DEFAULT ''`,
	`ALTER TABLE campaigns ADD COLUMN submitted_by {BIGINT} NULL`,
	`ALTER TABLE campaigns ADD COLUMN approved_by {BIGINT} NULL`,
	`ALTER TABLE campaigns ADD COLUMN auto_pause_pct {INT} NOT NULL DEFAULT 0`,

	`ALTER TABLE apps ADD COLUMN require_approval {BOOL} NOT NULL DEFAULT 0`,

	`CREATE TABLE campaign_recipients (
		campaign_id {BIGINT} NOT NULL,
		user_id {BIGINT} NOT NULL,
		PRIMARY KEY (campaign_id, user_id)){OPTIONS}`,
}
