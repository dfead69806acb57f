package test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// kvState is a key as a JSON read shows it (Accept: application/json).
type kvState struct {
	status   int
	found    bool
	context  string
	siblings []string // values, sorted
}

func readKV(t *testing.T, hc *http.Client, base, key string) kvState {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/kv/"+key+"?r=2", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Found    bool   `json:"found"`
		Context  string `json:"context"`
		Siblings []struct {
			Value string `json:"value"`
		} `json:"siblings"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: %d %q: %v", key, resp.StatusCode, b, err)
	}
	st := kvState{status: resp.StatusCode, found: body.Found, context: body.Context}
	for _, s := range body.Siblings {
		v, err := base64.StdEncoding.DecodeString(s.Value)
		if err != nil {
			t.Fatalf("GET %s: sibling %q: %v", key, s.Value, err)
		}
		st.siblings = append(st.siblings, string(v))
	}
	slices.Sort(st.siblings)
	return st
}

// writeKV PUTs (or with del, DELETEs) key at w=2 with ctx ("" none) and
// fails the test unless it is acknowledged.
func writeKV(t *testing.T, hc *http.Client, base, key, val, ctx string, del bool) {
	t.Helper()
	method := "PUT"
	if del {
		method = "DELETE"
	}
	req, _ := http.NewRequest(method, base+"/kv/"+key+"?w=2", strings.NewReader(val))
	if ctx != "" {
		req.Header.Set("X-Dynago-Context", ctx)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("%s %s: %d %s", method, key, resp.StatusCode, b)
	}
}

func startCluster(t *testing.T, names ...string) []*agent {
	t.Helper()
	first := newAgent(t, names[0], "")
	first.start(t)
	agents := []*agent{first}
	for _, name := range names[1:] {
		a := newAgent(t, name, first.gossip)
		a.start(t)
		agents = append(agents, a)
	}
	waitAlive(t, first.url(), len(names))
	return agents
}

// Issue 14: a loaded 3-node cluster (plain keys, keys with two siblings,
// deleted keys) is backed up with `dynago backup --cluster`, wiped, and
// restored into a new cluster with `dynago restore`: every acknowledged
// key comes back with exactly its siblings, and deleted keys stay
// deleted. A restore into the live cluster never undoes a newer write. A
// truncated and a one-byte-corrupted backup are refused, by the CLI and
// by the node's route, with nothing written.
func TestProcessBackupRestoreCluster(t *testing.T) {
	hc := &http.Client{Timeout: 10 * time.Second}
	t0 := time.Now()
	old := startCluster(t, "n1", "n2", "n3")
	t.Logf("cluster up: %v", time.Since(t0).Round(time.Millisecond))
	want := map[string][]string{} // key → sibling values; nil: deleted
	for i := range 150 {
		key, val := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%03d", i)
		writeKV(t, hc, old[i%3].url(), key, val, "", false)
		want[key] = []string{val}
	}
	for i := range 15 {
		// Two blind writes through different coordinators: siblings.
		key := fmt.Sprintf("s%02d", i)
		a, b := "a-"+key, "b-"+key
		writeKV(t, hc, old[0].url(), key, a, "", false)
		writeKV(t, hc, old[1+i%2].url(), key, b, "", false)
		want[key] = []string{a, b}
	}
	for i := range 15 {
		key := fmt.Sprintf("d%02d", i)
		writeKV(t, hc, old[i%3].url(), key, "doomed", "", false)
		st := readKV(t, hc, old[(i+1)%3].url(), key)
		writeKV(t, hc, old[(i+2)%3].url(), key, "", st.context, true)
		want[key] = nil
	}
	for _, key := range []string{"s00", "d00", "k000"} {
		st := readKV(t, hc, old[2].url(), key)
		if !slices.Equal(st.siblings, want[key]) {
			t.Fatalf("before the backup, %s reads %v, want %v", key, st.siblings, want[key])
		}
	}

	t.Logf("loaded: %v", time.Since(t0).Round(time.Millisecond))
	dir := t.TempDir()
	file := filepath.Join(dir, "cluster.bak")
	start := time.Now()
	out, code := cli(t, "backup", "--cluster", "--addr", old[0].url(), "--out", file)
	if code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("dynago backup --cluster: exit %d\n%s", code, out)
	}
	t.Logf("backup --cluster: %v\n%s", time.Since(start).Round(time.Millisecond), out)
	if !regexp.MustCompile(`backup: \d+ records, `).MatchString(out) {
		t.Errorf("no progress line on stderr:\n%s", out)
	}

	// After the backup: k000 is overwritten with its context (the new
	// value supersedes the backed-up one) and s01's siblings resolved.
	// Restoring the backup into this cluster must undo neither.
	st := readKV(t, hc, old[0].url(), "k000")
	writeKV(t, hc, old[1].url(), "k000", "newer", st.context, false)
	st = readKV(t, hc, old[0].url(), "s01")
	writeKV(t, hc, old[2].url(), "s01", "resolved", st.context, false)
	out, code = cli(t, "restore", "--addr", old[2].url(), file)
	if code != 0 {
		t.Fatalf("restore into the live cluster: exit %d\n%s", code, out)
	}
	for key, vals := range map[string][]string{"k000": {"newer"}, "s01": {"resolved"}, "d01": nil, "s02": want["s02"]} {
		if got := readKV(t, hc, old[0].url(), key); !slices.Equal(got.siblings, vals) {
			t.Errorf("after restoring an older backup into the live cluster, %s = %v, want %v", key, got.siblings, vals)
		}
	}

	// Wipe the cluster: stop every process, delete every data dir.
	for _, a := range old {
		a.kill()
		if err := os.RemoveAll(a.dataDir); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("old cluster checked and wiped: %v", time.Since(t0).Round(time.Millisecond))
	fresh := startCluster(t, "n1", "n2", "n3")
	t.Logf("new cluster up: %v", time.Since(t0).Round(time.Millisecond))

	// A truncated and a corrupted copy are refused by the CLI (exit 1, a
	// clear message) and by the route (400 bad_backup), nothing written.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.bak")
	corrupt := filepath.Join(dir, "corrupt.bak")
	c := slices.Clone(b)
	c[len(c)/2] ^= 0x20
	if err := os.WriteFile(truncated, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, c, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, why string }{{truncated, "truncated"}, {corrupt, "corrupt"}} {
		out, code := cli(t, "restore", "--addr", fresh[0].url(), tc.file)
		if code != 1 || !strings.Contains(out, "not a usable backup, nothing was written") || !strings.Contains(out, tc.why) {
			t.Errorf("restore of the %s file: exit %d, want 1 and a message saying so\n%s", tc.why, code, out)
		}
		body, _ := os.ReadFile(tc.file)
		resp, err := hc.Post(fresh[1].url()+"/admin/restore", "application/vnd.dynago.backup", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(rb), `"code":"bad_backup"`) || !strings.Contains(string(rb), tc.why) {
			t.Errorf("POST /admin/restore of the %s file: %d %s", tc.why, resp.StatusCode, rb)
		}
	}
	for _, a := range fresh {
		if got := metric(t, a, `dynago_restore_records_total{outcome="restored"}`); got != 0 {
			t.Errorf("%s restored %v records from refused backups", a.name, got)
		}
	}
	if got := readKV(t, hc, fresh[0].url(), "k001"); got.status != 404 {
		t.Fatalf("k001 after refused restores: %d %v, want 404", got.status, got.siblings)
	}

	// A write to the new cluster before the restore is concurrent with
	// the backup's version of the key: both are kept.
	writeKV(t, hc, fresh[0].url(), "k002", "written-before-restore", "", false)

	start = time.Now()
	out, code = cli(t, "restore", "--addr", fresh[1].url(), file)
	if code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("dynago restore: exit %d\n%s", code, out)
	}
	t.Logf("restore: %v\n%s", time.Since(start).Round(time.Millisecond), out)
	want["k002"] = []string{"v002", "written-before-restore"}
	for key, vals := range want {
		got := readKV(t, hc, fresh[len(key)%3].url(), key)
		if !slices.Equal(got.siblings, vals) {
			t.Errorf("restored %s = %d %v, want %v", key, got.status, got.siblings, vals)
		}
		if vals == nil && got.status != 404 {
			t.Errorf("deleted %s reads %d after the restore, want 404", key, got.status)
		}
	}
}

// incarnations lists the incarnation each start of the agent logged.
func incarnations(t *testing.T, a *agent) []string {
	t.Helper()
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`node created.*?incarnation=(\d+)`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// dynago restore --data-dir merges a backup into a stopped node's store:
// keys written or overwritten after the backup keep their newer state,
// keys deleted since stay deleted, what the backup holds comes back, and
// the node starts in a new incarnation (a clean restart keeps it: shown
// first).
func TestProcessRestoreDataDir(t *testing.T) {
	hc := &http.Client{Timeout: 10 * time.Second}
	a := newAgent(t, "solo", "")
	a.flags = []string{"--n", "1", "--r", "1", "--w", "1"}
	a.start(t)
	put := func(key, val, ctx string) {
		req, _ := http.NewRequest("PUT", a.url()+"/kv/"+key, strings.NewReader(val))
		if ctx != "" {
			req.Header.Set("X-Dynago-Context", ctx)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("PUT %s: %d", key, resp.StatusCode)
		}
	}
	read := func(key string) kvState {
		req, _ := http.NewRequest("GET", a.url()+"/kv/"+key+"?r=1", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Context  string `json:"context"`
			Siblings []struct {
				Value []byte `json:"value"`
			} `json:"siblings"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		st := kvState{status: resp.StatusCode, context: body.Context}
		for _, s := range body.Siblings {
			st.siblings = append(st.siblings, string(s.Value))
		}
		slices.Sort(st.siblings)
		return st
	}
	put("a", "a1", "")
	put("b", "b1", "")
	put("gone", "g1", "")
	file := filepath.Join(t.TempDir(), "solo.bak")
	if out, code := cli(t, "backup", "--addr", a.url(), "--out", file); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	put("a", "a2", read("a").context) // supersedes a1
	put("c", "c1", "")
	req, _ := http.NewRequest("DELETE", a.url()+"/kv/gone", nil)
	req.Header.Set("X-Dynago-Context", read("gone").context)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE gone: %v %v", resp, err)
	}
	a.stop(t)
	a.start(t) // a clean restart keeps the incarnation
	a.stop(t)
	if out, code := cli(t, "restore", "--data-dir", a.dataDir, "--addr", a.url(), file); code != 2 {
		t.Errorf("restore with --addr and --data-dir: exit %d, want 2 (usage)\n%s", code, out)
	}
	out, code := cli(t, "restore", "--data-dir", a.dataDir, file)
	if code != 0 || !strings.Contains(out, "restored 3 records") {
		t.Fatalf("restore --data-dir: exit %d\n%s", code, out)
	}
	a.start(t)
	for key, want := range map[string][]string{"a": {"a2"}, "b": {"b1"}, "c": {"c1"}, "gone": nil} {
		if got := read(key); !slices.Equal(got.siblings, want) {
			t.Errorf("after restore --data-dir, %s = %d %v, want %v", key, got.status, got.siblings, want)
		}
	}
	inc := incarnations(t, a)
	if len(inc) != 3 || inc[0] != inc[1] || inc[2] == inc[1] {
		t.Errorf("incarnations per start = %v: want the clean restart to keep it and the restored start to take a new one", inc)
	}
}
