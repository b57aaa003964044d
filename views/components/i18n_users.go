package components

// usersCatalog holds the strings of users, deliveries, API keys, import and the JSON API.
var usersCatalog = map[string][2]string{}
