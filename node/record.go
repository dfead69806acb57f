package node

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dynago/dynago/vclock"
)

// A replica's stored record of a key is the key's state (what every replica
// agrees on) plus what only this node knows: the actor it issues counters
// with for the key, if any (the key's owner actor).
//
// Dot issuance (Riak's kv679; issue 10, hole 1). A node may issue counter
// c+1 of an actor for a key only if it provably knows every counter that
// actor issued for the key: otherwise it can mint a dot some replica (a
// tombstone not yet reaped there, a client's old context) already covers,
// and the new write is dropped on arrival although acknowledged, or one dot
// names two values. The proof is the record: a node mints a fresh actor
// (random epoch) the first time it coordinates a write for a key in a
// record that has no owner actor of its own, stores the write in the record
// before any other replica sees the dot (writePrimary), and keeps using
// that actor only while the record survives. Every counter the actor ever
// issued went through this record, and a record's context only grows, so
// the record's context knows them all. Whatever forgets the record forgets
// the owner with it: a reaped tombstone or a dropped stale copy deletes the
// whole record, so the next write mints a fresh actor, and a record that
// reappears through a merge (read repair, anti-entropy, a transfer, a hint)
// comes without an owner. A record that may have lost writes without being
// deleted (an unclean shutdown, a restored backup) is caught by the
// incarnation: the owner is honoured only if it was minted in this node's
// current incarnation (Node.incarnation, new after an unclean start or a
// detected restore).
//
// Stored layout: recordV2, uvarint incarnation, uvarint owner epoch, then
// the state's own encoding (vclock, first byte 1). A value whose first
// byte is the state's format is an older record with no owner. Anti-entropy
// hashes and peers see only the state's encoding, so replicas whose states
// agree compare equal whatever their owners.

// recordV2 marks a record with an owner header. It can't be a state's
// format byte (vclock's is 1).
const recordV2 = 0x80

// ownerActor is the actor this node issues counters with for one key, and
// the incarnation it was minted in. The zero value is "none".
type ownerActor struct {
	Incarnation uint64
	Epoch       uint64
}

// record is a decoded stored record.
type record struct {
	State vclock.State
	Owner ownerActor
}

// errBadRecord wraps a stored record that does not decode.
var errBadRecord = errors.New("node: stored record is corrupt")

// splitRecord returns a stored record's owner and its state's encoding
// (a subslice of b).
func splitRecord(b []byte) (ownerActor, []byte, error) {
	if len(b) == 0 || b[0] != recordV2 {
		return ownerActor{}, b, nil
	}
	inc, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return ownerActor{}, nil, fmt.Errorf("%w: bad incarnation", errBadRecord)
	}
	ep, m := binary.Uvarint(b[1+n:])
	if m <= 0 {
		return ownerActor{}, nil, fmt.Errorf("%w: bad owner epoch", errBadRecord)
	}
	return ownerActor{Incarnation: inc, Epoch: ep}, b[1+n+m:], nil
}

// stateBytes returns the state encoding inside a stored record: what
// anti-entropy hashes and what peers are sent.
func stateBytes(b []byte) ([]byte, error) {
	_, st, err := splitRecord(b)
	return st, err
}

// decodeRecord decodes a stored record.
func decodeRecord(b []byte) (record, error) {
	r, _, err := decodeRecordEnc(b)
	return r, err
}

// decodeRecordEnc decodes a stored record and also returns its state's
// encoding (a subslice of b: what anti-entropy hashes).
func decodeRecordEnc(b []byte) (record, []byte, error) {
	owner, enc, err := splitRecord(b)
	if err != nil {
		return record{}, nil, err
	}
	var r record
	if err := r.State.UnmarshalBinary(enc); err != nil {
		return record{}, nil, fmt.Errorf("%w: %w", errBadRecord, err)
	}
	r.Owner = owner
	return r, enc, nil
}

// appendRecord encodes a record around its state's encoding.
func appendRecord(b []byte, owner ownerActor, stateEnc []byte) []byte {
	if owner == (ownerActor{}) {
		return append(b, stateEnc...)
	}
	b = append(b, recordV2)
	b = binary.AppendUvarint(b, owner.Incarnation)
	b = binary.AppendUvarint(b, owner.Epoch)
	return append(b, stateEnc...)
}

// keyActor returns the actor to issue a new counter with for the key whose
// record is cur, the record's owner afterwards, and whether it is cur's
// own: cur's owner when it was minted in incarnation inc and the
// incarnation is verified (not possibly a restored copy), else a fresh
// actor minted in inc.
func keyActor(name string, cur record, inc uint64, verified bool) (vclock.Actor, ownerActor, bool) {
	if verified && cur.Owner.Epoch != 0 && cur.Owner.Incarnation == inc {
		return vclock.Actor{Node: name, Epoch: cur.Owner.Epoch}, cur.Owner, true
	}
	return freshOwner(name, inc)
}

// freshOwner mints a new actor for a key.
func freshOwner(name string, inc uint64) (vclock.Actor, ownerActor, bool) {
	o := ownerActor{Incarnation: inc, Epoch: randomEpoch()}
	return vclock.Actor{Node: name, Epoch: o.Epoch}, o, false
}

// randomEpoch returns a new epoch: 63 random bits (never 0). Random epochs
// can't collide in practice and need no memory of earlier ones, which a
// lost data directory doesn't have.
func randomEpoch() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("node: no randomness: " + err.Error())
	}
	return binary.BigEndian.Uint64(b[:])>>1 | 1
}
