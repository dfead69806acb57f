package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/dynago/dynago/storage"
)

// metaName is the name of the node whose data directory this is, written
// at its first start. A node started on another node's directory (a
// wrong --data-dir or --name) would otherwise serve that node's replicas
// as its own, mint counters in its name, and gossip a record that is not
// its own: it stops at startup instead.
var metaName = storage.MetaKey("name")

// ErrForeignDataDir is wrapped by New's error for a data directory that
// belongs to another node.
var ErrForeignDataDir = errors.New("node: the data directory belongs to another node")

// checkIdentity refuses a store written by a node of another name, and
// records this node's name in a store that has none (a new directory, or
// one from before names were recorded).
func (m *members) checkIdentity(ctx context.Context) error {
	b, err := m.store.Get(ctx, metaName)
	switch {
	case err == nil && string(b) == m.cfg.Name:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s holds node %q's data, and this node is %q; start it with --name %s, or give this node its own data dir",
			ErrForeignDataDir, m.dataDirName(), b, m.cfg.Name, b)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("node: reading the data directory's node name: %w", err)
	}
	if err := m.store.Update(ctx, metaName, func([]byte, bool) ([]byte, error) { return []byte(m.cfg.Name), nil }); err != nil {
		return fmt.Errorf("node: recording the data directory's node name: %w", err)
	}
	return nil
}

func (m *members) dataDirName() string {
	if m.cfg.DataDir == "" {
		return "the store"
	}
	return "data dir " + m.cfg.DataDir
}
