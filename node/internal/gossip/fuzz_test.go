package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/internal/membership"
)

// fuzzDelegate is testDelegate (partitions 64, N 3) whose recovered panics
// fail t: a delegate must decode and check, never panic.
func fuzzDelegate(t *testing.T, st State) *delegate {
	return testDelegate(st, func(where string, v any) { t.Fatalf("%s: recovered a panic: %v", where, v) })
}

// FuzzNotifyMsg: a gossiped membership record comes from any sender on the
// gossip port (without a gossip key, anyone). NotifyMsg never panics and
// merges exactly the inputs that decode as a record, as decoded; a merged
// record survives the encoding Broadcast sends it with.
func FuzzNotifyMsg(f *testing.F) {
	for _, r := range []membership.Record{
		{Name: "b", Status: membership.StatusValid, Version: 7, Gossip: "10.0.0.2:7946", RPC: "10.0.0.2:1", HTTP: "10.0.0.2:2"},
		{Name: "c", Zone: "z", Status: membership.StatusLeaving, Version: 1 << 63, Holds: "0-3,7", HoldsAt: 2, ReadyAt: 3, Boot: "x", Gen: 1},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"name":"b","version":-1}`))
	f.Add([]byte(`{"name":"b","version":18446744073709551616}`))
	f.Add([]byte(`{"name":"\ud800","status":"valid"}`))
	f.Add([]byte(`[{"name":"b"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := &fakeState{}
		fuzzDelegate(t, st).NotifyMsg(b)
		var want membership.Record
		if err := json.Unmarshal(b, &want); err != nil {
			if len(st.recs) != 0 {
				t.Fatalf("NotifyMsg(%q) merged %+v from input that does not decode (%v)", b, st.recs, err)
			}
			return
		}
		if len(st.recs) != 1 || st.recs[0] != want {
			t.Fatalf("NotifyMsg(%q) merged %+v, want [%+v]", b, st.recs, want)
		}
		m := &Member{bcast: &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 4}}
		m.Broadcast(st.recs[0])
		msgs := m.bcast.GetBroadcasts(0, 1<<30)
		if len(msgs) != 1 {
			t.Fatalf("Broadcast of %+v queued %d messages", st.recs[0], len(msgs))
		}
		again := &fakeState{}
		fuzzDelegate(t, again).NotifyMsg(msgs[0])
		if len(again.recs) != 1 || again.recs[0] != want {
			t.Fatalf("record %+v gossiped as %q arrives as %+v", want, msgs[0], again.recs)
		}
	})
}

// FuzzMergeRemoteState: a push/pull state comes from any peer. It is
// merged only when it decodes (membership.Unmarshal) and has this node's
// ring configuration (partitions 64, N 3), and then as decoded; nothing
// panics.
func FuzzMergeRemoteState(f *testing.F) {
	rec := membership.Record{Name: "b", Status: membership.StatusValid, Version: 1}
	f.Add(membership.State{Partitions: 64, N: 3, Members: map[string]membership.Record{"b": rec}}.Marshal(), false)
	f.Add(membership.State{Partitions: 32, N: 3, Members: map[string]membership.Record{"b": rec}}.Marshal(), true)
	f.Add(membership.State{Partitions: 64, N: 3}.Marshal(), true)
	f.Add([]byte(`{"partitions":64,"n":3,"members":{"a":{"name":"b"}}}`), false) // filed under another name
	f.Add([]byte(`{"partitions":64,"n":3,"members":{},"table":{"version":1,"members":[{"name":"a"}],"owners":[0]}}`), false)
	f.Add([]byte(`{"partitions":64,"n":3,"hold":{"version":2,"on":true}}`), true)
	f.Add([]byte(`{`), false)
	f.Fuzz(func(t *testing.T, b []byte, join bool) {
		st := &fakeState{}
		fuzzDelegate(t, st).MergeRemoteState(b, join)
		want, err := membership.Unmarshal(b)
		merge := err == nil && want.Partitions == 64 && want.N == 3
		if !merge {
			if len(st.states) != 0 {
				t.Fatalf("MergeRemoteState(%q) merged a state (decode: %v, partitions %d, n %d)", b, err, want.Partitions, want.N)
			}
			return
		}
		if len(st.states) != 1 || string(st.states[0].Marshal()) != string(want.Marshal()) {
			t.Fatalf("MergeRemoteState(%q) merged %+v, want %+v", b, st.states, want)
		}
	})
}

// FuzzPeerMeta: a peer's metadata and name come from the network (alive
// and merge messages). The checker refuses exactly what its rules refuse,
// computed here independently: this node's name from another address and
// a name bound elsewhere (membership.ErrNameTaken), unreadable metadata, a
// protocol range sharing no version (ErrProtocol), another ring
// configuration (membership.ErrClusterMismatch). The liveness table takes
// any metadata without a panic, and metadata the checker accepts is what
// the table records and round trips through NodeMeta's encoding.
func FuzzPeerMeta(f *testing.F) {
	meta := func(m Meta) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add("b", uint8(2), meta(Meta{RPC: "10.0.0.2:1", HTTP: "10.0.0.2:2", Partitions: 64, N: 3, ProtoMin: 1, ProtoMax: 2, Version: "v1"}), uint8(1), uint8(2))
	f.Add("b", uint8(3), meta(Meta{Partitions: 64, N: 3}), uint8(1), uint8(2))
	f.Add("a", uint8(4), meta(Meta{Partitions: 64, N: 3}), uint8(0), uint8(0))
	f.Add("c", uint8(9), meta(Meta{Partitions: 32, N: 3}), uint8(1), uint8(2))
	f.Add("c", uint8(9), meta(Meta{Partitions: 64, N: 3, ProtoMin: 5, ProtoMax: 6, Zone: "z"}), uint8(1), uint8(2))
	f.Add("c", uint8(9), []byte(`{"q":"64","n":3}`), uint8(0), uint8(0))
	f.Add("c", uint8(9), []byte(`{"q":64,"n":3,"pmin":300}`), uint8(1), uint8(1))
	f.Add("c", uint8(9), []byte(`{`), uint8(0), uint8(0))
	f.Add("", uint8(0), []byte(nil), uint8(2), uint8(1))
	f.Fuzz(func(t *testing.T, name string, ip uint8, metaBytes []byte, pmin, pmax uint8) {
		const self, selfAddr = "a", "10.0.0.1:7946"
		bound := map[string]string{"b": "10.0.0.2:7946"}
		c := checker{name: self, partitions: 64, n: 3, addr: selfAddr, protoMin: pmin, protoMax: pmax,
			known: func(name string) string { return bound[name] }}
		p := &memberlist.Node{Name: name, Meta: metaBytes, Addr: net.IPv4(10, 0, 0, ip%4+1), Port: 7946}

		// The rules, from the doc comments (doc.go, checker). want is the
		// sentinel the refusal wraps (unreadable: refused, no sentinel).
		var want error
		unreadable := false
		var m Meta
		merr := json.Unmarshal(metaBytes, &m)
		switch addr := p.Address(); {
		case name == self:
			if addr != selfAddr {
				want = membership.ErrNameTaken
			}
		case bound[name] != "" && bound[name] != addr:
			want = membership.ErrNameTaken
		case merr != nil:
			unreadable = true
		case pmin != 0 && pmax != 0 && !speaksOneOf(m, pmin, pmax):
			want = ErrProtocol
		case m.Partitions != 64 || m.N != 3:
			want = membership.ErrClusterMismatch
		}
		err := (aliveDelegate{c}).NotifyAlive(p)
		merged := (mergeDelegate{c}).NotifyMerge([]*memberlist.Node{p})
		if refused := want != nil || unreadable; (err != nil) != refused || (want != nil && !errors.Is(err, want)) {
			t.Fatalf("peer %q at %s with meta %q (this node's protocols %d..%d): %v; want refused=%v (%v, meta: %v)",
				name, p.Address(), metaBytes, pmin, pmax, err, refused, want, merr)
		}
		if fmt.Sprint(merged) != fmt.Sprint(err) {
			t.Fatalf("peer %q meta %q: merge delegate %v, alive delegate %v", name, metaBytes, merged, err)
		}

		var seen []Peer
		e := &events{self: self, peers: NewPeers(self, quiet, func(_ map[string]Peer, p Peer) { seen = append(seen, p) })}
		e.NotifyJoin(p)
		e.NotifyUpdate(p)
		e.NotifyLeave(p)
		if name == self {
			if len(seen) != 0 {
				t.Fatalf("this node's own events changed the table: %+v", seen)
			}
			return
		}
		if len(seen) != 3 || !seen[0].Alive || !seen[1].Alive || seen[2].Alive || e.peers.Alive(name) {
			t.Fatalf("join, update, leave of %q: table told %+v", name, seen)
		}
		if err != nil {
			return
		}
		if seen[0].Meta != m {
			t.Fatalf("accepted peer %q with meta %q recorded as %+v, want %+v", name, metaBytes, seen[0].Meta, m)
		}
		d := &delegate{meta: m}
		var back Meta
		if err := json.Unmarshal(d.NodeMeta(1<<20), &back); err != nil || back != m {
			t.Fatalf("meta %+v encoded by NodeMeta reads back as %+v, %v", m, back, err)
		}
	})
}

// speaksOneOf reports whether a peer with metadata m shares a protocol
// version with lo..hi (a peer that gossips none speaks protocol 1).
func speaksOneOf(m Meta, lo, hi uint8) bool {
	plo, phi := m.ProtoMin, m.ProtoMax
	if plo == 0 || phi == 0 {
		plo, phi = 1, 1
	}
	for v := int(lo); v <= int(hi); v++ {
		if int(plo) <= v && v <= int(phi) {
			return true
		}
	}
	return false
}
