package models

import "testing"

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
