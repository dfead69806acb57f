package auth

import (
	"strings"
	"testing"
)

// FuzzParse: a token file's text crosses the disk boundary. Parse never
// panics, and a table it returns looks up each of its lines' principals
// by hash and answers consistently for any token.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Line("t", RoleRead, "r") + "\n"))
	f.Add([]byte("# c\n\n" + Line("t", RoleAdmin, "a") + "\n" + Line("u", RoleWrite, "w")))
	f.Add([]byte("sha256:zz read r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse(data)
		if err != nil {
			if tab != nil {
				t.Fatal("Parse returned a table with an error")
			}
			if !strings.HasPrefix(err.Error(), "auth: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if tab.Len() == 0 {
			t.Fatal("a parsed table has no tokens")
		}
		for _, e := range tab.entries {
			if e.p.Role < RoleRead || e.p.Role > RoleAdmin || CheckName(e.p.Name) != nil {
				t.Fatalf("parsed an invalid principal %+v", e.p)
			}
		}
		if p, ok := tab.Lookup(string(data)); ok && p.Name == "" {
			t.Fatal("Lookup matched a nameless principal")
		}
	})
}
