package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestOffline: no file of the console names another origin (no CDN, no
// web font), so it works without a network; the SVG namespace is a name,
// not a fetch.
func TestOffline(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	n := 0
	err := fs.WalkDir(Static(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(Static(), path)
		if err != nil {
			return err
		}
		for _, m := range url.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s names another origin: %s", path, m)
			}
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		path        string
		status      int
		ctype, body string
	}{
		{"/ui/", 200, "text/html", "<title>dynago console</title>"},
		{"/ui/console.js", 200, "javascript", "'use strict'"},
		{"/ui/console.css", 200, "text/css", ":root"},
		{"/ui/missing", 404, "", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if !strings.Contains(rec.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("Content-Type %q, body %.80q; want %q and %q", rec.Header().Get("Content-Type"), rec.Body.String(), tc.ctype, tc.body)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Fatalf("CSP %q: want same-origin scripts only", csp)
			}
		})
	}
}
