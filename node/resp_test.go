package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// respClient is a go-redis client of a node's RESP front end, with its
// defaults (it asks for RESP3 with HELLO 3 and falls back to RESP2) but
// no retries, so a test sees each command's own reply.
func respClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 10 * time.Second})
}

// redis connects a go-redis client to the node's RESP port, closed at
// cleanup.
func (tn *testNode) redis() *redis.Client {
	tn.t.Helper()
	if tn.node.RESPAddr() == "" {
		tn.t.Fatalf("%s has RESP off", tn.cfg.Name)
	}
	c := respClient(tn.node.RESPAddr())
	tn.t.Cleanup(func() { c.Close() })
	return c
}

// alone configures a cluster of one node (N=1).
func alone(_ int, c *Config) {
	c.Ring.N = 1
	c.Quorum.R, c.Quorum.W = 1, 1
}

func TestRESPRoundTrip(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true})
	ctx := t.Context()
	c1, c2 := nodes[0].redis(), nodes[1].redis()

	if err := c1.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Set(ctx, "b", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(ctx, "a").Result(); err != nil || got != "1" {
		t.Fatalf("GET a via n2: %q, %v", got, err)
	}
	if err := c1.Set(ctx, "a", "one", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(ctx, "a").Result(); err != nil || got != "one" {
		t.Fatalf("GET a after SET: %q, %v (SET must overwrite)", got, err)
	}
	if _, err := c1.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("GET of a missing key: %v, want a null reply", err)
	}
	if n, err := c2.Exists(ctx, "a", "b", "missing").Result(); err != nil || n != 2 {
		t.Fatalf("EXISTS a b missing = %d, %v; want 2", n, err)
	}
	if err := c1.MSet(ctx, "m1", "x1", "m2", "x2").Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	if got, err := c2.MGet(ctx, "m1", "m2").Result(); err != nil || len(got) != 2 || got[0] != "x1" || got[1] != "x2" {
		t.Fatalf("MGET after MSET: %#v, %v", got, err)
	}
	if err := c1.Do(ctx, "MSET", "m1", "x1", "m2").Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR wrong number of arguments for 'mset'") {
		t.Fatalf("MSET with an odd count: %v", err)
	}
	vals, err := c2.MGet(ctx, "a", "missing", "b").Result()
	if err != nil || len(vals) != 3 || vals[0] != "one" || vals[1] != nil || vals[2] != "2" {
		t.Fatalf("MGET = %#v, %v", vals, err)
	}
	if n, err := c1.Del(ctx, "a", "missing").Result(); err != nil || n != 1 {
		t.Fatalf("DEL a missing = %d, %v; want 1", n, err)
	}
	if _, err := c2.Get(ctx, "a").Result(); err != redis.Nil {
		t.Fatalf("GET of a deleted key: %v, want a null reply", err)
	}
	if n, err := c1.Del(ctx, "a").Result(); err != nil || n != 0 {
		t.Fatalf("DEL of a deleted key = %d, %v; want 0", n, err)
	}
	// Binary-safe values.
	bin := string([]byte{0, '\r', '\n', 0xff})
	if err := c1.Set(ctx, "bin", bin, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(ctx, "bin").Result(); err != nil || got != bin {
		t.Fatalf("GET bin: %q, %v", got, err)
	}

	// The connection commands clients send.
	if got, err := c1.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING: %q, %v", got, err)
	}
	if got, err := c1.Echo(ctx, "hi").Result(); err != nil || got != "hi" {
		t.Fatalf("ECHO: %q, %v", got, err)
	}
	if err := c1.Do(ctx, "SELECT", "0").Err(); err != nil {
		t.Fatalf("SELECT 0: %v", err)
	}
	if err := c1.Do(ctx, "SELECT", "1").Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR") {
		t.Fatalf("SELECT 1: %v, want an ERR reply", err)
	}
	info, err := c1.Info(ctx).Result()
	if err != nil || !strings.Contains(info, "# Server") || !strings.Contains(info, "# Keyspace") || !strings.Contains(info, "db0:keys=") {
		t.Fatalf("INFO: %q, %v", info, err)
	}
	if got, err := c1.ConfigGet(ctx, "save").Result(); err != nil || len(got) != 0 {
		t.Fatalf("CONFIG GET save: %v, %v; want empty", got, err)
	}
	if n, err := c1.Do(ctx, "COMMAND", "COUNT").Int(); err != nil || n != len(respCommands) {
		t.Fatalf("COMMAND COUNT: %d, %v", n, err)
	}
	if err := c1.Do(ctx, "CLIENT", "SETNAME", "tester").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c1.Do(ctx, "CLIENT", "GETNAME").Text(); err != nil || got != "tester" {
		t.Fatalf("CLIENT GETNAME: %q, %v", got, err)
	}

	n := nodes[0].node
	if got := testutil.ToFloat64(n.metrics.respCommands.WithLabelValues("set", "ok")); got < 3 {
		t.Errorf("dynago_resp_commands_total{command=set,outcome=ok} = %v, want ≥ 3", got)
	}
	if got := testutil.ToFloat64(n.metrics.respCommands.WithLabelValues("select", "ERR")); got != 1 {
		t.Errorf("dynago_resp_commands_total{command=select,outcome=ERR} = %v, want 1", got)
	}
}

// dynagoGet runs DYNAGO.GET and returns the context and the values.
func dynagoGet(t *testing.T, c *redis.Client, key string, opts ...any) (string, []string) {
	t.Helper()
	res, err := c.Do(t.Context(), append([]any{"DYNAGO.GET", key}, opts...)...).Slice()
	if err != nil {
		t.Fatalf("DYNAGO.GET %s: %v", key, err)
	}
	if len(res) != 2 {
		t.Fatalf("DYNAGO.GET %s: %#v, want [context, [values]]", key, res)
	}
	ctxTok, _ := res[0].(string)
	var vals []string
	for _, v := range res[1].([]any) {
		vals = append(vals, v.(string))
	}
	return ctxTok, vals
}

// makeSiblings writes two blind, concurrent values of key.
func makeSiblings(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	for _, v := range []string{"x", "y"} {
		if err := c.Do(t.Context(), "DYNAGO.PUT", key, v).Err(); err != nil {
			t.Fatalf("DYNAGO.PUT %s %s: %v", key, v, err)
		}
	}
}

func TestRESPSiblings(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true})
	ctx := t.Context()
	c1, c2 := nodes[0].redis(), nodes[1].redis()
	makeSiblings(t, c1, "k")

	_, err := c2.Get(ctx, "k").Result()
	if err == nil || !strings.HasPrefix(err.Error(), "SIBLINGS ") || !strings.Contains(err.Error(), "2 concurrent values") ||
		!strings.Contains(err.Error(), "DYNAGO.GET") {
		t.Fatalf("GET of a key with 2 siblings: %v; want a SIBLINGS error naming 2 and DYNAGO.GET", err)
	}
	if vals, err := c2.MGet(ctx, "other", "k").Result(); err == nil || !strings.HasPrefix(err.Error(), `SIBLINGS key "k" has 2 concurrent values`) {
		t.Fatalf("MGET of a key with siblings: %#v, %v; want a SIBLINGS error naming k", vals, err)
	}

	tok, sibs := dynagoGet(t, c2, "k", "R", "all")
	if tok == "" || len(sibs) != 2 || !(sibs[0] == "x" && sibs[1] == "y" || sibs[0] == "y" && sibs[1] == "x") {
		t.Fatalf("DYNAGO.GET k: %q %v, want a context and x, y", tok, sibs)
	}
	newTok, err := c2.Do(ctx, "DYNAGO.PUT", "k", "z", "CONTEXT", tok, "W", "quorum").Text()
	if err != nil || newTok == "" {
		t.Fatalf("DYNAGO.PUT with the context: %q, %v", newTok, err)
	}
	if got, err := c1.Get(ctx, "k").Result(); err != nil || got != "z" {
		t.Fatalf("GET after resolving: %q, %v", got, err)
	}
	if _, sibs := dynagoGet(t, c1, "k"); len(sibs) != 1 || sibs[0] != "z" {
		t.Fatalf("DYNAGO.GET after resolving: %v", sibs)
	}
	// The context DYNAGO.PUT returned supersedes its own write.
	if err := c1.Do(ctx, "DYNAGO.PUT", "k", "w", "CONTEXT", newTok).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(ctx, "k").Result(); err != nil || got != "w" {
		t.Fatalf("GET after a write with the returned context: %q, %v", got, err)
	}
	// A missing key: a context and no values.
	if tok, sibs := dynagoGet(t, c1, "nothing"); tok == "" || len(sibs) != 0 {
		t.Fatalf("DYNAGO.GET of a missing key: %q %v", tok, sibs)
	}
}

// SET supersedes the versions the coordinating replica holds, siblings
// included (a blind overwrite, wire.WriteRequest.Overwrite).
func TestRESPSetOverwritesSiblings(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true})
	ctx := t.Context()
	c1, c3 := nodes[0].redis(), nodes[2].redis()
	makeSiblings(t, c1, "k")
	if _, sibs := dynagoGet(t, c1, "k"); len(sibs) != 2 {
		t.Fatalf("setup: %v, want 2 siblings", sibs)
	}
	if err := c1.Set(ctx, "k", "final", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c3.Get(ctx, "k").Result(); err != nil || got != "final" {
		t.Fatalf("GET after SET over siblings: %q, %v", got, err)
	}
	if _, sibs := dynagoGet(t, c3, "k", "R", "all"); len(sibs) != 1 || sibs[0] != "final" {
		t.Fatalf("DYNAGO.GET R all after SET: %v, want [final]", sibs)
	}
}

// With N=1 most keys live on another node than the one asked: a SET
// forwarded to the coordinating replica still overwrites there.
func TestRESPSetForwardedOverwrites(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true, mutate: alone})
	ctx := t.Context()
	c1 := nodes[0].redis()
	// A key n1 does not hold.
	var key string
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i)
		if string(nodes[0].node.Ring().Primaries(nodes[0].node.Ring().Partition([]byte(k)))[0]) != "n1" {
			key = k
			break
		}
	}
	makeSiblings(t, c1, key)
	if _, sibs := dynagoGet(t, c1, key); len(sibs) != 2 {
		t.Fatalf("setup: %v, want 2 siblings", sibs)
	}
	if err := c1.Set(ctx, key, "final", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c1.Get(ctx, key).Result(); err != nil || got != "final" {
		t.Fatalf("GET after a forwarded SET over siblings: %q, %v", got, err)
	}
}

func TestRESPQuorumErrors(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true})
	ctx := t.Context()
	c1 := nodes[0].redis()
	if err := c1.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	nodes[2].stop()
	isQuorumReply := func(err error) bool {
		return err != nil && (strings.HasPrefix(err.Error(), "UNAVAILABLE ") || strings.HasPrefix(err.Error(), "INDETERMINATE "))
	}
	err := c1.Do(ctx, "DYNAGO.PUT", "k", "v2", "W", "3").Err()
	if !isQuorumReply(err) {
		t.Fatalf("DYNAGO.PUT W 3 with a node down: %v; want UNAVAILABLE or INDETERMINATE", err)
	}
	err = c1.Do(ctx, "DYNAGO.GET", "k", "R", "3").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "UNAVAILABLE ") {
		t.Fatalf("DYNAGO.GET R 3 with a node down: %v; want UNAVAILABLE (a read changes nothing)", err)
	}
	// Once gossip knows the node is down, the write is refused up front:
	// definite.
	waitFor(t, "a definite refusal", 15*time.Second, func() (bool, string) {
		err := c1.Do(ctx, "DYNAGO.PUT", "k", "v3", "W", "3").Err()
		return err != nil && strings.HasPrefix(err.Error(), "UNAVAILABLE "), fmt.Sprint(err)
	})
	// The node's defaults still work with two of three. (The W=3 writes
	// above may have been stored on the two live replicas, as siblings
	// of v: SET overwrites what the coordinator holds.)
	if err := c1.Set(ctx, "k", "v4", 0).Err(); err != nil {
		t.Fatalf("SET with 2 of 3: %v", err)
	}
	if got, err := c1.Get(ctx, "k").Result(); err != nil || got != "v4" {
		t.Fatalf("GET with 2 of 3: %q, %v", got, err)
	}
}

func TestRESPPipeline(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true})
	ctx := t.Context()
	c := nodes[1].redis()
	const n = 200
	pipe := c.Pipeline()
	for i := range n {
		pipe.Set(ctx, fmt.Sprintf("p%d", i), fmt.Sprintf("v%d", i), 0)
	}
	gets := make([]*redis.StringCmd, n)
	for i := range n {
		gets[i] = pipe.Get(ctx, fmt.Sprintf("p%d", i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	for i, g := range gets {
		if got, err := g.Result(); err != nil || got != fmt.Sprintf("v%d", i) {
			t.Fatalf("pipelined GET p%d: %q, %v", i, got, err)
		}
	}
}

// go-redis asks for RESP3 (HELLO 3) on connect; dynago answers NOPROTO and
// the client falls back to RESP2.
func TestRESPHelloFallsBack(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, resp: true, inMemory: true, mutate: alone})
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: nodes[0].node.RESPAddr(), Protocol: 3, MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with a RESP3 client: %v", err)
	}
	err := c.Do(ctx, "HELLO", "3").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "NOPROTO") {
		t.Fatalf("HELLO 3: %v, want NOPROTO", err)
	}
	res, err := c.Do(ctx, "HELLO", "2").Slice()
	if err != nil || len(res) != 14 || res[0] != "server" {
		t.Fatalf("HELLO 2: %#v, %v", res, err)
	}
}

// Bad input gets Redis's error replies, and the connection keeps working.
func TestRESPBadInput(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, resp: true, inMemory: true, mutate: func(i int, c *Config) {
		alone(i, c)
		c.MaxKeyBytes, c.MaxValueBytes = 16, 64
	}})
	ctx := t.Context()
	// One connection, so every reply comes back on the same one.
	c := redis.NewClient(&redis.Options{Addr: nodes[0].node.RESPAddr(), PoolSize: 1, MaxRetries: -1})
	defer c.Close()
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"SET", "k"}, "ERR wrong number of arguments for 'set' command"},
		{[]any{"GET"}, "ERR wrong number of arguments for 'get' command"},
		{[]any{"NOSUCH", "a"}, "ERR unknown command 'NOSUCH'"},
		{[]any{"SET", "k", "v", "EX", "10"}, "ERR SET EX is not supported: dynago has no TTLs"},
		{[]any{"SET", "k", "v", "px", "10"}, "ERR SET PX is not supported"},
		{[]any{"SET", "k", "v", "NX"}, "ERR SET NX is not supported"},
		{[]any{"SET", "k", "v", "BOGUS"}, "ERR syntax error"},
		{[]any{"SET", strings.Repeat("k", 17), "v"}, "ERR the key is 17 bytes; the limit is 16"},
		{[]any{"SET", "k", strings.Repeat("v", 65)}, "ERR the value is 65 bytes; the limit is 64"},
		{[]any{"DYNAGO.PUT", "k", "v", "W", "9"}, "ERR DYNAGO.PUT W=\"9\""},
		{[]any{"DYNAGO.PUT", "k", "v", "CONTEXT", "garbage!"}, "ERR bad context"},
		{[]any{"DYNAGO.GET", "k", "R"}, "ERR syntax error: DYNAGO.GET option R needs a value"},
		{[]any{"DYNAGO.GET", "k", "W", "1"}, "ERR syntax error: DYNAGO.GET takes no option \"W\""},
		{[]any{"DYNAGO.GET", "k", "R", "1", "R", "2"}, "ERR syntax error: DYNAGO.GET option R given twice"},
		{[]any{"GET", ""}, "ERR the key is empty"},
		{[]any{"CONFIG", "SET", "a", "b"}, "ERR unknown subcommand 'SET'"},
	} {
		err := c.Do(ctx, tc.args...).Err()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
		if got, err := c.Ping(ctx).Result(); err != nil || got != "PONG" {
			t.Fatalf("PING after %v: %q, %v", tc.args, got, err)
		}
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET after bad input: %v", err)
	}
}

// A stream redcon would crash or wedge on is refused with an error reply
// and the connection closed; the node serves on.
func TestRESPProtocolAbuse(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, resp: true, inMemory: true, mutate: alone})
	addr := nodes[0].node.RESPAddr()
	for _, in := range []string{
		"*1\r\n$9223372036854775807\r\nxx\r\n", // redcon: index out of range (a crash)
		"*1\r\n$9223372036854775800\r\nxx\r\n",
		"*2000000000\r\n",                    // redcon: a long loop per read
		"*1\r\n$99999999999\r\n",             // a bulk past the value limit
		strings.Repeat("x", 70<<10) + "\r\n", // an inline line past 64 KB
		"*0\r\n",
		"*1\r\n!3\r\nfoo\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		// A valid command first: its reply comes before the error.
		if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n" + in)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		first, err := br.ReadString('\n')
		if err != nil || first != "+PONG\r\n" {
			t.Fatalf("%.40q: first reply %q, %v", in, first, err)
		}
		second, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(second, "-ERR Protocol error") {
			t.Fatalf("%.40q: reply %q, %v; want a protocol error", in, second, err)
		}
		if _, err := br.ReadString('\n'); err == nil {
			t.Fatalf("%.40q: the connection stayed open", in)
		}
		conn.Close()
	}
	c := nodes[0].redis()
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET after the abuse: %v", err)
	}
}

// RESP is off in the zero Config, and its address is checked like the
// others when set.
func TestRESPConfig(t *testing.T) {
	c := testConfig(t, "n1", true)
	if c.RESPAddr != "" || c.withDefaults().MaxRESPConns != DefaultMaxRESPConns {
		t.Fatalf("RESPAddr %q, MaxRESPConns %d: want off and the default", c.RESPAddr, c.withDefaults().MaxRESPConns)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.RESPAddr = "bad host:6379"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `resp address "bad host:6379"`) {
		t.Fatalf("a RESP address with a bad host: %v", err)
	}
	// A host name is fine since issue 14 (bound as given; RESP is not
	// advertised, so every interface needs no advertise address either).
	for _, a := range []string{"localhost:6379", "0.0.0.0:6379"} {
		c.RESPAddr, c.Insecure = a, true
		if err := c.Validate(); err != nil {
			t.Fatalf("RESP at %s: %v", a, err)
		}
	}
	c.Insecure = false
	c.RESPAddr, c.MaxRESPConns = "127.0.0.1:0", -1
	if err := c.Validate(); err == nil {
		t.Fatal("a negative MaxRESPConns was accepted")
	}
}

// A connection past MaxRESPConns is answered an error and closed; the
// ones before it are served.
func TestRESPMaxConns(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, resp: true, inMemory: true, mutate: func(i int, c *Config) {
		alone(i, c)
		c.MaxRESPConns = 1
	}})
	addr := nodes[0].node.RESPAddr()
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	br1 := bufio.NewReader(first)
	if _, err := first.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := br1.ReadString('\n'); err != nil || got != "+PONG\r\n" {
		t.Fatalf("first connection: %q, %v", got, err)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(10 * time.Second))
	br2 := bufio.NewReader(second)
	if got, err := br2.ReadString('\n'); err != nil || !strings.HasPrefix(got, "-ERR max number of clients reached") {
		t.Fatalf("second connection: %q, %v; want the max clients error", got, err)
	}
	if _, err := br2.ReadString('\n'); err == nil {
		t.Fatal("the connection past the limit stayed open")
	}
	// Closing the first frees its place.
	first.Close()
	waitFor(t, "a free connection", 10*time.Second, func() (bool, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false, err.Error()
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("PING\r\n"))
		got, err := bufio.NewReader(c).ReadString('\n')
		return got == "+PONG\r\n", fmt.Sprint(got, err)
	})
}

// A panic in a command is recovered: answered with an error, counted,
// and the connection closed; the node serves on.
func TestRESPPanicRecovered(t *testing.T) {
	cfg := testConfig(t, "n1", true).withDefaults()
	m := newMetrics()
	g := recoverer{log: testLogger(t), metrics: m}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.RESPAddr = ln.Addr().String()
	// No coordinator: a GET dereferences nil and panics.
	r := newRESP(g, &cfg, newClock(SystemClock{}, time.Time{}), nil, newAAE(cfg), ln)
	served := make(chan struct{})
	go func() { r.serve(); close(served) }()
	defer func() {
		r.stopAccepting()
		r.finish(nil)
		<-served
	}()
	c := respClient(ln.Addr().String())
	defer c.Close()
	if err := c.Get(t.Context(), "k").Err(); err == nil || !strings.Contains(err.Error(), "recovered from a panic") {
		t.Fatalf("GET that panics: %v, want an error reply naming the panic", err)
	}
	if got := testutil.ToFloat64(m.panics.WithLabelValues("resp get")); got != 1 {
		t.Fatalf("dynago_panics_total{where=resp get} = %v, want 1", got)
	}
	// The panicking command's connection is closed (its state is unknown);
	// the node serves a new one.
	c2 := respClient(ln.Addr().String())
	defer c2.Close()
	if got, err := c2.Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING after the panic: %q, %v", got, err)
	}
}

// Inline (telnet) commands work, and QUIT answers OK and closes.
func TestRESPInlineAndQuit(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, resp: true, inMemory: true, mutate: alone})
	conn, err := net.Dial("tcp", nodes[0].node.RESPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("SET k hello\r\nGET k\r\nECHO \"a b\"\r\nQUIT\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var got []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, line)
	}
	want := []string{"+OK\r\n", "$5\r\n", "hello\r\n", "$3\r\n", "a b\r\n", "+OK\r\n"}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("replies %q, want %q (and nothing after QUIT)", got, want)
	}
}

// TestFreshNodeHasTableWhenReady: a one-node cluster has claimed its
// table by the time Ready is closed, so the first request finds owners.
// Without the claim before ready, Ready came with table version 0 and a
// write made at once could be answered indeterminate (CI saw it in
// TestRESPInlineAndQuit).
func TestFreshNodeHasTableWhenReady(t *testing.T) {
	for i := range 3 {
		nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: alone})
		if v := nodes[0].node.members.currentView().id; v.Version == 0 {
			t.Fatalf("start %d: ready with table version 0", i)
		}
		nodes[0].stop()
	}
}
