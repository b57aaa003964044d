package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, log)
	return code, out.String(), errb.String()
}

func TestServeRejectsBadDB(t *testing.T) {
	cases := []struct {
		db, want string
	}{
		{"postgres://x", "--db"},
		{"nonsense", "not a database address"},
		{"mysql:root@tcp(127.0.0.1:1)/minipush", "database does not answer"},
		{"mysql:root@tcp(127.0.0.1:3306)", "dbname"},
		{"sqlite:data.db?cache=shared", "plain file path"},
	}
	for _, tc := range cases {
		code, _, stderr := runCmd(t, "", "serve", "--addr", "127.0.0.1:0", "--db", tc.db)
		if code == 0 {
			t.Errorf("serve --db %q exited 0", tc.db)
		}
		if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--db") {
			t.Errorf("serve --db %q: stderr %q, want it to name --db and say %q", tc.db, stderr, tc.want)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("serve --db %q: want one line, got %q", tc.db, stderr)
		}
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "x.db")
	code, _, stderr := runCmd(t, "", "serve", "--db", db, "--timezone", "Mars/Olympus")
	if code == 0 || !strings.Contains(stderr, "--timezone") {
		t.Errorf("bad timezone: code %d, stderr %q", code, stderr)
	}
	t.Setenv("MINIPUSH_NO_MIGRATE", "yes")
	code, _, stderr = runCmd(t, "", "serve", "--db", db, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "MINIPUSH_NO_MIGRATE") {
		t.Errorf("bad boolean: code %d, stderr %q", code, stderr)
	}
	t.Setenv("MINIPUSH_NO_MIGRATE", "")
	t.Setenv("MINIPUSH_SECRET_KEY", "too-short")
	code, _, stderr = runCmd(t, "", "serve", "--db", db, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "MINIPUSH_SECRET_KEY") {
		t.Errorf("bad secret key: code %d, stderr %q", code, stderr)
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	code, out, _ := runCmd(t, "", "--help")
	if code != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "migrate") {
		t.Errorf("--help: %d %q", code, out)
	}
	code, _, stderr := runCmd(t, "", "frobnicate")
	if code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: %d %q", code, stderr)
	}
	code, _, _ = runCmd(t, "", "serve", "--help")
	if code != 0 {
		t.Errorf("serve --help exited %d", code)
	}
}

func TestMigrateAndStaffCreate(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	code, out, stderr := runCmd(t, "", "migrate", "--db", db)
	if code != 0 || !strings.Contains(out, "applied 0001_initial_schema") {
		t.Fatalf("migrate: %d %q %q", code, out, stderr)
	}
	code, out, _ = runCmd(t, "", "migrate", "--db", db)
	if code != 0 || !strings.Contains(out, "schema is current") {
		t.Fatalf("second migrate: %d %q", code, out)
	}
	code, _, stderr = runCmd(t, "short\n", "staff", "create", "--db", db, "--email", "a@example.com", "--role", "admin")
	if code == 0 || !strings.Contains(stderr, "too short") {
		t.Fatalf("short password: %d %q", code, stderr)
	}
	code, _, stderr = runCmd(t, "aaaaaaaaaaaa\n", "staff", "create", "--db", db, "--email", "a@example.com", "--role", "admin")
	if code == 0 || !strings.Contains(stderr, "too easy to guess (repeated)") {
		t.Fatalf("weak password: %d %q", code, stderr)
	}
	code, _, stderr = runCmd(t, "long enough password\n", "staff", "create", "--db", db, "--email", "a@example.com", "--role", "king")
	if code == 0 || !strings.Contains(stderr, "--role") {
		t.Fatalf("bad role: %d %q", code, stderr)
	}
	code, out, stderr = runCmd(t, "long enough password\n", "staff", "create", "--db", db, "--email", "A@example.com", "--role", "admin")
	if code != 0 || !strings.Contains(out, "created a@example.com (admin)") {
		t.Fatalf("staff create: %d %q %q", code, out, stderr)
	}
	code, _, stderr = runCmd(t, "long enough password\n", "staff", "create", "--db", db, "--email", "a@example.com", "--role", "admin")
	if code == 0 || !strings.Contains(stderr, "exists already") {
		t.Fatalf("duplicate staff: %d %q", code, stderr)
	}
}

func TestAPIKeyCreateCommand(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "x.db")
	t.Setenv("MINIPUSH_SECRET_KEY", "")
	code, _, stderr := runCmd(t, "", "apikey", "create", "--db", db, "--app", "wx0000000000000000", "--name", "svc")
	if code == 0 || !strings.Contains(stderr, "no such account") {
		t.Fatalf("unknown app: code %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCmd(t, "", "apikey", "create", "--db", db, "--app", "wx0000000000000000")
	if code == 0 || !strings.Contains(stderr, "--name") {
		t.Fatalf("no name: code %d, stderr %q", code, stderr)
	}
}
