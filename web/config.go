// Package web builds the Echo server: configuration, middleware (sessions,
// CSRF, auth, roles, request logging, recovery), the route table, the
// embedded static files and graceful shutdown.
package web

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minipush/minipush/models"
)

// Config is what `minipush serve` is started with.
type Config struct {
	Addr       string
	DSN        string
	SecretKey  []byte
	Location   *time.Location
	NoMigrate  bool
	TrustProxy bool // take the client address and scheme from X-Forwarded-* headers
	// PublicURL is the base URL WeChat and browsers reach this console at
	// (e.g. https://push.example.com); the push URL shown on an account
	// page is built from it. Empty: the request's Host, with a hint.
	PublicURL string
}

// ParsePublicURL checks a --public-url value: http or https, a host, no
// query or fragment; a trailing slash is dropped. Empty stays empty.
func ParsePublicURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a base URL: give the scheme and host WeChat reaches this console at, e.g. https://push.example.com", v)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// SecretKeyFile is where a generated key is kept next to a SQLite database.
func SecretKeyFile(sqlitePath string) string {
	return filepath.Join(filepath.Dir(sqlitePath), "secret.key")
}

// ResolveSecretKey returns the key to seal secrets with. With a key in env
// it is parsed; without one, on SQLite a key is generated into the data
// folder (warn is told); on MySQL it is an error saying how to make one.
func ResolveSecretKey(env string, target models.Target, warn func(string)) ([]byte, error) {
	if env != "" {
		k, err := models.ParseSecretKey(env)
		if err != nil {
			return nil, fmt.Errorf("MINIPUSH_SECRET_KEY %v", err)
		}
		return k, nil
	}
	if target.Dialect != models.DialectSQLite {
		return nil, fmt.Errorf("MINIPUSH_SECRET_KEY is not set: on MySQL it is required. Make one with `openssl rand -base64 32`, keep it safe, and set MINIPUSH_SECRET_KEY to it on every instance")
	}
	path := SecretKeyFile(target.Path)
	if b, err := os.ReadFile(path); err == nil {
		k, err := models.ParseSecretKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s %v", path, err)
		}
		return k, nil
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	key := models.NewSecretKey()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	warn(fmt.Sprintf("MINIPUSH_SECRET_KEY is not set: generated one into %s. Back it up with the database: without it stored app secrets cannot be read", path))
	k, _ := models.ParseSecretKey(key)
	return k, nil
}
