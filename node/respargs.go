package node

import (
	"strings"

	"github.com/dynago/dynago/quorum"
	"github.com/dynago/dynago/vclock"
)

// Argument decoding of the RESP commands (resp.go): pure functions of the
// arguments a client sent, fuzzed in resp_fuzz_test.go.

// respOpt is one option of the DYNAGO.* commands.
type respOpt uint8

const (
	optR respOpt = 1 << iota
	optPR
	optW
	optPW
	optContext
)

var respOptNames = []struct {
	name string
	opt  respOpt
}{{"R", optR}, {"PR", optPR}, {"W", optW}, {"PW", optPW}, {"CONTEXT", optContext}}

// respOpts are a command's quorum and context: the node's defaults
// unless the command set them.
type respOpts struct {
	R, PR, W, PW int
	Context      vclock.VV
}

// parseRESPOpts parses args as NAME value pairs (names case-insensitive,
// each at most once) of the options in allowed; n is the replication
// factor the counts are checked against (quorum.ParseCount: a number,
// one, quorum or all). Options not given keep def's values.
func parseRESPOpts(cmd string, args [][]byte, allowed respOpt, n int, def respOpts) (respOpts, error) {
	out := def
	var seen respOpt
	for i := 0; i < len(args); i += 2 {
		var opt respOpt
		for _, o := range respOptNames {
			if o.opt&allowed != 0 && strings.EqualFold(string(args[i]), o.name) {
				opt = o.opt
			}
		}
		if opt == 0 {
			return out, respErrf("ERR syntax error: %s takes no option %q", cmd, args[i])
		}
		if i+1 >= len(args) {
			return out, respErrf("ERR syntax error: %s option %s needs a value", cmd, strings.ToUpper(string(args[i])))
		}
		if seen&opt != 0 {
			return out, respErrf("ERR syntax error: %s option %s given twice", cmd, strings.ToUpper(string(args[i])))
		}
		seen |= opt
		v := string(args[i+1])
		var err error
		switch opt {
		case optR:
			out.R, err = quorum.ParseCount(v, n)
		case optW:
			out.W, err = quorum.ParseCount(v, n)
		case optPR:
			out.PR, err = quorum.ParsePrimaryCount(v, n)
		case optPW:
			out.PW, err = quorum.ParsePrimaryCount(v, n)
		case optContext:
			out.Context, err = vclock.DecodeContext(v)
			if err != nil {
				return out, respErrf("ERR bad context: %v; send back the context DYNAGO.GET returned", err)
			}
		}
		if err != nil {
			return out, respErrf("ERR %s %s=%q: %v (n=%d)", cmd, strings.ToUpper(string(args[i])), v, err, n)
		}
	}
	return out, nil
}

// parseSETOptions checks the options of SET key value [options]: dynago
// has neither TTLs nor conditional writes yet, so every option Redis
// knows is refused with a reason, and anything else is a syntax error.
func parseSETOptions(opts [][]byte) error {
	for _, o := range opts {
		switch strings.ToUpper(string(o)) {
		case "EX", "PX", "EXAT", "PXAT", "KEEPTTL":
			return respErrf("ERR SET %s is not supported: dynago has no TTLs (yet)", strings.ToUpper(string(o)))
		case "NX", "XX":
			return respErrf("ERR SET %s is not supported: dynago has no conditional writes; use DYNAGO.GET and DYNAGO.PUT with its CONTEXT", strings.ToUpper(string(o)))
		case "GET":
			return respErrf("ERR SET GET is not supported: use GET, or DYNAGO.GET and DYNAGO.PUT with its CONTEXT")
		}
	}
	if len(opts) > 0 {
		return errRESPSyntax
	}
	return nil
}

// checkRESPKey checks a key against the node's limit, as the HTTP API
// does (keyOf).
func checkRESPKey(key []byte, maxKey int) error {
	switch {
	case len(key) == 0:
		return respErrf("ERR the key is empty; dynago keys are 1 to %d bytes", maxKey)
	case len(key) > maxKey:
		return respErrf("ERR the key is %d bytes; the limit is %d", len(key), maxKey)
	}
	return nil
}

// checkRESPValue checks a value against the node's limit.
func checkRESPValue(v []byte, maxValue int) error {
	if len(v) > maxValue {
		return respErrf("ERR the value is %d bytes; the limit is %d", len(v), maxValue)
	}
	return nil
}

// respCommandName is a command's lowercase name if dynago serves it, or
// "unknown": the label of its metrics, so a client can't grow them.
func respCommandName(arg []byte) string {
	var buf [16]byte
	if len(arg) > len(buf) {
		return "unknown"
	}
	lower := buf[:len(arg)]
	for i, c := range arg {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for _, c := range respCommands {
		if string(lower) == c.name { // compiled without a copy
			return c.name
		}
	}
	return "unknown"
}
