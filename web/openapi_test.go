package web_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/minipush/minipush/handlers/apidoc"
	"github.com/minipush/minipush/web"
)

// Every /api/v1 route is described in openapi.json, and the document
// describes no route that is not registered.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(apidoc.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("openapi %q servers %v", doc.OpenAPI, doc.Servers)
	}
	described := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				described[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	s := web.New(web.Deps{})
	registered := map[string]bool{}
	for _, r := range s.Echo.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || strings.HasPrefix(r.Method, "echo_route_") {
			continue
		}
		p := strings.TrimPrefix(r.Path, "/api/v1")
		p = strings.ReplaceAll(p, `\:`, "\x00")
		p = param.ReplaceAllString(p, "{$1}")
		p = strings.ReplaceAll(p, "\x00", ":")
		op := r.Method + " " + p
		registered[op] = true
		if !described[op] {
			t.Errorf("route %s %s is not in openapi.json (as %s)", r.Method, r.Path, op)
		}
	}
	if len(registered) < 9 {
		t.Fatalf("found only %d API routes: the scan is broken", len(registered))
	}
	for op := range described {
		if !registered[op] {
			t.Errorf("openapi.json describes %s, which is not registered", op)
		}
	}
}
