package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"github.com/dynago/dynago/node/auth"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/vclock"
)

// respAPI serves the Redis protocol (RESP2) front end (README "Redis
// protocol (RESP)"): GET, SET, DEL, EXISTS, MGET, MSET and the commands Redis
// clients send on connect, plus DYNAGO.GET and DYNAGO.PUT, which carry
// siblings and causal contexts. Like httpAPI it turns a command into a
// coordinated read or write (coordinator) and is one of the two places
// where an error becomes a reply (resperr.go).
//
// The server is github.com/tidwall/redcon: one goroutine per connection
// reads every command the client has pipelined, runs them in order and
// flushes their replies once. Each connection's reads pass through a
// respFramer (respframe.go), which bounds what redcon buffers and parses.
//
// Goroutines: redcon's accept loop runs in Node.run's group (serve); each
// connection's goroutine is admitted to conns and each command to cmds,
// so shutdown can refuse new commands, give running ones the grace,
// cancel them (ctx) and wait for every connection to end.
type respAPI struct {
	recoverer
	// quietLog rate-limits the lines any client can make the node write
	// (refused credentials).
	quietLog *slog.Logger
	cfg      *Config // the node's (its addresses are set in New, before any goroutine)
	clock    *clock
	coord    *coordinator
	aae      *aaeState
	// adm is the node's admission (limits.go): data commands past its
	// in-flight limit are answered -BUSY.
	adm *admission

	// ctx is every command's context: cancelled when the shutdown grace
	// runs out.
	ctx    context.Context
	cancel context.CancelFunc
	// cmds tracks running commands, conns the connections' goroutines.
	cmds  tasks
	conns tasks
	open  atomic.Int64 // connections open, for MaxRESPConns
	// ln is the listener redcon serves; drained is closed when every
	// command has finished, which lets redcon's accept loop return and
	// close the connections that are left.
	ln      *respListener
	started time.Time
	nextID  atomic.Int64
}

// respConn is one client connection's state (redcon's Conn context).
type respConn struct {
	id   int64
	name string
	// principal is who the connection authenticated as (AUTH, HELLO
	// AUTH), when authed; see respauth.go.
	principal auth.Principal
	authed    bool
}

// respFanout bounds the coordinated reads one MGET, EXISTS or DEL runs at
// once: enough to hide a round trip per key, few enough that one command
// can't flood the node's RPC.
const respFanout = 16

// respMaxArgs bounds the arguments of one command (MGET, DEL and EXISTS
// of that many keys); Redis allows more, but no client batches 64k keys
// in one command where a pipeline does better.
const respMaxArgs = 1 << 16

// respMaxInline is Redis's own limit on an inline (telnet) command line.
const respMaxInline = 64 << 10

func newRESP(g recoverer, cfg *Config, clk *clock, coord *coordinator, aae *aaeState, ln net.Listener) *respAPI {
	r := &respAPI{recoverer: g, cfg: cfg, clock: clk, coord: coord, aae: aae,
		ln: &respListener{Listener: ln, drained: make(chan struct{})}, started: clk.Steady()}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// respListener is the node's RESP listener as redcon sees it: once it is
// closed, Accept fails only after drained is closed, because redcon
// closes every connection as soon as Accept fails, which would cut off
// the replies of commands still running.
type respListener struct {
	net.Listener
	drained chan struct{}
}

func (l *respListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	switch {
	case errors.Is(err, net.ErrClosed):
		<-l.drained
	case err != nil:
		// redcon retries at once: pace a persistent failure (EMFILE) as
		// net/http does, instead of spinning a core.
		time.Sleep(respAcceptBackoff)
	}
	return c, err
}

// respAcceptBackoff is the pause after a failed accept: net/http's
// first backoff step, long enough not to spin, short enough that a
// freed descriptor is used at once.
const respAcceptBackoff = 5 * time.Millisecond

// serve runs redcon's accept loop until shutdown has drained the
// commands; it returns once the listener is closed. Each connection's
// goroutine is redcon's and is tracked in conns.
func (r *respAPI) serve() {
	_ = redcon.Serve(guardedListener{Listener: r.ln, guard: r.guard}, r.serveCommand, r.accept, r.closed)
}

func (r *respAPI) accept(conn redcon.Conn) bool {
	if !r.conns.enter() {
		return false
	}
	if r.open.Add(1) > int64(r.cfg.MaxRESPConns) {
		r.metrics.respCommands.WithLabelValues("connect", "ERR").Inc()
		_, _ = conn.NetConn().Write([]byte(fmt.Sprintf("-ERR max number of clients reached (%d)\r\n", r.cfg.MaxRESPConns)))
		r.open.Add(-1)
		r.conns.wg.Done()
		return false
	}
	r.metrics.respConns.Inc()
	conn.SetContext(&respConn{id: r.nextID.Add(1)})
	return true
}

// closed runs on a connection's goroutine as it ends.
func (r *respAPI) closed(conn redcon.Conn, err error) {
	r.open.Add(-1)
	r.metrics.respConns.Dec()
	r.conns.wg.Done()
}

// guard wraps an accepted connection's reads in a respFramer.
func (r *respAPI) guard(c net.Conn) net.Conn {
	maxBulk := int64(max(r.cfg.MaxValueBytes, r.cfg.MaxKeyBytes, respMaxInline))
	return &respGuardConn{Conn: c,
		frame: respFramer{maxArgs: respMaxArgs, maxBulk: maxBulk, maxInline: respMaxInline,
			// a value and its key with room for the framing, or many keys
			maxCmd: maxBulk + int64(respMaxArgs)*64},
		refused: func(error) { r.metrics.respCommands.WithLabelValues("protocol", "ERR").Inc() },
	}
}

// guardedListener wraps every accepted connection with guard.
type guardedListener struct {
	net.Listener
	guard func(net.Conn) net.Conn
}

func (l guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.guard(c), nil
}

// stopAccepting closes the listener and refuses new commands: the first
// step of shutdown. Commands already running go on.
func (r *respAPI) stopAccepting() {
	r.cmds.close()
	_ = r.ln.Listener.Close()
}

// finish gives running commands until grace is done, then cancels them,
// waits for them, and lets redcon close every connection; it returns
// once every connection's goroutine has ended.
func (r *respAPI) finish(grace <-chan struct{}) {
	if !r.cmds.waitOr(grace) {
		r.log.Warn("resp shutdown: cancelling the commands still running")
	}
	r.cancel()
	r.cmds.wait()
	r.conns.close()
	close(r.ln.drained)
	r.conns.wait()
}

// respCommand is one command dynago serves. arity is Redis's: the number
// of arguments with the name, or at least -arity when negative.
type respCommand struct {
	name  string
	arity int
	// first and last are the positions of its first and last key (0:
	// none; -1: the last argument), for COMMAND.
	first, last int
	run         func(r *respAPI, conn redcon.Conn, args [][]byte) error
	kv          bool // reads or writes data: its latency paces anti-entropy
	// role is what a connection must have authenticated as to run it
	// when authentication is on (respauth.go); RoleNone: also before
	// AUTH (AUTH, HELLO, PING, QUIT).
	role auth.Role
}

// respCommands is every command dynago serves, in COMMAND's order.
var respCommands []respCommand

func init() {
	respCommands = []respCommand{
		{name: "get", arity: 2, first: 1, last: 1, run: (*respAPI).cmdGet, kv: true, role: auth.RoleRead},
		{name: "set", arity: -3, first: 1, last: 1, run: (*respAPI).cmdSet, kv: true, role: auth.RoleWrite},
		{name: "del", arity: -2, first: 1, last: -1, run: (*respAPI).cmdDel, kv: true, role: auth.RoleWrite},
		{name: "exists", arity: -2, first: 1, last: -1, run: (*respAPI).cmdExists, kv: true, role: auth.RoleRead},
		{name: "mget", arity: -2, first: 1, last: -1, run: (*respAPI).cmdMGet, kv: true, role: auth.RoleRead},
		{name: "mset", arity: -3, first: 1, last: -1, run: (*respAPI).cmdMSet, kv: true, role: auth.RoleWrite},
		{name: "dynago.get", arity: -2, first: 1, last: 1, run: (*respAPI).cmdDynagoGet, kv: true, role: auth.RoleRead},
		{name: "dynago.put", arity: -3, first: 1, last: 1, run: (*respAPI).cmdDynagoPut, kv: true, role: auth.RoleWrite},
		{name: "ping", arity: -1, run: (*respAPI).cmdPing, role: auth.RoleNone},
		{name: "echo", arity: 2, run: (*respAPI).cmdEcho, role: auth.RoleRead},
		{name: "quit", arity: -1, run: (*respAPI).cmdQuit, role: auth.RoleNone},
		{name: "hello", arity: -1, run: (*respAPI).cmdHello, role: auth.RoleNone},
		{name: "info", arity: -1, run: (*respAPI).cmdInfo, role: auth.RoleRead},
		{name: "command", arity: -1, run: (*respAPI).cmdCommand, role: auth.RoleRead},
		{name: "client", arity: -2, run: (*respAPI).cmdClient, role: auth.RoleRead},
		{name: "config", arity: -2, run: (*respAPI).cmdConfig, role: auth.RoleRead},
		{name: "select", arity: 2, run: (*respAPI).cmdSelect, role: auth.RoleRead},
		{name: "auth", arity: -2, run: (*respAPI).cmdAuth, role: auth.RoleNone},
	}
}

func findRESPCommand(name string) *respCommand {
	for i := range respCommands {
		if respCommands[i].name == name {
			return &respCommands[i]
		}
	}
	return nil
}

// serveCommand runs one command on its connection's goroutine. A panic
// is recovered, logged and counted (panics.go), answered with an error,
// and closes the connection (its reply stream may be cut mid-reply).
func (r *respAPI) serveCommand(conn redcon.Conn, cmd redcon.Command) {
	name := respCommandName(cmd.Args[0])
	if !r.cmds.enter() {
		conn.WriteError(respPrefixUnavailable + " this node is shutting down; try another")
		conn.Close()
		return
	}
	defer r.cmds.wg.Done()
	outcome := "ok"
	start := r.clock.Steady()
	c := findRESPCommand(name)
	func() {
		defer func() {
			if v := recover(); v != nil {
				label := "resp unknown" // a command name from no fixed set
				if c != nil {
					label = "resp " + c.name
				}
				err := r.recoveredAs(label, "resp "+name, v)
				conn.WriteError(respErrorReply(err))
				conn.Close()
				outcome = "ERR"
			}
		}()
		err := r.authorize(conn, c, name) // NOAUTH, NOPERM (respauth.go)
		switch {
		case err != nil:
		case c == nil:
			err = errRESPUnknown(cmd.Args)
		case (c.arity > 0 && len(cmd.Args) != c.arity) || (c.arity < 0 && len(cmd.Args) < -c.arity):
			err = errRESPArity(c.name)
		case c.kv && r.adm != nil:
			if ok, why := r.adm.enter(0); !ok {
				r.metrics.shed.WithLabelValues("resp_busy").Inc()
				err = errRESPBusy(why)
				break
			}
			defer r.adm.leave(0)
			start := r.adm.now()
			err = c.run(r, conn, cmd.Args)
			r.adm.served(start)
		default:
			err = c.run(r, conn, cmd.Args)
		}
		if err != nil {
			reply := respErrorReply(err)
			conn.WriteError(reply)
			outcome = respErrorPrefix(reply)
		}
	}()
	if c != nil && c.kv {
		r.aae.fg.add(r.clock.since(start))
	}
	r.metrics.respCommands.WithLabelValues(name, outcome).Inc()
}

// errRESPUnknown is Redis's own message for a command it does not know.
func errRESPUnknown(args [][]byte) error {
	var b strings.Builder
	for _, a := range args[1:min(len(args), 4)] {
		fmt.Fprintf(&b, "'%.64s' ", a)
	}
	return respErrf("ERR unknown command '%.64s', with args beginning with: %s", args[0], b.String())
}

// read coordinates a read of key at r and pr.
func (r *respAPI) read(key []byte, rq, pr int) (vclock.State, error) {
	out := r.coord.read(r.ctx, key, rq, pr, r.cfg.Strict, r.cfg.RequestTimeout)
	return out.State, out.Err
}

// fanout runs fn(0) … fn(n-1), up to respFanout at once, and returns
// the first error in index order. Its goroutines end before it returns;
// a panic in one is recovered and counted (panics.go).
func (r *respAPI) fanout(where string, n int, fn func(i int) error) error {
	errs := make([]error, n)
	if n == 1 {
		errs[0] = fn(0)
	} else {
		sem := make(chan struct{}, respFanout)
		var wg sync.WaitGroup
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				errs[i] = r.safely(where, func() error { return fn(i) })
			})
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readMany reads keys at the node's defaults, up to respFanout at once,
// and returns their states in order, or the first error in key order.
func (r *respAPI) readMany(keys [][]byte) ([]vclock.State, error) {
	sts := make([]vclock.State, len(keys))
	err := r.fanout("resp read", len(keys), func(i int) (err error) {
		sts[i], err = r.read(keys[i], r.cfg.Quorum.R, r.cfg.Quorum.PR)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sts, nil
}

// write coordinates req at the node's defaults for what it leaves zero.
func (r *respAPI) write(req wire.WriteRequest) writeOutcome {
	req.TimeoutMS = int(r.cfg.RequestTimeout.Milliseconds())
	req.Strict = r.cfg.Strict
	return r.coord.write(r.ctx, req)
}

func (r *respAPI) checkKeys(keys [][]byte) error {
	for _, k := range keys {
		if err := checkRESPKey(k, r.cfg.MaxKeyBytes); err != nil {
			return err
		}
	}
	return nil
}

// errSiblings is GET's answer for a key with concurrent versions: never
// an arbitrary pick.
func errSiblings(n int) error {
	return respErrf("SIBLINGS the key has %d concurrent values (siblings); read them all with DYNAGO.GET and resolve them with DYNAGO.PUT key value CONTEXT ctx", n)
}

func (r *respAPI) cmdGet(conn redcon.Conn, args [][]byte) error {
	if err := r.checkKeys(args[1:2]); err != nil {
		return err
	}
	st, err := r.read(args[1], r.cfg.Quorum.R, r.cfg.Quorum.PR)
	if err != nil {
		return err
	}
	switch live := st.Live(); len(live) {
	case 0:
		conn.WriteNull()
	case 1:
		conn.WriteBulk(live[0].Value)
	default:
		return errSiblings(len(live))
	}
	return nil
}

// cmdSet is a blind overwrite: the coordinating replica writes with its
// own state's context (wire.WriteRequest.Overwrite), so the new value
// supersedes every version that replica holds, siblings included.
func (r *respAPI) cmdSet(conn redcon.Conn, args [][]byte) error {
	if err := r.checkKeys(args[1:2]); err != nil {
		return err
	}
	if err := checkRESPValue(args[2], r.cfg.MaxValueBytes); err != nil {
		return err
	}
	if err := parseSETOptions(args[3:]); err != nil {
		return err
	}
	out := r.write(wire.WriteRequest{Key: args[1], Value: nonNilBytes(args[2]), W: r.cfg.Quorum.W, PW: r.cfg.Quorum.PW, Overwrite: true})
	if out.Err != nil {
		return out.Err
	}
	conn.WriteString("OK")
	return nil
}

// cmdMSet is MSET key value [key value ...]: a SET of each pair, up to
// respFanout at once. It is not atomic, unlike Redis's: an error reply
// (the first in argument order) may follow the writes of other pairs.
func (r *respAPI) cmdMSet(conn redcon.Conn, args [][]byte) error {
	if len(args)%2 != 1 {
		return errRESPArity("mset")
	}
	n := len(args) / 2
	for i := range n {
		if err := checkRESPKey(args[1+2*i], r.cfg.MaxKeyBytes); err != nil {
			return err
		}
		if err := checkRESPValue(args[2+2*i], r.cfg.MaxValueBytes); err != nil {
			return err
		}
	}
	err := r.fanout("resp write", n, func(i int) error {
		return r.write(wire.WriteRequest{Key: args[1+2*i], Value: nonNilBytes(args[2+2*i]), W: r.cfg.Quorum.W, PW: r.cfg.Quorum.PW, Overwrite: true}).Err
	})
	if err != nil {
		return err
	}
	conn.WriteString("OK")
	return nil
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// cmdDel deletes each key that a read finds live, with the read's
// context and as an overwrite, and answers how many were live. It is not
// atomic: an error reply may follow the deletes of earlier keys.
func (r *respAPI) cmdDel(conn redcon.Conn, args [][]byte) error {
	keys := args[1:]
	if err := r.checkKeys(keys); err != nil {
		return err
	}
	sts, err := r.readMany(keys)
	if err != nil {
		return err
	}
	n := 0
	for i, st := range sts {
		if len(st.Live()) == 0 {
			continue
		}
		out := r.write(wire.WriteRequest{Key: keys[i], Delete: true, Context: st.Context, W: r.cfg.Quorum.W, PW: r.cfg.Quorum.PW, Overwrite: true})
		if out.Err != nil {
			return out.Err
		}
		n++
	}
	conn.WriteInt(n)
	return nil
}

func (r *respAPI) cmdExists(conn redcon.Conn, args [][]byte) error {
	keys := args[1:]
	if err := r.checkKeys(keys); err != nil {
		return err
	}
	sts, err := r.readMany(keys)
	if err != nil {
		return err
	}
	n := 0
	for _, st := range sts {
		if len(st.Live()) > 0 {
			n++
		}
	}
	conn.WriteInt(n)
	return nil
}

// cmdMGet answers an array of values, nil for a missing key. A key with
// siblings makes the whole reply a SIBLINGS error naming it: clients
// (go-redis among them) read an error element of an array as a value.
func (r *respAPI) cmdMGet(conn redcon.Conn, args [][]byte) error {
	keys := args[1:]
	if err := r.checkKeys(keys); err != nil {
		return err
	}
	sts, err := r.readMany(keys)
	if err != nil {
		return err
	}
	for i, st := range sts {
		if n := len(st.Live()); n > 1 {
			return respErrf("SIBLINGS key %q has %d concurrent values (siblings); read them all with DYNAGO.GET and resolve them with DYNAGO.PUT key value CONTEXT ctx", keys[i], n)
		}
	}
	conn.WriteArray(len(sts))
	for _, st := range sts {
		if live := st.Live(); len(live) == 1 {
			conn.WriteBulk(live[0].Value)
		} else {
			conn.WriteNull()
		}
	}
	return nil
}

// cmdDynagoGet is DYNAGO.GET key [R n] [PR n]: a 2-element array, the
// key's causal context (a string to pass to DYNAGO.PUT's CONTEXT) and an
// array of every sibling's value (empty when the key is missing or
// deleted).
func (r *respAPI) cmdDynagoGet(conn redcon.Conn, args [][]byte) error {
	if err := r.checkKeys(args[1:2]); err != nil {
		return err
	}
	o, err := parseRESPOpts("DYNAGO.GET", args[2:], optR|optPR, r.cfg.Ring.N, respOpts{R: r.cfg.Quorum.R, PR: r.cfg.Quorum.PR})
	if err != nil {
		return err
	}
	st, err := r.read(args[1], o.R, o.PR)
	if err != nil {
		return err
	}
	live := st.Live()
	conn.WriteArray(2)
	conn.WriteBulkString(vclock.EncodeContext(st.Context))
	conn.WriteArray(len(live))
	for _, v := range live {
		conn.WriteBulk(v.Value)
	}
	return nil
}

// cmdDynagoPut is DYNAGO.PUT key value [CONTEXT c] [W n] [PW n]: a write
// that supersedes the versions CONTEXT covers (none without it: a new
// sibling of whatever is there), answered with the new context.
func (r *respAPI) cmdDynagoPut(conn redcon.Conn, args [][]byte) error {
	if err := r.checkKeys(args[1:2]); err != nil {
		return err
	}
	if err := checkRESPValue(args[2], r.cfg.MaxValueBytes); err != nil {
		return err
	}
	o, err := parseRESPOpts("DYNAGO.PUT", args[3:], optW|optPW|optContext, r.cfg.Ring.N, respOpts{W: r.cfg.Quorum.W, PW: r.cfg.Quorum.PW})
	if err != nil {
		return err
	}
	out := r.write(wire.WriteRequest{Key: args[1], Value: nonNilBytes(args[2]), Context: o.Context, W: o.W, PW: o.PW})
	if out.Err != nil {
		return out.Err
	}
	conn.WriteBulkString(vclock.EncodeContext(out.Context))
	return nil
}

func (r *respAPI) cmdPing(conn redcon.Conn, args [][]byte) error {
	switch len(args) {
	case 1:
		conn.WriteString("PONG")
	case 2:
		conn.WriteBulk(args[1])
	default:
		return errRESPArity("ping")
	}
	return nil
}

func (r *respAPI) cmdEcho(conn redcon.Conn, args [][]byte) error {
	conn.WriteBulk(args[1])
	return nil
}

func (r *respAPI) cmdQuit(conn redcon.Conn, args [][]byte) error {
	conn.WriteString("OK")
	conn.Close()
	return nil
}

// cmdHello answers HELLO [2 [AUTH u p] [SETNAME name]] as Redis does in
// RESP2; HELLO 3 is refused with NOPROTO, on which clients (go-redis,
// redis-py, Jedis) fall back to RESP2 (and AUTH). With authentication
// on, HELLO needs AUTH unless the connection has authenticated.
func (r *respAPI) cmdHello(conn redcon.Conn, args [][]byte) error {
	var creds [][]byte
	setName, name := false, ""
	if len(args) > 1 {
		v, err := strconv.Atoi(string(args[1]))
		if err != nil {
			return respErrf("ERR Protocol version is not an integer or out of range")
		}
		if v != 2 {
			return respErrf("NOPROTO sorry, this protocol version is not supported: dynago speaks RESP2 only (HELLO 2)")
		}
		for i := 2; i < len(args); i++ {
			switch strings.ToUpper(string(args[i])) {
			case "AUTH":
				if i+2 >= len(args) {
					return errRESPSyntax
				}
				creds = args[i+1 : i+3]
				i += 2
			case "SETNAME":
				if i+1 >= len(args) {
					return errRESPSyntax
				}
				i++
				setName, name = true, string(args[i])
			default:
				return errRESPSyntax
			}
		}
	}
	if err := r.helloAuth(conn, creds); err != nil {
		return err
	}
	if setName {
		conn.Context().(*respConn).name = name
	}
	rc := conn.Context().(*respConn)
	conn.WriteArray(14)
	conn.WriteBulkString("server")
	conn.WriteBulkString("dynago")
	conn.WriteBulkString("version")
	conn.WriteBulkString(respRedisVersion)
	conn.WriteBulkString("proto")
	conn.WriteInt(2)
	conn.WriteBulkString("id")
	conn.WriteInt64(rc.id)
	conn.WriteBulkString("mode")
	conn.WriteBulkString("standalone")
	conn.WriteBulkString("role")
	conn.WriteBulkString("master")
	conn.WriteBulkString("modules")
	conn.WriteArray(0)
	return nil
}

// respRedisVersion is the Redis version dynago reports (HELLO, INFO):
// clients pick features by it, and dynago answers the 7.0 forms of the
// commands it serves.
const respRedisVersion = "7.0.0"

// cmdInfo answers INFO [section ...] with the server and keyspace
// sections (the keyspace counts the keys this node's replica holds,
// tombstones included).
func (r *respAPI) cmdInfo(conn redcon.Conn, args [][]byte) error {
	server, keyspace := len(args) == 1, len(args) == 1
	for _, a := range args[1:] {
		switch strings.ToLower(string(a)) {
		case "server":
			server = true
		case "keyspace":
			keyspace = true
		case "all", "default", "everything":
			server, keyspace = true, true
		}
	}
	var b strings.Builder
	if server {
		_, port, _ := net.SplitHostPort(r.cfg.RESPAddr)
		fmt.Fprintf(&b, "# Server\r\nredis_version:%s\r\nredis_mode:standalone\r\ndynago_node:%s\r\nos:%s %s\r\narch_bits:64\r\nprocess_id:0\r\ntcp_port:%s\r\nuptime_in_seconds:%d\r\n\r\n",
			respRedisVersion, r.cfg.Name, runtime.GOOS, runtime.GOARCH, port, int64(r.clock.since(r.started).Seconds()))
	}
	if keyspace {
		fmt.Fprintf(&b, "# Keyspace\r\ndb0:keys=%d,expires=0,avg_ttl=0\r\n", r.localKeys())
	}
	conn.WriteBulkString(b.String())
	return nil
}

// localKeys counts the keys this node's replica holds (its Merkle trees).
func (r *respAPI) localKeys() int {
	n := 0
	for _, pt := range r.aae.parts {
		pt.mu.Lock()
		n += pt.tree.Keys()
		pt.mu.Unlock()
	}
	return n
}

// cmdCommand answers COMMAND, COMMAND COUNT, COMMAND INFO and COMMAND
// DOCS (empty: clients use it for hints only).
func (r *respAPI) cmdCommand(conn redcon.Conn, args [][]byte) error {
	if len(args) == 1 {
		conn.WriteArray(len(respCommands))
		for i := range respCommands {
			writeCommandInfo(conn, &respCommands[i])
		}
		return nil
	}
	switch strings.ToUpper(string(args[1])) {
	case "COUNT":
		conn.WriteInt(len(respCommands))
	case "DOCS":
		conn.WriteArray(0)
	case "INFO":
		conn.WriteArray(len(args) - 2)
		for _, a := range args[2:] {
			if c := findRESPCommand(respCommandName(a)); c != nil {
				writeCommandInfo(conn, c)
			} else {
				conn.WriteNull()
			}
		}
	default:
		return respErrf("ERR unknown subcommand '%.64s'. Try COMMAND COUNT, COMMAND DOCS or COMMAND INFO.", args[1])
	}
	return nil
}

// writeCommandInfo writes Redis 7's 10-element command info.
func writeCommandInfo(conn redcon.Conn, c *respCommand) {
	conn.WriteArray(10)
	conn.WriteBulkString(c.name)
	conn.WriteInt(c.arity)
	conn.WriteArray(0) // flags
	conn.WriteInt(c.first)
	conn.WriteInt(c.last)
	step := 0
	if c.first > 0 {
		step = 1
	}
	conn.WriteInt(step)
	for range 4 { // ACL categories, tips, key specs, subcommands
		conn.WriteArray(0)
	}
}

// cmdClient answers CLIENT SETNAME, GETNAME, SETINFO and ID.
func (r *respAPI) cmdClient(conn redcon.Conn, args [][]byte) error {
	rc := conn.Context().(*respConn)
	switch sub := strings.ToUpper(string(args[1])); {
	case sub == "SETNAME" && len(args) == 3:
		rc.name = string(args[2])
		conn.WriteString("OK")
	case sub == "GETNAME" && len(args) == 2:
		if rc.name == "" {
			conn.WriteNull()
		} else {
			conn.WriteBulkString(rc.name)
		}
	case sub == "SETINFO" && len(args) == 4:
		conn.WriteString("OK")
	case sub == "ID" && len(args) == 2:
		conn.WriteInt64(rc.id)
	case sub == "SETNAME" || sub == "GETNAME" || sub == "SETINFO" || sub == "ID":
		return errRESPArity("client|" + strings.ToLower(sub))
	default:
		return respErrf("ERR unknown subcommand '%.64s'. Try CLIENT SETNAME, GETNAME, SETINFO or ID.", args[1])
	}
	return nil
}

// cmdConfig answers CONFIG GET with an empty array: dynago's settings
// are its flags, not Redis's.
func (r *respAPI) cmdConfig(conn redcon.Conn, args [][]byte) error {
	if strings.ToUpper(string(args[1])) != "GET" {
		return respErrf("ERR unknown subcommand '%.64s'. dynago answers CONFIG GET only.", args[1])
	}
	if len(args) < 3 {
		return errRESPArity("config|get")
	}
	conn.WriteArray(0)
	return nil
}

func (r *respAPI) cmdSelect(conn redcon.Conn, args [][]byte) error {
	if string(args[1]) != "0" {
		return respErrf("ERR DB index is out of range (dynago has one database, 0)")
	}
	conn.WriteString("OK")
	return nil
}
