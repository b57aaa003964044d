package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// FlexInt is an int64 that WeChat sends sometimes as a JSON number and
// sometimes as a string ("1620963428", "0"). It is decoded exactly, so
// values above 2^53 (msgid, MsgID) keep every digit. null and "" decode
// to 0. It encodes as a JSON number.
type FlexInt int64

var errFlexInt = errors.New("wechat: not an integer")

// UnmarshalJSON accepts 123, "123", " 123 ", null and "".
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errFlexInt
	}
	if bytes.Equal(b, []byte("null")) {
		*f = 0
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = strings.TrimSpace(str)
		if s == "" {
			*f = 0
			return nil
		}
	}
	n, err := parseFlexInt(s)
	if err != nil {
		return err
	}
	*f = FlexInt(n)
	return nil
}

// MarshalJSON writes the value as a JSON number.
func (f FlexInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(f), 10), nil
}

func parseFlexInt(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	// "12.0" or "1e3" would be odd for an id, but an integral float is still
	// unambiguous when it is small enough to be exact.
	if fl, err := strconv.ParseFloat(s, 64); err == nil && fl == float64(int64(fl)) && fl > -(1<<53) && fl < 1<<53 {
		return int64(fl), nil
	}
	return 0, errFlexInt
}

// FlexString is a string that WeChat sends sometimes as a JSON string and
// sometimes as a number (categoryId, tid). Numbers keep their digits exactly.
type FlexString string

// UnmarshalJSON accepts "abc", 123 and null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("wechat: empty value")
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	case 'n':
		if bytes.Equal(b, []byte("null")) {
			*f = ""
			return nil
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = FlexString(n.String())
		return nil
	}
	return errors.New("wechat: not a string or number")
}
