package node

import (
	"fmt"
	"sync/atomic"

	"github.com/dynago/dynago/node/internal/membership"
)

// roster owns the node's membership state: the member records, the
// ownership table and the staging hold (membership.State). One goroutine, run,
// applies every change in the order it receives them and publishes each
// result as an immutable snapshot whose sequence number only goes up; the
// placement (view, ring) is rebuilt from each snapshot by the same
// goroutine, so neither can go back to an older state (two writers used
// to race: each merged under a lock, then rebuilt the ring from its own,
// possibly older, snapshot). Readers load the snapshot without locking.
//
// Goroutine: run, started by New and stopped by Run's end (after every
// other goroutine of the node is done, since they may still update).
// An update after stop changes nothing and says so (the node is gone;
// its state was saved before).
type roster struct {
	reqs chan rosterReq
	pub  atomic.Pointer[rosterView]
	stop chan struct{}
	done chan struct{}
}

// rosterView is one published membership state. Its state is never
// modified: readers that want to change a copy call clone.
type rosterView struct {
	seq   uint64
	state membership.State
}

// rosterReq asks the owner to apply fn to the current state. fn returns
// the next state and whether it changed; it runs on the owner goroutine,
// so it must not block or call the roster. force publishes the placement
// of the next state even if its table is older than the published one
// (a node that forgot its own table to join another cluster).
type rosterReq struct {
	fn    func(membership.State) (membership.State, bool) // nil: refresh only
	force bool
	reply chan rosterReply
}

type rosterReply struct {
	v       rosterView
	changed bool
	err     error // from publish
}

// startRoster starts the owner of the membership state c. publish is
// called on the owner goroutine after each change, in sequence order (and
// for a forced refresh); its error goes back to the updater.
func startRoster(c membership.State, publish func(v rosterView, force bool) error) *roster {
	r := &roster{reqs: make(chan rosterReq), stop: make(chan struct{}), done: make(chan struct{})}
	r.pub.Store(&rosterView{seq: 1, state: c})
	go r.run(publish)
	return r
}

func (r *roster) run(publish func(rosterView, bool) error) {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case req := <-r.reqs:
			cur := *r.pub.Load()
			changed := false
			if req.fn != nil {
				var next membership.State
				next, changed = req.fn(cur.state)
				if changed {
					v := &rosterView{seq: cur.seq + 1, state: next}
					if old := r.pub.Load(); v.seq <= old.seq {
						panic(fmt.Sprintf("node: membership version going from %d to %d", old.seq, v.seq))
					}
					r.pub.Store(v)
					cur = *v
				}
			}
			var err error
			if changed || req.force {
				err = publish(cur, req.force)
			}
			req.reply <- rosterReply{cur, changed, err}
		}
	}
}

// load returns the current snapshot. Never blocks.
func (r *roster) load() rosterView { return *r.pub.Load() }

// update applies fn on the owner goroutine and returns the state after it
// and whether fn changed it. Safe for concurrent use; blocks until done.
func (r *roster) update(fn func(membership.State) (membership.State, bool)) (membership.State, bool) {
	out := r.send(rosterReq{fn: fn})
	return out.v.state, out.changed
}

// refresh publishes the placement of the current state again; force
// publishes it even if its table is older than the published one.
func (r *roster) refresh(force bool) error {
	return r.send(rosterReq{force: force}).err
}

func (r *roster) send(req rosterReq) rosterReply {
	req.reply = make(chan rosterReply, 1)
	select {
	case r.reqs <- req:
	case <-r.done:
		return rosterReply{v: r.load()}
	}
	return <-req.reply
}

// close stops the owner and waits for it. Idempotent.
func (r *roster) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}
