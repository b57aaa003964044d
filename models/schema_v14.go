package models

// schemaV14 lets messages sent one at a time (the API's, console test
// sends) go before a campaign's: the claim takes the due deliveries of an
// account without a run first, then a run's. In a claim by due time alone
// an API message queued behind a campaign waited for the whole campaign to
// go out at the account's rate (a probe saw a message wait 11 minutes
// behind 3,600 at 5/s).
//
// bulk is a virtual column, run_id IS NOT NULL: nothing writes it and it
// never changes once a delivery exists, so nothing per message changes.
// ix_deliveries_app_due gains it before next_attempt_at, so each lane is
// one index range in due order; the index keeps its name and its prefix
// (status, app_id): the queue-depth gauge and lease recovery read it as
// before.
//
// On MySQL/MariaDB each step is a statement of its own so that the table
// stays writable: adding a virtual column is instant on its own, and the
// new index is built online beside the old one (MariaDB refuses an online
// ALTER that adds a virtual column together with other changes, and then
// blocks every write for the whole index build: 15 s on 3M rows). The
// claim has an index at every step.
var schemaV14 = []string{
	`{MYSQL}ALTER TABLE deliveries ADD COLUMN bulk TINYINT AS (run_id IS NOT NULL) VIRTUAL`,
	`{MYSQL}CREATE INDEX ix_deliveries_app_due_lanes ON deliveries (status, app_id, bulk, next_attempt_at)`,
	`{MYSQL}DROP INDEX ix_deliveries_app_due ON deliveries`,
	`{MYSQL}ALTER TABLE deliveries RENAME INDEX ix_deliveries_app_due_lanes TO ix_deliveries_app_due`,
	`{SQLITE}ALTER TABLE deliveries ADD COLUMN bulk INTEGER GENERATED ALWAYS AS (run_id IS NOT NULL) VIRTUAL`,
	`{SQLITE}DROP INDEX ix_deliveries_app_due`,
	`{SQLITE}CREATE INDEX ix_deliveries_app_due ON deliveries (status, app_id, bulk, next_attempt_at)`,
}
