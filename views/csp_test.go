package views

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The console's Content-Security-Policy (script-src 'self') blocks inline
// event handlers: a view that writes onchange="…" does nothing in a
// browser. Behaviour belongs in static/app.js (e.g. data-autosubmit).
func TestNoInlineEventHandlers(t *testing.T) {
	files, err := filepath.Glob("*.templ")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("components/*.templ")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no templ files found")
	}
	handler := regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := handler.Find(b); m != nil {
			t.Errorf("%s: inline event handler in %q: the CSP blocks it", f, m)
		}
	}
}
