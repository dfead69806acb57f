package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/dynago/dynago", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-04T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name string
		ld   string
		bi   *debug.BuildInfo
		want Info
	}{
		{"no build info", "", nil, Info{Version: "dev", Commit: Unknown, GoVersion: runtime.Version()}},
		{"linker version wins", "v9.9.9", stamped, Info{Version: "v9.9.9", Commit: "0123456789abcdef0123456789abcdef01234567",
			CommitTime: "2026-12-04T10:00:00Z", Modified: true, GoVersion: "go1.26.0"}},
		{"go install @version", "", stamped, Info{Version: "v0.3.0", Commit: "0123456789abcdef0123456789abcdef01234567",
			CommitTime: "2026-12-04T10:00:00Z", Modified: true, GoVersion: "go1.26.0"}},
		// CI builds with -buildvcs=false: no vcs settings, Main.Version "(devel)".
		{"no VCS stamp", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			Info{Version: "dev", Commit: Unknown, GoVersion: "go1.26.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.ld, tc.bi); got != tc.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	in := Info{Version: "v1.2.3", Commit: "0123456789abcdef", Modified: true, GoVersion: "go1.26.0"}
	if got, want := in.String(), "dynago v1.2.3 (commit 0123456789ab, modified; go1.26.0)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := (Info{Version: "dev", Commit: Unknown, GoVersion: "go1.26.0"}).String(); !strings.Contains(got, "commit unknown;") {
		t.Errorf("String = %q, want the unknown commit spelled out", got)
	}
}

// TestGetInTest: a test binary has build info; Get must report the
// toolchain that built it.
func TestGetInTest(t *testing.T) {
	in := Get()
	if in.GoVersion != runtime.Version() || in.Version == "" || in.Commit == "" {
		t.Errorf("Get = %+v", in)
	}
}
