package oauth

import (
	"net/http"
	"strconv"
)

// refuseLargeBody answers 413 (RFC 9110 §15.5.14), with an RFC 6749 §5.2
// error, a request whose Content-Length is over maxFormBytes, and reports
// whether it did. It reads nothing: Go's server sends "100 Continue" only
// when a handler first reads the body, so a client that asked with
// "Expect: 100-continue" (as curl does for large bodies) gets this answer
// instead and never sends the body, rather than sending it only to have
// the connection closed under it. Bodies without a Content-Length are
// bounded while they are read (parseForm).
func refuseLargeBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength <= maxFormBytes {
		return false
	}
	// The body stays unread, so the connection cannot carry another request.
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: ErrInvalidRequest,
		Description: "The request body is " + strconv.FormatInt(r.ContentLength, 10) + " bytes; the limit is " + strconv.Itoa(maxFormBytes) + "."})
	return true
}
