package models

// schemaV14 lets messages sent one at a time (the API's, console test
// sends) go before a campaign's: the claim takes the due deliveries of an
// account without a run first, then a run's. In a claim by due time alone
// an API message queued behind a campaign waited for the whole campaign to
// go out at the account's rate (a probe saw a message wait 11 minutes
// behind 3,600 at 5/s).
//
// bulk is a virtual column, run_id IS NOT NULL: nothing writes it, no row
// is rewritten by the migration, and ix_deliveries_app_due gains it before
// next_attempt_at, so each lane is one index range in due order. The index
// keeps its name and its prefix (status, app_id): the queue-depth gauge and
// lease recovery read it as before. Nothing per message changes: bulk never
// changes once a delivery exists.
var schemaV14 = []string{
	`{MYSQL}ALTER TABLE deliveries ADD COLUMN bulk TINYINT AS (run_id IS NOT NULL) VIRTUAL,
		DROP INDEX ix_deliveries_app_due, ADD INDEX ix_deliveries_app_due (status, app_id, bulk, next_attempt_at)`,
	`{SQLITE}ALTER TABLE deliveries ADD COLUMN bulk INTEGER GENERATED ALWAYS AS (run_id IS NOT NULL) VIRTUAL`,
	`{SQLITE}DROP INDEX ix_deliveries_app_due`,
	`{SQLITE}CREATE INDEX ix_deliveries_app_due ON deliveries (status, app_id, bulk, next_attempt_at)`,
}
