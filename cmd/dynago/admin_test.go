package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
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
