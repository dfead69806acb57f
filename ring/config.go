package ring

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is; returned errors wrap
// them with detail.
var (
	ErrInvalidConfig   = errors.New("ring: invalid config")
	ErrEmptyID         = errors.New("ring: empty node ID")
	ErrDuplicateMember = errors.New("ring: duplicate member")
	ErrUnknownMember   = errors.New("ring: unknown member")
	ErrUnknownState    = errors.New("ring: unknown member state")
)

// MaxPartitions is the largest Q that Validate accepts. Placement costs
// O(Q × members) and every partition carries its own Merkle tree and
// transfer bookkeeping, so a larger Q buys nothing for clusters of the sizes
// we run (up to about a thousand nodes).
const MaxPartitions = 1 << 16

// Config fixes the shape of the ring. Every node of a cluster must use the
// same Config: placement is a function of (Config, members).
type Config struct {
	// Partitions is Q, the number of equal partitions of the key space
	// (Dynamo §6.2, strategy 3). A power of two in [1, MaxPartitions], so a
	// key's partition is the top log2(Q) bits of its hash. Q is fixed when
	// the cluster is created: changing it moves almost every key.
	Partitions int
	// N is the number of replicas of each partition, the length of a
	// preference list. N may exceed the number of members; lists then hold
	// every member.
	N int
}

// DefaultConfig returns the configuration a new cluster gets.
func DefaultConfig() Config {
	return Config{
		// 256: at least 4 partitions per node up to 64 nodes, the most for
		// which the 1.25x owner-balance bound can hold (a node must own
		// whole partitions); small enough that per-partition Merkle trees
		// and handoff units stay cheap. See doc.go on movement vs Q/k.
		Partitions: 256,
		// 3: Dynamo's typical (N, R, W) = (3, 2, 2); survives the loss of
		// one replica with R+W > N.
		N: 3,
	}
}

// Validate reports whether c can be used to build a Ring. The error wraps
// ErrInvalidConfig.
func (c Config) Validate() error {
	q := c.Partitions
	if q < 1 || q > MaxPartitions || q&(q-1) != 0 {
		return fmt.Errorf("%w: Partitions = %d, want a power of two in [1, %d]", ErrInvalidConfig, q, MaxPartitions)
	}
	if c.N < 1 {
		return fmt.Errorf("%w: N = %d, want >= 1", ErrInvalidConfig, c.N)
	}
	return nil
}
