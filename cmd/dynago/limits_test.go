package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node"
)

func TestLimitFlags(t *testing.T) {
	cfg, res := agentConfig(t, "--name", "a", "--max-conns", "10", "--max-conns-per-peer", "3", "--max-inflight", "7",
		"--max-inflight-body-bytes", "8388608", "--http-read-header-timeout", "1s", "--http-read-timeout", "2s",
		"--http-write-timeout", "70s", "--http-idle-timeout", "3s", "--http-max-header-bytes", "4096",
		"--rpc-frame-timeout", "4s", "--rpc-idle-timeout", "5s", "--inflight-latency-target", "250ms", "--min-inflight", "5")
	if res.code != 0 {
		t.Fatal(res)
	}
	want := node.LimitsConfig{MaxConns: 10, MaxConnsPerPeer: 3, MaxInflight: 7, MaxInflightBodyBytes: 8 << 20,
		InflightLatencyTarget: 250 * time.Millisecond, MinInflight: 5,
		ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 70 * time.Second, IdleTimeout: 3 * time.Second,
		MaxHeaderBytes: 4096, RPCFrameTimeout: 4 * time.Second, RPCIdleTimeout: 5 * time.Second}
	if cfg.Limits != want {
		t.Errorf("limits %+v, want %+v", cfg.Limits, want)
	}
	t.Setenv("DYNAGO_MAX_INFLIGHT", "9")
	if cfg, res := agentConfig(t, "--name", "a"); res.code != 0 || cfg.Limits.MaxInflight != 9 || cfg.Limits.MaxConns != node.DefaultMaxConns {
		t.Errorf("from the environment: %+v %v", cfg.Limits, res)
	}
	// 0 turns the adaptive limit off (node reads a negative target so).
	if cfg, res := agentConfig(t, "--name", "a", "--inflight-latency-target", "0"); res.code != 0 || cfg.Limits.InflightLatencyTarget >= 0 {
		t.Errorf("--inflight-latency-target 0: %+v %v", cfg.Limits, res)
	}
	if _, res := agentConfig(t, "--name", "a", "--max-inflight", "4", "--min-inflight", "8"); res.code != 2 {
		t.Errorf("--min-inflight above --max-inflight: %v, want exit 2", res)
	}
}

func TestLimitFlagsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"zero inflight", []string{"--max-inflight", "0"}, "--max-inflight must be positive"},
		{"zero read timeout", []string{"--http-read-timeout", "0s"}, "--http-read-timeout must be positive"},
		{"body budget below a value (node.Config.Validate)", []string{"--max-inflight-body-bytes", "1024"}, "below the max value bytes"},
		{"write timeout within max timeout (node.Config.Validate)", []string{"--http-write-timeout", "10s"}, "longer than the max request timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res := agentConfig(t, append([]string{"--name", "a"}, tc.args...)...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.wantErr) {
				t.Fatalf("exit %d, want 2 with %q\n%s", res.code, tc.wantErr, res)
			}
		})
	}
}
