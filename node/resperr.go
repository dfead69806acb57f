package node

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dynago/dynago/storage"
)

// respError is an error of the RESP layer itself (wrong arity, unknown
// command, syntax, a refused option, a limit): Msg is the whole error
// reply, its prefix included ("ERR wrong number of arguments ...").
// Coordination never returns one: its typed errors (errors.go) get their
// reply from respErrorReply.
type respError struct{ Msg string }

func (e *respError) Error() string { return e.Msg }

func respErrf(format string, args ...any) *respError {
	return &respError{Msg: fmt.Sprintf(format, args...)}
}

// errRESPArity is Redis's own message for a command with the wrong
// number of arguments.
func errRESPArity(cmd string) *respError {
	return respErrf("ERR wrong number of arguments for '%s' command", strings.ToLower(cmd))
}

// errRESPSyntax is Redis's own message for an option it does not know.
var errRESPSyntax = &respError{Msg: "ERR syntax error"}

// RESP error prefixes of coordination failures (README "Redis protocol").
// A client tells from the prefix alone whether a failed write may still
// appear: UNAVAILABLE is definite (nothing was written, or a read that
// changed nothing), INDETERMINATE may have been stored on some replicas.
const (
	respPrefixUnavailable   = "UNAVAILABLE"
	respPrefixIndeterminate = "INDETERMINATE"
	// respPrefixBusy is a data command refused at the node's in-flight
	// limit (Config.Limits.MaxInflight): nothing was done; retry later
	// or elsewhere. HTTP answers such a request 503 + Retry-After.
	respPrefixBusy = "BUSY"
	// respPrefixDiskFull is a write refused for a full disk (below its
	// free space reserve) on the replicas the message names, and stored
	// nowhere (definite; HTTP 507 disk_full). Redis itself says MISCONF
	// when it can't persist and OOM when it is out of memory; DISKFULL
	// names the cause. A disk-full write that some replica did store is
	// INDETERMINATE, its message starting "disk full on ...".
	respPrefixDiskFull = "DISKFULL"
)

// errRESPBusy is the reply to a data command shed by the node's limits.
func errRESPBusy(what string) error {
	return respErrf("%s this node is at its limit of %s in flight; retry later or use another node", respPrefixBusy, what)
}

// respErrorReply turns err into the text of a RESP error reply (without
// the leading '-'): the only place an error becomes a RESP error, as
// errorResponse (httperr.go) is for HTTP statuses. An error it does not
// know is "ERR internal: ...".
func respErrorReply(err error) string {
	var (
		re  *respError
		ue  *UnavailableError
		qe  *QuorumError
		ce  *ContextError
		le  *LimitError
		wfe *WriteFailedError
	)
	switch {
	case errors.As(err, &re):
		return re.Msg
	case errors.As(err, &ue):
		return respPrefixUnavailable + " " + ue.message()
	case errors.As(err, &qe) && len(qe.DiskFull) > 0 && !errors.Is(qe, ErrIndeterminate):
		return respPrefixDiskFull + " " + qe.message()
	case errors.As(err, &qe):
		if errors.Is(qe, ErrIndeterminate) {
			return respPrefixIndeterminate + " " + qe.message()
		}
		// A read that missed its quorum changed nothing: definite.
		return respPrefixUnavailable + " " + qe.message()
	case errors.As(err, &ce):
		return "ERR bad context: " + ce.message()
	case errors.As(err, &le):
		return "ERR " + le.message()
	case errors.As(err, &wfe) && errors.Is(wfe, storage.ErrNoSpace):
		return respPrefixDiskFull + " " + wfe.message()
	case errors.As(err, &wfe):
		// The new version was sent nowhere: definite.
		return respPrefixUnavailable + " " + wfe.message()
	}
	return "ERR internal: " + err.Error()
}

// respErrorPrefix is the first word of an error reply: the outcome label
// of dynago_resp_commands_total.
func respErrorPrefix(reply string) string {
	prefix, _, _ := strings.Cut(reply, " ")
	switch prefix {
	case "ERR", respPrefixUnavailable, respPrefixIndeterminate, "SIBLINGS", "NOPROTO", "NOAUTH", "WRONGPASS", "NOPERM", respPrefixBusy, respPrefixDiskFull:
		return prefix
	}
	return "other"
}
