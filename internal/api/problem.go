package api

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problem answers with application/problem+json (RFC 9457 §3).
func problem(w http.ResponseWriter, r *http.Request, status int, title, detail string, errs []FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Instance: r.URL.Path, Errors: errs})
}

// The header values of every JSON answer. They are shared: net/http copies
// a handler's header values before writing them, and nothing here changes
// a value in place.
var (
	jsonType = []string{"application/json; charset=utf-8"}
	noStore  = []string{"no-store"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
