package gossip

import (
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/internal/membership"
)

// The name-takeover rule with and without Config.Rebind: a merge that
// lists this node at its old address is joined only with Rebind; an
// alive message of this node at another address is ignored either way;
// another member is admitted only at the address Known binds it to, and
// each refusal is counted.
func TestRebindChecker(t *testing.T) {
	meta, _ := json.Marshal(Meta{Partitions: 8, N: 3})
	node := func(name, ip string, port uint16) *memberlist.Node {
		return &memberlist.Node{Name: name, Addr: net.ParseIP(ip), Port: port, Meta: meta}
	}
	known := map[string]string{"b": "10.0.0.2:7946"}
	for _, rebind := range []bool{false, true} {
		var refusals atomic.Uint64
		c := checker{name: "a", partitions: 8, n: 3, addr: "10.0.0.9:7946", rebind: rebind, refusals: &refusals,
			known: func(name string) string { return known[name] }}
		selfOld := node("a", "10.0.0.1", 7946) // this node at its address before it moved
		err := mergeDelegate{c}.NotifyMerge([]*memberlist.Node{selfOld, node("b", "10.0.0.2", 7946)})
		if rebind && err != nil {
			t.Errorf("rebind: a merge listing this node at its old address refused: %v", err)
		}
		if !rebind && !errors.Is(err, membership.ErrNameTaken) {
			t.Errorf("no rebind: a merge listing this node elsewhere gave %v, want ErrNameTaken", err)
		}
		if err := (aliveDelegate{c}).NotifyAlive(selfOld); !errors.Is(err, membership.ErrNameTaken) {
			t.Errorf("rebind=%v: an alive of this node at another address gave %v, want ErrNameTaken", rebind, err)
		}
		if err := (aliveDelegate{c}).NotifyAlive(node("b", "10.0.0.7", 7946)); !errors.Is(err, membership.ErrNameTaken) {
			t.Errorf("rebind=%v: b from an unbound address gave %v, want ErrNameTaken", rebind, err)
		}
		if err := (aliveDelegate{c}).NotifyAlive(node("b", "10.0.0.2", 7946)); err != nil {
			t.Errorf("rebind=%v: b at its bound address refused: %v", rebind, err)
		}
		want := uint64(3)
		if rebind {
			want = 2
		}
		if got := refusals.Load(); got != want {
			t.Errorf("rebind=%v: %d refusals counted, want %d", rebind, got, want)
		}
	}
}
