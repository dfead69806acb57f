// Package test holds cross-package tests: the import rule, and end-to-end
// tests that build and run the dynago binary as a user would.
package test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/dynago/dynago"

// The import rule (README, architecture): every package of the module has a
// row here saying which of the module's packages it may import directly (a
// new package without a row fails the test, so the rule covers it from its
// first commit). Pure packages do no I/O and read no clock, so they may
// import only the standard library's pure parts and the packages to their
// right in cmd → node → quorum → {ring, vclock}; badger is imported only by
// storage/badger (and cmd, which opens the store node runs on).
func TestImportRule(t *testing.T) {
	forbiddenStd := []string{"net", "net/http", "os", "os/exec", "log", "log/slog", "syscall", "math/rand", "time"}
	type rule struct {
		allowed []string // module packages it may import directly
		pure    bool     // apply the forbidden stdlib list
		badger  bool     // may depend on badger
		stdOnly bool     // depends on nothing outside the module but the standard library
	}
	rules := map[string]rule{
		"ring":   {pure: true},
		"vclock": {pure: true},
		"quorum": {allowed: []string{"ring", "vclock"}, pure: true},
		// hintedhandoff and antientropy use time for its types only
		// (TestPureSources forbids clock reads, timers and goroutines).
		"hintedhandoff":       {allowed: []string{"ring", "vclock", "storage"}},
		"antientropy":         {},
		"storage":             {},
		"storage/memory":      {allowed: []string{"storage"}},
		"storage/faulty":      {allowed: []string{"storage"}},
		"storage/storagetest": {allowed: []string{"storage"}},
		"storage/badger":      {allowed: []string{"storage"}, badger: true},
		// node runs on a storage.Store it is given: it imports no storage
		// implementation.
		"node/rpc": {},
		// The in-memory network for simulations: memberlist's types and
		// the standard library, nothing of the module.
		"node/memnet": {},
		// Certificates and TLS configurations: the standard library only,
		// so cmd/dynago, node and tests all build on it.
		"node/security": {stdOnly: true},
		"node":          {allowed: []string{"antientropy", "hintedhandoff", "internal/buildinfo", "node/api", "node/auth", "node/backup", "node/internal/gossip", "node/internal/handoff", "node/internal/logflood", "node/internal/membership", "node/internal/wire", "node/rpc", "node/security", "node/ui", "quorum", "ring", "storage", "vclock"}},
		// The web console's embedded files and their handler: the
		// standard library only (its data comes from the API, in the
		// browser).
		"node/ui": {stdOnly: true},
		// The membership CRDT, ownership tables, claim and plan math: pure
		// (node owns the goroutine that holds the state and does the I/O).
		// Plans are computed as the HTTP contract's types (node/api, data
		// only), so they are written once.
		"node/internal/membership": {allowed: []string{"node/api", "ring"}, pure: true},
		// The internode protocol's messages and codecs: no I/O and no
		// node. It uses time for time.Duration only (TestPureSources
		// forbids clock reads, timers and goroutines), so it is not
		// marked pure; its tables' identity is membership's TableID.
		"node/internal/wire": {allowed: []string{"antientropy", "node/internal/membership", "storage", "vclock"}},
		// Hint delivery, the first of node's services: the hint store and
		// the messages it sends; the node reaches it through interfaces.
		"node/internal/handoff": {allowed: []string{"hintedhandoff", "node/internal/wire", "ring"}},
		// Failure detection and membership dissemination over memberlist:
		// the membership's records and state (decoded, checked, handed to
		// node through an interface), nothing else of the module.
		"node/internal/gossip": {allowed: []string{"node/internal/membership"}},
		// Rate-limits repeated log lines (a slog.Handler): the standard
		// library only; the clock comes from its caller.
		"node/internal/logflood": {stdOnly: true},
		// Which build is running (runtime/debug's build info and a
		// linker-set version): the CLI and node both show it.
		"internal/buildinfo": {stdOnly: true},
		// The HTTP contract's types: the server, the CLI and the Go client
		// share them, so they depend on nothing but the standard library.
		"node/api": {stdOnly: true},
		// The backup file format (framing and checksums): the node's
		// backup and restore routes and the CLI share it, so the standard
		// library only.
		"node/backup": {stdOnly: true, pure: true},
		// Client authentication: the token file's parser and table
		// (pure) and the Authenticator that reloads it (os only); the
		// standard library alone.
		"node/auth": {stdOnly: true},
		// The public Go client speaks the HTTP contract only: never node.
		"client":                    {allowed: []string{"node/api"}, stdOnly: true},
		"cmd/dynago/internal/bench": {allowed: []string{"node/api"}},
		// The side-by-side comparison: runs the dynago binary (agents and
		// its bench) and redis-server as processes; only the API's names.
		"bench/compare":            {allowed: []string{"node/api"}},
		"cmd/dynago/internal/demo": {allowed: []string{"client", "node", "storage/badger"}, badger: true},
		"cmd/dynago":               {allowed: []string{"client", "cmd/dynago/internal/bench", "cmd/dynago/internal/demo", "internal/buildinfo", "node", "node/api", "node/auth", "node/backup", "node/security", "storage", "storage/badger", "storage/faulty"}, badger: true},
		// The fault suite drives real processes over HTTP: it imports no
		// server package.
		"test/jepsen/history": {},
		"test/jepsen/checker": {allowed: []string{"test/jepsen/history"}},
		"test/jepsen":         {allowed: []string{"node/security", "test/jepsen/checker", "test/jepsen/history", "vclock"}},
		// The deterministic cluster simulator: whole nodes in one process
		// on memnet and memory stores, driven through the public client and
		// judged by the fault suite's checkers. Never badger.
		"test/sim": {allowed: []string{"client", "node", "node/memnet", "quorum", "ring", "storage", "storage/memory", "test/jepsen/checker", "test/jepsen/history", "vclock"}},
		"test":     {},
	}
	out, err := exec.Command("go", "list", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < len(rules) {
		t.Fatalf("go list found %d packages, fewer than the %d rules", len(pkgs), len(rules))
	}
	seen := map[string]bool{}
	for _, full := range pkgs {
		pkg := strings.TrimPrefix(strings.TrimPrefix(full, module), "/")
		seen[pkg] = true
		r, ok := rules[pkg]
		if !ok {
			t.Errorf("package %s has no import rule: add a row to TestImportRule saying what it may import", pkg)
			continue
		}
		deps, imports := goList(t, full)
		for _, d := range imports {
			if strings.HasPrefix(d, module+"/") {
				if rel := strings.TrimPrefix(d, module+"/"); !slices.Contains(r.allowed, rel) {
					t.Errorf("%s imports %s, which the import rule forbids", pkg, rel)
				}
			} else if r.pure && slices.Contains(forbiddenStd, d) {
				// Direct imports only: fmt itself imports os.
				t.Errorf("pure package %s imports %s", pkg, d)
			}
		}
		for _, d := range deps {
			if first, _, _ := strings.Cut(d, "/"); r.stdOnly && strings.Contains(first, ".") && !strings.HasPrefix(d, module+"/") {
				t.Errorf("%s depends on %s; it may depend only on the standard library (and the module packages its row allows)", pkg, d)
			}
		}
		if !r.badger {
			for _, d := range deps {
				if strings.Contains(d, "dgraph-io/badger") {
					t.Errorf("%s depends on badger; only storage/badger (and cmd, which opens the store) may", pkg)
				}
			}
		}
	}
	for pkg := range rules {
		if !seen[pkg] {
			t.Errorf("rule for %s, which no longer exists", pkg)
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
		{"node/internal/wire", []string{"context", module + "/antientropy", module + "/node/internal/membership", module + "/storage", module + "/vclock"}},
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
		"node/clock_system.go processStart":            "the anchor of Elapsed where CLOCK_BOOTTIME is missing (the real Clock)",
		"node/clock_system.go SystemClock.Now":         "the real Clock's wall reading: the only one under node",
		"node/clock_system.go SystemClock.Elapsed":     "the real Clock's monotonic fallback (time.Since on a monotonic anchor)",
		"node/clock.go clock.Now":                      "the wall clock with the test skew, for logs and debug views",
		"node/clock.go clock.wallOf":                   "dates a Steady reading for display (/debug/aae)",
		"node/replica.go replica.loadClock":            "bridges the downtime across a restart; a clock behind the checkpoint is detected and treated as the longest downtime (documented dependency)",
		"node/replica.go replica.checkpointClock":      "saves the wall time beside the steady time for the next restart's bridge",
		"node/clock.go httpAPI.handleClock":            "GET/POST /debug/clock shows the (skewed) wall clock",
		"node/backupapi.go httpAPI.handleBackup":       "a write deadline per chunk of a backup stream (it only ends a stalled stream)",
		"node/rpc/rpc.go Client.conn":                  "caps a dial at the call's deadline",
		"node/rpc/rpc.go clientConn.readLoop":          "when the peer was last heard from; only makes a timed-out call reset its connection sooner",
		"node/rpc/rpc.go Client.Call":                  "the call's deadline and write deadline; a timeout fails the call (never stores anything)",
		"node/rpc/rpc.go Server.serveConn":             "a write deadline for an answer, read deadlines for an idle connection and a stalled frame (they only close connections)",
		"node/rpc/rpc.go Server.heartbeat":             "notices that the process was paused (monotonic gaps), to drop requests queued meanwhile",
		"node/rpc/rpc.go Server.stalled":               "the same guard, read per request; it only refuses work",
		"node/rpc/version.go Client.hello":             "the deadline of a connection's hello (it only fails the dial)",
		"node/rpc/version.go Server.accept":            "write deadlines for a hello answer or a refusal (they only close connections)",
		"node/limits.go firstByteConn.Read":            "read deadlines for a new HTTP connection's first byte and then its header (they only close connections)",
		"node/limits.go firstByteConn.SetReadDeadline": "tells net/http's deadline in the past (aborting a read) from one ahead (it only closes connections)",
	}
	used := map[string]bool{}
	for _, dir := range nodeDirs(t) {
		fset, files := parseSources(t, dir)
		for name, f := range files {
			rel := dir + "/" + filepath.Base(name)
			// check reports the wall-clock reads in node (a function, or a
			// package-level variable's initializer) named fn.
			check := func(fn string, node ast.Node) {
				ast.Inspect(node, func(nd ast.Node) bool {
					sel, ok := nd.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					wall := false
					switch x := sel.X.(type) {
					case *ast.Ident:
						// time.Now and friends, or Now on anything that may be
						// a Clock (c.Now, src.Now).
						wall = x.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since" || sel.Sel.Name == "Until") ||
							x.Name != "time" && sel.Sel.Name == "Now"
					case *ast.SelectorExpr:
						// n.clock.Now, n.cfg.Clock.Now, c.src.Now.
						wall = sel.Sel.Name == "Now"
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
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					fn := d.Name.Name
					if d.Recv != nil && len(d.Recv.List) == 1 {
						typ := d.Recv.List[0].Type
						if st, ok := typ.(*ast.StarExpr); ok {
							typ = st.X
						}
						if id, ok := typ.(*ast.Ident); ok {
							fn = id.Name + "." + fn
						}
					}
					check(fn, d)
				case *ast.GenDecl:
					for _, sp := range d.Specs {
						if vs, ok := sp.(*ast.ValueSpec); ok && len(vs.Names) > 0 {
							for _, v := range vs.Values {
								check(vs.Names[0].Name, v)
							}
						}
					}
				}
			}
		}
	}
	for key := range allowed {
		if !used[key] {
			t.Errorf("the allow-list names %s, which no longer reads the wall clock: remove it", key)
		}
	}
}

// nodeDirs lists node and every package directory under it, so a new
// package under node is checked from its first commit.
func nodeDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(filepath.Join("..", "node"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			return err
		}
		// memnet is the simulated network, not part of a node: its timers
		// and deadlines run on the simulation's (virtual) time by design.
		if filepath.ToSlash(path) == "../node/memnet" {
			return fs.SkipDir
		}
		if m, _ := filepath.Glob(filepath.Join(path, "*.go")); len(m) > 0 {
			rel, _ := filepath.Rel("..", path)
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil || len(dirs) < 2 {
		t.Fatalf("listing node's packages: %v (%d found)", err, len(dirs))
	}
	return dirs
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
