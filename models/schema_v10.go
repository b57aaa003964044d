package models

// schemaV10 adds what campaign progress and automatic pause need:
//   - campaign_run_samples: a run's counters as the campaigns job saw them
//     every few seconds while it ran (one small row per run and tick), so
//     the campaign page draws sends per minute and the current rate from an
//     index read instead of scanning the run's deliveries;
//   - campaigns.auto_pause_window: how many of the run's latest answers the
//     automatic pause judges (0: AutoPauseDefaultWindow).
var schemaV10 = []string{
	`CREATE TABLE campaign_run_samples (
		run_id {BIGINT} NOT NULL,
		at {TIME} NOT NULL,
		accepted {BIGINT} NOT NULL DEFAULT 0,
		delivered {BIGINT} NOT NULL DEFAULT 0,
		failed {BIGINT} NOT NULL DEFAULT 0,
		unknown {BIGINT} NOT NULL DEFAULT 0,
		skipped {BIGINT} NOT NULL DEFAULT 0,
		PRIMARY KEY (run_id, at)){OPTIONS}`,
	`ALTER TABLE campaigns ADD COLUMN auto_pause_window {INT} NOT NULL DEFAULT 0`,
}
