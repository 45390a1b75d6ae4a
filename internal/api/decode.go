package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// maxBody bounds JSON request bodies.
const maxBody = 64 << 10

// decode reads a JSON body strictly and answers the problem itself,
// reporting false, when the body is not acceptable: the media type must be
// application/json, the body at most maxBody bytes and one JSON object
// whose members are fields of v, each named once, exactly as documented
// (names are case-sensitive), with text that is valid UTF-8.
//
// It decodes with github.com/go-json-experiment/json, the proposed
// encoding/json/v2, rather than encoding/json: v1 replaces invalid UTF-8
// and unpaired surrogate escapes (\ud800) with U+FFFD, keeps the last of
// duplicate members and matches member names case-insensitively, so
// {"NAME":"x"} set the name although unknown fields are refused. v2
// refuses all of these by default (RFC 8259 §8.1, RFC 7493 §2.3), and its
// errors carry the JSON Pointer (RFC 6901) of the value at fault, so each
// answer can name the field. Writing the same checks over encoding/json's
// tokens would be a second JSON parser to keep right.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		problem(w, r, http.StatusUnsupportedMediaType, "Unsupported media type", "Send the body as application/json.", nil)
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		detail := "The body could not be read."
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			detail = fmt.Sprintf("The body is too large: at most %d KiB.", maxBody>>10)
		}
		problem(w, r, http.StatusBadRequest, "Bad request", detail, nil)
		return false
	}
	if err := json.Unmarshal(data, v, json.RejectUnknownMembers(true)); err != nil {
		detail, field := bodyError(err, v)
		var errs []FieldError
		if field != "" {
			errs = []FieldError{{field, detail}}
		}
		problem(w, r, http.StatusBadRequest, "Bad request", detail, errs)
		return false
	}
	return true
}

// bodyError says in the caller's words what is wrong with a body that v
// could not be decoded from, and names the field at fault, if any.
func bodyError(err error, v any) (detail, field string) {
	var (
		sem *json.SemanticError
		syn *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &sem):
		field = fieldName(sem.JSONPointer)
		switch {
		case errors.Is(sem.Err, json.ErrUnknownName):
			if known := knownField(v, field); known != "" {
				return fmt.Sprintf("Unknown field %q: field names are case-sensitive; use %q.", field, known), field
			}
			return fmt.Sprintf("Unknown field %q.", field), field
		case field == "":
			return "The body must be a JSON object.", ""
		}
		want := expected(sem.GoType)
		if want == "" {
			return fmt.Sprintf("Field %q has the wrong type.", field), field
		}
		return fmt.Sprintf("Field %q must be %s.", field, want), field
	case errors.As(err, &syn):
		field = fieldName(syn.JSONPointer)
		msg := syn.Err.Error()
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return fmt.Sprintf("Field %q appears more than once; give each field once.", field), field
		case strings.Contains(msg, "surrogate") && field != "":
			return fmt.Sprintf("Field %q holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is not text.", field), field
		case strings.Contains(msg, "invalid UTF-8") && field != "":
			return fmt.Sprintf("Field %q is not valid UTF-8 text.", field), field
		case strings.Contains(msg, "after top-level value"):
			return "The body must hold one JSON object and nothing after it.", ""
		case strings.Contains(msg, "invalid UTF-8"):
			return "The body is not valid UTF-8 text.", ""
		case syn.ByteOffset > 0:
			return fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.ByteOffset), ""
		}
		return "The body is not valid JSON.", ""
	}
	return "The body is not valid JSON for this request.", ""
}

// fieldName turns a JSON Pointer into the field name the API documents:
// "/allowed_cidrs/0" is allowed_cidrs[0].
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// knownField is the field of the struct v points to whose JSON name
// matches name but for case, if any.
func knownField(v any, name string) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag != "" && tag != "-" && strings.EqualFold(tag, name) {
			return tag
		}
	}
	return ""
}

var timeType = reflect.TypeFor[time.Time]()

// expected describes, for a person, the JSON a Go type is decoded from.
func expected(t reflect.Type) string {
	if t == nil {
		return ""
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "a date and time in RFC 3339 format, for example \"2027-06-30T00:00:00Z\""
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "an array of strings"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return "an object"
	}
	return ""
}
