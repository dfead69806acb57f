package main

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/storage/badger"
)

// agentConfig runs the real agent command's flag parsing with its Action
// replaced by configFromFlags, and returns the config and exit code.
func agentConfig(t *testing.T, args ...string) (node.Config, result) {
	t.Helper()
	app := newApp()
	var got node.Config
	app.Command("agent").Action = func(c *cli.Context) error {
		cfg, err := configFromFlags(c)
		got = cfg
		return err
	}
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	code := run(context.Background(), app, append([]string{"dynago", "agent"}, args...))
	return got, result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// agentStore runs the agent command's flag parsing with its Action
// replaced by storeFromFlags, and returns the store options and exit code.
func agentStore(t *testing.T, env map[string]string, args ...string) (badger.Options, result) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := newApp()
	var got badger.Options
	app.Command("agent").Action = func(c *cli.Context) error {
		opts, err := storeFromFlags(c, slog.New(slog.DiscardHandler))
		got = opts
		return err
	}
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	code := run(context.Background(), app, append([]string{"dynago", "agent"}, args...))
	return got, result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// The store is durable unless asked otherwise, and an empty data dir is a
// usage error, never a silent in-memory store.
func TestStoreFromFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		want    badger.Options
		wantErr string
	}{
		{name: "default syncs", args: []string{"--data-dir", "/d"}, want: badger.Options{Dir: "/d"}},
		{name: "sync off", args: []string{"--data-dir", "/d", "--sync=false"}, want: badger.Options{Dir: "/d", NoSync: true}},
		{name: "sync off by environment", env: map[string]string{"DYNAGO_DATA_DIR": "/e", "DYNAGO_SYNC": "false"}, want: badger.Options{Dir: "/e", NoSync: true}},
		{name: "in memory", args: []string{"--in-memory"}, want: badger.Options{InMemory: true}},
		{name: "in memory by environment", env: map[string]string{"DYNAGO_IN_MEMORY": "true"}, want: badger.Options{InMemory: true}},
		{name: "no data dir", code: 2, wantErr: "--data-dir is required"},
		{name: "empty data dir", args: []string{"--data-dir", ""}, code: 2, wantErr: "--data-dir is required"},
		{name: "both", args: []string{"--data-dir", "/d", "--in-memory"}, code: 2, wantErr: "exclude each other"},
		{name: "disk reserve", args: []string{"--data-dir", "/d", "--disk-reserve", "64MiB"}, want: badger.Options{Dir: "/d", DiskReserve: 64 << 20}},
		{name: "disk reserve by environment", env: map[string]string{"DYNAGO_DATA_DIR": "/e", "DYNAGO_DISK_RESERVE": "1GiB"}, want: badger.Options{Dir: "/e", DiskReserve: 1 << 30}},
		{name: "no disk reserve", args: []string{"--data-dir", "/d", "--disk-reserve", "0"}, want: badger.Options{Dir: "/d", DiskReserve: -1}},
		{name: "bad disk reserve", args: []string{"--data-dir", "/d", "--disk-reserve", "lots"}, code: 2, wantErr: "--disk-reserve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, res := agentStore(t, tc.env, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.wantErr) {
				t.Fatalf("exit %d, want %d (stderr %q, want %q)", res.code, tc.code, res.stderr, tc.wantErr)
			}
			got.Logger = nil
			if tc.code == 0 && got != tc.want {
				t.Errorf("options %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigFromFlagsDefaults(t *testing.T) {
	cfg, res := agentConfig(t, "--name", "n1")
	if res.code != 0 {
		t.Fatal(res)
	}
	d := node.DefaultConfig()
	if cfg.Name != "n1" || cfg.DataDir != "" || cfg.HTTPAddr != "127.0.0.1:8080" || cfg.RPCAddr != "127.0.0.1:8081" ||
		cfg.GossipAddr != "127.0.0.1:7946" || cfg.Join != nil || cfg.Zone != "" {
		t.Errorf("addresses and names: %+v", cfg)
	}
	if cfg.Ring != d.Ring || cfg.Quorum.R != d.Quorum.R || cfg.Quorum.W != d.Quorum.W || cfg.Quorum.PR != 0 || cfg.Quorum.PW != 0 {
		t.Errorf("ring %+v quorum %+v, want node defaults %+v %+v", cfg.Ring, cfg.Quorum, d.Ring, d.Quorum)
	}
	if cfg.MaxValueBytes != d.MaxValueBytes || cfg.MaxSiblings != d.MaxSiblings || cfg.RequestTimeout != d.RequestTimeout {
		t.Errorf("limits: %+v", cfg)
	}
	if cfg.Logger == nil || !cfg.Logger.Enabled(context.Background(), slog.LevelInfo) || cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("logger should be at info")
	}
}

func TestConfigFromFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, cfg node.Config)
	}{
		{
			name: "every flag",
			args: []string{"--name", "a", "--data-dir", "/tmp/x", "--http", "127.0.0.11:9000", "--rpc", "127.0.0.11:9001",
				"--gossip", "127.0.0.11:9002", "--join", "127.0.0.12:9002,127.0.0.13:9002", "--zone", "z1", "--n", "5",
				"--r", "3", "--w", "4", "--pr", "1", "--pw", "2", "--partitions", "1024", "--sync=false",
				"--max-value-bytes", "1000", "--max-siblings", "7", "--timeout", "750ms", "--log-level", "debug", "--log-format", "json"},
			check: func(t *testing.T, cfg node.Config) {
				if cfg.Name != "a" || cfg.DataDir != "/tmp/x" || cfg.HTTPAddr != "127.0.0.11:9000" || cfg.RPCAddr != "127.0.0.11:9001" ||
					cfg.GossipAddr != "127.0.0.11:9002" || cfg.Zone != "z1" {
					t.Errorf("names/addrs: %+v", cfg)
				}
				if !slices.Equal(cfg.Join, []string{"127.0.0.12:9002", "127.0.0.13:9002"}) {
					t.Errorf("join %q", cfg.Join)
				}
				if cfg.Ring.N != 5 || cfg.Ring.Partitions != 1024 || cfg.Quorum.N != 5 || cfg.Quorum.R != 3 || cfg.Quorum.W != 4 ||
					cfg.Quorum.PR != 1 || cfg.Quorum.PW != 2 {
					t.Errorf("ring %+v quorum %+v", cfg.Ring, cfg.Quorum)
				}
				if cfg.MaxValueBytes != 1000 || cfg.MaxSiblings != 7 || cfg.RequestTimeout != 750*time.Millisecond {
					t.Errorf("limits %+v", cfg)
				}
				if !cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
					t.Error("log level not debug")
				}
			},
		},
		{
			name: "environment",
			env: map[string]string{
				"DYNAGO_NAME": "e1", "DYNAGO_DATA_DIR": "/data/e1", "DYNAGO_JOIN": "127.0.0.1:7946,127.0.0.1:7947",
				"DYNAGO_SYNC": "false", "DYNAGO_N": "2", "DYNAGO_R": "1", "DYNAGO_W": "1", "DYNAGO_PARTITIONS": "64",
				"DYNAGO_MAX_VALUE_BYTES": "2048", "DYNAGO_TIMEOUT": "2s", "DYNAGO_HTTP": "127.0.0.1:9080",
				"DYNAGO_LOG_LEVEL": "error",
			},
			check: func(t *testing.T, cfg node.Config) {
				if cfg.Name != "e1" || cfg.DataDir != "/data/e1" || cfg.Ring.N != 2 || cfg.Quorum.R != 1 || cfg.Quorum.W != 1 ||
					cfg.Ring.Partitions != 64 || cfg.MaxValueBytes != 2048 || cfg.RequestTimeout != 2*time.Second || cfg.HTTPAddr != "127.0.0.1:9080" {
					t.Errorf("%+v", cfg)
				}
				if !slices.Equal(cfg.Join, []string{"127.0.0.1:7946", "127.0.0.1:7947"}) {
					t.Errorf("join %q", cfg.Join)
				}
				if cfg.Logger.Enabled(context.Background(), slog.LevelWarn) {
					t.Error("log level not error")
				}
			},
		},
		{
			name: "flag beats environment",
			args: []string{"--name", "flag", "--n", "3"},
			env:  map[string]string{"DYNAGO_NAME": "env", "DYNAGO_N": "1"},
			check: func(t *testing.T, cfg node.Config) {
				if cfg.Name != "flag" || cfg.Ring.N != 3 {
					t.Errorf("%+v", cfg)
				}
			},
		},
		{
			name: "repeated --join and blanks",
			args: []string{"--name", "a", "--join", "127.0.0.1:1", "--join", " 127.0.0.1:2 ,"},
			check: func(t *testing.T, cfg node.Config) {
				if !slices.Equal(cfg.Join, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
					t.Errorf("join %q", cfg.Join)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, res := agentConfig(t, tc.args...)
			if res.code != 0 {
				t.Fatal(res)
			}
			tc.check(t, cfg)
		})
	}
}

func TestConfigFromFlagsUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no name", nil, nil, "--name is required"},
		{"argument", []string{"--name", "a", "extra"}, nil, "takes no arguments"},
		{"bad log level", []string{"--name", "a", "--log-level", "loud"}, nil, "--log-level"},
		{"bad log format", []string{"--name", "a", "--log-format", "xml"}, nil, "--log-format"},
		{"zero n", []string{"--name", "a", "--n", "0"}, nil, "--n must be positive"},
		{"zero partitions", []string{"--name", "a", "--partitions", "0"}, nil, "--partitions must be positive"},
		{"negative pr", []string{"--name", "a", "--pr", "-1"}, nil, "--pr and --pw"},
		{"zero timeout", []string{"--name", "a", "--timeout", "0s"}, nil, "--timeout must be positive"},
		{"r above n (node.Config.Validate)", []string{"--name", "a", "--n", "3", "--r", "4"}, nil, "node:"},
		{"bad host name (node.Config.Validate)", []string{"--name", "a", "--http", "no_such host!:8080"}, nil, "want an IP address or a host name"},
		{"every interface, no advertise", []string{"--name", "a", "--insecure", "--rpc", "0.0.0.0:8081"}, nil, "--advertise or --advertise-rpc"},
		{"unspecified advertise", []string{"--name", "a", "--insecure", "--rpc", "0.0.0.0:8081", "--advertise", "0.0.0.0"}, nil, "not an address a peer can dial"},
		{"bad env int", []string{"--name", "a"}, map[string]string{"DYNAGO_N": "three"}, `"DYNAGO_N"`},
		{"bad env bool", []string{"--name", "a"}, map[string]string{"DYNAGO_SYNC": "maybe"}, `"DYNAGO_SYNC"`},
		{"unknown flag", []string{"--name", "a", "--replicas", "3"}, nil, "flag provided but not defined"},
		{"beyond loopback without security", []string{"--name", "a", "--http", "192.0.2.1:8080"}, nil, "needs TLS for the HTTP API"},
		{"0.0.0.0 gossip without a key", []string{"--name", "a", "--gossip", "0.0.0.0:7946"}, nil, "a gossip key (--gossip-key)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, res := agentConfig(t, tc.args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			if !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q\n%s", tc.wantErr, res)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"0", 0}, {"512", 512}, {"256MiB", 256 << 20}, {"1GiB", 1 << 30}, {"3 KiB", 3 << 10}, {"2GB", 2e9}, {"10B", 10}} {
		if got, err := parseBytes(tc.in); err != nil || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5GiB", "-1", "12 parsecs", "9999999999999GiB"} {
		if got, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", bad, got)
		}
	}
}

func TestMemoryLimitFlag(t *testing.T) {
	for _, bad := range []string{"lots", "1MiB"} {
		if _, res := agentConfig(t, "--name", "a", "--memory-limit", bad); res.code != 2 || !strings.Contains(res.stderr, "--memory-limit") {
			t.Errorf("--memory-limit %s: %s", bad, res)
		}
	}
	if _, res := agentConfig(t, "--name", "a", "--memory-limit", "256MiB"); res.code != 0 {
		t.Errorf("--memory-limit 256MiB: %s", res)
	}
}

// --insecure lets a node listen beyond loopback without the protections
// (node.Config.Insecure; the banner is node's, TestInsecureBanner).
// agentConfig only parses: nothing is bound.
func TestInsecureFlag(t *testing.T) {
	cfg, res := agentConfig(t, "--name", "a", "--http", "192.0.2.1:8080", "--insecure")
	if res.code != 0 || !cfg.Insecure {
		t.Fatalf("--insecure: exit %d, Insecure %v\n%s", res.code, cfg.Insecure, res)
	}
}
