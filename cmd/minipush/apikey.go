package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/minipush/minipush/models"
)

const apikeyUsage = "Usage: minipush apikey create --app APPID --name NAME [--db DSN]"

// cmdAPIKey creates a key of the JSON API for scripts: the key is printed
// once on stdout (only its hash is stored).
func cmdAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, apikeyUsage+"\n\nCreates a key of the JSON API (/api/v1) for one account and prints it once.")
			return nil
		}
		fmt.Fprintln(stderr, apikeyUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dbFlags
	d.register(fs)
	appID := fs.String("app", "", "the account's AppID, e.g. wx0123456789abcdef (required)")
	name := fs.String("name", "", "what the key is for, e.g. order-service (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nCreates a key of the JSON API for one account and prints it on stdout, once:\n  minipush apikey create --app wx0123456789abcdef --name order-service\nSend it as 'Authorization: Bearer <key>'.\n\nFlags:\n", apikeyUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	n := strings.TrimSpace(*name)
	if n == "" || utf8.RuneCountInString(n) > 60 {
		return fmt.Errorf("--name %q: give the key a name of 1 to 60 characters", *name)
	}
	if *appID == "" {
		return errors.New("--app: give the account's AppID (wx…)")
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
	app, err := models.GetAppByAppID(ctx, db, *appID)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("--app %s: no such account: add it in the console first (Settings → Accounts)", *appID)
	}
	if err != nil {
		return err
	}
	key, k, err := models.CreateAPIKey(ctx, db, app.ID, n, nil)
	if err != nil {
		return err
	}
	if err := models.Audit(ctx, db, models.Actor{Email: "cli", IP: "local"}, "apikey.create", "api_key", k.Prefix,
		map[string]any{"app": app.AppID, "name": n, "via": "cli"}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	fmt.Fprintf(stderr, "created API key %s… %q for %s; it is shown only now\n", k.Prefix, n, app.AppID)
	return nil
}
