package handlers

import "testing"

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/account":              "/account",
		"/templates?app=1&x=2":  "/templates?app=1&x=2",
		"":                      "",
		"account":               "",
		"//evil.example":        "",
		"/\\evil.example":       "",
		"/\t/evil.example":      "",
		"/%09/evil.example":     "/%09/evil.example", // stays percent-encoded: a local path
		"https://evil.example/": "",
		"/\r\nSet-Cookie: x=1":  "",
		"/ok\x7f":               "",
		"///evil.example":       "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
