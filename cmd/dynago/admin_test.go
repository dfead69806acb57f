package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/cmd/dynago/internal/client"
)

func TestMembers(t *testing.T) {
	f := newFakeNode(t)
	res := runCLI(t, "", "members", "--addr", f.URL())
	if res.code != 0 {
		t.Fatal(res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", res.stdout)
	}
	for i, want := range [][]string{
		{"NAME", "STATE", "ALIVE", "ZONE", "HTTP", "RPC", "GOSSIP"},
		{"n1", "valid", "alive", "-", "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:7946"},
		{"n2", "leaving", "DOWN", "z2", "127.0.0.1:8082", "127.0.0.1:8083", "127.0.0.1:7947"},
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
	f := newFakeNode(t)
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
			wantStdout: "joined the cluster of 127.0.0.2:7946, 127.0.0.1:7947\n  members: 3\n",
		},
		{
			name: "join failure shows the server message", args: []string{"join", "127.0.0.1:1"}, wantCode: 1,
			wantPath: "/cluster/join", wantBody: `{"seeds":["127.0.0.1:1"]}`,
			wantStderr: "502 Bad Gateway: no seed answered (code join_failed)",
		},
		{
			name: "leave", args: []string{"leave"},
			wantPath: "/cluster/leave", wantStdout: "leaving: the node hands its data to the new owners; follow with 'dynago members'\n",
		},
		{
			name: "remove", args: []string{"remove", "n2"},
			wantPath: "/cluster/remove", wantBody: `{"node":"n2"}`, wantStdout: "removed n2 from the ring\n",
		},
		{
			name: "remove unknown node", args: []string{"remove", "n9"}, wantCode: 1,
			wantPath: "/cluster/remove", wantBody: `{"node":"n9"}`, wantStderr: "no member n9",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
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
	f := newFakeNode(t)
	res := runCLI(t, "", "leave", "--addr", f.URL(), "--json")
	var out struct{ Status int }
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || out.Status != http.StatusAccepted {
		t.Fatalf("%v\n%s", err, res)
	}
	res = runCLI(t, "", "join", "--addr", f.URL(), "--json", "127.0.0.1:7946")
	var j struct{ Members int }
	if err := json.Unmarshal([]byte(res.stdout), &j); err != nil || j.Members != 3 {
		t.Fatalf("%v\n%s", err, res)
	}
}

func TestHints(t *testing.T) {
	f := newFakeNode(t)
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

func TestAAE(t *testing.T) {
	f := newFakeNode(t)
	res := runCLI(t, "", "aae", "--addr", f.URL())
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
	f := newFakeNode(t)
	for _, args := range [][]string{{"--json"}, {"--json", "--partition", "3"}} {
		res := runCLI(t, "", append([]string{"aae", "--addr", f.URL()}, args...)...)
		if res.code != 0 {
			t.Fatal(res)
		}
		// The body as the node sent it (its line breaks included), whole
		// even with --partition.
		if !strings.HasPrefix(res.stdout, `{"node":"n1","enabled":true,"interval_seconds":10,"rate_factor":0.5,"foreground_p99_ms":12.5,`+"\n") {
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
			f := newFakeNode(t)
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
			f := newFakeNode(t)
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
	f := newFakeNode(t)
	f.mu.Lock()
	f.aaeFail = http.StatusInternalServerError
	f.mu.Unlock()
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
	a := &client.AAE{Node: "n2", IntervalSecs: 0.5, TombstoneGraceSecs: 90000}
	if err := printAAE(&b, a, -1, time.Time{}); err != nil {
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
		if got := lastExchange(client.AAEPeer{LastExchange: tc.in}, now); got != tc.want {
			t.Errorf("lastExchange(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
