package membership

import "github.com/cespare/xxhash/v2"

// TableID identifies an ownership table: its version and a digest of its
// encoding (two claimants on two sides of a partition may claim the same
// version). Internode calls carry it so that a replica with another table
// refuses them (node/view.go).
type TableID struct {
	Version uint64
	Digest  uint64
}

// ID returns t's identity (the zero identity for a nil table).
func (t *Table) ID() TableID {
	if t == nil {
		return TableID{}
	}
	return TableID{Version: t.Version, Digest: xxhash.Sum64(mustJSON(t))}
}

// LineID identifies t as the Prev of the next table names it: without its
// own Prev and carried sources (TableOf strips them), so that a node can
// tell whether the table it last reconciled with is the one a new table
// was claimed from. It is the zero identity for a nil table.
func (t *Table) LineID() TableID {
	if t == nil {
		return TableID{}
	}
	c := *t
	c.Prev, c.Sources = nil, nil
	return c.ID()
}

// TableVersion is the version of c's ownership table (0 before any claim).
func (c State) TableVersion() uint64 {
	if c.Table == nil {
		return 0
	}
	return c.Table.Version
}
