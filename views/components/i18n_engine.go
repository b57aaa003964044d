package components

// engineCatalog holds the strings of delivery engine: skip and failure reasons, settlement.
var engineCatalog = map[string][2]string{}
