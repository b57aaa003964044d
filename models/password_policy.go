package models

import (
	"strings"
	"unicode"
)

// MinPasswordDistinct is the fewest different characters a password may have.
const MinPasswordDistinct = 5

// Reasons PasswordWeakness gives, worded by the catalogue as "sec.password.<reason>".
const (
	WeakRepeated    = "repeated"     // one character over and over
	WeakFewDistinct = "few_distinct" // fewer than MinPasswordDistinct different characters
	WeakSequence    = "sequence"     // a run on the keyboard, the alphabet or the digits
	WeakIdentity    = "identity"     // holds the email address, its name part or the person's name
	WeakCommon      = "common"       // a common password, or a common word with digits and symbols added
)

// commonPasswordWords are the bases of passwords guessed first; a password
// that is one of them once trailing digits and symbols are removed is
// refused ("Password2024!", "admin123456").
var commonPasswordWords = map[string]bool{
	"password": true, "passw0rd": true, "p@ssw0rd": true, "p@ssword": true, "admin": true, "administrator": true,
	"root": true, "welcome": true, "iloveyou": true, "woaini": true, "qwerty": true, "qwertyuiop": true,
	"asdfghjkl": true, "letmein": true, "changeme": true, "secret": true, "monkey": true, "dragon": true,
	"football": true, "baseball": true, "sunshine": true, "princess": true, "abc": true, "aa": true,
	"qq": true, "wechat": true, "weixin": true, "minipush": true, "test": true, "guest": true,
	"1qaz2wsx": true, "1qaz2wsx3edc": true, "1q2w3e4r": true, "1q2w3e4r5t": true, "zaq12wsx": true,
}

// commonDigitPasswords are all-digit passwords guessed early ("I love
// you for a lifetime", dates) that the run and repeat checks miss.
var commonDigitPasswords = []string{"5201314", "1314520", "11223344", "12344321", "19491001", "147258369", "159357"}

// passwordRuns are the sequences a password may not be a piece of
// (either way round), once lower-cased.
var passwordRuns = []string{
	"01234567890123456789",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
	"qwertyuiopasdfghjklzxcvbnm",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
}

// PasswordWeakness tells why pw is too easy to guess for a staff account
// whose email and name are given, or "" when it is acceptable. Length is
// checked apart (MinPasswordLen); this catches the long but trivial:
// "aaaaaaaaaa", "ababababab", "1234567890", "password123", the email.
func PasswordWeakness(pw, email, name string) string {
	lower := strings.ToLower(pw)
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	switch {
	case len(distinct) == 1:
		return WeakRepeated
	case len(distinct) < MinPasswordDistinct:
		return WeakFewDistinct
	case isRun(lower):
		return WeakSequence
	case holdsIdentity(lower, email, name):
		return WeakIdentity
	case isCommon(lower):
		return WeakCommon
	}
	return ""
}

func isCommon(lower string) bool {
	base := strings.TrimRightFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	if base != "" {
		return commonPasswordWords[base]
	}
	for _, d := range commonDigitPasswords {
		if strings.Contains(lower, d) {
			return true
		}
	}
	return false
}

func isRun(lower string) bool {
	rev := []rune(lower)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	for _, run := range passwordRuns {
		if strings.Contains(run, lower) || strings.Contains(run, string(rev)) {
			return true
		}
	}
	return false
}

// holdsIdentity: the whole email, its part before @ (also without dots,
// dashes and underscores), or the name (also without spaces), each when 4
// characters or more, appears in the password.
func holdsIdentity(lower, email, name string) bool {
	email = strings.ToLower(strings.TrimSpace(email))
	name = strings.ToLower(strings.TrimSpace(name))
	local, _, _ := strings.Cut(email, "@")
	squeeze := strings.NewReplacer(".", "", "-", "", "_", "", "+", "", " ", "")
	for _, id := range []string{email, local, squeeze.Replace(local), name, squeeze.Replace(name)} {
		if len([]rune(id)) >= 4 && strings.Contains(lower, id) {
			return true
		}
	}
	return false
}
