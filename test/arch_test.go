// Package test holds cross-package tests: the import rule, and end-to-end
// tests that build and run the dynago binary as a user would.
package test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/dynago/dynago"

// The import rule (README, architecture): pure packages do no I/O and read
// no clock, so they may import only the standard library's pure parts and
// the packages to their right in cmd → node → quorum → {ring, vclock};
// badger is imported only by storage/badger and cmd.
func TestImportRule(t *testing.T) {
	forbiddenStd := []string{"net", "net/http", "os", "os/exec", "log", "log/slog", "syscall", "math/rand", "time"}
	rules := []struct {
		pkg     string
		allowed []string // module packages it may import (transitively)
		std     bool     // apply the forbidden stdlib list
	}{
		{"ring", nil, true},
		{"vclock", nil, true},
		{"quorum", []string{"ring", "vclock"}, true},
		{"storage", nil, false},
		// hintedhandoff uses time for its types only (TestPureSources
		// forbids time.Now and timers), and reads hints through storage.
		{"hintedhandoff", []string{"ring", "vclock", "storage"}, false},
		// antientropy uses time for its types only (TestPureSources
		// forbids clock reads, timers and goroutines) and imports nothing
		// of the module.
		{"antientropy", nil, false},
		// memnet, the in-memory network tests run clusters on, imports
		// nothing of the module (its own test enforces std+memberlist,
		// no real I/O and no go statements).
		{"node/memnet", nil, false},
	}
	for _, r := range rules {
		deps, imports := goList(t, module+"/"+r.pkg)
		for _, d := range deps {
			if strings.HasPrefix(d, module) {
				rel := strings.TrimPrefix(strings.TrimPrefix(d, module), "/")
				ok := rel == r.pkg
				for _, a := range r.allowed {
					ok = ok || rel == a
				}
				if !ok {
					t.Errorf("%s imports %s, which the import rule forbids", r.pkg, d)
				}
				continue
			}
			if strings.Contains(d, "badger") {
				t.Errorf("%s imports %s; only storage/badger may", r.pkg, d)
			}
		}
		// Direct imports only: fmt itself imports os.
		for _, d := range imports {
			if r.std {
				for _, f := range forbiddenStd {
					if d == f {
						t.Errorf("pure package %s imports %s", r.pkg, d)
					}
				}
			}
		}
	}
	// badger stays behind storage/badger.
	for _, pkg := range []string{"node/rpc", "node/memnet", "vclock", "ring", "quorum", "storage", "storage/memory", "hintedhandoff", "antientropy"} {
		deps, _ := goList(t, module+"/"+pkg)
		for _, d := range deps {
			if strings.Contains(d, "dgraph-io/badger") {
				t.Errorf("%s depends on badger", pkg)
			}
		}
	}
}

// goList returns a package's transitive dependencies and direct imports.
func goList(t *testing.T, pkg string) (deps, imports []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=Deps,Imports", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var v struct{ Deps, Imports []string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v.Deps, v.Imports
}

// TestPureSources enforces the "must not" rules of the pure packages that
// use package time for its types: their non-test sources import only from
// an allow-list, read no clock, set no timers and start no goroutines.
func TestPureSources(t *testing.T) {
	std := []string{"bytes", "encoding/binary", "errors", "fmt", "math", "slices", "time"}
	rules := []struct {
		pkg     string
		imports []string // allowed beyond std
	}{
		{"antientropy", []string{"math/bits", "github.com/cespare/xxhash/v2"}},
		{"hintedhandoff", []string{"context", "sync", module + "/ring", module + "/storage", module + "/vclock"}},
	}
	forbiddenTime := map[string]bool{
		"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
		"AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true,
	}
	for _, r := range rules {
		allowed := map[string]bool{}
		for _, p := range append(slices.Clone(std), r.imports...) {
			allowed[p] = true
		}
		fset, files := parseSources(t, r.pkg)
		checked := 0
		for name, f := range files {
			checked++
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !allowed[path] {
					t.Errorf("%s imports %s, which %s must not", name, path, r.pkg)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					t.Errorf("%s: a go statement; %s starts no goroutines", fset.Position(n.Pos()), r.pkg)
				case *ast.SelectorExpr:
					if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" && forbiddenTime[n.Sel.Name] {
						t.Errorf("%s: time.%s; %s reads no clock and sets no timers", fset.Position(n.Pos()), n.Sel.Name, r.pkg)
					}
				}
				return true
			})
		}
		if checked == 0 {
			t.Errorf("no source files of %s checked", r.pkg)
		}
	}
}

// TestNodeWallClock is issue 10's deterministic check that no correctness
// decision in node reads the wall clock: every read of it (time.Now,
// time.Since, time.Until, and the node clock's skewable Now) in node's and
// node/rpc's sources must be one of the uses listed here, each with the
// reason it decides nothing about data. Ages that rules read come from the
// node's Steady clock (node/clock.go). A use that is listed but gone fails
// too, so the list stays exact.
func TestNodeWallClock(t *testing.T) {
	allowed := map[string]string{
		"node/clock.go newClock":              "the monotonic anchor Steady counts from (time.Since on it reads the monotonic clock)",
		"node/clock.go clock.Now":             "the wall clock itself, for logs and debug views",
		"node/clock.go clock.Steady":          "time.Since(start) is a monotonic duration within the run",
		"node/clock.go clock.wallOf":          "dates a Steady reading for display (/debug/aae)",
		"node/clock.go Node.loadClock":        "bridges the downtime across a restart; a clock behind the checkpoint is detected and treated as the longest downtime (documented dependency)",
		"node/clock.go Node.checkpointClock":  "saves the wall time beside the steady time for the next restart's bridge",
		"node/clock.go Node.handleClock":      "GET/POST /debug/clock shows the (skewed) wall clock",
		"node/aae.go Node.buildTrees":         "times the startup scan for a log line",
		"node/http.go Node.instrument":        "request latency, for metrics and anti-entropy's backoff (pacing, not data)",
		"node/rpc/rpc.go Client.conn":         "caps a dial at the call's deadline",
		"node/rpc/rpc.go clientConn.readLoop": "when the peer was last heard from; only makes a timed-out call reset its connection sooner",
		"node/rpc/rpc.go Client.Call":         "the call's deadline and write deadline; a timeout fails the call (never stores anything)",
		"node/rpc/rpc.go Server.serveConn":    "a write deadline for an answer",
		"node/rpc/rpc.go Server.heartbeat":    "notices that the process was paused (monotonic gaps), to drop requests queued meanwhile",
		"node/rpc/rpc.go Server.stalled":      "the same guard, read per request; it only refuses work",
	}
	used := map[string]bool{}
	for _, dir := range []string{"node", "node/rpc"} {
		fset, files := parseSources(t, dir)
		for name, f := range files {
			rel := dir + "/" + filepath.Base(name)
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok {
					continue
				}
				fn := fd.Name.Name
				if fd.Recv != nil && len(fd.Recv.List) == 1 {
					typ := fd.Recv.List[0].Type
					if st, ok := typ.(*ast.StarExpr); ok {
						typ = st.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						fn = id.Name + "." + fn
					}
				}
				ast.Inspect(fd, func(nd ast.Node) bool {
					sel, ok := nd.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					wall := false
					switch x := sel.X.(type) {
					case *ast.Ident:
						wall = x.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since" || sel.Sel.Name == "Until") ||
							(fd.Recv != nil && x.Name == "c" && sel.Sel.Name == "Now" && strings.HasPrefix(fn, "clock."))
					case *ast.SelectorExpr:
						wall = x.Sel.Name == "clock" && sel.Sel.Name == "Now"
					}
					if !wall {
						return true
					}
					key := rel + " " + fn
					if _, ok := allowed[key]; !ok {
						t.Errorf("%s: %s reads the wall clock in %s; use the node's Steady clock for anything a rule decides, or list this use with its reason", fset.Position(sel.Pos()), sel.Sel.Name, fn)
					}
					used[key] = true
					return true
				})
			}
		}
	}
	for key := range allowed {
		if !used[key] {
			t.Errorf("the allow-list names %s, which no longer reads the wall clock: remove it", key)
		}
	}
}

// parseSources parses the non-test Go sources of the module folder dir,
// by file name.
func parseSources(t *testing.T, dir string) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return fset, files
}
