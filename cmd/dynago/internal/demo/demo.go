package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/storage/badger"
)

// Host is the only address demo nodes bind.
const Host = "127.0.0.1"

// ErrBadConfig is wrapped by Config.Validate.
var ErrBadConfig = errors.New("demo: bad config")

// Config describes a demo cluster.
type Config struct {
	// Nodes is the number of nodes.
	Nodes int
	// BasePort is node 1's HTTP port; node i gets HTTP BasePort+2(i-1) and
	// RPC the port after it.
	BasePort int
	// GossipBasePort is node 1's gossip port; node i gets GossipBasePort+i-1.
	GossipBasePort int
	// Sync makes replicas fsync before acknowledging a write.
	Sync bool
	// Dir is the parent of the nodes' data directories. Empty means a new
	// temporary directory, removed by Stop.
	Dir string
	// ReadyTimeout bounds the wait for every node to be ready and seen
	// alive by node 1.
	ReadyTimeout time.Duration
	// Logger receives the nodes' logs (node adds a "node" attribute);
	// nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the documented demo layout.
func DefaultConfig() Config {
	return Config{
		Nodes:          3,                // the smallest cluster where N=3, R=W=2 survives one node down
		BasePort:       8080,             // n1's HTTP is the client commands' default --addr
		GossipBasePort: 7946,             // memberlist's standard port for n1
		Sync:           true,             // same durability as an agent, so what the demo shows is honest
		ReadyTimeout:   30 * time.Second, // gossip converges in seconds; 30 s leaves room for a loaded 2-core machine
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 1 || c.Nodes > 64:
		return fmt.Errorf("%w: nodes must be between 1 and 64, got %d", ErrBadConfig, c.Nodes)
	case c.BasePort < 1 || c.BasePort+2*c.Nodes-1 > 65535:
		return fmt.Errorf("%w: base port %d leaves no room for %d nodes' HTTP and RPC ports", ErrBadConfig, c.BasePort, c.Nodes)
	case c.GossipBasePort < 1 || c.GossipBasePort+c.Nodes-1 > 65535:
		return fmt.Errorf("%w: gossip base port %d leaves no room for %d nodes", ErrBadConfig, c.GossipBasePort, c.Nodes)
	case c.ReadyTimeout <= 0:
		return fmt.Errorf("%w: ready timeout must be positive", ErrBadConfig)
	}
	// The HTTP/RPC range and the gossip range must not overlap.
	httpLo, httpHi := c.BasePort, c.BasePort+2*c.Nodes-1
	gLo, gHi := c.GossipBasePort, c.GossipBasePort+c.Nodes-1
	if gLo <= httpHi && httpLo <= gHi {
		return fmt.Errorf("%w: ports %d-%d (HTTP, RPC) overlap gossip ports %d-%d", ErrBadConfig, httpLo, httpHi, gLo, gHi)
	}
	return nil
}

// Addrs are one node's name and addresses.
type Addrs struct {
	Name   string `json:"name"`
	HTTP   string `json:"http"`
	RPC    string `json:"rpc"`
	Gossip string `json:"gossip"`
}

// URL is the node's HTTP base URL.
func (a Addrs) URL() string { return "http://" + a.HTTP }

// Layout returns the names and addresses of c's nodes: n1, n2, ...
func Layout(c Config) ([]Addrs, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	out := make([]Addrs, c.Nodes)
	for i := range out {
		out[i] = Addrs{
			Name:   "n" + strconv.Itoa(i+1),
			HTTP:   net.JoinHostPort(Host, strconv.Itoa(c.BasePort+2*i)),
			RPC:    net.JoinHostPort(Host, strconv.Itoa(c.BasePort+2*i+1)),
			Gossip: net.JoinHostPort(Host, strconv.Itoa(c.GossipBasePort+i)),
		}
	}
	return out, nil
}

// StoreOptions returns the badger options of a node whose config is ncfg:
// on disk in its data directory, with fsync unless c.Sync is off.
func StoreOptions(c Config, ncfg node.Config) badger.Options {
	return badger.Options{Dir: ncfg.DataDir, NoSync: !c.Sync, Logger: ncfg.Logger.With("node", ncfg.Name, "component", "badger")}
}

// NodeConfig returns the node.Config of node i (0-based) of layout.
func NodeConfig(c Config, layout []Addrs, i int, dir string) node.Config {
	a := layout[i]
	cfg := node.DefaultConfig()
	cfg.Name = a.Name
	cfg.DataDir = filepath.Join(dir, a.Name)
	cfg.HTTPAddr, cfg.RPCAddr, cfg.GossipAddr = a.HTTP, a.RPC, a.Gossip
	if i > 0 {
		cfg.Join = []string{layout[0].Gossip}
	}
	// N is at most the cluster size; R and W are then a majority of N.
	cfg.Ring.N = min(cfg.Ring.N, c.Nodes)
	cfg.Quorum.N = cfg.Ring.N
	cfg.Quorum.R = cfg.Ring.N/2 + 1
	cfg.Quorum.W = cfg.Ring.N/2 + 1
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = log // node adds its own "node" attribute
	return cfg
}

// Cluster is a running demo cluster.
type Cluster struct {
	// Nodes are the nodes' names and addresses, n1 first.
	Nodes []Addrs
	// Dir is the parent of the nodes' data directories.
	Dir string

	removeDir bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	failed    chan error // first unexpected end of a node's Run; buffered 1
	stopping  chan struct{}
	stopOnce  sync.Once
	mu        sync.Mutex
	runErrs   []error // guarded by mu
}

// URLs returns the nodes' HTTP base URLs, n1 first.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, a := range c.Nodes {
		out[i] = a.URL()
	}
	return out
}

// Failed receives an error if a node stops before Stop is called.
func (c *Cluster) Failed() <-chan error { return c.failed }

// Start starts the cluster and waits until it is ready (see the package
// invariants). On error, everything it started is stopped and removed.
// Cancelling ctx stops the cluster too.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	layout, err := Layout(cfg)
	if err != nil {
		return nil, err
	}
	cl := &Cluster{Nodes: layout, Dir: cfg.Dir, failed: make(chan error, 1), stopping: make(chan struct{})}
	if cl.Dir == "" {
		if cl.Dir, err = os.MkdirTemp("", "dynago-demo-"); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		cl.removeDir = true
	}
	runCtx, cancel := context.WithCancel(ctx)
	cl.cancel = cancel
	fail := func(err error) (*Cluster, error) {
		return nil, errors.Join(err, cl.Stop())
	}
	deadline := time.Now().Add(cfg.ReadyTimeout)
	for i := range layout {
		ncfg := NodeConfig(cfg, layout, i, cl.Dir)
		st, err := badger.Open(StoreOptions(cfg, ncfg))
		if err != nil {
			return fail(fmt.Errorf("demo: opening %s's storage in %s: %w", ncfg.Name, ncfg.DataDir, err))
		}
		n, err := node.New(ncfg, st, nil)
		if err != nil {
			return fail(fmt.Errorf("demo: starting %s (http %s, rpc %s, gossip %s; is another demo or agent using these ports? see --base-port): %w",
				ncfg.Name, ncfg.HTTPAddr, ncfg.RPCAddr, ncfg.GossipAddr, err))
		}
		done := make(chan error, 1)
		cl.wg.Go(func() {
			err := n.Run(runCtx)
			done <- err
			cl.nodeEnded(ncfg.Name, err)
		})
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-n.Ready():
			timer.Stop()
		case err := <-done:
			timer.Stop()
			return fail(fmt.Errorf("demo: %s stopped before it was ready: %v", ncfg.Name, err))
		case <-ctx.Done():
			timer.Stop()
			return fail(fmt.Errorf("demo: %w", ctx.Err()))
		case <-timer.C:
			return fail(fmt.Errorf("demo: %s was not ready within %s", ncfg.Name, cfg.ReadyTimeout))
		}
	}
	names := make([]string, len(layout))
	for i, a := range layout {
		names[i] = a.Name
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	// Every node, not just n1, must see the whole cluster before the demo
	// says it is ready: a user may talk to any of them first.
	for _, a := range layout {
		if err := WaitMembers(ctx, a.URL(), names, time.Until(deadline), hc); err != nil {
			return fail(err)
		}
	}
	return cl, nil
}

// nodeEnded records a node's Run result; an end before Stop is a failure.
func (c *Cluster) nodeEnded(name string, err error) {
	select {
	case <-c.stopping:
		if err != nil && !errors.Is(err, context.Canceled) {
			c.mu.Lock()
			c.runErrs = append(c.runErrs, fmt.Errorf("demo: %s: %w", name, err))
			c.mu.Unlock()
		}
	default:
		if err == nil {
			err = errors.New("stopped")
		}
		select {
		case c.failed <- fmt.Errorf("demo: %s ended unexpectedly: %w", name, err):
		default:
		}
	}
}

// Stop stops every node, waits for each to shut down, and removes the
// temporary directory. It is idempotent; later calls return nil.
func (c *Cluster) Stop() error {
	var err error
	c.stopOnce.Do(func() {
		close(c.stopping)
		c.cancel()
		c.wg.Wait()
		c.mu.Lock()
		err = errors.Join(c.runErrs...)
		c.mu.Unlock()
		if c.removeDir {
			if rerr := os.RemoveAll(c.Dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("demo: removing %s: %w", c.Dir, rerr))
			}
		}
	})
	return err
}

// WaitMembers polls GET /cluster/members at addr every 100 ms until every
// name in names is listed and alive, for at most timeout. Its error says
// which nodes were missing or down at the last poll.
func WaitMembers(ctx context.Context, addr string, names []string, timeout time.Duration, hc *http.Client) error {
	cl, err := client.New([]string{addr}, client.WithHTTPClient(hc))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	var alive []string
	for {
		ms, _, err := cl.Members(ctx)
		if err == nil {
			alive = alive[:0]
			for _, m := range ms {
				// A joining node is still pulling its partitions.
				if m.Alive && m.State != "joining" {
					alive = append(alive, m.Name)
				}
			}
			if missing := notIn(names, alive); len(missing) == 0 {
				return nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return fmt.Errorf("demo: waiting for %s to list every node: %w", addr, err)
			}
			msg := fmt.Sprintf("demo: after %s, %s lists %d of %d nodes alive: [%s]; missing or down: [%s]",
				timeout, addr, len(alive), len(names), strings.Join(alive, " "), strings.Join(notIn(names, alive), " "))
			if lastErr != nil {
				msg += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			return errors.New(msg)
		case <-tick.C:
		}
	}
}

func notIn(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}
