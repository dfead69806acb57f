package node

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/ring"
)

// The series alerts and dashboards use exist at zero before their first
// event (deploy/prometheus/alerts.yml: an increase() needs a sample before
// the first increment), and the limits gauges follow the config.
func TestMetricsPreset(t *testing.T) {
	m := newMetrics()
	cfg := DefaultConfig()
	cfg.MaxSiblings = 7
	m.preset(&cfg)
	for _, want := range []string{
		`dynago_requests_total{op="put",outcome="503"} 0`,
		`dynago_requests_total{op="get",outcome="200"} 0`,
		`dynago_request_duration_seconds_count{op="delete",outcome="204"} 0`,
		`dynago_aae_exchanges_total{result="error"} 0`,
		`dynago_rpc_errors_total{method="apply"} 0`,
		`dynago_shed_total{reason="requests"} 0`,
		`dynago_auth_refused_total{api="resp",reason="forbidden"} 0`,
		`dynago_config_limit{limit="max_siblings"} 7`,
		`dynago_config_limit{limit="hint_max_age_seconds"} 10800`,
		`dynago_write_siblings_count 0`,
		`dynago_write_siblings_near_cap_total 0`,
		`dynago_resp_commands_total{command="set",outcome="ok"} 0`,
		`dynago_panics_total{where="aaeLoop"} 0`,
	} {
		if !strings.Contains(scrape(t, m), want+"\n") {
			t.Errorf("a fresh registry lacks %s", want)
		}
	}

	// 80% of the cap counts as near it; below does not.
	m.observeSiblings(5, 7)
	m.observeSiblings(6, 7)
	if got := testutil.ToFloat64(m.siblingsNearCap); got != 1 {
		t.Errorf("near-cap writes after 5/7 and 6/7 siblings = %v, want 1", got)
	}
}

// Every other ring member has hint series, at zero unless hints are held
// for it, and they stay after the held hints are delivered.
func TestMetricsHintSeriesPerPeer(t *testing.T) {
	m := newMetrics()
	r, err := ring.New(ring.Config{Partitions: 8, N: 3}, []ring.Member{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}})
	if err != nil {
		t.Fatal(err)
	}
	m.setRing(r, "n1")
	out := scrape(t, m)
	for _, want := range []string{`dynago_hints_queued{target="n2"} 0`, `dynago_hint_delivery_lag_seconds{target="n3"} 0`} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("after setRing, missing %s", want)
		}
	}
	if strings.Contains(out, `target="n1"`) {
		t.Error("a node has hint series for itself")
	}
	now := time.Unix(1000, 0)
	m.setHints(map[ring.NodeID]hintedhandoff.TargetStats{"n2": {Count: 3, Bytes: 30}}, now)
	m.setHints(nil, now) // delivered
	out = scrape(t, m)
	for _, want := range []string{`dynago_hints_queued{target="n2"} 0`, `dynago_hints_queued{target="n3"} 0`} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("after the hints were delivered, missing %s", want)
		}
	}
}

// scrape returns m's registry in Prometheus's text format.
func scrape(t *testing.T, m *metrics) string {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
