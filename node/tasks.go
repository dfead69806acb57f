package node

import "sync"

// tasks is a group of goroutines that can be closed to new members and
// waited for: a sync.WaitGroup with admission, so work started after the
// node began to shut down is refused instead of racing the final Wait
// (and then using a closed store).
type tasks struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs fn in a goroutine of the group and reports true, or reports
// false without running it once the group is closed.
func (t *tasks) Go(fn func()) bool {
	if !t.enter() {
		return false
	}
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// enter admits one member that the caller runs itself (it must call
// t.wg.Done when finished), or reports false once the group is closed.
func (t *tasks) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// close refuses new members from now on. Idempotent.
func (t *tasks) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// wait waits for every admitted member to finish.
func (t *tasks) wait() { t.wg.Wait() }

// waitOr waits like wait and reports true, or reports false when done
// closes first (the members keep running; wait for them later).
func (t *tasks) waitOr(done <-chan struct{}) bool {
	ch := make(chan struct{})
	go func() { t.wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}
