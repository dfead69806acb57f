package node

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// metrics are the node's Prometheus metrics, in a registry of its own so
// several nodes can live in one process (demo, tests).
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	readRepairs prometheus.Counter
	rpcErrors   *prometheus.CounterVec
	membersUp   prometheus.Gauge
	owned       prometheus.Gauge
	ringSize    prometheus.Gauge

	hintsQueued    *prometheus.GaugeVec
	hintsBytes     *prometheus.GaugeVec
	hintsLag       *prometheus.GaugeVec
	hintsDelivered prometheus.Counter
	hintsExpired   prometheus.Counter
	hintsRefused   prometheus.Counter

	aaeExchanges     *prometheus.CounterVec
	aaeDifferences   prometheus.Counter
	aaeRepaired      prometheus.Counter
	aaeBytes         prometheus.Counter
	aaeFactor        prometheus.Gauge
	aaeTreeDrift     prometheus.Counter
	tombstonesReaped prometheus.Counter
	tombstones       prometheus.Gauge

	transferKeys       prometheus.Counter
	transferBytes      prometheus.Counter
	transferPartitions prometheus.Counter
	transferPending    prometheus.Gauge
	staleDropped       prometheus.Counter
	stalePushed        prometheus.Counter

	dotConflicts    prometheus.Counter
	hintsTooOld     prometheus.Counter
	storageFailed   prometheus.Gauge
	tableMismatches prometheus.Counter
	panics          *prometheus.CounterVec
	// respCommands counts RESP commands by name and outcome ("ok", or
	// the error reply's prefix: ERR, UNAVAILABLE, INDETERMINATE, ...);
	// respConns is the RESP connections open now.
	respCommands *prometheus.CounterVec
	respConns    prometheus.Gauge
	// shed counts requests and connections refused by a limit
	// (limits.go), by reason.
	shed *prometheus.CounterVec
	// claimRounds counts completed passes of the claim loop, claimant or
	// not (tests wait on it to show that something was not claimed).
	claimRounds prometheus.Counter
	// authRefused counts requests refused for their credentials, by API
	// (http, resp) and reason: unauthenticated (no or a bad token: 401,
	// NOAUTH, WRONGPASS) or forbidden (a role that does not allow it:
	// 403, NOPERM).
	authRefused *prometheus.CounterVec
	// protocolRefused counts internode connections refused for their
	// protocol version, by side (versions.go).
	protocolRefused *prometheus.CounterVec
	// rpcConns counts internode connections by side and protocol version.
	rpcConns *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dynago_requests_total", Help: "Client requests by operation and outcome (HTTP status).",
		}, []string{"op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dynago_request_duration_seconds", Help: "Client request latency by operation and outcome.",
			// 100µs to ~26s: loopback requests to timed-out quorums.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 19),
		}, []string{"op", "outcome"}),
		readRepairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dynago_read_repairs_total", Help: "Stale replicas repaired after a read.",
		}),
		rpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dynago_rpc_errors_total", Help: "Failed internode calls by method.",
		}, []string{"method"}),
		membersUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dynago_peers_alive", Help: "Peers gossip reports alive (this node not included).",
		}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dynago_partitions_replicated", Help: "Partitions for which this node is a primary replica.",
		}),
		ringSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dynago_ring_members", Help: "Nodes in the ring.",
		}),
	}
	m.hintsQueued = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynago_hints_queued", Help: "Hints this node holds, by target node.",
	}, []string{"target"})
	m.hintsBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynago_hints_queued_bytes", Help: "Bytes of hints this node holds, by target node.",
	}, []string{"target"})
	m.hintsLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynago_hint_delivery_lag_seconds", Help: "Age of the oldest hint held for each target node.",
	}, []string{"target"})
	m.hintsDelivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_hints_delivered_total", Help: "Hints delivered to their target and deleted.",
	})
	m.hintsExpired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_hints_expired_total", Help: "Always 0: hints are never dropped for age (kept for existing dashboards; see dynago_hint_delivery_lag_seconds for overdue hints).",
	})
	m.hintsRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_hints_refused_total", Help: "Hints refused because the target's queue was full.",
	})
	m.aaeExchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_aae_exchanges_total", Help: "Anti-entropy partition exchanges this node started, by result (equal, repaired, error).",
	}, []string{"result"})
	m.aaeDifferences = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_aae_differences_total", Help: "Keys anti-entropy found differing between replicas.",
	})
	m.aaeRepaired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_aae_keys_repaired_total", Help: "Keys anti-entropy repaired (on this node, its peer or both).",
	})
	m.aaeBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_aae_bytes_sent_total", Help: "Bytes of anti-entropy messages (both directions) of exchanges this node started.",
	})
	m.aaeFactor = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dynago_aae_rate_factor", Help: "Share of anti-entropy's rate budget in use (below 1 while foreground p99 is over target).",
	})
	m.aaeTreeDrift = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_aae_tree_rebuilds_changed_total", Help: "Tree rebuilds that found the tree disagreeing with storage.",
	})
	m.tombstonesReaped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_tombstones_reaped_total", Help: "Tombstones removed after every replica confirmed them and the grace period passed.",
	})
	m.tombstones = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dynago_tombstones", Help: "Keys whose stored state is only tombstones.",
	})
	m.transferKeys = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_transfer_keys_total", Help: "Keys pulled by partition transfers to this node.",
	})
	m.transferBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_transfer_bytes_total", Help: "Bytes of partition transfer batches pulled by this node.",
	})
	m.transferPartitions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_transfer_partitions_total", Help: "Partition transfers to this node completed.",
	})
	m.transferPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dynago_transfer_partitions_pending", Help: "Partitions this node is a primary of but has not finished pulling.",
	})
	m.staleDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_stale_keys_dropped_total", Help: "Keys of partitions this node no longer holds, deleted once every current primary held them.",
	})
	m.stalePushed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_stale_keys_pushed_total", Help: "Keys of partitions this node no longer holds, pushed to a current primary that lacked them or held an older state.",
	})
	m.dotConflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_dot_conflicts_total", Help: "Dots found naming two different writes (a bug: a counter issued twice; the log names the key).",
	})
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_panics_total", Help: "Panics recovered, by where they happened (a bug; the log has the stack).",
	}, []string{"where"})
	m.hintsTooOld = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_hints_refused_too_old_total", Help: "Always 0: a delivered hint is merged whatever its age (kept for existing dashboards).",
	})
	m.storageFailed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dynago_storage_failed", Help: "1 once a write failed to reach stable storage: the node refuses writes until restarted.",
	})
	m.tableMismatches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_rpc_table_mismatches_total", Help: "Internode calls a peer refused because its ownership table was not this node's (the two then sync).",
	})
	m.claimRounds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_claim_rounds_total", Help: "Passes of the claim loop completed, whether or not this node is the claimant or claimed.",
	})
	m.respCommands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_resp_commands_total", Help: "RESP commands by name (\"unknown\" for commands dynago lacks) and outcome (ok, or the error reply's prefix).",
	}, []string{"command", "outcome"})
	m.respConns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dynago_resp_connections", Help: "RESP client connections open.",
	})
	m.reg.MustRegister(m.respCommands, m.respConns)
	m.authRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_auth_refused_total", Help: "Requests refused for their credentials, by api (http, resp) and reason (unauthenticated: none or a bad token; forbidden: the role does not allow it).",
	}, []string{"api", "reason"})
	m.reg.MustRegister(m.authRefused)
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_shed_total", Help: "Requests and connections refused by a limit, by reason (requests, body_bytes, body_too_large, conns, resp_busy).",
	}, []string{"reason"})
	m.reg.MustRegister(m.shed)
	m.reg.MustRegister(m.claimRounds)
	m.reg.MustRegister(m.dotConflicts, m.panics, m.hintsTooOld, m.storageFailed, m.tableMismatches)
	m.reg.MustRegister(m.transferKeys, m.transferBytes, m.transferPartitions, m.transferPending, m.staleDropped, m.stalePushed)
	m.reg.MustRegister(m.aaeExchanges, m.aaeDifferences, m.aaeRepaired, m.aaeBytes, m.aaeFactor, m.aaeTreeDrift, m.tombstonesReaped, m.tombstones)
	m.reg.MustRegister(m.hintsQueued, m.hintsBytes, m.hintsLag, m.hintsDelivered, m.hintsExpired, m.hintsRefused)
	m.reg.MustRegister(m.requests, m.latency, m.readRepairs, m.rpcErrors, m.membersUp, m.owned, m.ringSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchCommits exports a group-committing store's counts (writes and the
// commits, each a sync, that made them durable): their ratio is how many
// writes shared an fsync.
func (m *metrics) watchCommits(c storage.Committer) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dynago_store_writes_total", Help: "Writes the store made durable (group-committed; see dynago_store_commits_total).",
		}, func() float64 { return float64(c.CommitStats().Updates) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dynago_store_commits_total", Help: "Store commits, each one write-ahead-log sync when the store syncs: writes per commit is the group commit's effect.",
		}, func() float64 { return float64(c.CommitStats().Commits) }),
	)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observe(op string, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	outcome := strconv.Itoa(status)
	m.requests.WithLabelValues(op, outcome).Inc()
	m.latency.WithLabelValues(op, outcome).Observe(d.Seconds())
}

func (m *metrics) setAlive(peers map[string]gossip.Peer) {
	up := 0
	for _, p := range peers {
		if p.Alive {
			up++
		}
	}
	m.membersUp.Set(float64(up))
}

func (m *metrics) setRing(r *ring.Ring, self string) {
	m.ringSize.Set(float64(r.Len()))
	m.owned.Set(float64(len(r.PartitionsOf(ring.NodeID(self)))))
}

func (m *metrics) setHints(stats map[ring.NodeID]hintedhandoff.TargetStats, now time.Time) {
	m.hintsQueued.Reset()
	m.hintsBytes.Reset()
	m.hintsLag.Reset()
	for id, s := range stats {
		m.hintsQueued.WithLabelValues(string(id)).Set(float64(s.Count))
		m.hintsBytes.WithLabelValues(string(id)).Set(float64(s.Bytes))
		lag := 0.0
		if s.Count > 0 {
			lag = s.Lag(now).Seconds()
		}
		m.hintsLag.WithLabelValues(string(id)).Set(lag)
	}
}
