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

func TestMariaDBAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"10.11.19-MariaDB-0+deb12u1", true}, {"10.3.18-MariaDB", true}, {"10.3.17-MariaDB", false},
		{"10.2.44-MariaDB-log", false}, {"11.4.2-MariaDB", true}, {"8.0.36", false}, {"10.4-MariaDB", true}, {"10.3-MariaDB", false},
	} {
		if got := mariaDBAtLeast(tc.v, 10, 3, 18); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.v, got, tc.want)
		}
	}
}
