package memnet

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSourceRules enforces doc.go's "what it must not do" on the package's
// non-test sources: imports only the standard library and memberlist, no
// real sockets, files or name lookups, and no go statements (the only
// goroutines it causes are its timers' callbacks).
func TestSourceRules(t *testing.T) {
	forbidden := map[string][]string{
		"net": {"Dial", "DialTimeout", "DialTCP", "DialUDP", "DialIP", "DialUnix", "Listen", "ListenPacket",
			"ListenTCP", "ListenUDP", "ListenIP", "ListenUnix", "ListenUnixgram", "ListenMulticastUDP", "Pipe",
			"FileConn", "FileListener", "FilePacketConn", "LookupHost", "LookupIP", "LookupAddr", "LookupPort",
			"ResolveTCPAddr", "ResolveUDPAddr", "ResolveIPAddr", "Interfaces", "InterfaceAddrs"},
		"os": {"Open", "OpenFile", "Create", "ReadFile", "WriteFile", "Remove", "Mkdir", "MkdirAll", "Getenv", "Exit"},
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			if !(std || path == "github.com/hashicorp/memberlist") || path == "os/exec" || path == "net/http" || path == "unsafe" {
				t.Errorf("%s imports %s", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a go statement; memnet starts no goroutines", fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok {
					for _, sel := range forbidden[x.Name] {
						if n.Sel.Name == sel {
							t.Errorf("%s: %s.%s does real I/O", fset.Position(n.Pos()), x.Name, sel)
						}
					}
				}
			}
			return true
		})
	}
}
