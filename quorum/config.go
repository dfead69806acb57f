package quorum

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrBadConfig is wrapped by every error Config.Validate returns.
	ErrBadConfig = errors.New("quorum: invalid config")
	// ErrBadParam is wrapped by every error ParseCount and
	// ParsePrimaryCount return; node answers it with 400.
	ErrBadParam = errors.New("quorum: bad parameter")
)

// Config holds the replication factor and the default per-request quorum
// sizes (DESIGN.md §4). Requests may override R, W, PR and PW within the
// limits Validate enforces.
type Config struct {
	// N is the number of replicas of each key: the length of a key's
	// preference list.
	N int
	// R is how many replicas must answer a read before it returns.
	R int
	// W is how many replicas must acknowledge a write before it succeeds.
	W int
	// PR is how many of the R replies must come from primaries (nodes on
	// the key's preference list) rather than fallbacks. 0: any node counts.
	PR int
	// PW is the same for write acknowledgements.
	PW int
}

// DefaultConfig returns the configuration Dynamo calls typical (§6).
func DefaultConfig() Config {
	return Config{
		N:  3, // survives one node down with R and W met, and a second for reads at R=1; 3 copies of every key
		R:  2, // majority: R+W > N, so a read overlaps the last acknowledged write (Dynamo §4.5)
		W:  2, // majority: an acknowledged write survives the loss of any one replica
		PR: 0, // sloppy quorum: fallbacks count, so reads stay available during failures (Dynamo §4.6)
		PW: 0, // sloppy quorum: hinted writes count, so writes stay available (Dynamo §4.6)
	}
}

// Validate reports whether c is usable: N >= 1, R and W in 1..N, PR and PW
// in 0..N. PR may exceed R (and PW exceed W): the request then waits for
// PR primary replies, as in Riak, where pr and pw are bounded by n only.
// R + W <= N is allowed (a fast, weakly consistent setup); see Overlaps.
func (c Config) Validate() error {
	if c.N < 1 {
		return fmt.Errorf("%w: N=%d, must be at least 1", ErrBadConfig, c.N)
	}
	for _, f := range []struct {
		name     string
		val, min int
	}{{"R", c.R, 1}, {"W", c.W, 1}, {"PR", c.PR, 0}, {"PW", c.PW, 0}} {
		if f.val < f.min || f.val > c.N {
			return fmt.Errorf("%w: %s=%d, must be in %d..N=%d", ErrBadConfig, f.name, f.val, f.min, c.N)
		}
	}
	return nil
}

// Overlaps reports whether every read quorum intersects every write
// quorum (R + W > N, Dynamo §4.5), so that a read sees the latest
// acknowledged write when no fallbacks are involved. With sloppy quorums
// the guarantee needs primaries: PR + PW > N.
func (c Config) Overlaps() bool { return c.R+c.W > c.N }

// ParseCount parses an r or w request parameter for replication factor n:
// "one" (1), "quorum" (n/2+1), "all" (n) or a decimal in 1..n. Anything
// else, including values above n, is an error wrapping ErrBadParam.
func ParseCount(s string, n int) (int, error) {
	return parseCount(s, n, 1)
}

// ParsePrimaryCount parses a pr or pw request parameter: like ParseCount,
// but 0 ("no primaries required") is allowed, so decimals range over 0..n.
func ParsePrimaryCount(s string, n int) (int, error) {
	return parseCount(s, n, 0)
}

func parseCount(s string, n, min int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("%w: replication factor %d", ErrBadParam, n)
	}
	switch s {
	case "one":
		return 1, nil
	case "quorum":
		return n/2 + 1, nil
	case "all":
		return n, nil
	}
	if s == "" || len(s) > 9 {
		return 0, fmt.Errorf("%w: %.20q is not one, quorum, all or a number in %d..%d", ErrBadParam, s, min, n)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %.20q is not one, quorum, all or a number in %d..%d", ErrBadParam, s, min, n)
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < min || v > n {
		return 0, fmt.Errorf("%w: %.20q is out of range %d..%d", ErrBadParam, s, min, n)
	}
	return v, nil
}
