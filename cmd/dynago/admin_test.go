package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
)

func TestMembers(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "members", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", res.stdout)
	}
	for i, want := range [][]string{
		{"NAME", "STATE", "ALIVE", "ZONE", "HTTP", "RPC", "GOSSIP", "PROTOCOL"},
		{"n1", "valid", "alive", "-", "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:7946", "1..2"},
		{"n2", "leaving", "DOWN", "z2", "127.0.0.1:8082", "127.0.0.1:8083", "127.0.0.1:7947", "-"},
	} {
		if got := strings.Fields(lines[i]); !slices.Equal(got, want) {
			t.Errorf("line %d: %q, want %q", i, got, want)
		}
	}
	if r := f.requests()[0]; r.Method != http.MethodGet || r.RawPath != "/cluster/members" {
		t.Errorf("request %s %s", r.Method, r.RawPath)
	}

	res = runCLI(t, "", "members", "--addr", f.URL(), "--json")
	var ms []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &ms); err != nil || len(ms) != 2 || ms[1]["alive"] != false {
		t.Fatalf("--json: %v\n%s", err, res)
	}
}

func TestRing(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "ring", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	if !strings.Contains(res.stdout, "partitions: 4  n: 2  nodes: 3") {
		t.Errorf("summary line missing:\n%s", res.stdout)
	}
	// n1 is first in partitions 0, 2, 3 and present in all 4; n2 first in 1,
	// present in 0..2; n3 only in 3.
	want := map[string][]string{
		"n1": {"n1", "3", "75.0%", "4"},
		"n2": {"n2", "1", "25.0%", "3"},
		"n3": {"n3", "0", "0.0%", "1"},
	}
	got := map[string][]string{}
	for _, l := range strings.Split(res.stdout, "\n") {
		fs := strings.Fields(l)
		if len(fs) == 4 && strings.HasPrefix(fs[0], "n") {
			got[fs[0]] = fs
		}
	}
	for n, w := range want {
		if !slices.Equal(got[n], w) {
			t.Errorf("%s row %q, want %q\n%s", n, got[n], w, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "PREFERENCE LIST") {
		t.Error("table printed without --table")
	}

	res = runCLI(t, "", "ring", "--addr", f.URL(), "--table")
	if !regexp.MustCompile(`(?m)^3\s+n1 n3$`).MatchString(res.stdout) {
		t.Errorf("--table lacks partition 3's list:\n%s", res.stdout)
	}

	res = runCLI(t, "", "ring", "--addr", f.URL(), "--json")
	var rg struct {
		Partitions int
		N          int
		Preflists  []struct {
			Partition int
			Nodes     []string
		}
	}
	if err := json.Unmarshal([]byte(res.stdout), &rg); err != nil || rg.Partitions != 4 || len(rg.Preflists) != 4 {
		t.Fatalf("--json: %v\n%s", err, res)
	}
}

func TestClusterOps(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantPath   string
		wantBody   string // JSON, compared after decoding; "" = no body
		wantStdout string
		wantStderr string
	}{
		{
			name: "join several seeds", args: []string{"join", "127.0.0.2:7946", "127.0.0.1:7947"},
			wantPath: "/cluster/join", wantBody: `{"seeds":["127.0.0.2:7946","127.0.0.1:7947"]}`,
			wantStdout: "joined the cluster of 127.0.0.2:7946, 127.0.0.1:7947\n  members: 3\n  status: \"joined\"\n",
		},
		{
			name: "join failure shows the server message", args: []string{"join", "127.0.0.1:1"}, wantCode: 1,
			wantPath: "/cluster/join", wantBody: `{"seeds":["127.0.0.1:1"]}`,
			wantStderr: "503 Service Unavailable: no seed answered (code join_failed)",
		},
		{
			name: "leave --no-wait", args: []string{"leave", "--no-wait"},
			wantPath: "/cluster/leave", wantStdout: "n3 is leaving: it hands its partitions to the new owners; follow with 'dynago transfers'\n",
		},
		{
			name: "remove", args: []string{"remove", "n2"},
			wantPath: "/cluster/remove", wantBody: `{"node":"n2"}`, wantStdout: "removed n2 from the ring\n  node: \"n2\"\n  status: \"removed\"\n",
		},
		{
			name: "remove unknown node", args: []string{"remove", "n9"}, wantCode: 1,
			wantPath: "/cluster/remove", wantBody: `{"node":"n9"}`, wantStderr: "404 Not Found: n9 is not in the ring (code unknown_node)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			res := runCLI(t, "", append([]string{tc.args[0], "--addr", f.URL()}, tc.args[1:]...)...)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.wantCode, res)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].RawPath != tc.wantPath {
				t.Fatalf("requests %+v, want one POST %s", reqs, tc.wantPath)
			}
			if tc.wantBody == "" {
				if len(reqs[0].Body) != 0 {
					t.Errorf("body %q, want none", reqs[0].Body)
				}
			} else {
				var got, want any
				if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
					t.Fatalf("body %q is not JSON: %v", reqs[0].Body, err)
				}
				_ = json.Unmarshal([]byte(tc.wantBody), &want)
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				if string(gb) != string(wb) {
					t.Errorf("body %s, want %s", gb, wb)
				}
				if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			if tc.wantStdout != "" && res.stdout != tc.wantStdout {
				t.Errorf("stdout %q, want %q", res.stdout, tc.wantStdout)
			}
			if !strings.Contains(res.stderr, tc.wantStderr) {
				t.Errorf("stderr lacks %q\n%s", tc.wantStderr, res)
			}
		})
	}
}

func TestClusterOpsJSON(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--json", "--no-wait")
	var out struct{ Status, Node string }
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || out.Status != "leaving" || out.Node != "n3" {
		t.Fatalf("%v\n%s", err, res)
	}
	res = runCLI(t, "", "join", "--addr", f.URL(), "--json", "127.0.0.1:7946")
	var j struct{ Members int }
	if err := json.Unmarshal([]byte(res.stdout), &j); err != nil || j.Members != 3 {
		t.Fatalf("%v\n%s", err, res)
	}
}

func TestHints(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "hints", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || lines[0] != "n1 holds 3 hints" {
		t.Fatalf("output:\n%s", res.stdout)
	}
	if got := strings.Fields(lines[2]); len(got) < 10 || got[0] != "n4" || got[1] != "DOWN" || got[2] != "3" || got[5] != "backing-off" {
		t.Fatalf("row %q", got)
	}
	if r := f.requests()[0]; r.Method != http.MethodGet || r.RawPath != "/debug/hints" {
		t.Errorf("request %s %s", r.Method, r.RawPath)
	}
	res = runCLI(t, "", "hints", "--addr", f.URL(), "--json")
	var h map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &h); err != nil || h["total"] != float64(3) {
		t.Fatalf("--json: %v\n%s", err, res)
	}
}

// TestAAESummary: without --partitions, aae prints the totals and what
// the partitions add up to, not a row per partition (issue 14).
func TestAAESummary(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "aae", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	want := "n1: anti-entropy on, exchanges every 10s, tombstone grace 1h0m\n" +
		"totals: exchanges 12  errors 1  differences 7  keys repaired 6  bytes sent 4096  tombstones 3  reaped 2  rate factor 0.50  foreground p99 12.5ms\n" +
		"trees: 2 partitions, 127 keys, 3 tombstones; peers: n2, n3\n" +
		"last exchanges (partition x peer): 1 error, 1 never, 1 repaired; oldest 2h0m ago\n" +
		"  error: partition 3 with n2: dial tcp 127.0.0.1:8083: connection refused\n" +
		"every partition: dynago aae --partitions (one: --partition P)\n"
	if res.stdout != want {
		t.Errorf("got\n%s\nwant\n%s", res.stdout, want)
	}
}

func TestAAE(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "aae", "--partitions", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	if r := f.requests()[0]; r.Method != http.MethodGet || r.RawPath != "/debug/aae" {
		t.Errorf("request %s %s", r.Method, r.RawPath)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	want := []string{
		"n1: anti-entropy on, exchanges every 10s, tombstone grace 1h0m",
		"totals: exchanges 12  errors 1  differences 7  keys repaired 6  bytes sent 4096  tombstones 3  reaped 2  rate factor 0.50  foreground p99 12.5ms",
	}
	if len(lines) < 2 || !slices.Equal(lines[:2], want) {
		t.Fatalf("summary and totals:\n%s\nwant:\n%s", res.stdout, strings.Join(want, "\n"))
	}
	// Each row's fields; peer rows (second header included) are indented.
	rows := []struct {
		peer   bool
		fields []string
	}{
		{false, []string{"PARTITION", "KEYS", "DEPTH", "ROOT", "TREE", "AGE", "TOMBSTONES"}},
		{true, []string{"PEER", "LAST", "EXCHANGE", "RESULT", "COMPARED", "DIFFERENCES", "REPAIRED", "BYTES", "ERROR"}},
		{false, []string{"0", "120", "4", "0123456789abcdef", "42s", "2"}},
		{true, []string{"n2", "2h0m", "ago", "repaired", "120", "3", "3", "512"}},
		{true, []string{"n3", "never", "-", "0", "0", "0", "0"}},
		{false, []string{"3", "7", "2", "fedcba9876543210", "1h2m", "1"}},
		{true, []string{"n2", "2h0m", "ago", "error", "0", "0", "0", "0", "dial", "tcp", "127.0.0.1:8083:", "connection", "refused"}},
	}
	if len(lines) != 2+len(rows) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), 2+len(rows), res.stdout)
	}
	for i, r := range rows {
		l := lines[2+i]
		if got := strings.Fields(l); !slices.Equal(got, r.fields) || strings.HasPrefix(l, "  ") != r.peer {
			t.Errorf("line %d %q, want fields %q (indented: %v)", 2+i, l, r.fields, r.peer)
		}
	}
	// Both tables are aligned: the peers' RESULT column starts at the same
	// offset on every peer row.
	col := strings.Index(lines[3], "RESULT")
	for _, i := range []int{5, 6, 8} {
		if len(lines[i]) <= col || lines[i][col-1] != ' ' || lines[i][col] == ' ' {
			t.Errorf("line %d not aligned on RESULT (offset %d):\n%s", i, col, res.stdout)
		}
	}
}

func TestAAEJSON(t *testing.T) {
	f := newAPIServer(t)
	for _, args := range [][]string{{"--json"}, {"--json", "--partition", "3"}} {
		res := runCLI(t, "", append([]string{"aae", "--addr", f.URL()}, args...)...)
		if res.code != 0 {
			t.Fatal(res)
		}
		// The body as the node sent it, whole even with --partition.
		sent := f.bodies()
		if !strings.HasPrefix(res.stdout, `{"node":"n1","enabled":true,"interval_seconds":10,"rate_factor":0.5,"foreground_p99_ms":12.5,`) ||
			res.stdout != string(sent[len(sent)-1]) {
			t.Errorf("%q: not the raw body:\n%s", args, res.stdout)
		}
		var a struct {
			Partitions []struct{ Partition int }
		}
		if err := json.Unmarshal([]byte(res.stdout), &a); err != nil || len(a.Partitions) != 2 {
			t.Errorf("%q: %v, %d partitions\n%s", args, err, len(a.Partitions), res)
		}
	}
}

func TestAAEPartition(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		want      []string // substrings of stdout
		wantNot   []string
		wantLines int
	}{
		{
			name: "partition 3", args: []string{"--partition", "3"},
			want:    []string{"\n3  ", "fedcba9876543210", "connection refused"},
			wantNot: []string{"0123456789abcdef", "never"}, wantLines: 2 + 2 + 2,
		},
		{
			name: "partition 0", args: []string{"--partition=0"},
			want:    []string{"\n0  ", "0123456789abcdef", "never"},
			wantNot: []string{"fedcba9876543210"}, wantLines: 2 + 2 + 3,
		},
		{
			name: "no tree", args: []string{"--partition", "5"},
			want:    []string{"totals: exchanges 12", "n1 holds no tree for partition 5\n"},
			wantNot: []string{"PARTITION"}, wantLines: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			res := runCLI(t, "", append([]string{"aae", "--addr", f.URL()}, tc.args...)...)
			if res.code != 0 {
				t.Fatal(res)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, res.stdout)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(res.stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, res.stdout)
				}
			}
			if n := strings.Count(res.stdout, "\n"); n != tc.wantLines {
				t.Errorf("%d lines, want %d:\n%s", n, tc.wantLines, res.stdout)
			}
		})
	}
}

func TestAAEBadPartition(t *testing.T) {
	tests := []struct {
		name, env  string
		args       []string
		wantStderr string
	}{
		{name: "negative", args: []string{"--partition", "-1"}, wantStderr: "--partition -1: want a partition number"},
		{name: "negative with =", args: []string{"--partition=-7"}, wantStderr: "--partition -7"},
		{name: "not a number", args: []string{"--partition", "x"}, wantStderr: `invalid value "x" for flag -partition`},
		{name: "not an integer", args: []string{"--partition", "1.5"}, wantStderr: `invalid value "1.5"`},
		{name: "from the environment", env: "abc", wantStderr: "DYNAGO_PARTITION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("DYNAGO_PARTITION", tc.env)
			}
			f := newAPIServer(t)
			res := runCLI(t, "", append([]string{"aae", "--addr", f.URL()}, tc.args...)...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			if !strings.Contains(res.stderr, tc.wantStderr) || !strings.Contains(res.stderr, "Run 'dynago aae --help' for usage.") {
				t.Errorf("stderr lacks %q and the help hint\n%s", tc.wantStderr, res)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent on bad usage", n)
			}
		})
	}
}

func TestAAEFailure(t *testing.T) {
	f := newAPIServer(t)
	f.fail("GET /debug/aae", http.StatusInternalServerError, api.Error{Message: "anti-entropy state unavailable", Code: "internal"})
	res := runCLI(t, "", "aae", "--addr", f.URL())
	if res.code != 1 || res.stdout != "" {
		t.Fatalf("exit %d, want 1 and no output\n%s", res.code, res)
	}
	if want := "aae: GET /debug/aae: 500 Internal Server Error: anti-entropy state unavailable (code internal)"; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q\n%s", want, res)
	}

	// Nothing listening: also a failed request.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	res = runCLI(t, "", "aae", "--addr", down.URL)
	if res.code != 1 || !strings.Contains(res.stderr, "aae: client: GET "+down.URL+"/debug/aae") {
		t.Fatalf("unreachable node: exit %d, want 1\n%s", res.code, res)
	}
}

func TestPrintAAEEmpty(t *testing.T) {
	var b strings.Builder
	a := &api.AAE{Node: "n2", IntervalSecs: 0.5, TombstoneGraceSecs: 90000}
	if err := printAAE(&b, a, -1, true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := "n2: anti-entropy OFF, exchanges every 0s, tombstone grace 1d1h\n" +
		"totals: exchanges 0  errors 0  differences 0  keys repaired 0  bytes sent 0  tombstones 0  reaped 0  rate factor 0.00  foreground p99 0.0ms\n" +
		"n2 holds no trees\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-5 * time.Second, "0s"},
		{4*time.Second + 900*time.Millisecond, "4s"},
		{time.Minute, "1m0s"},
		{3*time.Minute + 12*time.Second, "3m12s"},
		{2*time.Hour + 5*time.Minute + 59*time.Second, "2h5m"},
		{49 * time.Hour, "2d1h"},
	}
	for _, tc := range tests {
		if got := age(tc.d); got != tc.want {
			t.Errorf("age(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestLastExchange(t *testing.T) {
	now := time.Date(2026, 11, 22, 2, 0, 4, 0, time.UTC)
	tests := []struct{ in, want string }{
		{"2026-11-22T02:00:00Z", "4s ago"},
		{"2026-11-22T03:00:00+01:00", "4s ago"},
		{"2026-11-22T02:00:09Z", "0s ago"}, // the node's clock is ahead
		{"", "never"},
		{"0001-01-01T00:00:00Z", "never"},
		{"yesterday", "yesterday"},
	}
	for _, tc := range tests {
		if got := lastExchange(api.AAEPeer{LastExchange: tc.in}, now); got != tc.want {
			t.Errorf("lastExchange(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTransfers(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "transfers", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	if r := f.requests(); len(r) != 1 || r[0].Method != http.MethodGet || r[0].RawPath != "/debug/transfers" {
		t.Errorf("requests %+v, want one GET /debug/transfers", r)
	}
	want := []string{
		"n3: joining, partitions ready 200, pending 56, transfer rate limit 8.0 MiB/s",
		"totals: partitions 12  keys 123  bytes 4567",
		"partitions no longer held: 900 keys deleted, 2 pushed to a primary that lacked them",
		"PARTITION  STATE    DONE  SOURCES  KEYS  BYTES   ERROR",
		"7          running  1/2   n1,n2    1200  150000",
		"12         error    0/1   n2       0     0       dial tcp 127.0.0.1:8083: connection refused",
	}
	if got := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", res.stdout, strings.Join(want, "\n"))
	}
}

func TestTransfersLeaving(t *testing.T) {
	tests := []struct {
		name string
		body api.Transfers
		want string
	}{
		{"in progress", leaving(20, 1050000, ""), "leaving: 20/64 partitions handed off, 1.0 MiB of 1.4 MiB remaining, 7000 of 10000 keys\n"},
		{"done", leaving(64, 0, "left"), "leaving: 64/64 partitions handed off, done\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			f.script(false, tc.body)
			res := runCLI(t, "", "transfers", "--addr", f.URL())
			if res.code != 0 {
				t.Fatal(res)
			}
			if !strings.Contains(res.stdout, "n3 is pulling no partitions\n") || !strings.HasSuffix(res.stdout, tc.want) {
				t.Errorf("stdout lacks the no-jobs line or ends other than %q:\n%s", tc.want, res.stdout)
			}
		})
	}
}

func TestTransfersJSON(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "transfers", "--addr", f.URL(), "--json")
	if res.code != 0 || res.stdout != string(f.bodies()[0]) || !strings.HasPrefix(res.stdout, `{"node":"n3","status":"joining",`) {
		t.Fatalf("want the raw body\n%s", res)
	}
}

// leaveRequests checks that the server got POST /cluster/leave and then
// polls GET /debug/transfers, and returns how many polls.
func leaveRequests(t *testing.T, f *apiServer) int {
	t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 || reqs[0].Method != http.MethodPost || reqs[0].RawPath != "/cluster/leave" {
		t.Fatalf("requests %+v, want POST /cluster/leave first", reqs)
	}
	for _, r := range reqs[1:] {
		if r.Method != http.MethodGet || r.RawPath != "/debug/transfers" {
			t.Fatalf("request %s %s, want only polls of GET /debug/transfers after the leave", r.Method, r.RawPath)
		}
	}
	return len(reqs) - 1
}

func TestLeaveProgress(t *testing.T) {
	f := newAPIServer(t)
	// The node exits right after it reports done: the CLI must not need
	// another answer.
	f.script(true, leaving(0, 1500000, ""), leaving(20, 1050000, ""), leaving(64, 0, ""))
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms")
	if res.code != 0 {
		t.Fatal(res)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) < 3 || lines[0] != "n3 is leaving: handing its partitions to the new owners" ||
		lines[len(lines)-1] != "n3 handed off all its partitions and left" {
		t.Fatalf("want the leaving line, progress, the completion line:\n%s", res)
	}
	// Not a terminal: the first poll's line, then (within 2 s) only the
	// last one, on completion.
	if !strings.HasPrefix(lines[1], "n3: 0/64 partitions handed off, 0 B of 1.4 MiB (0%), ") {
		t.Errorf("first progress line %q", lines[1])
	}
	if want := "n3: 64/64 partitions handed off, 1.4 MiB of 1.4 MiB (100%), "; !strings.HasPrefix(lines[len(lines)-2], want) ||
		!strings.HasSuffix(lines[len(lines)-2], ", ETA 0s") {
		t.Errorf("last progress line %q, want %q... ETA 0s", lines[len(lines)-2], want)
	}
	if strings.Contains(res.stdout, "\r") {
		t.Error("redrawn line on a non-terminal")
	}
	if n := leaveRequests(t, f); n != 3 {
		t.Errorf("%d polls, want 3 (none after done)", n)
	}
}

func TestLeaveLeftStatus(t *testing.T) {
	f := newAPIServer(t)
	left := api.Transfers{Node: "n3", Status: "left", RateBytesPerSec: 1, Jobs: []api.TransferJob{}}
	f.script(true, leaving(20, 1050000, ""), left)
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "n3 handed off all its partitions and left\n") {
		t.Fatal(res)
	}
}

func TestLeaveNodeStops(t *testing.T) {
	f := newAPIServer(t)
	f.script(true, leaving(0, 1500000, ""), leaving(20, 1050000, ""))
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res)
	}
	for _, want := range []string{
		"dynago: leave: n3 stopped answering before its partitions were handed off (20/64 partitions handed off): client: GET " + f.URL() + "/debug/transfers",
		"restart it and run 'dynago leave' again to resume",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, res)
		}
	}
	if strings.Contains(res.stdout, "and left") {
		t.Errorf("completion line printed\n%s", res)
	}
	// The last progress seen is printed even within the 2 s throttle.
	if !strings.Contains(res.stdout, "n3: 20/64 partitions handed off") {
		t.Errorf("stdout lacks the last progress\n%s", res)
	}
	if n := leaveRequests(t, f); n != 3 {
		t.Errorf("%d polls, want 3 (two answered, one dropped)", n)
	}
}

func TestLeaveTimeout(t *testing.T) {
	f := newAPIServer(t)
	f.script(false, leaving(20, 1050000, ""))
	// 300ms: room for the first poll's answer on a loaded machine.
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms", "--timeout-leave", "300ms")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res)
	}
	want := "dynago: leave: n3 has not handed off all its partitions after --timeout-leave 300ms (20/64 partitions handed off); " +
		"the leave goes on on the node: watch it with 'dynago transfers --addr " + f.URL() + "'\n"
	if res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	if n := leaveRequests(t, f); n < 2 {
		t.Errorf("%d polls in 300ms at --poll 10ms", n)
	}
}

func TestLeaveProgressUnavailable(t *testing.T) {
	f := newAPIServer(t)
	f.script(false, json.RawMessage(`[1]`))
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms")
	if res.code != 1 || !strings.Contains(res.stderr, "response is not the contract's JSON") ||
		!strings.Contains(res.stderr, "the leave goes on on the node: watch it with 'dynago transfers") {
		t.Fatalf("exit %d, want 1 and the leave going on\n%s", res.code, res)
	}
}

func TestLeaveNoWait(t *testing.T) {
	f := newAPIServer(t)
	f.script(false, leaving(0, 1500000, ""))
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--no-wait")
	if res.code != 0 || !strings.Contains(res.stdout, "follow with 'dynago transfers'") {
		t.Fatal(res)
	}
	if n := leaveRequests(t, f); n != 0 {
		t.Errorf("%d polls with --no-wait", n)
	}
}

func TestLeaveNotMember(t *testing.T) {
	f := newAPIServer(t)
	f.fail("POST /cluster/leave", http.StatusConflict, api.Error{Message: "this node is not in the ring", Code: "not_member"})
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms")
	if res.code != 1 || !strings.Contains(res.stderr, "409 Conflict: this node is not in the ring (code not_member)") {
		t.Fatalf("exit %d, want 1\n%s", res.code, res)
	}
	if n := leaveRequests(t, f); n != 0 {
		t.Errorf("%d polls after a refused leave", n)
	}
}

func TestLeaveJSON(t *testing.T) {
	f := newAPIServer(t)
	f.script(false, leaving(20, 1050000, ""), leaving(64, 0, ""))
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--poll", "10ms", "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	// The node's answer, then the last /debug/transfers body, nothing else.
	last, _ := json.Marshal(leaving(64, 0, ""))
	if want := `{"status":"leaving","node":"n3"}` + "\n" + string(last) + "\n"; res.stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, want)
	}
}

func TestLeaveBadUsage(t *testing.T) {
	tests := []struct {
		name, env  string
		args       []string
		wantStderr string
	}{
		{name: "zero poll", args: []string{"--poll", "0"}, wantStderr: "--poll 0s: want a duration above 0"},
		{name: "negative poll", args: []string{"--poll=-1s"}, wantStderr: "--poll -1s"},
		{name: "poll not a duration", args: []string{"--poll", "fast"}, wantStderr: `invalid value "fast" for flag -poll`},
		{name: "poll from the environment", env: "0", wantStderr: "--poll 0s"},
		{name: "zero timeout-leave", args: []string{"--timeout-leave", "0"}, wantStderr: "--timeout-leave 0s: want a duration above 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("DYNAGO_POLL", tc.env)
			}
			f := newAPIServer(t)
			res := runCLI(t, "", append([]string{"leave", "--addr", f.URL()}, tc.args...)...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			if !strings.Contains(res.stderr, tc.wantStderr) || !strings.Contains(res.stderr, "Run 'dynago leave --help' for usage.") {
				t.Errorf("stderr lacks %q and the help hint\n%s", tc.wantStderr, res)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent on bad usage", n)
			}
		})
	}
}

func TestLeaveViewTerminal(t *testing.T) {
	var b strings.Builder
	v := &leaveView{w: &b, tty: true}
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	v.show(t0, "n3: long line 1")
	v.show(t0.Add(10*time.Millisecond), "n3: short")
	v.show(t0.Add(20*time.Millisecond), "n3: line 3")
	v.finish()
	// Every poll redraws the line; a shorter one blanks the rest.
	if want := "\rn3: long line 1\rn3: short      \rn3: line 3\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestLeaveViewLog(t *testing.T) {
	var b strings.Builder
	v := &leaveView{w: &b}
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	for i, d := range []time.Duration{0, time.Second, 1999 * time.Millisecond, 2 * time.Second, 3 * time.Second, 3500 * time.Millisecond} {
		v.show(t0.Add(d), fmt.Sprintf("line %d", i))
	}
	v.finish()
	// Printed: the first, the first 2 s after it, and the last on finish.
	if want := "line 0\nline 3\nline 5\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	v.finish() // nothing held back
	if b.Len() != 0 {
		t.Errorf("second finish printed %q", b.String())
	}
}

func TestLeaveRate(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	var r leaveRate
	if _, ok := r.rate(); ok {
		t.Fatal("rate known before any observation")
	}
	r.observe(t0, 0)
	if _, ok := r.eta(100); ok {
		t.Fatal("ETA known after one observation")
	}
	r.observe(t0.Add(time.Second), 1000) // first measured rate is taken as is
	if bps, ok := r.rate(); !ok || bps != 1000 {
		t.Fatalf("rate %v %v, want 1000", bps, ok)
	}
	if d, ok := r.eta(5000); !ok || d != 5*time.Second {
		t.Errorf("eta %v %v, want 5s", d, ok)
	}
	r.observe(t0.Add(time.Second), 5000) // no time passed: ignored
	r.observe(t0.Add(2*time.Second), 1000)
	bps, _ := r.rate()
	// No progress for 1 s: the rate falls by 1-e^(-1/5) of itself, not to 0.
	if want := 1000 * math.Exp(-0.2); math.Abs(bps-want) > 1e-9 {
		t.Errorf("rate after a stalled second %v, want %v", bps, want)
	}
	r.observe(t0.Add(3*time.Second), 0) // the total shrank: no progress, not negative
	if bps, _ := r.rate(); bps <= 0 {
		t.Errorf("rate %v after a shrinking total", bps)
	}
	var z leaveRate
	z.observe(t0, 7)
	z.observe(t0.Add(time.Second), 7)
	if _, ok := z.eta(1); ok {
		t.Error("ETA known at a zero rate")
	}
}

func TestLeaveLine(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	var r leaveRate
	tr := &api.Transfers{Node: "n3", Status: "leaving", Leaving: &api.LeaveProgress{
		PartitionsTotal: 64, PartitionsHandedOff: 20, BytesTotal: 3 << 20, BytesRemaining: 2 << 20}}
	if got, want := leaveLine("n3", tr, r), "n3: 20/64 partitions handed off, 1.0 MiB of 3.0 MiB (33%), -, ETA -"; got != want {
		t.Errorf("no rate yet: %q, want %q", got, want)
	}
	r.observe(t0, 0)
	r.observe(t0.Add(time.Second), 16<<10)
	if got, want := leaveLine("n3", tr, r), "n3: 20/64 partitions handed off, 1.0 MiB of 3.0 MiB (33%), 16.0 KiB/s, ETA 2m8s"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	var fast leaveRate // 4 MiB/s: the 2 MiB left take half a second
	fast.observe(t0, 0)
	fast.observe(t0.Add(time.Second), 4<<20)
	if got := leaveLine("n3", tr, fast); !strings.HasSuffix(got, ", ETA <1s") {
		t.Errorf("%q, want ETA <1s", got)
	}
	if got, want := leaveLine("n3", &api.Transfers{Status: "valid"}, r), "n3: valid, waiting for the handoff to start"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	empty := &api.Transfers{Leaving: &api.LeaveProgress{Done: true}}
	if got, want := leaveLine("n3", empty, leaveRate{}), "n3: 0/0 partitions handed off, 0 B of 0 B (100%), -, ETA 0s"; got != want {
		t.Errorf("nothing to hand off: %q, want %q", got, want)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1500000: "1.4 MiB", 8 << 20: "8.0 MiB", 5 << 40: "5.0 TiB", -2048: "-2.0 KiB",
	} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// planRequest checks that the server got exactly one GET /cluster/plan,
// with query want.
func planRequest(t *testing.T, f *apiServer, want url.Values) {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].RawPath != "/cluster/plan" {
		t.Fatalf("requests %+v, want one GET /cluster/plan", reqs)
	}
	if !reflect.DeepEqual(reqs[0].Query, want) {
		t.Errorf("query %v, want %v", reqs[0].Query, want)
	}
}

func TestPlanJoin(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "plan", "--addr", f.URL(), "--join", "n4", "--zone", "z4")
	if res.code != 0 {
		t.Fatal(res)
	}
	planRequest(t, f, url.Values{"join": {"n4"}, "zone": {"z4"}})
	want := []string{
		"plan: join n4 in zone z4",
		"ring: 8 partitions, n=2; nothing changes until the join is made",
		"NODE  ZONE  PARTITIONS  GAIN  LOSE",
		"n1    -     8 -> 6      +0    -2",
		"n4    z4    0 -> 4      +4    -0",
		"n2    z2    8 -> 6      +0    -2",
		"moves: 4 partitions, 123456 keys, 30.0 MiB; estimated time 3s (per node: each pulls its new partitions at 8.0 MiB/s, all at once)",
		"balance: the fullest node holds 1.10x its fair share (bound 1.25x)",
		"warning: n3 (valid) is down: transfers from and to it wait until it is back or removed",
	}
	if got := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", res.stdout, strings.Join(want, "\n"))
	}
}

func TestPlanLeaveAndRemove(t *testing.T) {
	for _, tc := range []struct {
		op, change string
	}{
		{"leave", "plan: leave n2 (it hands its partitions to their new owners)"},
		{"remove", "plan: remove n2 (its partitions are rebuilt from the other replicas)"},
	} {
		t.Run(tc.op, func(t *testing.T) {
			f := newAPIServer(t)
			res := runCLI(t, "", "plan", "--addr", f.URL(), "--"+tc.op, "n2")
			if res.code != 0 {
				t.Fatal(res)
			}
			planRequest(t, f, url.Values{tc.op: {"n2"}})
			for _, want := range []string{
				tc.change + "\n",
				"\nn2    z2    8 -> 0      +0    -8\n",
				"\nmoves: 0 partitions, 0 keys, 0 B; estimated time 0s",
				"\nbalance: the fullest node holds 1.00x its fair share (bound 1.25x)\n",
				"\nwarning: n=2 but only 1 member: all 8 partitions would have 1 replica, not 2\nwarning: n3 (valid) is down: transfers from and to it wait\n",
			} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
				}
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "plan", "--addr", f.URL(), "--json", "--join", "n4")
	if res.code != 0 {
		t.Fatal(res)
	}
	var p api.Plan
	if err := json.Unmarshal([]byte(res.stdout), &p); err != nil || p.Change.Node != "n4" || p.Moves.Keys != 123456 || len(p.Warnings) != 1 {
		t.Fatalf("--json: %v\n%s", err, res)
	}
	if strings.Contains(res.stdout, "warning:") || strings.Contains(res.stdout, "NODE") {
		t.Errorf("--json printed the human form too:\n%s", res.stdout)
	}
}

func TestPlanRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"join of a member", []string{"--join", "n1"}, "409 Conflict: n1 is already in the ring (valid) (code already_member)"},
		{"leave of a stranger", []string{"--leave", "n9"}, "404 Not Found: n9 is not in the ring (code unknown_node)"},
		{"remove of a stranger", []string{"--remove", "n9"}, "404 Not Found: n9 is not in the ring (code unknown_node)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			res := runCLI(t, "", append([]string{"plan", "--addr", f.URL()}, tc.args...)...)
			if res.code != 1 || !strings.Contains(res.stderr, tc.wantStderr) || res.stdout != "" {
				t.Fatalf("want exit 1 and %q on stderr\n%s", tc.wantStderr, res)
			}
			// --json prints the node's error body.
			res = runCLI(t, "", append([]string{"plan", "--addr", f.URL(), "--json"}, tc.args...)...)
			var body map[string]string
			if res.code != 1 || json.Unmarshal([]byte(res.stdout), &body) != nil || body["code"] == "" {
				t.Errorf("--json: want exit 1 and the error body on stdout\n%s", res)
			}
		})
	}
	// A node that does not answer.
	f := newAPIServer(t)
	f.srv.Close()
	if res := runCLI(t, "", "plan", "--addr", f.URL(), "--remove", "n2"); res.code != 1 || !strings.Contains(res.stderr, "plan: ") {
		t.Errorf("unreachable node: want exit 1\n%s", res)
	}
}

func TestPlanBadUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"two changes", []string{"--join", "n4", "--leave", "n2"}, "--join and --leave: plan one change at a time"},
		{"three changes", []string{"--remove", "n3", "--join", "n4", "--leave", "n2"}, "--join and --leave"},
		{"empty name", []string{"--leave", ""}, "--leave: want a node name"},
		{"zone without join", []string{"--remove", "n2", "--zone", "a"}, "--zone goes with --join"},
		{"zone alone", []string{"--zone", "a"}, "--zone goes with --join"},
		{"an argument", []string{"--join", "n4", "n5"}, `unexpected argument "n5"`},
		{"a flag after an argument", []string{"n5", "--join", "n4"}, `flags must come before arguments: move "--join"`},
		{"no value", []string{"--join"}, "flag needs an argument: -join"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			res := runCLI(t, "", append([]string{"plan", "--addr", f.URL()}, tc.args...)...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			if !strings.Contains(res.stderr, tc.wantStderr) || !strings.Contains(res.stderr, "Run 'dynago plan --help' for usage.") {
				t.Errorf("stderr lacks %q and the help hint\n%s", tc.wantStderr, res)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent on bad usage", n)
			}
		})
	}
}

// TestPlanEnvironment: the change flags read their DYNAGO_ variables, but
// a change on the command line wins over them, so a shell that exports an
// agent's DYNAGO_JOIN (seeds) and DYNAGO_ZONE still plans what the flags
// say.
func TestPlanEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		want       url.Values // nil: bad usage
		wantStderr string
	}{
		{name: "flags win", env: map[string]string{"DYNAGO_JOIN": "127.0.0.1:7946", "DYNAGO_ZONE": "z1", "DYNAGO_LEAVE": "n1"},
			args: []string{"--remove", "n2"}, want: url.Values{"remove": {"n2"}}},
		{name: "zone for a join", env: map[string]string{"DYNAGO_ZONE": "z1"}, args: []string{"--join", "n4"},
			want: url.Values{"join": {"n4"}, "zone": {"z1"}}},
		{name: "flag zone wins", env: map[string]string{"DYNAGO_ZONE": "z1"}, args: []string{"--join", "n4", "--zone", "z4"},
			want: url.Values{"join": {"n4"}, "zone": {"z4"}}},
		{name: "same value on both", env: map[string]string{"DYNAGO_LEAVE": "n2"}, args: []string{"--leave", "n2"},
			want: url.Values{"leave": {"n2"}}},
		{name: "from the environment alone", env: map[string]string{"DYNAGO_LEAVE": "n2", "DYNAGO_ADDR": "FAKE"},
			want: url.Values{"leave": {"n2"}}},
		{name: "two from the environment", env: map[string]string{"DYNAGO_JOIN": "n4", "DYNAGO_LEAVE": "n2"},
			wantStderr: "DYNAGO_JOIN and DYNAGO_LEAVE: plan one change at a time"},
		{name: "empty from the environment", env: map[string]string{"DYNAGO_REMOVE": ""},
			wantStderr: "DYNAGO_REMOVE: want a node name"},
		{name: "an agent's zone alone: the pending changes", env: map[string]string{"DYNAGO_ZONE": "z1"},
			want: url.Values{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			args := []string{"plan"}
			if tc.env["DYNAGO_ADDR"] == "" {
				args = append(args, "--addr", f.URL())
			}
			for k, v := range tc.env {
				if v == "FAKE" {
					v = f.URL()
				}
				t.Setenv(k, v)
			}
			res := runCLI(t, "", append(args, tc.args...)...)
			if tc.want == nil {
				if res.code != 2 || !strings.Contains(res.stderr, tc.wantStderr) || len(f.requests()) != 0 {
					t.Fatalf("want exit 2, no request, and %q\n%s", tc.wantStderr, res)
				}
				return
			}
			if res.code != 0 {
				t.Fatal(res)
			}
			planRequest(t, f, tc.want)
		})
	}
}

// TestPlanPending: plan without a change asks for the pending changes (no
// query) and says whether they are staged.
func TestPlanPending(t *testing.T) {
	f := newAPIServer(t)
	res := runCLI(t, "", "plan", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	planRequest(t, f, url.Values{})
	want := []string{
		"plan: the pending changes",
		"pending: join n4; staged: nothing changes until `dynago commit`",
		"ring: 8 partitions, n=2",
	}
	if got := strings.Split(res.stdout, "\n"); len(got) < 3 || !slices.Equal(got[:3], want) {
		t.Errorf("got\n%s\nwant first lines\n%s", res.stdout, strings.Join(want, "\n"))
	}
}

func TestStageAndCommit(t *testing.T) {
	for _, tc := range []struct {
		cmd, path string
		want      []string
	}{
		{"stage", "/cluster/stage", []string{"staging: changes wait for `dynago commit`; pending: none", "told 2 of 2 other live members at once; gossip tells the rest"}},
		{"commit", "/cluster/commit", []string{"committed: join n4, leave n2", "told 1 of 2 other live members at once; gossip tells the rest"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			f := newAPIServer(t)
			res := runCLI(t, "", tc.cmd, "--addr", f.URL())
			if res.code != 0 {
				t.Fatal(res)
			}
			if r := f.requests(); len(r) != 1 || r[0].Method != http.MethodPost || r[0].RawPath != tc.path {
				t.Errorf("requests %+v, want one POST %s", r, tc.path)
			}
			if got := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", res.stdout, strings.Join(tc.want, "\n"))
			}
			if res := runCLI(t, "", tc.cmd, "--addr", f.URL(), "extra"); res.code != 2 {
				t.Errorf("an argument: exit %d, want 2", res.code)
			}
		})
	}
}

func TestPlanTime(t *testing.T) {
	for _, tc := range []struct {
		secs float64
		rate int64
		want string
	}{
		{0, 1, "0s"},
		{0.004, 1, "<1s"},
		{3.75, 1, "3s"},
		{125, 1, "2m5s"},
		{12, 0, "unknown (no transfer rate)"},
	} {
		if got := planTime(tc.secs, tc.rate); got != tc.want {
			t.Errorf("planTime(%v, %d) = %q, want %q", tc.secs, tc.rate, got, tc.want)
		}
	}
}

// TestAdminAgainstNode runs the admin commands against a real node: the
// scripted server's fixtures pin the output format, this pins that the
// CLI reads what a node really answers.
func TestAdminAgainstNode(t *testing.T) {
	n := newKVNode(t, nil)
	n.put("k", "v")
	for _, tc := range []struct {
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{args: []string{"members"}, wantStdout: []string{"NAME  STATE  ALIVE  ZONE", "n1    valid  alive  -"}},
		{args: []string{"ring"}, wantStdout: []string{"partitions: 8  n: 1  nodes: 1", "n1    8        100.0%  8"}},
		{args: []string{"ring", "--table"}, wantStdout: []string{"PARTITION  PREFERENCE LIST", "\n7          n1\n"}},
		{args: []string{"hints"}, wantStdout: []string{"n1 holds 0 hints\n"}},
		{args: []string{"aae"}, wantStdout: []string{"n1: anti-entropy on, exchanges every 10s", "trees: 8 partitions, 1 keys, 0 tombstones; peers: none\n", "last exchanges (partition x peer): none\n"}},
		{args: []string{"aae", "--partitions"}, wantStdout: []string{"n1: anti-entropy on, exchanges every 10s", "PARTITION  KEYS  DEPTH  ROOT"}},
		{args: []string{"transfers"}, wantStdout: []string{"n1: valid, partitions ready 8, pending 0", "n1 is pulling no partitions"}},
		{args: []string{"plan", "--join", "n2", "--zone", "z"}, wantStdout: []string{"plan: join n2 in zone z", "n2    z     0 -> 4"}},
		{args: []string{"plan", "--leave", "n9"}, wantCode: 1, wantStderr: "404 Not Found: n9 is not in the ring (code unknown_node)"},
		{args: []string{"plan"}, wantStdout: []string{"plan: the pending changes", "pending: none"}},
		{args: []string{"stage"}, wantStdout: []string{"staging: changes wait for `dynago commit`; pending: none", "told 0 of 0"}},
		{args: []string{"commit"}, wantStdout: []string{"committed: none"}},
		{args: []string{"remove", "n9"}, wantCode: 1, wantStderr: "404 Not Found: n9 is not in the ring (code unknown_node)"},
		{args: []string{"remove", "n1"}, wantCode: 1, wantStderr: "409 Conflict: a node can't remove itself; use leave (code remove_self)"},
		{args: []string{"join", "127.0.0.1:1"}, wantCode: 1, wantStderr: "503 Service Unavailable: "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runCLI(t, "", append([]string{tc.args[0], "--addr", n.URL()}, tc.args[1:]...)...)
			if res.code != tc.wantCode || !strings.Contains(res.stderr, tc.wantStderr) {
				t.Fatalf("want exit %d and %q on stderr\n%s", tc.wantCode, tc.wantStderr, res)
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("stdout lacks %q\n%s", w, res)
				}
			}
			// --json prints the node's body: JSON, on a success and a failure.
			res = runCLI(t, "", append([]string{tc.args[0], "--addr", n.URL(), "--json"}, tc.args[1:]...)...)
			if res.code != tc.wantCode || !json.Valid([]byte(res.stdout)) {
				t.Errorf("--json: exit %d, stdout not JSON\n%s", res.code, res)
			}
		})
	}
}
