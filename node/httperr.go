package node

import (
	"errors"
	"fmt"
	"net/http"
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
// client: {"error": <message>, "code": <word>} plus the details of the
// failure (DESIGN.md §5). It is the only place where an error becomes a
// status; an error it does not know is a 500.
func errorResponse(err error) (int, map[string]any) {
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
		return ae.Status, errorBody(ae.Code, ae.Message)
	case errors.As(err, &ue):
		body := errorBody("unavailable", ue.message())
		body["indeterminate"] = false
		if ue.Op == opWrite {
			body["w"], body["pw"], body["acks"] = ue.Need, ue.NeedPrimary, 0
		}
		if ue.Reason == ReasonTooFewAlive {
			body["alive"], body["down"] = nonNil(ue.Alive), nonNil(ue.Down)
		}
		return http.StatusServiceUnavailable, body
	case errors.As(err, &qe):
		if qe.Op == opRead {
			body := errorBody("read_quorum_not_met", qe.message())
			body["r"], body["pr"], body["replies"] = qe.Need, qe.NeedPrimary, qe.Got
			body["failed"], body["pending"] = nonNil(qe.Failed), nonNil(qe.Pending)
			return http.StatusServiceUnavailable, body
		}
		body := errorBody("write_indeterminate", qe.message())
		body["indeterminate"] = true
		body["w"], body["pw"], body["acks"] = qe.Need, qe.NeedPrimary, len(qe.Acked)
		body["acked"], body["failed"], body["pending"] = nonNil(qe.Acked), nonNil(qe.Failed), nonNil(qe.Pending)
		return http.StatusServiceUnavailable, body
	case errors.As(err, &ce):
		return http.StatusBadRequest, errorBody("bad_context", ce.message())
	case errors.As(err, &le):
		if errors.Is(le, ErrStateTooLarge) {
			return http.StatusRequestEntityTooLarge, errorBody("state_too_large", le.message())
		}
		return http.StatusConflict, errorBody("too_many_siblings", le.message())
	case errors.As(err, &wfe):
		return http.StatusServiceUnavailable, errorBody("write_failed", wfe.message())
	}
	return http.StatusInternalServerError, errorBody("internal", err.Error())
}

func errorBody(code, msg string) map[string]any {
	return map[string]any{"error": msg, "code": code}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
