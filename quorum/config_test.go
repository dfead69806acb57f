package quorum

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	if c != (Config{N: 3, R: 2, W: 2}) {
		t.Fatalf("DefaultConfig = %+v, DESIGN.md §4 says N=3 R=2 W=2 PR=0 PW=0", c)
	}
	// Dynamo §4.5: the default read and write quorums overlap.
	if !c.Overlaps() {
		t.Fatal("default config does not overlap")
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		c       Config
		wantErr string // substring; "" means valid
	}{
		{"default", Config{N: 3, R: 2, W: 2}, ""},
		{"single node", Config{N: 1, R: 1, W: 1}, ""},
		{"all and all", Config{N: 5, R: 5, W: 5, PR: 5, PW: 5}, ""},
		{"weak R=1 W=1 is allowed", Config{N: 3, R: 1, W: 1}, ""},
		{"PR above R is allowed", Config{N: 3, R: 1, W: 2, PR: 3}, ""},
		{"PW above W is allowed", Config{N: 3, R: 2, W: 1, PW: 2}, ""},
		{"zero value", Config{}, "N=0"},
		{"negative N", Config{N: -1, R: 1, W: 1}, "N=-1"},
		{"R zero", Config{N: 3, R: 0, W: 2}, "R=0"},
		{"R above N", Config{N: 3, R: 4, W: 2}, "R=4"},
		{"W zero", Config{N: 3, R: 2, W: 0}, "W=0"},
		{"W above N", Config{N: 3, R: 2, W: 4}, "W=4"},
		{"PR negative", Config{N: 3, R: 2, W: 2, PR: -1}, "PR=-1"},
		{"PR above N", Config{N: 3, R: 2, W: 2, PR: 4}, "PR=4"},
		{"PW above N", Config{N: 3, R: 2, W: 2, PW: 4}, "PW=4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tc.c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error about %s", tc.c, tc.wantErr)
			}
			if !errors.Is(err, ErrBadConfig) || !strings.HasPrefix(err.Error(), "quorum: ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate(%+v) = %q; want ErrBadConfig mentioning %q", tc.c, err, tc.wantErr)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	cases := []struct {
		name string
		c    Config
		want bool
	}{
		{"2+2>3", Config{N: 3, R: 2, W: 2}, true},
		{"1+3>3", Config{N: 3, R: 1, W: 3}, true},
		{"1+2=3", Config{N: 3, R: 1, W: 2}, false},
		{"1+1<3", Config{N: 3, R: 1, W: 1}, false},
		{"3+3>5", Config{N: 5, R: 3, W: 3}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Overlaps(); got != tc.want {
				t.Fatalf("Overlaps(%+v) = %v, want %v", tc.c, got, tc.want)
			}
		})
	}
}

func TestParseCount(t *testing.T) {
	cases := []struct {
		name  string
		s     string
		n     int
		want  int
		isErr bool
	}{
		{"one", "one", 3, 1, false},
		{"quorum of 3", "quorum", 3, 2, false},
		{"quorum of 4", "quorum", 4, 3, false},
		{"quorum of 5", "quorum", 5, 3, false},
		{"quorum of 1", "quorum", 1, 1, false},
		{"all", "all", 3, 3, false},
		{"all of 5", "all", 5, 5, false},
		{"decimal low", "1", 3, 1, false},
		{"decimal high", "3", 3, 3, false},
		{"leading zero", "02", 3, 2, false},
		{"zero", "0", 3, 0, true},
		{"above n", "4", 3, 0, true},
		{"empty", "", 3, 0, true},
		{"negative", "-1", 3, 0, true},
		{"plus sign", "+2", 3, 0, true},
		{"spaces", " 2", 3, 0, true},
		{"trailing space", "2 ", 3, 0, true},
		{"word", "two", 3, 0, true},
		{"upper case", "ONE", 3, 0, true},
		{"default is not a count", "default", 3, 0, true},
		{"float", "2.0", 3, 0, true},
		{"hex", "0x2", 3, 0, true},
		{"huge", "99999999999999999999", 3, 0, true},
		{"bad n", "one", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCount(tc.s, tc.n)
			checkParse(t, "ParseCount", tc.s, tc.n, got, err, tc.want, tc.isErr)
		})
	}
}

func TestParsePrimaryCount(t *testing.T) {
	cases := []struct {
		name  string
		s     string
		n     int
		want  int
		isErr bool
	}{
		{"zero", "0", 3, 0, false},
		{"one", "one", 3, 1, false},
		{"quorum", "quorum", 3, 2, false},
		{"all", "all", 3, 3, false},
		{"decimal", "2", 3, 2, false},
		{"n", "3", 3, 3, false},
		{"above n", "4", 3, 0, true},
		{"negative", "-1", 3, 0, true},
		{"empty", "", 3, 0, true},
		{"word", "none", 3, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrimaryCount(tc.s, tc.n)
			checkParse(t, "ParsePrimaryCount", tc.s, tc.n, got, err, tc.want, tc.isErr)
		})
	}
}

func checkParse(t *testing.T, fn, s string, n, got int, err error, want int, isErr bool) {
	t.Helper()
	if isErr {
		if err == nil {
			t.Fatalf("%s(%q, %d) = %d, want an error", fn, s, n, got)
		}
		if !errors.Is(err, ErrBadParam) || !strings.HasPrefix(err.Error(), "quorum: ") {
			t.Fatalf("%s(%q, %d) error %q does not wrap ErrBadParam", fn, s, n, err)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("%s(%q, %d) = %d, %v; want %d", fn, s, n, got, err, want)
	}
}

// FuzzParseCount: request parameters come from users; parsing never
// panics, and accepted values are in range and have one meaning.
func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"one", "quorum", "all", "0", "1", "3", "4", "-1", "", "02", "1e3"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		for _, tc := range []struct {
			parse func(string, int) (int, error)
			min   int
		}{{ParseCount, 1}, {ParsePrimaryCount, 0}} {
			v, err := tc.parse(s, n)
			if err != nil {
				if !errors.Is(err, ErrBadParam) {
					t.Fatalf("error %v does not wrap ErrBadParam", err)
				}
				continue
			}
			if v < tc.min || v > n {
				t.Fatalf("parse(%q, %d) = %d, out of %d..%d", s, n, v, tc.min, n)
			}
		}
	})
}
