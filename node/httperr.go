package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/storage"
)

// apiError is an error of the HTTP layer itself (a bad request, a route
// or method that does not exist, a refused admin action), which carries
// its own status and code. Coordination never returns one: its typed
// errors (errors.go) get theirs from errorResponse.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errUnavailable(code, msg string) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: code, Message: msg}
}

// writeError answers err as a JSON error (DESIGN.md §5).
func writeError(w http.ResponseWriter, err error) {
	status, body := errorResponse(err)
	writeJSON(w, status, body)
}

// errorResponse maps an error to the status and JSON body answered to a
// client: an api.Error, {"error": <message>, "code": <word>} plus the
// details of the failure (DESIGN.md §5). It is the only place where an
// error becomes a status; an error it does not know is a 500.
func errorResponse(err error) (int, api.Error) {
	var (
		ae  *apiError
		ue  *UnavailableError
		qe  *QuorumError
		ce  *ContextError
		le  *LimitError
		wfe *WriteFailedError
	)
	switch {
	case errors.As(err, &ae):
		return ae.Status, api.Error{Code: ae.Code, Message: ae.Message}
	case errors.As(err, &ue):
		body := api.Error{Code: "unavailable", Message: ue.message(), Indeterminate: api.Ptr(false)}
		if ue.Op == opWrite {
			body.W, body.PW, body.Acks = api.Ptr(ue.Need), api.Ptr(ue.NeedPrimary), api.Ptr(0)
		}
		if ue.Reason == ReasonTooFewAlive {
			body.Alive, body.Down = nonNil(ue.Alive), nonNil(ue.Down)
		}
		return http.StatusServiceUnavailable, body
	case errors.As(err, &qe) && qe.Op == opWrite && len(qe.DiskFull) > 0:
		// Replicas' disks are full (RFC 4918's 507): nothing was written
		// there; indeterminate only if another replica stored it.
		return http.StatusInsufficientStorage, api.Error{Code: "disk_full", Message: qe.message(),
			Indeterminate: api.Ptr(!qe.Definite), W: api.Ptr(qe.Need), PW: api.Ptr(qe.NeedPrimary), Acks: api.Ptr(len(qe.Acked)),
			Acked: nonNil(qe.Acked), Failed: nonNil(qe.Failed), Pending: nonNil(qe.Pending), DiskFull: qe.DiskFull}
	case errors.As(err, &qe):
		if qe.Op == opRead {
			return http.StatusServiceUnavailable, api.Error{Code: "read_quorum_not_met", Message: qe.message(),
				R: api.Ptr(qe.Need), PR: api.Ptr(qe.NeedPrimary), Replies: api.Ptr(qe.Got),
				Failed: nonNil(qe.Failed), Pending: nonNil(qe.Pending)}
		}
		return http.StatusServiceUnavailable, api.Error{Code: "write_indeterminate", Message: qe.message(),
			Indeterminate: api.Ptr(true), W: api.Ptr(qe.Need), PW: api.Ptr(qe.NeedPrimary), Acks: api.Ptr(len(qe.Acked)),
			Acked: nonNil(qe.Acked), Failed: nonNil(qe.Failed), Pending: nonNil(qe.Pending)}
	case errors.As(err, &ce):
		return http.StatusBadRequest, api.Error{Code: "bad_context", Message: ce.message()}
	case errors.As(err, &le):
		if errors.Is(le, ErrStateTooLarge) {
			return http.StatusRequestEntityTooLarge, api.Error{Code: "state_too_large", Message: le.message()}
		}
		return http.StatusConflict, api.Error{Code: "too_many_siblings", Message: le.message()}
	case errors.As(err, &wfe) && errors.Is(wfe, storage.ErrNoSpace):
		// The coordinator's disk is full: nothing was written, reads go on,
		// and writes succeed again once space returns (RFC 4918's 507).
		return http.StatusInsufficientStorage, api.Error{Code: "disk_full", Message: wfe.message(), Indeterminate: api.Ptr(false)}
	case errors.As(err, &wfe):
		return http.StatusServiceUnavailable, api.Error{Code: "write_failed", Message: wfe.message()}
	}
	return http.StatusInternalServerError, api.Error{Code: "internal", Message: err.Error()}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
