package components

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every key the code asks for exists, in both languages; every catalog
// entry has both languages.
func TestCatalogComplete(t *testing.T) {
	for k, v := range catalog {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("%s: missing a language: %q", k, v)
		}
		if strings.Count(v[0], "%") != strings.Count(v[1], "%") {
			t.Errorf("%s: the languages take different arguments: %q", k, v)
		}
	}
	used := regexp.MustCompile(`\bT\((?:ctx|c), "([a-z0-9_.]+)"`)
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".templ") && !(strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_templ.go")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			n++
			key := m[1]
			if strings.HasSuffix(key, ".") || strings.HasSuffix(key, "_") { // a prefix completed at run time, e.g. "role."+r
				if len(Keys(key)) == 0 {
					t.Errorf("%s: no keys start with %q", p, key)
				}
				continue
			}
			if !HasKey(key) {
				t.Errorf("%s: key %q is not in the catalog", p, key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("found only %d uses of T(): the scan is broken", n)
	}
	for _, role := range []string{"admin", "operator", "support"} {
		if !HasKey("role." + role) {
			t.Errorf("role.%s missing", role)
		}
	}
}

func TestTranslateFallbacks(t *testing.T) {
	if got := Translate("en", "auth.throttled", "12:00"); got != "Too many failed sign-ins. Try again after 12:00." {
		t.Errorf("en: %q", got)
	}
	if got := Translate("fr", "auth.login"); got != "登录" {
		t.Errorf("unknown language falls back to Chinese: %q", got)
	}
	if got := Translate("en", "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key: %q", got)
	}
	if FormatInt(1234567) != "1,234,567" || FormatInt(-1000) != "-1,000" || FormatInt(12) != "12" {
		t.Errorf("FormatInt: %s %s %s", FormatInt(1234567), FormatInt(-1000), FormatInt(12))
	}
}
