package components

// campaignsCatalog holds the strings of campaigns: compose, audience, schedule, runs.
var campaignsCatalog = map[string][2]string{}
