package models

import "testing"

func TestPasswordWeakness(t *testing.T) {
	for _, tc := range []struct{ pw, email, name, want string }{
		{"aaaaaaaaaa", "", "", WeakRepeated},
		{"ababababab", "", "", WeakFewDistinct},
		{"1122334411", "", "", WeakFewDistinct},
		{"1234567890", "", "", WeakSequence},
		{"0987654321", "", "", WeakSequence},
		{"abcdefghijk", "", "", WeakSequence},
		{"QWERTYUIOP", "", "", WeakSequence},
		{"1qaz2wsx3edc", "", "", WeakSequence},
		{"ops.team@example.com", "ops.team@example.com", "", WeakIdentity},
		{"opsteam2024!", "ops.team@example.com", "", WeakIdentity},
		{"zhangwei520", "z@example.com", "Zhang Wei", WeakIdentity},
		{"Password2024!", "", "", WeakCommon},
		{"admin1234567", "", "", WeakCommon},
		{"woaini5201314", "", "", WeakCommon},
		{"875201314097", "", "", WeakCommon},
		{"correct horse battery", "ops@example.com", "Ops", ""},
		{"7391058264", "", "", ""},
		{"我的密码不告诉你呀", "", "", ""},
	} {
		if got := PasswordWeakness(tc.pw, tc.email, tc.name); got != tc.want {
			t.Errorf("PasswordWeakness(%q, %q, %q) = %q, want %q", tc.pw, tc.email, tc.name, got, tc.want)
		}
	}
}
