package models

// schemaV15 keeps why an admin sent a campaign back (campaigns.reject_reason,
// shown to its author with the "approval refused" notice; up to 190
// characters). Campaigns are few: the column costs nothing.
var schemaV15 = []string{
	`ALTER TABLE campaigns ADD COLUMN reject_reason {KEY} NOT NULL DEFAULT ''`,
}
