package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/storage"
)

// Restored data directories (issue 10; Riak's kv679 once more). A node
// keeps its incarnation across a clean restart, so the owner actors of its
// keys stay valid (record.go). But a data directory copied from a cleanly
// stopped node and restored later is clean too, and its records have
// forgotten every counter the node issued after the copy: honoured, they
// would issue those counters again. So every run of a node has a random
// boot id, which its gossiped record carries (Boot) and its data directory
// remembers (metaBoot). Until the node has seen the cluster's record of
// itself, it honours no owner actor (it mints fresh ones, which is always
// safe). When it does: if that record names this run or the data
// directory's previous run, the directory is the node's latest and its
// incarnation stands; if it names another run, the cluster has seen a
// later life of this node than this directory knows, the directory was
// restored, and the node takes a new incarnation.

var metaBoot = storage.MetaKey("boot")

// incarnation is the node's incarnation epoch: new whenever the data
// directory may have lost writes it acknowledged (new, lost, not shut down
// cleanly, restored). Owner actors of keys are honoured only within the
// incarnation they were minted in (record.go), and only once Verified: the
// cluster confirmed that the directory is the node's latest.
type incarnation struct {
	Epoch    uint64
	Verified bool
}

// loadBoot records a new boot id for this run and returns the previous
// run's ("" for a new directory).
func (m *members) loadBoot(ctx context.Context) error {
	b, err := m.store.Get(ctx, metaBoot)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fmt.Errorf("node: boot id: %w", err)
	default:
		m.prevBoot = string(b)
	}
	m.boot = strconv.FormatUint(randomEpoch(), 36)
	if err := m.store.Update(ctx, metaBoot, func([]byte, bool) ([]byte, error) { return []byte(m.boot), nil }); err != nil {
		return fmt.Errorf("node: boot id: %w", err)
	}
	return nil
}

// checkOwnRecord verifies this node's incarnation against the cluster's
// record of it (see above). It is called for every record of this node
// that arrives, before the merge.
func (m *members) checkOwnRecord(r membership.Record) {
	cur := m.inc.Load()
	if r.Name != m.cfg.Name || cur.Verified {
		return
	}
	switch r.Boot {
	case "", m.boot, m.prevBoot:
		if m.inc.CompareAndSwap(cur, &incarnation{Epoch: cur.Epoch, Verified: true}) {
			m.log.Debug("the cluster's record of this node matches its data directory; owner actors are honoured")
		}
	default:
		m.rotateIncarnation("the cluster has seen a later run of this node than its data directory knows (restored from a copy?)")
	}
}

// rotateIncarnation takes a new incarnation: no owner actor minted before
// is honoured again.
func (m *members) rotateIncarnation(why string) {
	epoch := randomEpoch()
	err := m.store.Update(context.Background(), metaEpoch, func([]byte, bool) ([]byte, error) {
		return binary.BigEndian.AppendUint64(nil, epoch), nil
	})
	if err != nil {
		m.log.Error("saving a new incarnation", "err", err)
		return // not verified: owner actors stay unhonoured, which is safe
	}
	m.inc.Store(&incarnation{Epoch: epoch, Verified: true})
	m.log.Warn("took a new incarnation: "+why, "incarnation", epoch)
}

// aloneInCluster reports whether this node's membership has no other
// member in the ring (nothing to verify its incarnation against).
func (m *members) aloneInCluster() bool {
	for name, r := range m.clusterView().Members {
		if name != m.cfg.Name && membership.InRing(r.Status) {
			return false
		}
	}
	return true
}
