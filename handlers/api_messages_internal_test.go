package handlers

import "testing"

// A queued message's values as the API shows them: attributes the user has
// filled in, one they lack left as written (the send will be skipped for
// it), never an empty value that hides why.
func TestRenderAllKeepsAMissingAttribute(t *testing.T) {
	got := renderAll(map[string]string{"thing1": "{{shop}}", "thing2": "{{gone}}店", "number3": "3"}, map[string]any{"shop": "北京店"})
	if got["thing1"] != "北京店" || got["thing2"] != "{{gone}}店" || got["number3"] != "3" {
		t.Fatalf("rendered %v", got)
	}
}
