package membership

import (
	"testing"

	"github.com/dynago/dynago/ring"
)

// A table's identity crosses the wire in every checked internode call and
// is persisted (a node's readyFor): the digests are pinned (the values
// node's idOf and lineID gave before this package was split from node).
func TestTableID(t *testing.T) {
	tb := goldenState().Table
	if got, want := tb.ID(), (TableID{Version: 2, Digest: 11180713364231706100}); got != want {
		t.Errorf("ID %+v, want %+v", got, want)
	}
	if got, want := tb.LineID(), (TableID{Version: 2, Digest: 12681870769643898675}); got != want {
		t.Errorf("LineID %+v, want %+v", got, want)
	}
	// The next table's Prev is this one as LineID sees it.
	next := TableOf(mustRing(t, tb), 3, "a", tb, nil)
	if next.Prev.ID() != tb.LineID() {
		t.Errorf("the next table's Prev has identity %+v, LineID %+v", next.Prev.ID(), tb.LineID())
	}
	var none *Table
	if none.ID() != (TableID{}) || none.LineID() != (TableID{}) || (State{}).TableVersion() != 0 {
		t.Error("no table must have the zero identity and version 0")
	}
}

func mustRing(t *testing.T, tb *Table) *ring.Ring {
	t.Helper()
	r, err := tb.Ring(goldenState().RingConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
