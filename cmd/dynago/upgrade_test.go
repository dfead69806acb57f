package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
)

// An agent started on a data dir that a newer release wrote (its recorded
// format is past this build's) exits 1 at start, saying which format the
// dir is in, which this build reads, and what to do; it does not serve.
func TestAgentRefusesFutureDataFormat(t *testing.T) {
	dir := t.TempDir()
	st, err := badger.Open(badger.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	future := strconv.Itoa(node.DataFormat + 1)
	if err := st.Update(context.Background(), storage.MetaKey("format"), func([]byte, bool) ([]byte, error) { return []byte(future), nil }); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Were it to start, it would serve until this context ends, and exit 0.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	code := run(ctx, app, []string{"dynago", "agent", "--name", "n1", "--data-dir", dir,
		"--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--log-level", "error"})
	want := "data dir " + dir + " is in data format " + future + ", and this dynago"
	if code != 1 || !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "run that release") {
		t.Fatalf("exit %d; want 1 and %q\nstderr:\n%s", code, want, errOut.String())
	}
	t.Logf("stderr: %s", errOut.String())
}

// --protocol-version (DYNAGO_PROTOCOL_VERSION) pins the highest internode
// protocol version; one this build does not speak is bad usage.
func TestProtocolVersionFlag(t *testing.T) {
	base := []string{"--name", "a", "--in-memory"}
	if cfg, res := agentConfig(t, append(base, "--protocol-version", "1")...); res.code != 0 || cfg.ProtocolVersion != 1 {
		t.Fatalf("--protocol-version 1: %d, %s", cfg.ProtocolVersion, res)
	}
	if cfg, res := agentConfig(t, base...); res.code != 0 || cfg.ProtocolVersion != 0 {
		t.Fatalf("default: %d, %s", cfg.ProtocolVersion, res)
	}
	for _, bad := range []string{"9", "-1", "300"} {
		if _, res := agentConfig(t, append(base, "--protocol-version", bad)...); res.code != 2 || !strings.Contains(res.stderr, "protocol version") {
			t.Fatalf("--protocol-version %s: %s", bad, res)
		}
	}
	t.Setenv("DYNAGO_PROTOCOL_VERSION", "1")
	if cfg, res := agentConfig(t, base...); res.code != 0 || cfg.ProtocolVersion != 1 {
		t.Fatalf("DYNAGO_PROTOCOL_VERSION=1: %d, %s", cfg.ProtocolVersion, res)
	}
}

// `dynago members`' PROTOCOL column: a range, one version, unknown, and
// a member the node can't talk to.
func TestProtocolColumn(t *testing.T) {
	for _, tc := range []struct {
		m    api.Member
		want string
	}{
		{api.Member{Protocol: &api.Protocol{Min: 1, Max: 2}}, "1..2"},
		{api.Member{Protocol: &api.Protocol{Min: 1, Max: 1}}, "1"},
		{api.Member{}, "-"},
		{api.Member{Protocol: &api.Protocol{Min: 5, Max: 6}, Incompatible: true}, "5..6 INCOMPATIBLE"},
	} {
		if got := protocolColumn(tc.m); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.m, got, tc.want)
		}
	}
}
