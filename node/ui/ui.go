package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Static is the console's files (index.html, console.js, console.css).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic("ui: the embedded static directory is missing: " + err.Error())
	}
	return sub
}

// csp allows this origin only: no inline script, no other host (the
// console must work offline, and a value it shows must never run).
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the console's files for requests under /ui/. It is safe
// for concurrent use.
func Handler() http.Handler {
	fsrv := http.StripPrefix("/ui/", http.FileServerFS(Static()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Embedded files carry no modification time, so nothing lets a
		// browser keep a stale copy: it fetches the few tens of KB again,
		// and a node upgraded in place serves its new console at once.
		h.Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}
