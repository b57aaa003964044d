// Package static embeds the CSS, scripts and vendored browser libraries the
// console serves, and names them with a content hash so browsers may cache
// them forever.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

//go:embed app.css app.js vendor
var files embed.FS

// FS is the embedded file tree.
func FS() fs.FS { return files }

var hashes = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out
})

// Hash returns the content hash of an embedded file ("" when absent).
func Hash(name string) string { return hashes()[name] }

// URL returns the cache-busting URL of an embedded file, e.g.
// /static/app.css?v=1a2b3c4d5e6f.
func URL(name string) string { return "/static/" + name + "?v=" + Hash(name) }
