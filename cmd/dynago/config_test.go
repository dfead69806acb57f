package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/node"
)

// agentFileConfig runs the agent command as runAgent starts: the --config
// file applied, then --print-config or configFromFlags.
func agentFileConfig(t *testing.T, env map[string]string, args ...string) (node.Config, result) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := newApp()
	var got node.Config
	app.Command("agent").Action = func(c *cli.Context) error {
		if err := loadConfigFile(c); err != nil {
			return err
		}
		if c.Bool("print-config") {
			return printConfig(c, c.App.Writer)
		}
		cfg, err := configFromFlags(c)
		got = cfg
		return err
	}
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	code := run(context.Background(), app, append([]string{"dynago", "agent"}, args...))
	return got, result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dynago.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Precedence: a flag beats its DYNAGO_* variable, which beats the file,
// which beats the default.
func TestConfigFilePrecedence(t *testing.T) {
	file := writeConfig(t, `
name = "from-file"
zone = "file-zone"
timeout = "7s"
max-siblings = 50
join = ["127.0.0.1:7001", "127.0.0.1:7002"]
sync = false
advertise = "db1.example.internal"
`)
	cfg, res := agentFileConfig(t, map[string]string{"DYNAGO_ZONE": "env-zone", "DYNAGO_TIMEOUT": "9s"},
		"--config", file, "--timeout", "8s")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"name (file)", cfg.Name, "from-file"},
		{"zone (env over file)", cfg.Zone, "env-zone"},
		{"timeout (flag over env and file)", cfg.RequestTimeout, 8 * time.Second},
		{"max-siblings (file)", cfg.MaxSiblings, 50},
		{"join (file)", strings.Join(cfg.Join, ","), "127.0.0.1:7001,127.0.0.1:7002"},
		{"advertise (file)", cfg.Advertise, "db1.example.internal"},
		{"r (default)", cfg.Quorum.R, node.DefaultConfig().Quorum.R},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// sync=false is a store option: check it through --print-config.
	_, res = agentFileConfig(t, nil, "--config", file, "--print-config")
	if res.code != 0 || !strings.Contains(res.stdout, "\nsync = false\n") {
		t.Fatalf("print-config: exit %d, want sync = false in\n%s", res.code, res)
	}
}

// Bad files are bad usage (exit 2) naming the key.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unknown key", "name = \"a\"\nreplicas = 3\n", `unknown key "replicas"`},
		{"misspelled key", "nmae = \"a\"\n", `unknown key "nmae"`},
		{"a table", "name = \"a\"\n[gossip-opts]\nx = 1\n", `unknown key "gossip-opts"`},
		{"config in the file", "name = \"a\"\nconfig = \"other.toml\"\n", `unknown key "config"`},
		{"duration as a number", "name = \"a\"\ntimeout = 5\n", `key "timeout": want a duration string`},
		{"unparseable duration", "name = \"a\"\ntimeout = \"5 parsecs\"\n", `key "timeout": invalid value "5 parsecs"`},
		{"string for an int", "name = \"a\"\nn = \"three\"\n", `key "n": want an integer`},
		{"int for a bool", "name = \"a\"\nsync = 1\n", `key "sync": want true or false`},
		{"array of ints for join", "name = \"a\"\njoin = [1, 2]\n", `key "join": want an array of strings`},
		{"bad value the node refuses", "name = \"a\"\nn = 0\n", "--n must be positive"},
		{"not TOML", "name = \n", "--config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res := agentFileConfig(t, nil, "--config", writeConfig(t, tc.file))
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr lacks %q\n%s", tc.want, res)
			}
		})
	}
	_, res := agentFileConfig(t, nil, "--config", filepath.Join(t.TempDir(), "missing.toml"))
	if res.code != 2 || !strings.Contains(res.stderr, "no such file") {
		t.Errorf("a missing file: exit %d\n%s", res.code, res)
	}
}

// --print-config prints the effective configuration; loading what it
// printed gives the same configuration (and prints the same again). A
// secret is never printed.
func TestPrintConfigRoundTrip(t *testing.T) {
	args := []string{"--name", "n1", "--in-memory", "--zone", "z1", "--join", "127.0.0.1:7001,127.0.0.1:7002",
		"--timeout", "7s", "--hint-max-age", "90m", "--max-conns", "100", "--sync=false", "--advertise", "10.1.2.3",
		"--read-repair", "blocking", "--gossip-key", "AAAAAAAAAAAAAAAAAAAAAA=="}
	cfg1, res := agentFileConfig(t, nil, args...)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res)
	}
	_, printed := agentFileConfig(t, nil, append(args, "--print-config")...)
	if printed.code != 0 {
		t.Fatalf("print-config: exit %d\n%s", printed.code, printed)
	}
	if strings.Contains(printed.stdout, "AAAAAAAAAAAAAAAAAAAAAA==") || !strings.Contains(printed.stdout, "# gossip-key = \"(redacted; set)\"") {
		t.Fatalf("the gossip key is printed, or its redaction missing:\n%s", printed.stdout)
	}
	file := writeConfig(t, printed.stdout)
	// The secret comes from the environment, as it should in production.
	env := map[string]string{"DYNAGO_GOSSIP_KEY": "AAAAAAAAAAAAAAAAAAAAAA=="}
	cfg2, res := agentFileConfig(t, env, "--config", file)
	if res.code != 0 {
		t.Fatalf("loading the printed file: exit %d\n%s", res.code, res)
	}
	cfg1.Logger, cfg2.Logger = nil, nil
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"name", cfg2.Name, cfg1.Name}, {"zone", cfg2.Zone, cfg1.Zone}, {"timeout", cfg2.RequestTimeout, cfg1.RequestTimeout},
		{"hint-max-age", cfg2.Hints.MaxAge, cfg1.Hints.MaxAge}, {"max-conns", cfg2.Limits.MaxConns, cfg1.Limits.MaxConns},
		{"advertise", cfg2.Advertise, cfg1.Advertise}, {"read-repair", cfg2.ReadRepair, cfg1.ReadRepair},
		{"gossip key", string(cfg2.GossipKey), string(cfg1.GossipKey)}, {"aae", cfg2.AAE, cfg1.AAE},
		{"limits", cfg2.Limits, cfg1.Limits}, {"quorum", cfg2.Quorum, cfg1.Quorum}, {"ring", cfg2.Ring, cfg1.Ring},
		{"http", cfg2.HTTPAddr, cfg1.HTTPAddr},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v after the round trip, want %v", c.what, c.got, c.want)
		}
	}
	if !slices.Equal(cfg2.Join, cfg1.Join) {
		t.Errorf("join %v after the round trip, want %v", cfg2.Join, cfg1.Join)
	}
	_, again := agentFileConfig(t, env, "--config", file, "--print-config")
	if again.stdout != printed.stdout {
		t.Errorf("printing the loaded file differs:\n%s\n---\n%s", again.stdout, printed.stdout)
	}
}

// FuzzConfigFile: no file crashes the loader, and what it accepts names
// only agent flags with values their kind.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"name = \"n1\"\nhttp = \"0.0.0.0:8080\"\njoin = [\"a:1\", \"b:2\"]\nn = 3\nsync = true\ntimeout = \"5s\"\n",
		"nmae = 1", "[t]\nx = 1", "join = \"a:1,b:2\"", "n = 1e9", "timeout = 1979-05-27T07:32:00Z", "a.b = 1", "\"quoted key\" = 2",
	} {
		f.Add([]byte(s))
	}
	flags := map[string]cli.Flag{}
	for _, fl := range agentCommand().Flags {
		flags[fl.Names()[0]] = fl
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		settings, err := parseConfig(b, flags)
		if err != nil {
			return
		}
		for _, s := range settings {
			fl, ok := flags[s.flag]
			if !ok || configOnlyFlags[s.flag] {
				t.Fatalf("accepted key %q", s.flag)
			}
			if _, isSlice := fl.(*cli.StringSliceFlag); !isSlice && len(s.values) != 1 {
				t.Fatalf("key %q: %d values for a single-valued flag", s.flag, len(s.values))
			}
		}
	})
}
