package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views/components"
)

func cmdStaff(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: minipush staff create --email E --role admin|operator|support [--name N] [--db DSN]\n\nCreates a staff account; the password is read from the first line of stdin.")
			return nil
		}
		fmt.Fprintln(stderr, "Usage: minipush staff create --email E --role admin|operator|support [--name N] [--db DSN]")
		return errUsage
	}
	fs := flag.NewFlagSet("staff create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dbFlags
	d.register(fs)
	email := fs.String("email", "", "email address to sign in with (required)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "", "admin, operator or support (required)")
	lang := fs.String("lang", "zh", "UI language: zh or en")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush staff create --email E --role admin|operator|support [flags]\n\nCreates a staff account. The password is read from the first line of stdin, e.g.\n  echo 'a long password' | minipush staff create --email ops@example.com --role admin\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	e := models.NormalizeEmail(*email)
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
		return fmt.Errorf("--email %q: not a valid email address", *email)
	}
	if !models.Role(*role).Valid() {
		return fmt.Errorf("--role %q: use admin, operator or support", *role)
	}
	if *lang != "zh" && *lang != "en" {
		return fmt.Errorf("--lang %q: use zh or en", *lang)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if utf8.RuneCountInString(pw) < models.MinPasswordLen {
		return fmt.Errorf("password from stdin is too short: use at least %d characters", models.MinPasswordLen)
	}
	if why := models.PasswordWeakness(pw, e, *name); why != "" {
		var args []any
		if why == models.WeakFewDistinct {
			args = append(args, models.MinPasswordDistinct)
		}
		// The console's own words for the same refusal (the command speaks English).
		return fmt.Errorf("password from stdin is too easy to guess (%s): %s", why, components.Translate("en", "sec.password."+why, args...))
	}
	db, _, err := d.open(ctx, log)
	if err != nil {
		return err
	}
	defer models.Close(db)
	if err := models.CheckSchema(ctx, db); err != nil {
		if _, err := models.Migrate(ctx, db); err != nil {
			return err
		}
	}
	s, err := models.CreateStaff(ctx, db, e, *name, pw, models.Role(*role), *lang)
	if errors.Is(err, models.ErrDuplicate) {
		return fmt.Errorf("--email %s: an account with this email exists already", e)
	}
	if err != nil {
		return err
	}
	if err := models.Audit(ctx, db, models.Actor{Email: "cli", IP: "local"}, "staff.create", "staff", s.Email, map[string]any{"role": s.Role, "via": "cli"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s)\n", s.Email, s.Role)
	return nil
}
