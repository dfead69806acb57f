package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Recorder appends ops from many goroutines and streams them to a JSONL
// file. Safe for concurrent use.
type Recorder struct {
	start time.Time // carries the monotonic clock reading

	mu struct {
		sync.Mutex
		ops  []Op
		last int64
		f    *os.File
		w    *bufio.Writer
		enc  *json.Encoder
		err  error
	}
}

// NewRecorder creates path and returns a recorder writing to it; an empty
// path keeps the history in memory only.
func NewRecorder(path string) (*Recorder, error) {
	r := &Recorder{start: time.Now()}
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		r.mu.f = f
		r.mu.w = bufio.NewWriterSize(f, 64<<10)
		r.mu.enc = json.NewEncoder(r.mu.w)
	}
	return r, nil
}

// Start is the time the run started; op times are offsets from it.
func (r *Recorder) Start() time.Time { return r.start }

// Now is the current history time: nanoseconds since Start, monotonic.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Append stamps op with the next index and a time strictly after every
// earlier op's, records it and returns the stamped op.
func (r *Recorder) Append(op Op) Op {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now <= r.mu.last {
		now = r.mu.last + 1
	}
	r.mu.last = now
	op.Time = now
	op.Index = len(r.mu.ops)
	r.mu.ops = append(r.mu.ops, op)
	if r.mu.enc != nil && r.mu.err == nil {
		r.mu.err = r.mu.enc.Encode(op)
	}
	return op
}

// Len is the number of ops recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.ops)
}

// Ops returns a copy of the history so far.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.mu.ops)
}

// Flush writes buffered ops to the file.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.w != nil && r.mu.err == nil {
		r.mu.err = r.mu.w.Flush()
	}
	return r.mu.err
}

// Close flushes and closes the file. The in-memory history stays readable.
func (r *Recorder) Close() error {
	err := r.Flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.f != nil {
		if cerr := r.mu.f.Close(); err == nil {
			err = cerr
		}
		r.mu.f, r.mu.w, r.mu.enc = nil, nil, nil
	}
	return err
}
