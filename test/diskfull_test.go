package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Disk sizes of the disk-full tests: each node's data dir is on its own
// small tmpfs, with a reserve well above what badger writes on its own in
// these short runs (one small memtable flush), and a ballast file that
// leaves a little room above the reserve.
const (
	tmpfsMiB    = 96
	reserveMiB  = 24
	marginBytes = 3 << 20
	valueBytes  = 128 << 10
)

// needRoot fails the test under CI (which runs as root) and skips it
// elsewhere when the process can't mount a filesystem.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set, so the disk-full test must run, but it needs root to mount a tmpfs")
	}
	t.Skip("the disk-full test mounts a tmpfs: run it as root")
}

// smallDisk mounts a tmpfs of tmpfsMiB at a new directory and unmounts it
// when the test ends (after the agents using it are killed: cleanups run
// last-registered first, and it is registered before them).
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", tmpfsMiB), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a ballast file on disk's filesystem that leaves
// reserve + margin bytes free, and returns its path.
func fillDisk(t *testing.T, disk string) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(disk, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	size := free - reserveMiB<<20 - marginBytes
	if size <= 0 {
		t.Fatalf("%s has only %d bytes free", disk, free)
	}
	path := filepath.Join(disk, "ballast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20) // real bytes: a tmpfs hole takes no space
	for left := size; left > 0; left -= int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			t.Fatalf("ballast: %v", err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// diskAgent is an agent whose data dir is on its own small tmpfs.
func diskAgent(t *testing.T, name, join string) (*agent, string) {
	disk := smallDisk(t)
	a := newAgent(t, name, join)
	a.dataDir = filepath.Join(disk, "data")
	a.flags = append(a.flags, "--disk-reserve", fmt.Sprintf("%dMiB", reserveMiB))
	return a, disk
}

// kvResult is an HTTP answer of the disk-full tests.
type kvResult struct {
	status int
	body   []byte
	err    map[string]any // the JSON error body, if any
}

func kvDo(t *testing.T, method, url string, body []byte) kvResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := kvResult{status: resp.StatusCode, body: b}
	if resp.StatusCode >= 400 {
		_ = json.Unmarshal(b, &r.err)
	}
	return r
}

// health is what the disk-full tests read of GET /health.
type health struct {
	Status  string `json:"status"`
	Warning string `json:"warning"`
	Disk    *struct {
		FreeBytes    int64 `json:"free_bytes"`
		ReserveBytes int64 `json:"reserve_bytes"`
		Full         bool  `json:"full"`
	} `json:"disk"`
}

func getHealth(t *testing.T, a *agent) (int, health) {
	t.Helper()
	r := kvDo(t, "GET", a.url()+"/health", nil)
	var h health
	if err := json.Unmarshal(r.body, &h); err != nil {
		t.Fatalf("/health of %s: %v (%s)", a.name, err, r.body)
	}
	return r.status, h
}

// stopAgent SIGTERMs a (by PID) and waits for a clean exit.
func stopAgent(t *testing.T, a *agent) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.exitErr != nil {
			log, _ := os.ReadFile(a.logPath)
			t.Fatalf("%s: SIGTERM exit: %v\n%s", a.name, a.exitErr, log)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no exit after SIGTERM", a.name)
	}
}

func value(key string) []byte {
	v := []byte(strings.Repeat(key+";", valueBytes/(len(key)+1)+1))
	return v[:valueBytes]
}

// Real agents on real badger, each data dir on its own small tmpfs (N=3,
// R=W=2): with the disks filled to just above the reserve, writes fail
// with 507 disk_full over HTTP, RESP (redis-cli) and the CLI, reads of
// earlier keys go on and /health and /metrics say so; once the ballast is
// removed writes succeed again with nothing restarted; after a restart
// every acknowledged write is there.
func TestProcessDiskFull(t *testing.T) {
	needRoot(t)
	cliPath := redisTool(t, "redis-cli")
	var agents []*agent
	var disks []string
	for i := range 3 {
		join := ""
		if i > 0 {
			join = agents[0].gossip
		}
		a, disk := diskAgent(t, fmt.Sprintf("n%d", i+1), join)
		a.resp = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		a.start(t)
		agents, disks = append(agents, a), append(disks, disk)
	}
	waitAlive(t, agents[0].url(), 3)
	n1 := agents[0]

	acked := map[string]bool{}
	put := func(key string) kvResult {
		t.Helper()
		r := kvDo(t, "PUT", n1.url()+"/kv/"+key, value(key))
		if r.status == http.StatusNoContent {
			acked[key] = true
		}
		return r
	}
	for i := range 5 {
		if r := put(fmt.Sprintf("early%d", i)); r.status != http.StatusNoContent {
			t.Fatalf("PUT before the disks fill: %d %s", r.status, r.body)
		}
	}

	var ballast []string
	for _, d := range disks {
		ballast = append(ballast, fillDisk(t, d))
	}
	// Write until n1, the coordinator, refuses for its own disk: a
	// definite 507 (n2's and n3's may refuse first: then a 507 that n1
	// stored, indeterminate).
	definite := false
	for i := 0; !definite; i++ {
		if i == 200 {
			t.Fatalf("200 writes of %d bytes and n1 still stores them: the reserve does not hold", valueBytes)
		}
		r := put(fmt.Sprintf("fill%d", i))
		switch {
		case r.status == http.StatusNoContent:
		case r.status == http.StatusInsufficientStorage && r.err["code"] == "disk_full":
			definite = r.err["indeterminate"] == false
			if definite && fmt.Sprint(r.err["disk_full"]) != "[n1]" {
				t.Fatalf("a definite 507 via n1 names %v, want [n1]: %s", r.err["disk_full"], r.body)
			}
		default:
			t.Fatalf("PUT fill%d: %d %s; want 204 or 507 disk_full", i, r.status, r.body)
		}
	}
	t.Logf("%d writes acknowledged before the disks filled", len(acked))

	// The interfaces a user sees.
	if r := put("refused"); r.status != http.StatusInsufficientStorage || r.err["code"] != "disk_full" {
		t.Fatalf("PUT with the disk full: %d %s; want 507 disk_full", r.status, r.body)
	}
	port := n1.resp[strings.LastIndexByte(n1.resp, ':')+1:]
	out, _ := exec.CommandContext(t.Context(), cliPath, "-h", "127.0.0.1", "-p", port, "SET", "refused", "v").CombinedOutput()
	if !strings.HasPrefix(strings.TrimSpace(string(out)), "DISKFULL disk full on [n1]") {
		t.Fatalf("redis-cli SET with the disk full: %q; want DISKFULL disk full on [n1] ...", out)
	}
	if out, code := cli(t, "put", "--addr", n1.url(), "refused", "v"); code != 1 || !strings.Contains(out, "507 Insufficient Storage") ||
		!strings.Contains(out, "the disks of n1 are full") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("dynago put with the disk full: exit %d\n%s", code, out)
	}
	for key := range acked {
		if r := kvDo(t, "GET", agents[1].url()+"/kv/"+key, nil); r.status != http.StatusOK || string(r.body) != string(value(key)) {
			t.Fatalf("GET %s with the disks full: %d (%d bytes)", key, r.status, len(r.body))
		}
	}
	if status, h := getHealth(t, n1); status != http.StatusOK || h.Disk == nil || !h.Disk.Full ||
		h.Disk.ReserveBytes != reserveMiB<<20 || h.Disk.FreeBytes >= h.Disk.ReserveBytes+marginBytes || !strings.Contains(h.Warning, "writes are refused") {
		t.Fatalf("/health with the disk full: %d %+v %+v", status, h, h.Disk)
	}
	if m := kvDo(t, "GET", n1.url()+"/metrics", nil); !strings.Contains(string(m.body), "\ndynago_disk_full 1\n") ||
		strings.Contains(string(m.body), "\ndynago_disk_refused_writes_total 0\n") {
		t.Fatalf("/metrics with the disk full: want dynago_disk_full 1 and refused writes counted:\n%s", grepLines(string(m.body), "dynago_disk"))
	}

	// Space returns: writes succeed again, nothing restarted.
	for _, b := range ballast {
		if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if r := put(fmt.Sprintf("after%d", i)); r.status != http.StatusNoContent {
			t.Fatalf("PUT after the ballast was removed: %d %s", r.status, r.body)
		}
	}
	if out, err := exec.CommandContext(t.Context(), cliPath, "-h", "127.0.0.1", "-p", port, "SET", "after-resp", "v").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("redis-cli SET after the ballast was removed: %v %q", err, out)
	}
	if _, h := getHealth(t, n1); h.Disk == nil || h.Disk.Full || h.Warning != "" {
		t.Fatalf("/health after: %+v %+v", h, h.Disk)
	}
	if m := kvDo(t, "GET", n1.url()+"/metrics", nil); !strings.Contains(string(m.body), "\ndynago_disk_full 0\n") {
		t.Fatalf("/metrics after has no dynago_disk_full 0:\n%s", grepLines(string(m.body), "dynago_disk"))
	}

	// Nothing acknowledged was lost or damaged: restart every agent on
	// its data dir and read each key back.
	for _, a := range agents {
		stopAgent(t, a)
	}
	for _, a := range agents {
		a.launch(t)
	}
	for _, a := range agents {
		a.waitHealthy(t)
	}
	waitAlive(t, n1.url(), 3)
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, key := range keys {
		a := agents[i%3]
		if r := kvDo(t, "GET", a.url()+"/kv/"+key, nil); r.status != http.StatusOK || string(r.body) != string(value(key)) {
			t.Fatalf("after the restart, acknowledged %s via %s: %d (%d bytes)", key, a.name, r.status, len(r.body))
		}
	}
	t.Logf("%d acknowledged writes read back after the restart", len(keys))
}

// Only replicas' disks are full: the coordinator stores the write but
// misses W, and answers 507 disk_full naming them, indeterminate.
func TestProcessReplicaDiskFull(t *testing.T) {
	needRoot(t)
	n1 := newAgent(t, "n1", "") // on the test's ordinary temp dir
	n1.start(t)
	var disks []string
	for _, name := range []string{"n2", "n3"} {
		a, disk := diskAgent(t, name, n1.gossip)
		a.start(t)
		disks = append(disks, disk)
	}
	waitAlive(t, n1.url(), 3)
	for _, d := range disks {
		fillDisk(t, d)
	}
	// Fill the replicas' margins with writes they store (W=3) until both
	// refuse; n1 stores each one.
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatal("200 writes and n2 and n3 still store them")
		}
		key := fmt.Sprintf("fill%d", i)
		if r := kvDo(t, "PUT", n1.url()+"/kv/"+key+"?w=3", value(key)); r.status == http.StatusInsufficientStorage {
			got := fmt.Sprint(r.err["disk_full"])
			if r.err["code"] != "disk_full" || r.err["indeterminate"] != true || r.err["acks"] == 0.0 {
				t.Fatalf("PUT w=3: %s; want disk_full, indeterminate, n1's ack", r.body)
			}
			if got == "[n2 n3]" || got == "[n3 n2]" {
				break
			}
		} else if r.status != http.StatusNoContent {
			t.Fatalf("PUT w=3: %d %s", r.status, r.body)
		}
	}
	// With both replicas full the default W=2 misses too.
	r := kvDo(t, "PUT", n1.url()+"/kv/k2", []byte("v"))
	if got := fmt.Sprint(r.err["disk_full"]); r.status != http.StatusInsufficientStorage || (got != "[n2 n3]" && got != "[n3 n2]") {
		t.Fatalf("PUT w=2 with n2's and n3's disks full: %d %s", r.status, r.body)
	}
	if out, code := cli(t, "put", "--addr", n1.url(), "k3", "v"); code != 1 || !strings.Contains(out, "are full") || !strings.Contains(out, "indeterminate") {
		t.Fatalf("dynago put with replicas' disks full: exit %d\n%s", code, out)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
