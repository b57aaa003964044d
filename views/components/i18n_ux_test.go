package components

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every audit action the code base writes is worded in the catalogue (the
// audit log shows an unknown one as its raw code), and every object type.
func TestAuditActionsWorded(t *testing.T) {
	var (
		call      = regexp.MustCompile(`(?s)(?:models\.Audit|\bAudit)\([^;]*?"([a-z_]+\.[a-z_]+)",\s*"([a-z_]+)"`)
		helper    = regexp.MustCompile(`h\.audit\(c, "([a-z_]+\.[a-z_]+)"`)
		assigned  = regexp.MustCompile(`action (?::=|=) "([a-z_]+\.[a-z_]+)"`)
		lifecycle = regexp.MustCompile(`h\.lifecycle\(c, "([a-z_]+)"\)`)
	)
	actions, types := map[string]bool{}, map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, "_templ.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		for _, m := range call.FindAllStringSubmatch(s, -1) {
			actions[m[1]], types[m[2]] = true, true
		}
		for _, re := range []*regexp.Regexp{helper, assigned} {
			for _, m := range re.FindAllStringSubmatch(s, -1) {
				actions[m[1]] = true
			}
		}
		for _, m := range lifecycle.FindAllStringSubmatch(s, -1) {
			actions["campaign."+m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) < 30 || !actions["job.run_now"] || !actions["campaign.pause"] || !actions["staff.disable"] {
		t.Fatalf("the scan found only %d actions: %v", len(actions), actions)
	}
	for a := range actions {
		if !HasKey("audit.action." + a) {
			t.Errorf("audit action %s is written but not worded (audit.action.%s)", a, a)
		}
	}
	for ty := range types {
		if !HasKey("audit.object." + ty) {
			t.Errorf("audit object type %s is not worded (audit.object.%s)", ty, ty)
		}
	}
	t.Logf("%d actions, %d object types worded", len(actions), len(types))
}
