// Package tender holds coopnet's domain: tenders, lots, bids, questions and
// awards, their validation and their lifecycle. It imports nothing of ours
// and knows nothing of HTTP or SQL, so every rule can be tested as a plain
// function of its inputs and of the time passed in.
package tender

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status (in the node package) and to one
// CLI exit message (in cmd/coopnet); keep them few and stable.
const (
	EInvalid      = "invalid"      // the input breaks a rule; Field says which
	ENotFound     = "not_found"    // no such object, or the caller may not know it exists
	EForbidden    = "forbidden"    // the caller is known but may not do this
	EUnauthorized = "unauthorized" // the caller could not be identified
	EConflict     = "conflict"     // the object's state does not allow this now
	EGone         = "gone"         // the object existed and was deleted
	EInternal     = "internal"     // our fault; details are logged, not shown
	EUnavailable  = "unavailable"  // a dependency (storage, a peer) is down; retry later
	ETooLarge     = "too_large"    // the input exceeds a size limit
	ERateLimited  = "rate_limited" // the caller is over its rate limit
)

// Error is the one error type that crosses package boundaries with meaning.
// Messages are written for the person who made the request: short, and
// naming the field at fault when there is one.
type Error struct {
	Code    string
	Field   string // the input field at fault, if any
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EInvalid *Error naming the field at fault.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic text for other errors so that internal details never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}
