package jepsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// ClusterConfig describes the agents a run starts.
type ClusterConfig struct {
	// Binary is the dynago binary.
	Binary string
	// Dir is the run directory: node data goes to Dir/data/<name>, logs to
	// Dir/nodes/<name>.log.
	Dir string
	// Namespace is the network namespace the cluster runs in, and
	// OutsideNS the test process's (CurrentNetNS): the firewall acts only
	// inside the first and never in the second.
	Namespace, OutsideNS string
	// Nodes is the number of nodes, at 127.0.0.11, 127.0.0.12, ...
	Nodes int
	// N, R, W, PR, PW are the cluster's replication factor and default quorums.
	N, R, W, PR, PW int
	// Partitions is the ring's Q.
	Partitions int
	// ReadRepair is async, blocking or off.
	ReadRepair string
	// Timeout is the agents' default request timeout.
	Timeout time.Duration
	// LogLevel is the agents' --log-level.
	LogLevel string
	// AgentArgs are extra agent flags a scenario needs (e.g.
	// "--hinted-handoff=false"), appended after the harness's own.
	AgentArgs []string
	// Secure runs the cluster with internode mutual TLS and an encrypted
	// gossip (a CA, node certificates and a gossip key made per run, under
	// Dir/pki; pki.go). Clients still speak plain HTTP on loopback.
	Secure bool
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// DefaultClusterConfig returns the configuration of the scenarios.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		Nodes:      5,               // the cluster: 127.0.0.11..15
		N:          3,               // Dynamo's typical N
		R:          2,               // R+W > N
		W:          2,               // a majority of N survives one replica down
		Partitions: 64,              // enough to spread keys over 5 nodes, few enough to start fast on 2 cores
		ReadRepair: "async",         // the store's default
		Timeout:    2 * time.Second, // a partitioned request gives up well inside the client's timeout
		LogLevel:   "info",          // startup, membership and failure-detector events, not every request
	}
}

// Node is one agent process of the cluster.
type Node struct {
	Name, IP          string
	HTTP, RPC, Gossip string // host:port
	DataDir, LogPath  string

	mu struct {
		sync.Mutex
		proc   *process
		paused bool
		starts int
	}
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	// signalled is set before the harness sends SIGKILL or SIGTERM: an
	// exit without it is one the harness did not cause (Cluster.Exits).
	signalled atomic.Bool
}

// Exit is an agent process that ended without the harness asking it to
// (no SIGKILL or SIGTERM sent by Kill, Terminate or Close).
type Exit struct {
	Node string `json:"node"`
	PID  int    `json:"pid"`
	// At is when the harness saw the exit; Err is the process's status.
	At  time.Time `json:"at"`
	Err string    `json:"err"`
}

// PID returns the node's running process's PID.
func (n *Node) PID() (int, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0, false
	}
	return n.mu.proc.cmd.Process.Pid, true
}

// URL is the node's HTTP base URL.
func (n *Node) URL() string { return "http://" + n.HTTP }

// Running reports whether the node's process is alive (possibly paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.mu.proc == nil {
		return false
	}
	select {
	case <-n.mu.proc.done:
		return false
	default:
		return true
	}
}

// Paused reports whether the node is SIGSTOPped.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.paused
}

// Cluster runs the agents of one scenario run.
type Cluster struct {
	cfg ClusterConfig
	// Nodes are the cluster's members, in order: the nodes the harness
	// heals, converges, reads through and stops. AddNode and Forget change
	// it (membership scenarios); they must not run concurrently with
	// anything else that uses Nodes, so only a scenario's Script, while no
	// nemesis events are planned, calls them.
	Nodes []*Node
	by    map[string]*Node
	FW    *Firewall
	api   *http.Client
	pki   *pki // credentials of a Secure cluster, else nil

	exits struct {
		sync.Mutex
		list []Exit
	}
}

// Exits returns the agent exits the harness did not cause, in order: a
// crash, or a node that left and exited by itself (S19's leaver).
func (c *Cluster) Exits() []Exit {
	c.exits.Lock()
	defer c.exits.Unlock()
	return slices.Clone(c.exits.list)
}

// NewCluster lays out (but does not start) the nodes.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > 9 {
		return nil, fmt.Errorf("jepsen: %d nodes: want 1..9 (127.0.0.11..19)", cfg.Nodes)
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	c := &Cluster{cfg: cfg, by: map[string]*Node{}, api: &http.Client{Timeout: 5 * time.Second}}
	ips := map[string]string{}
	for i := 1; i <= cfg.Nodes; i++ {
		n := c.layout(i)
		c.Nodes = append(c.Nodes, n)
		c.by[n.Name] = n
		ips[n.Name] = n.IP
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "nodes"), 0o755); err != nil {
		return nil, err
	}
	c.FW = NewFirewall(cfg.Namespace, cfg.OutsideNS, ips)
	if cfg.Secure {
		// Every name layout can give (AddNode may add up to n9).
		var names []string
		for i := 1; i <= 9; i++ {
			names = append(names, c.layout(i).Name)
		}
		p, err := newPKI(cfg.Dir, names)
		if err != nil {
			return nil, err
		}
		c.pki = p
	}
	return c, nil
}

// layout describes node i (1..9): ni at 127.0.0.(10+i), its data dir and
// log in the run directory.
func (c *Cluster) layout(i int) *Node {
	name := fmt.Sprintf("n%d", i)
	ip := fmt.Sprintf("127.0.0.%d", 10+i)
	return &Node{Name: name, IP: ip,
		HTTP: ip + ":8080", RPC: ip + ":8081", Gossip: ip + ":7946",
		DataDir: filepath.Join(c.cfg.Dir, "data", name),
		LogPath: filepath.Join(c.cfg.Dir, "nodes", name+".log")}
}

// Node returns the node called name (nil if there is none).
func (c *Cluster) Node(name string) *Node { return c.by[name] }

// Names returns the node names in order.
func (c *Cluster) Names() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Name
	}
	return out
}

// StartAll starts n1 (a new cluster), then the others joining it, and
// waits until every node sees every other alive.
func (c *Cluster) StartAll(ctx context.Context) error {
	if err := c.Start(ctx, c.Nodes[0], nil); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes[1:] {
		wg.Go(func() { errs[i+1] = c.Start(ctx, n, []string{c.Nodes[0].Gossip}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.WaitAllAlive(ctx, 60*time.Second)
}

// Start starts a node's process (again) on its data dir and waits until it
// serves /health. join lists gossip seeds; nil means every other node.
func (c *Cluster) Start(ctx context.Context, n *Node, join []string) error {
	n.mu.Lock()
	if n.runningLocked() {
		n.mu.Unlock()
		return fmt.Errorf("jepsen: %s is already running", n.Name)
	}
	if join == nil {
		for _, o := range c.Nodes {
			if o != n {
				join = append(join, o.Gossip)
			}
		}
	}
	args := []string{"agent", "--name", n.Name, "--data-dir", n.DataDir,
		"--http", n.HTTP, "--rpc", n.RPC, "--gossip", n.Gossip,
		"--n", strconv.Itoa(c.cfg.N), "--r", strconv.Itoa(c.cfg.R), "--w", strconv.Itoa(c.cfg.W),
		"--pr", strconv.Itoa(c.cfg.PR), "--pw", strconv.Itoa(c.cfg.PW),
		"--partitions", strconv.Itoa(c.cfg.Partitions), "--sync=true",
		"--read-repair", c.cfg.ReadRepair, "--test-clock",
		"--timeout", c.cfg.Timeout.String(), "--log-level", c.cfg.LogLevel}
	if c.pki != nil {
		args = append(args, c.pki.args(n)...)
	}
	args = append(args, c.cfg.AgentArgs...)
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	n.mu.starts++
	fmt.Fprintf(logf, "=== jepsen: start #%d of %s at %s: dynago %s\n", n.mu.starts, n.Name, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The agent dies with the test process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.mu.Unlock()
		return fmt.Errorf("jepsen: start %s: %w", n.Name, err)
	}
	p := c.trackLocked(n, cmd, logf)
	n.mu.Unlock()
	return c.waitHealthy(ctx, n, p, 30*time.Second)
}

// trackLocked makes a started process n's (n.mu held) and waits for it in
// a goroutine of its own: when it exits, it is logged to logw, which is
// then closed, and kept in Exits unless the harness signalled it.
func (c *Cluster) trackLocked(n *Node, cmd *exec.Cmd, logw io.WriteCloser) *process {
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(logw, "=== jepsen: %s (pid %d) exited at %s: %v\n", n.Name, cmd.Process.Pid, time.Now().Format(time.RFC3339Nano), p.err)
		if !p.signalled.Load() {
			c.exits.Lock()
			c.exits.list = append(c.exits.list, Exit{Node: n.Name, PID: cmd.Process.Pid, At: time.Now(), Err: fmt.Sprint(p.err)})
			c.exits.Unlock()
		}
		logw.Close()
		close(p.done)
	}()
	n.mu.proc, n.mu.paused = p, false
	return p
}

func (c *Cluster) waitHealthy(ctx context.Context, n *Node, p *process, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.URL()+"/health", nil)
		resp, err := c.api.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("jepsen: %s exited while starting: %v (see %s)", n.Name, p.err, n.LogPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling interval
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jepsen: %s not healthy within %s (see %s)", n.Name, within, n.LogPath)
		}
	}
}

// signal sends sig to a running node's process, by PID.
func (n *Node) signal(sig syscall.Signal) (*process, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return nil, fmt.Errorf("jepsen: %s is not running", n.Name)
	}
	p := n.mu.proc
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		p.signalled.Store(true)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return nil, fmt.Errorf("jepsen: signal %v to %s: %w", sig, n.Name, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		n.mu.paused = true
	case syscall.SIGCONT:
		n.mu.paused = false
	}
	return p, nil
}

// Kill SIGKILLs a node and waits for it to exit.
func (c *Cluster) Kill(n *Node) error {
	p, err := n.signal(syscall.SIGKILL)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("jepsen: %s did not exit after SIGKILL", n.Name)
	}
}

// Terminate stops a node cleanly (SIGCONT if paused, SIGTERM), and
// SIGKILLs it after grace.
func (c *Cluster) Terminate(n *Node, grace time.Duration) error {
	if !n.Running() {
		return nil
	}
	if n.Paused() {
		_, _ = n.signal(syscall.SIGCONT)
	}
	p, err := n.signal(syscall.SIGTERM)
	if err != nil {
		return nil // exited meanwhile
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		c.cfg.Logf("%s did not stop within %s of SIGTERM; SIGKILL", n.Name, grace)
		return c.Kill(n)
	}
}

// Pause SIGSTOPs a node; Resume SIGCONTs it.
func (c *Cluster) Pause(n *Node) error  { _, err := n.signal(syscall.SIGSTOP); return err }
func (c *Cluster) Resume(n *Node) error { _, err := n.signal(syscall.SIGCONT); return err }

// Wipe deletes a stopped node's data directory (amnesia).
func (c *Cluster) Wipe(n *Node) error {
	if n.Running() {
		return fmt.Errorf("jepsen: refusing to wipe %s while it runs", n.Name)
	}
	if !strings.HasPrefix(n.DataDir, filepath.Join(c.cfg.Dir, "data")+string(filepath.Separator)) {
		return fmt.Errorf("jepsen: refusing to wipe %s outside the run directory", n.DataDir)
	}
	return os.RemoveAll(n.DataDir)
}

// Skew sets a node's clock offset through POST /debug/clock.
func (c *Cluster) Skew(ctx context.Context, n *Node, offset time.Duration) error {
	body := fmt.Sprintf(`{"offset_ms": %d}`, offset.Milliseconds())
	req, _ := http.NewRequestWithContext(ctx, "POST", n.URL()+"/debug/clock", strings.NewReader(body))
	resp, err := c.api.Do(req)
	if err != nil {
		return fmt.Errorf("jepsen: skew %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("jepsen: skew %s: %d %s", n.Name, resp.StatusCode, b)
	}
	return nil
}

// Close stops every node (SIGTERM, then SIGKILL after a grace period).
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(func() { _ = c.Terminate(n, 10*time.Second) })
	}
	wg.Wait()
}

// Member is one entry of GET /cluster/members.
type Member struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Alive bool   `json:"alive"`
}

// Members asks a node which members it knows and which are alive.
func (c *Cluster) Members(ctx context.Context, n *Node) ([]Member, error) {
	var ms []Member
	err := c.getJSON(ctx, n.URL()+"/cluster/members", &ms)
	return ms, err
}

// WaitAllAlive waits until every node lists every node as a live ring member.
func (c *Cluster) WaitAllAlive(ctx context.Context, within time.Duration) error {
	return c.WaitView(ctx, c.Nodes, func(string) bool { return true }, within)
}

// WaitView waits until each node in viewers sees exactly the nodes for
// which alive(name) is true as alive (and every node as a ring member, the
// live ones done joining).
func (c *Cluster) WaitView(ctx context.Context, viewers []*Node, alive func(string) bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for {
		ok := true
		for _, v := range viewers {
			ms, err := c.Members(ctx, v)
			if err != nil {
				ok, last = false, fmt.Sprintf("%s: %v", v.Name, err)
				break
			}
			seen := map[string]bool{}
			state := map[string]string{}
			for _, m := range ms {
				seen[m.Name] = m.Alive
				state[m.Name] = m.State
			}
			for _, o := range c.Nodes {
				a, member := seen[o.Name]
				if !member || a != alive(o.Name) {
					ok, last = false, fmt.Sprintf("%s sees %s member=%v alive=%v", v.Name, o.Name, member, a)
					break
				}
				// A joining node has not finished pulling its partitions:
				// its reads don't count yet.
				if a && state[o.Name] == "joining" {
					ok, last = false, fmt.Sprintf("%s sees %s still joining", v.Name, o.Name)
					break
				}
			}
			if !ok {
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jepsen: membership view not reached within %s: %s", within, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // polling interval
		}
	}
}

// Preflist returns the key's replicas (its preference list), asking the
// first running node.
func (c *Cluster) Preflist(ctx context.Context, key string) ([]string, error) {
	var lastErr error
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		var pl struct {
			Preflist []struct {
				Node string `json:"node"`
			} `json:"preflist"`
		}
		if err := c.getJSON(ctx, n.URL()+"/debug/preflist/"+url.PathEscape(key), &pl); err != nil {
			lastErr = err
			continue
		}
		out := make([]string, len(pl.Preflist))
		for i, e := range pl.Preflist {
			out[i] = e.Node
		}
		return out, nil
	}
	return nil, fmt.Errorf("jepsen: no node answered the preference list of %q: %v", key, lastErr)
}

// Hints returns how many hints a node holds for other nodes (GET
// /debug/hints; 0 from a store without hinted handoff).
func (c *Cluster) Hints(ctx context.Context, n *Node) (int, error) {
	var body struct {
		Total int `json:"total"`
	}
	err := c.getJSON(ctx, n.URL()+"/debug/hints", &body)
	if err != nil && strings.Contains(err.Error(), ": 404 ") {
		return 0, nil
	}
	return body.Total, err
}

// HintTargets returns, per target, how many hints a node holds (GET
// /debug/hints "targets"), for the report when hints are left over.
func (c *Cluster) HintTargets(ctx context.Context, n *Node) (map[string]int, error) {
	var body struct {
		Targets []struct {
			Target string `json:"target"`
			Count  int    `json:"count"`
		} `json:"targets"`
	}
	if err := c.getJSON(ctx, n.URL()+"/debug/hints", &body); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range body.Targets {
		out[t.Target] += t.Count
	}
	return out, nil
}

// Replica reads one node's own stored versions of key.
func (c *Cluster) Replica(ctx context.Context, n *Node, key, workload string) history.Replica {
	rep := history.Replica{Key: key, Workload: workload, Node: n.Name, Versions: []history.Version{}}
	var body struct {
		Versions []struct {
			Value   []byte `json:"value"`
			Deleted bool   `json:"deleted"`
			Dot     string `json:"dot"`
		} `json:"versions"`
	}
	if err := c.getJSON(ctx, n.URL()+"/debug/replica/"+url.PathEscape(key), &body); err != nil {
		rep.Error = err.Error()
		return rep
	}
	for _, v := range body.Versions {
		rep.Versions = append(rep.Versions, history.Version{Value: string(v.Value), Deleted: v.Deleted, Dot: v.Dot})
	}
	return rep
}

func (c *Cluster) getJSON(ctx context.Context, u string, v any) error {
	b, err := c.get(ctx, u)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// get returns the body of a 200 answer to GET u.
func (c *Cluster) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}
