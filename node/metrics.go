package node

import (
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
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
	diskRefused     prometheus.Counter
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
	// nameTakeoverRefused counts refusals by the name-takeover rule: a
	// gossip member or a member record claiming a known node's name from
	// other addresses.
	nameTakeoverRefused prometheus.Counter
	// membersUnproved counts gossiped records of new names whose proof
	// failed (prove.go).
	membersUnproved prometheus.Counter
	// claimRounds counts completed passes of the claim loop, claimant or
	// not (tests wait on it to show that something was not claimed).
	claimRounds prometheus.Counter
	// authRefused counts requests refused for their credentials, by API
	// (http, resp) and reason: unauthenticated (no or a bad token: 401,
	// NOAUTH, WRONGPASS) or forbidden (a role that does not allow it:
	// 403, NOPERM).
	authRefused *prometheus.CounterVec

	// backupRecords and restoreRecords count backup.go's records: streamed
	// out, and merged in (restored, failed, or refused with their batch).
	backupRecords  prometheus.Counter
	restoreRecords *prometheus.CounterVec
	// siblings is the versions (siblings and tombstones) in each state a
	// coordinator writes; siblingsNearCap counts the writes whose state
	// held at least siblingsNearCapShare of MaxSiblings (the alert's
	// trigger: a client that stopped resolving).
	siblings        prometheus.Histogram
	siblingsNearCap prometheus.Counter
	// limits exports the configuration the alerts compare against (the
	// sibling cap, the hint window and byte cap, the p99 target), so a
	// rule follows a node's flags instead of repeating them.
	limits *prometheus.GaugeVec

	// hintPeers is the ring's other members, whose hint series setHints
	// keeps at zero when nothing is held for them.
	hintPeers atomic.Pointer[[]string]
	// protocolRefused counts internode connections refused for their
	// protocol version, by side (versions.go).
	protocolRefused *prometheus.CounterVec
	// rpcConns counts internode connections by side and protocol version.
	rpcConns *prometheus.CounterVec
}

// siblingsNearCapShare is the share of the sibling cap past which a write
// counts in dynago_write_siblings_near_cap_total: 80% leaves a client room
// to resolve before writes are refused with 409.
const siblingsNearCapShare = 0.8

// Label values that exist from the start (preset): a counter that first
// appears at 1 has no increase in Prometheus's eyes, so an alert on its
// first event would never fire, and a dashboard would show no line.
var (
	presetRequests = map[string][]string{
		"get":    {"200", "300", "404", "503"},
		"put":    {"200", "204", "409", "503", "507"},
		"delete": {"204", "503", "507"},
	}
	presetRPCMethods = []string{"read", "apply", "coordinate", "handoff", "transfer", "aae_roots", "aae"}
	presetAAEResults = []string{"equal", "repaired", "error"}
	presetShed       = []string{"requests", "body_bytes", "body_too_large", "conns", "resp_busy"}
	presetRESP       = []string{"get", "set", "del", "mget"}
	// The supervised loops (panics.go); a handler's panic is labelled
	// with its request and appears when it happens.
	presetPanics = []string{"aaeLoop", "holdsLoop", "persistLoop", "claimLoop", "rejoinLoop", "gcLoop", "handoffLoop", "transferLoop"}
)

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
		backupRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dynago_backup_records_total", Help: "Records (keys) streamed out by GET /admin/backup.",
		}),
		restoreRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dynago_restore_records_total", Help: "Records of POST /admin/restore batches: restored (stored by w replicas), failed (retry), refused (the batch did not verify; nothing written).",
		}, []string{"outcome"}),
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
	m.diskRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_disk_refused_writes_total", Help: "Writes this node's store refused because its disk is at the free space reserve (as coordinator or replica; 507 disk_full).",
	})
	m.reg.MustRegister(m.diskRefused)
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
	m.siblings = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "dynago_write_siblings", Help: "Versions (siblings and tombstones) in the state of each write this node coordinated.",
		// 1 is the healthy case; the top buckets straddle the default cap (100).
		Buckets: []float64{1, 2, 3, 5, 10, 20, 50, 80, 100, 200},
	})
	m.siblingsNearCap = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_write_siblings_near_cap_total", Help: "Writes whose state held at least 80% of --max-siblings versions (past the cap writes are refused with 409).",
	})
	m.limits = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynago_config_limit", Help: "This node's configured limits, for alert rules: max_siblings, hint_max_age_seconds, hint_max_bytes (per target), p99_target_seconds.",
	}, []string{"limit"})
	m.reg.MustRegister(m.siblings, m.siblingsNearCap, m.limits)
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_shed_total", Help: "Requests and connections refused by a limit, by reason (requests, body_bytes, body_too_large, conns, resp_busy).",
	}, []string{"reason"})
	m.reg.MustRegister(m.shed)
	m.nameTakeoverRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_name_takeover_refused_total", Help: "Refusals by the name-takeover rule: a gossip member or a member record claiming a known node's name (down or removed included) from other addresses.",
	})
	m.reg.MustRegister(m.nameTakeoverRefused)
	m.membersUnproved = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dynago_members_unproved_total", Help: "Gossiped member records refused because the name could not be proved by a node certificate of the cluster CA at the record's RPC address (internode mutual TLS on; a retry counts again).",
	})
	m.reg.MustRegister(m.membersUnproved)
	m.reg.MustRegister(m.claimRounds)
	m.reg.MustRegister(m.dotConflicts, m.panics, m.hintsTooOld, m.storageFailed, m.tableMismatches)
	m.reg.MustRegister(m.transferKeys, m.transferBytes, m.transferPartitions, m.transferPending, m.staleDropped, m.stalePushed)
	m.reg.MustRegister(m.aaeExchanges, m.aaeDifferences, m.aaeRepaired, m.aaeBytes, m.aaeFactor, m.aaeTreeDrift, m.tombstonesReaped, m.tombstones)
	m.reg.MustRegister(m.hintsQueued, m.hintsBytes, m.hintsLag, m.hintsDelivered, m.hintsExpired, m.hintsRefused)
	m.reg.MustRegister(m.backupRecords, m.restoreRecords)
	m.reg.MustRegister(m.requests, m.latency, m.readRepairs, m.rpcErrors, m.membersUp, m.owned, m.ringSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchAdmission exports the in-flight request limit now (limits.go):
// MaxInflight, or the adaptive limit's value.
func (m *metrics) watchAdmission(a *admission) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynago_inflight_limit", Help: "Client requests this node admits at once now: --max-inflight, or lower while served requests average more than --inflight-latency-target (adaptive).",
	}, func() float64 { return float64(a.limit.Load()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynago_inflight_requests", Help: "Client requests in flight now (HTTP, and RESP data commands).",
	}, func() float64 { return float64(a.reqs.Load()) }))
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

// watchDisk exports the free space of the store's filesystem, measured at
// each scrape (a statfs): the bytes free, the reserve below which data
// writes are refused, and whether they are.
func (m *metrics) watchDisk(d storage.DiskReporter) {
	space := func(f func(storage.DiskSpace) float64) func() float64 {
		return func() float64 {
			ds, err := d.DiskSpace()
			if err != nil {
				return math.NaN()
			}
			return f(ds)
		}
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dynago_disk_free_bytes", Help: "Bytes free on the data directory's filesystem (statfs f_bavail).",
		}, space(func(ds storage.DiskSpace) float64 { return float64(ds.Free) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dynago_disk_reserve_bytes", Help: "Free space the store keeps: below it, writes are refused with 507 disk_full (--disk-reserve).",
		}, space(func(ds storage.DiskSpace) float64 { return float64(ds.Reserve) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dynago_disk_full", Help: "1 while the data directory's free space is below the reserve: writes are refused (507), reads go on.",
		}, space(func(ds storage.DiskSpace) float64 {
			if ds.Full {
				return 1
			}
			return 0
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dynago_disk_size_bytes", Help: "Size in bytes of the data directory's filesystem (0 when unknown).",
		}, space(func(ds storage.DiskSpace) float64 { return float64(ds.Total) })),
	)
}

// preset makes the labelled series alerts and dashboards use exist at
// zero before their first event, and sets the limits gauges from cfg.
func (m *metrics) preset(cfg *Config) {
	for op, outcomes := range presetRequests {
		for _, o := range outcomes {
			m.requests.WithLabelValues(op, o)
			m.latency.WithLabelValues(op, o)
		}
	}
	for _, v := range presetRPCMethods {
		m.rpcErrors.WithLabelValues(v)
	}
	for _, v := range presetAAEResults {
		m.aaeExchanges.WithLabelValues(v)
	}
	for _, v := range presetShed {
		m.shed.WithLabelValues(v)
	}
	for _, v := range presetRESP {
		m.respCommands.WithLabelValues(v, "ok")
	}
	for _, v := range presetPanics {
		m.panics.WithLabelValues(v)
	}
	for _, api := range []string{"http", "resp"} {
		for _, reason := range []string{"unauthenticated", "forbidden"} {
			m.authRefused.WithLabelValues(api, reason)
		}
	}
	m.limits.WithLabelValues("max_siblings").Set(float64(cfg.MaxSiblings))
	m.limits.WithLabelValues("hint_max_age_seconds").Set(cfg.Hints.MaxAge.Seconds())
	m.limits.WithLabelValues("hint_max_bytes").Set(float64(cfg.Hints.MaxBytesPerTarget))
	m.limits.WithLabelValues("p99_target_seconds").Set(cfg.AAE.P99Target.Seconds())
}

// observeSiblings records the versions in a state a coordinator writes.
func (m *metrics) observeSiblings(versions, maxSiblings int) {
	m.siblings.Observe(float64(versions))
	if float64(versions) >= siblingsNearCapShare*float64(maxSiblings) {
		m.siblingsNearCap.Inc()
	}
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
	var peers []string
	for _, mb := range r.Members() {
		if id := string(mb.ID); id != self {
			peers = append(peers, id)
			// Add(0) creates the series at zero and leaves a held
			// count alone.
			m.hintsQueued.WithLabelValues(id).Add(0)
			m.hintsBytes.WithLabelValues(id).Add(0)
			m.hintsLag.WithLabelValues(id).Add(0)
		}
	}
	m.hintPeers.Store(&peers)
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
	// The ring's other members stay at zero (a series that vanished and
	// came back at a large value would hide its rise from rate()).
	if peers := m.hintPeers.Load(); peers != nil {
		for _, id := range *peers {
			if _, held := stats[ring.NodeID(id)]; !held {
				m.hintsQueued.WithLabelValues(id).Set(0)
				m.hintsBytes.WithLabelValues(id).Set(0)
				m.hintsLag.WithLabelValues(id).Set(0)
			}
		}
	}
}
