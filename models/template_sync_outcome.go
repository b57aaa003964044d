package models

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/minipush/minipush/wechat"
)

// What a sync run says about itself (SyncOutcome.Code), and why it skipped
// a template (SyncProblem.Code). The console words them.
const (
	SyncUnreachable  = "unreachable"    // WeChat's API could not be reached
	SyncStoreFailed  = "store_failed"   // the database refused the run
	SyncUnparsed     = "unparsed"       // stored, but its content does not parse
	SyncTitleTooLong = "title_too_long" // skipped: the title does not fit
	SyncIDTooLong    = "id_too_long"    // skipped: the template id does not fit
	SyncStoreRefused = "store_refused"  // skipped: the database refused it
	syncLegacy       = "legacy"         // a run recorded before outcomes were codes
	maxTemplateKey   = 191              // characters in a {KEY} column (VARCHAR(191) on MySQL)
)

// SyncFetchError is a sync that could not get the templates from WeChat.
type SyncFetchError struct{ Err error }

func (e *SyncFetchError) Error() string {
	return "template sync: fetching from WeChat: " + e.Err.Error()
}
func (e *SyncFetchError) Unwrap() error { return e.Err }

// SyncProblem names one upstream template a sync skipped or stored with a problem.
type SyncProblem struct {
	TemplateID string `json:"id"`
	Title      string `json:"title"`
	Code       string `json:"code"`
}

// SyncOutcome is what a sync run stores in TemplateSync.Error: why the run
// failed (Code: "wechat.<errcode>", SyncUnreachable, SyncStoreFailed) and
// which templates it skipped. The zero value is a clean run, stored as "".
type SyncOutcome struct {
	Code    string        `json:"code,omitempty"`
	Skipped []SyncProblem `json:"skipped,omitempty"`
}

func (o SyncOutcome) encode() string {
	if o.Code == "" && len(o.Skipped) == 0 {
		return ""
	}
	b, _ := json.Marshal(o)
	return string(b)
}

// Outcome reads the run's stored outcome.
func (s *TemplateSync) Outcome() SyncOutcome {
	var o SyncOutcome
	if s.Error == "" {
		return o
	}
	if err := json.Unmarshal([]byte(s.Error), &o); err != nil {
		return SyncOutcome{Code: syncLegacy}
	}
	return o
}

func fetchCode(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return "wechat." + strconv.Itoa(we.Code)
	}
	if errors.Is(err, ErrUnseal) {
		return "unseal"
	}
	return SyncUnreachable
}

// templateTooLong tells whether t cannot be stored whole (a code), or "".
func templateTooLong(t *Template) string {
	switch {
	case utf8.RuneCountInString(t.Title) > maxTemplateKey:
		return SyncTitleTooLong
	case utf8.RuneCountInString(t.TemplateID) > maxTemplateKey:
		return SyncIDTooLong
	}
	return ""
}

// clip keeps the first n characters of s (for naming a template in a note).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
