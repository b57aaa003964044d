// Package apidoc holds the OpenAPI document of the JSON API under /api/v1.
package apidoc

import _ "embed"

// OpenAPI is the document served at /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
