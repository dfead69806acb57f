package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/memnet"
	"github.com/dynago/dynago/quorum"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/memory"
)

// Fixed ports: a restarted node binds the same addresses and rejoins as
// itself.
const (
	httpPort   = "80"
	rpcPort    = "7000"
	gossipPort = "7946"
	// ClientIP is the host every client runs on. Partitions and link
	// faults are between nodes only (as in the fault suite, whose clients
	// reach every node on loopback); pauses and crashes cut clients off.
	ClientIP = "10.0.1.1"
)

// ClusterConfig configures a simulated cluster.
type ClusterConfig struct {
	// Partitions is the ring's Q (small, so transfers and trees are
	// cheap); N, R and W the quorum defaults.
	Partitions, N, R, W int
	// ReadRepair is the nodes' read repair mode ("" is node's default).
	ReadRepair string
	// ReadFanout is the nodes' read fanout ("" is node's default).
	ReadFanout string
	// Reap, if set, shortens the windows that keep tombstones (grace 3 s,
	// hint window 5 s, max request timeout 2 s: a tombstone may be reaped
	// 13 s after it is stored, once every replica confirmed it), so runs
	// reap tombstones and expire hints; else node's defaults keep every
	// tombstone for an hour and every hint for three.
	Reap bool
	// Logger receives every node's logs (node names attached).
	Logger *slog.Logger
	// Wrap, if set, wraps the disk of the named node once, when the node
	// is first laid out: the must-fail control's anomaly.
	Wrap func(name string, disk storage.Store) storage.Store
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.Partitions == 0 {
		c.Partitions = 16
	}
	if c.N == 0 {
		c.N, c.R, c.W = 3, 2, 2
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Cluster is a dynago cluster in one process: each node on its own memnet
// host and its own memory store (its disk), which outlives the node's
// crashes. It must be created and used inside one synctest bubble. Its
// methods are safe for concurrent use, but the fault methods (Boot, Join,
// Crash, Restart, Pause, Resume, Leave, Close) are meant to be called by
// one goroutine, the schedule's: two at once on one node race.
type Cluster struct {
	nw    *memnet.Network
	cfg   ClusterConfig
	clock clock

	mu      sync.Mutex
	members []*member // in the order they were laid out
	admin   *http.Client
	adminTr *http.Transport
}

// member is one node of the cluster: its machine and disk, and its
// current process if it runs.
type member struct {
	name, ip string
	disk     storage.Store
	proc     *process // nil while down
	paused   bool
	leaving  bool // asked to leave; it stops by itself once it has left
	starts   int
	exits    []string // how processes that stopped by themselves ended
}

// process is one run of a node: created by New, ended when Run returns.
type process struct {
	n    *node.Node
	st   *processStore
	done chan struct{} // closed when Run has returned
	err  error         // Run's result, once done
}

// clock is the nodes' node.Clock: package time, which synctest
// virtualizes. Elapsed counts from the cluster's creation, so it is
// monotonic across a node's restarts as CLOCK_BOOTTIME is.
type clock struct{ origin time.Time }

func (c clock) Now() time.Time         { return time.Now() }
func (c clock) Elapsed() time.Duration { return time.Since(c.origin) }

// NewCluster returns a cluster with no nodes, on network nw.
func NewCluster(nw *memnet.Network, cfg ClusterConfig) *Cluster {
	return &Cluster{nw: nw, cfg: cfg.withDefaults(), clock: clock{origin: time.Now()}}
}

// Network is the cluster's network.
func (c *Cluster) Network() *memnet.Network { return c.nw }

// NodeIP is the address of node i (1-based): 10.0.0.i.
func NodeIP(i int) string { return fmt.Sprintf("10.0.0.%d", i) }

// NodeName is the name of node i: n<i>.
func NodeName(i int) string { return fmt.Sprintf("n%d", i) }

func (c *Cluster) member(name string) *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// layout adds node i to the cluster's machines (not started).
func (c *Cluster) layout(i int) *member {
	name := NodeName(i)
	if m := c.member(name); m != nil {
		return m
	}
	var disk storage.Store = memory.New()
	if c.cfg.Wrap != nil {
		disk = c.cfg.Wrap(name, disk)
	}
	m := &member{name: name, ip: NodeIP(i), disk: disk}
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m
}

func (c *Cluster) nodeConfig(m *member, join []string) node.Config {
	cfg := node.DefaultConfig()
	cfg.Name = m.name
	cfg.HTTPAddr = m.ip + ":" + httpPort
	cfg.RPCAddr = m.ip + ":" + rpcPort
	cfg.GossipAddr = m.ip + ":" + gossipPort
	cfg.Join = join
	// 10.0.0.x are memnet's addresses: nothing listens on a real network,
	// so the secure-by-default rule (node/secure.go) has nothing to guard.
	cfg.Insecure = true
	cfg.Ring = ring.Config{Partitions: c.cfg.Partitions, N: c.cfg.N}
	cfg.Quorum = quorum.Config{N: c.cfg.N, R: c.cfg.R, W: c.cfg.W}
	// The default failure detector: faults last seconds, so it has
	// time to notice them, and gossip is a large part of a run's CPU.
	cfg.Gossip = node.DefaultGossipConfig()
	cfg.RequestTimeout = 2 * time.Second
	cfg.HandoffInterval = time.Second
	cfg.AAE.Interval = 2 * time.Second
	if c.cfg.ReadRepair != "" {
		cfg.ReadRepair = c.cfg.ReadRepair
	}
	if c.cfg.ReadFanout != "" {
		cfg.ReadFanout = c.cfg.ReadFanout
	}
	if c.cfg.Reap {
		cfg.AAE.TombstoneGrace = 3 * time.Second
		cfg.Hints.MaxAge = 5 * time.Second
		cfg.MaxRequestTimeout = cfg.RequestTimeout
	}
	cfg.Logger = c.cfg.Logger
	cfg.Clock = c.clock
	return cfg
}

// start runs a new process of m, joining seeds. With wait it waits until
// the node is ready (it has tried its seeds: with seeds out of reach that
// takes memberlist's TCP timeouts); without, it returns once the process
// runs (its HTTP and RPC listeners are up), as a restarted process is
// there for its peers and clients before it has rejoined.
func (c *Cluster) start(ctx context.Context, m *member, seeds []string, wait bool) error {
	st := &processStore{disk: m.disk}
	n, err := node.New(c.nodeConfig(m, seeds), st, c.nw.Host(m.ip))
	if err != nil {
		return fmt.Errorf("sim: start %s: %w", m.name, err)
	}
	p := &process{n: n, st: st, done: make(chan struct{})}
	go func() {
		p.err = n.Run(context.Background())
		close(p.done)
	}()
	c.mu.Lock()
	m.proc, m.paused = p, false
	m.starts++
	c.mu.Unlock()
	if !wait {
		return nil
	}
	select {
	case <-n.Ready():
		return nil
	case <-p.done:
		return fmt.Errorf("sim: %s stopped while starting: %v", m.name, p.err)
	case <-ctx.Done():
		return fmt.Errorf("sim: %s not ready: %w", m.name, ctx.Err())
	}
}

// seeds are the gossip addresses of every member but m that is not known
// to have left.
func (c *Cluster) seeds(m *member) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, o := range c.members {
		if o != m && o.starts > 0 && !o.leaving {
			out = append(out, o.ip+":"+gossipPort)
		}
	}
	return out
}

// Boot lays out and starts nodes 1..n: n1 founds the cluster, the others
// join it.
func (c *Cluster) Boot(ctx context.Context, n int) error {
	for i := 1; i <= n; i++ {
		m := c.layout(i)
		var seeds []string
		if i > 1 {
			seeds = []string{NodeIP(1) + ":" + gossipPort}
		}
		if err := c.start(ctx, m, seeds, true); err != nil {
			return err
		}
	}
	return nil
}

// Join lays out node i and starts it with every member as a seed: a new,
// empty node joining the running cluster. It returns once the process
// runs; the join goes on in the background.
func (c *Cluster) Join(ctx context.Context, i int) error {
	m := c.layout(i)
	c.mu.Lock()
	ran := m.starts > 0
	c.mu.Unlock()
	if ran {
		return fmt.Errorf("sim: join %s: it has run before", m.name)
	}
	return c.start(ctx, m, c.seeds(m), false)
}

// Crash kills name's process: its disk fails every later call (so nothing
// the dying process does is stored, its clean-shutdown mark included),
// its host drops every connection and listener, then its goroutines are
// stopped and waited for.
func (c *Cluster) Crash(ctx context.Context, name string) error {
	m := c.member(name)
	if m == nil {
		return fmt.Errorf("sim: crash %s: no such node", name)
	}
	c.mu.Lock()
	p := m.proc
	m.proc, m.paused = nil, false
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("sim: crash %s: not running", name)
	}
	p.st.crashed.Store(true)
	c.nw.Crash(m.ip)
	return c.stop(ctx, m.name, p)
}

// stop ends p without grace and waits for Run to return.
func (c *Cluster) stop(ctx context.Context, name string, p *process) error {
	now, cancel := context.WithCancel(ctx)
	cancel()
	_ = p.n.Shutdown(now) // returns at once; Run's return is awaited below
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sim: %s's goroutines did not stop: %w", name, ctx.Err())
	}
}

// Restart starts a new process of a crashed node on its disk, with every
// other member as a seed. It returns once the process runs; the rejoin
// goes on in the background.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	m := c.member(name)
	if m == nil || c.running(m) {
		return fmt.Errorf("sim: restart %s: running or unknown", name)
	}
	return c.start(ctx, m, c.seeds(m), false)
}

// Pause freezes name's traffic (memnet.Pause: a SIGSTOP as its peers and
// clients see it; its own goroutines and timers keep running).
func (c *Cluster) Pause(name string) {
	if m := c.member(name); m != nil {
		c.nw.Pause(m.ip)
		c.mu.Lock()
		m.paused = true
		c.mu.Unlock()
	}
}

// Resume releases a paused node.
func (c *Cluster) Resume(name string) {
	if m := c.member(name); m != nil {
		c.nw.Resume(m.ip)
		c.mu.Lock()
		m.paused = false
		c.mu.Unlock()
	}
}

// Leave asks name to leave the ring (POST /cluster/leave). The node hands
// its partitions over and then stops by itself.
func (c *Cluster) Leave(ctx context.Context, name string) error {
	m := c.member(name)
	if m == nil || !c.running(m) {
		return fmt.Errorf("sim: leave %s: not running", name)
	}
	if _, _, err := c.Admin(name).Leave(ctx); err != nil {
		return fmt.Errorf("sim: leave %s: %w", name, err)
	}
	c.mu.Lock()
	m.leaving = true
	c.mu.Unlock()
	return nil
}

// running reports whether m has a process.
func (c *Cluster) running(m *member) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.proc != nil
}

// Running lists the nodes whose process runs (paused or not), in layout
// order.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.members {
		if m.proc != nil {
			out = append(out, m.name)
		}
	}
	return out
}

// Members lists the nodes that are or will be in the ring: every node laid
// out and started, minus those asked to leave.
func (c *Cluster) Members() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.members {
		if m.starts > 0 && !m.leaving {
			out = append(out, m.name)
		}
	}
	return out
}

// URL is the base URL of name's HTTP API.
func (c *Cluster) URL(name string) string {
	m := c.member(name)
	if m == nil {
		return ""
	}
	return "http://" + m.ip + ":" + httpPort
}

// HTTPClient returns an http.Client whose connections start on the client
// host, and a function that closes its idle connections (call it before
// the bubble ends).
func (c *Cluster) HTTPClient(timeout time.Duration) (*http.Client, func()) {
	tr := &http.Transport{DialContext: c.nw.Host(ClientIP).DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: timeout}, tr.CloseIdleConnections
}

// Admin returns a client of name's HTTP API for admin and debug calls (and
// the harness's own reads). Every admin client shares one pool of
// connections, closed by Close.
func (c *Cluster) Admin(name string) *client.Client {
	cl, err := client.New([]string{c.URL(name)}, client.WithHTTPClient(c.adminHTTP()))
	if err != nil {
		panic(err) // the URL is ours
	}
	return cl
}

// adminHTTP is the http.Client every admin client shares.
func (c *Cluster) adminHTTP() *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		c.adminTr = &http.Transport{DialContext: c.nw.Host(ClientIP).DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
		c.admin = &http.Client{Transport: c.adminTr, Timeout: 10 * time.Second}
	}
	return c.admin
}

// Close stops every running node (a clean shutdown, after resuming any
// paused one), waits for their goroutines, and closes the admin clients'
// connections.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.adminTr != nil {
		defer c.adminTr.CloseIdleConnections()
	}
	var procs []*process
	var names []string
	for _, m := range c.members {
		if m.paused {
			c.nw.Resume(m.ip)
			m.paused = false
		}
		if m.proc != nil {
			procs = append(procs, m.proc)
			names = append(names, m.name)
			m.proc = nil
		}
	}
	c.mu.Unlock()
	var errs []error
	for i, p := range procs {
		errs = append(errs, c.stop(ctx, names[i], p))
	}
	return errors.Join(errs...)
}

// reap notices processes that stopped by themselves (a node that left):
// it forgets their process and reports their names.
func (c *Cluster) reap() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.members {
		if m.proc == nil {
			continue
		}
		select {
		case <-m.proc.done:
			out = append(out, m.name)
			m.exits = append(m.exits, fmt.Sprintf("%s's process %d stopped by itself: Run returned %v", m.name, m.starts, m.proc.err))
			m.proc = nil
		default:
		}
	}
	return out
}

// Exits describes the processes that stopped by themselves (a node that
// left, or one whose Run failed).
func (c *Cluster) Exits() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.members {
		out = append(out, m.exits...)
	}
	return out
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
