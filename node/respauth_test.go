package node

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// respAuthClient is respClient with credentials (go-redis sends them
// with HELLO, or AUTH when HELLO 3 is refused).
func respAuthClient(t *testing.T, addr string, mutate func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 10 * time.Second}
	mutate(o)
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func wantRESPError(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), prefix) {
		t.Fatalf("%s: error %v, want %s", what, err, prefix)
	}
}

// TestRESPAuth: with a token file, go-redis with Options.Password (a
// token) is served as far as the token's role allows; without one, or
// with a wrong one, it is refused with Redis's NOAUTH and WRONGPASS, and
// a role too low gets NOPERM.
func TestRESPAuth(t *testing.T) {
	tn, logs := authNode(t, nil)
	ctx := t.Context()
	addr := tn.node.RESPAddr()

	anon := tn.redis()
	if err := anon.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING before AUTH: %v", err)
	}
	err := anon.Get(ctx, "k").Err()
	wantRESPError(t, "GET without AUTH", err, "NOAUTH Authentication required.")
	wantRESPError(t, "unknown command without AUTH", anon.Do(ctx, "FLUSHALL").Err(), "NOAUTH")

	for _, tc := range []struct {
		name   string
		opts   func(*redis.Options)
		setErr string // "" : SET succeeds
	}{
		{"write token", func(o *redis.Options) { o.Password = tokWrite }, ""},
		{"write token with its name", func(o *redis.Options) { o.Username, o.Password = "app", tokWrite }, ""},
		{"write token HELLO 2", func(o *redis.Options) { o.Protocol, o.Password = 2, tokWrite }, ""},
		{"read token", func(o *redis.Options) { o.Password = tokRead }, "NOPERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := respAuthClient(t, addr, tc.opts)
			err := c.Set(ctx, "k", tc.name, 0).Err()
			if tc.setErr != "" {
				wantRESPError(t, "SET", err, tc.setErr)
				if err := c.Get(ctx, "k").Err(); err != nil && err != redis.Nil {
					t.Fatalf("GET with a read token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SET: %v", err)
			}
			if got, err := c.Get(ctx, "k").Result(); err != nil || got != tc.name {
				t.Fatalf("GET: %q, %v", got, err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		opts func(*redis.Options)
	}{
		{"wrong password", func(o *redis.Options) { o.Password = "not-a-token" }},
		{"wrong password HELLO 2", func(o *redis.Options) { o.Protocol, o.Password = 2, "not-a-token" }},
		{"another user's name", func(o *redis.Options) { o.Username, o.Password = "dash", tokWrite }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := respAuthClient(t, addr, tc.opts)
			wantRESPError(t, "GET", c.Get(ctx, "k").Err(), "WRONGPASS invalid username-password pair or user is disabled.")
		})
	}

	// One connection, step by step, counted.
	conn := anon.Conn()
	defer conn.Close()
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	m := tn.node.metrics.authRefused
	unauth, forbidden := testutil.ToFloat64(m.WithLabelValues("resp", "unauthenticated")), testutil.ToFloat64(m.WithLabelValues("resp", "forbidden"))
	wantRESPError(t, "MGET before AUTH", conn.MGet(ctx, "k").Err(), "NOAUTH")
	wantRESPError(t, "HELLO 2 before AUTH", conn.Do(ctx, "HELLO", "2").Err(), "NOAUTH HELLO must be called")
	wantRESPError(t, "AUTH with a bad token", conn.Auth(ctx, "bad").Err(), "WRONGPASS")
	if err := conn.Auth(ctx, tokRead).Err(); err != nil {
		t.Fatalf("AUTH read token: %v", err)
	}
	if err := conn.Exists(ctx, "k").Err(); err != nil {
		t.Fatalf("EXISTS after AUTH: %v", err)
	}
	wantRESPError(t, "DEL with read", conn.Del(ctx, "k").Err(), "NOPERM User dash has no permissions to run the 'del' command")
	wantRESPError(t, "AUTH with a bad token after a good one", conn.Auth(ctx, "bad").Err(), "WRONGPASS")
	if err := conn.Get(ctx, "k").Err(); err != nil {
		t.Fatalf("GET after a failed re-AUTH (the connection keeps its login): %v", err)
	}
	if err := conn.Do(ctx, "AUTH", "app", tokWrite).Err(); err != nil {
		t.Fatalf("AUTH user token: %v", err)
	}
	if err := conn.Del(ctx, "k").Err(); err != nil {
		t.Fatalf("DEL after AUTH as write: %v", err)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("resp", "unauthenticated")) - unauth; got != 4 {
		t.Errorf("resp unauthenticated refusals counted %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("resp", "forbidden")) - forbidden; got != 1 {
		t.Errorf("resp forbidden refusals counted %v, want 1", got)
	}
	if got := logs.lines(t, map[string]any{"msg": "command refused", "principal": "dash", "command": "del"}); len(got) != 1 {
		t.Errorf("%d log lines of dash's refused DEL, want 1", len(got))
	}
	if strings.Contains(logs.String(), tokWrite) || strings.Contains(logs.String(), "not-a-token") {
		t.Error("a log line holds a token")
	}
}

// TestRESPAuthOff: without a token file, AUTH is refused as Redis
// refuses it with no password configured, and every command runs.
func TestRESPAuthOff(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, resp: true, inMemory: true, mutate: alone})
	c := nodes[0].redis()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	wantRESPError(t, "AUTH", c.Do(ctx, "AUTH", "x").Err(), "ERR AUTH <password> called without any password configured")
}
