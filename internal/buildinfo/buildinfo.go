// Package buildinfo says which build of dynago is running: its version,
// the commit it was built from and the Go version that compiled it. The
// CLI prints it (dynago version), and a node shows it on GET /health and
// as the dynago_build_info metric, so an operator can tell which build
// each node of a cluster runs.
//
// It imports nothing but the standard library and reads only the
// binary's own build information (runtime/debug), so cmd/dynago and node
// can both import it. The version comes, in order, from the linker
// (-ldflags "-X github.com/dynago/dynago/internal/buildinfo.version=v1.2.3"),
// from the module version that `go install …@version` records, or is
// "dev". The commit comes from the VCS stamp that `go build` adds in a git
// checkout; a build without one (-buildvcs=false, as CI builds, or a
// source tree without .git) has commit "unknown".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set by the linker for release builds; empty otherwise.
var version string

// Unknown is the Commit of a build without a VCS stamp.
const Unknown = "unknown"

// Info is one build's identity.
type Info struct {
	// Version is the release version, the module version of a
	// `go install …@version` build, or "dev".
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, or Unknown.
	Commit string `json:"commit"`
	// CommitTime is the revision's commit time (RFC 3339), or "".
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is set when the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that compiled the binary.
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(version, bi)
}

// fromBuildInfo is Get on given inputs: the linker's version (may be
// empty) and the binary's build info (nil when unavailable).
func fromBuildInfo(ldVersion string, bi *debug.BuildInfo) Info {
	in := Info{Version: ldVersion, Commit: Unknown, GoVersion: runtime.Version()}
	if bi == nil {
		if in.Version == "" {
			in.Version = "dev"
		}
		return in
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	if in.Version == "" {
		// "(devel)" is what a build inside the module's own tree records
		// when it has no VCS stamp to derive a pseudo-version from.
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			in.Version = v
		} else {
			in.Version = "dev"
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				in.Commit = s.Value
			}
		case "vcs.time":
			in.CommitTime = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// ShortCommit is Commit cut to 12 characters (git's short form is
// unambiguous at that length in any repository this size).
func (i Info) ShortCommit() string {
	if len(i.Commit) > 12 && i.Commit != Unknown {
		return i.Commit[:12]
	}
	return i.Commit
}

// String is the one-line form: "dynago v1.2.3 (commit 0123456789ab, modified; go1.26.0)".
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dynago %s (commit %s", i.Version, i.ShortCommit())
	if i.Modified {
		b.WriteString(", modified")
	}
	if i.CommitTime != "" {
		fmt.Fprintf(&b, ", %s", i.CommitTime)
	}
	fmt.Fprintf(&b, "; %s)", i.GoVersion)
	return b.String()
}
