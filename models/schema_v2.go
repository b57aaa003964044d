package models

// schemaV2 adds what the delivery engine needs beyond migration 1:
//   - deliveries.called_at: when the last WeChat call for the delivery
//     started, so a delivery whose outcome is unknown can be matched to a
//     subscribe_msg_sent_event by user + template + time window;
//   - an index to claim one app's due deliveries;
//   - send_windows: shared send capacity (per-second rate windows and daily
//     quota) that every instance draws from, so an app's limits hold across
//     all instances together;
//   - delivery_stats: per app and run counters by status, with failures by
//     errcode and skips by reason, updated with atomic increments;
//   - sent_events: every subscribe_msg_sent_event received (deduplicated by
//     msgid), kept until it settles its delivery, and after for support.
var schemaV2 = []string{
	`ALTER TABLE deliveries ADD COLUMN called_at {TIME} NULL`,
	`CREATE INDEX ix_deliveries_app_due ON deliveries (status, app_id, next_attempt_at)`,

	`CREATE TABLE send_windows (
		app_id {BIGINT} NOT NULL,
		win {SHORT} NOT NULL,
		used {BIGINT} NOT NULL DEFAULT 0,
		updated_at {TIME} NOT NULL,
		PRIMARY KEY (app_id, win)){OPTIONS}`,
	`CREATE INDEX ix_send_windows_updated ON send_windows (updated_at)`,

	`CREATE TABLE delivery_stats (
		app_id {BIGINT} NOT NULL,
		run_id {BIGINT} NOT NULL DEFAULT 0,
		status {SHORT} NOT NULL,
		detail {SHORT} NOT NULL DEFAULT '',
		n {BIGINT} NOT NULL DEFAULT 0,
		PRIMARY KEY (app_id, run_id, status, detail)){OPTIONS}`,

	`CREATE TABLE sent_events (
		id {ID},
		app_id {BIGINT} NOT NULL,
		msgid {BIGINT} NOT NULL,
		openid {SHORT} NOT NULL,
		wx_template_id {KEY} NOT NULL,
		error_code {INT} NOT NULL DEFAULT 0,
		error_status {KEY} NOT NULL DEFAULT '',
		event_time {TIME} NOT NULL,
		delivery_id {BIGINT} NULL,
		created_at {TIME} NOT NULL){OPTIONS}`,
	`CREATE UNIQUE INDEX ux_sent_events_msgid ON sent_events (app_id, msgid)`,
	`CREATE INDEX ix_sent_events_pending ON sent_events (delivery_id, created_at)`,
}
