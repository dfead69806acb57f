package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/backup"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Backup and restore (issue 14; README "Backup, restore and recovery").
//
// A backup is this node's data as replicas exchange it: each key with its
// causal state (siblings, tombstones, dots, contexts), never the node's
// private record header (the key's owner actor), read from one store
// snapshot (one Scan). A restore merges each key's state into the key's
// replicas, as read repair does (coordinator.applyReplica, the replica's
// mergeLocal): the DVV merge keeps whatever the cluster holds that is
// newer or concurrent, no new dot is minted, and a restored key arrives
// without an owner actor, so the next write of it mints a fresh one
// (record.go). A tombstone restores like any replica state: it counts its
// grace from when the replica stored it, and a replica that reaped a
// tombstone covering it lately refuses it (partTree.reaped).

// maxRestoreBodyBytes bounds a POST /admin/restore body: the largest
// record (node/backup's MaxRecordBytes) plus its batch's framing. Batches
// from the CLI are about 1 MiB; one key with many large siblings may be a
// batch of its own.
const maxRestoreBodyBytes = backup.MaxRecordBytes + 1<<20

// restoreConcurrency is how many keys of a batch are merged at once:
// enough to keep N replicas' fsyncs busy, few enough not to crowd out
// client requests.
const restoreConcurrency = 8

// handleBackup streams this node's data (GET /admin/backup).
func (h *httpAPI) handleBackup(w http.ResponseWriter, r *http.Request) {
	q := h.cfg.Ring.Partitions
	var want []bool // nil: every partition
	if s := r.URL.Query().Get("partitions"); s != "" {
		want = make([]bool, q)
		for _, f := range strings.Split(s, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || p < 0 || p >= q {
				writeError(w, badRequest("bad_param", "partitions: %q is not a partition number 0..%d", f, q-1))
				return
			}
			want[p] = true
		}
	}
	// A backup takes as long as the data takes to send, so the server's
	// write deadline is replaced by one per chunk: a client that stops
	// reading for backupStallTimeout ends the stream (and releases the
	// store snapshot) instead of holding it forever.
	w.Header().Set("Content-Type", api.ContentTypeBackup)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(&deadlineWriter{w: w, rc: http.NewResponseController(w), now: h.cfg.Clock.Now}, 256<<10)
	enc, err := backup.NewWriter(bw, backup.Header{Scope: "node", Nodes: []string{h.cfg.Name}, Partitions: q, N: h.cfg.Ring.N})
	if err == nil {
		err = h.rep.store.Scan(r.Context(), []byte{storage.PrefixData}, []byte{storage.PrefixData + 1}, func(k, v []byte) error {
			p, key, ok := storage.SplitDataKey(k)
			if !ok || (want != nil && (int(p) >= q || !want[p])) {
				return nil
			}
			st, err := stateBytes(v)
			if err != nil {
				return fmt.Errorf("node: stored state of %q is corrupt: %w", key, err)
			}
			if err := enc.Write(backup.Record{Key: key, State: st}); err != nil {
				return err
			}
			h.metrics.backupRecords.Inc()
			return nil
		})
	}
	if err == nil {
		err = enc.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The status is sent: the stream ends without its trailer, which
		// every reader refuses as truncated.
		h.log.Warn("backup stream ended early", "err", err, "remote", r.RemoteAddr)
		return
	}
	h.log.Info("backup streamed", "records", enc.Records(), "bytes", enc.Bytes(), "remote", r.RemoteAddr)
}

// backupStallTimeout is how long a backup stream waits for its client to
// take the next chunk: far longer than any live client needs for 256 KiB,
// short enough that a vanished one releases its snapshot soon.
const backupStallTimeout = time.Minute

// deadlineWriter sets a write deadline before each write of a stream.
type deadlineWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	now func() time.Time
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(d.now().Add(backupStallTimeout))
	return d.w.Write(b)
}

// restoreRecord is one verified record of a restore batch.
type restoreRecord struct {
	key []byte
	st  vclock.State
}

// readRestoreBatch reads and checks a whole batch before anything of it
// is written: framing and checksums (node/backup), key lengths, and that
// every state decodes. keep is called with each record (nil: check only).
func readRestoreBatch(body io.Reader, maxKey int, keep func(restoreRecord)) (backup.Header, uint64, error) {
	br, err := backup.NewReader(body)
	if err != nil {
		return backup.Header{}, 0, err
	}
	for {
		rec, err := br.Next()
		if errors.Is(err, io.EOF) {
			return br.Header(), br.Records(), nil
		}
		if err != nil {
			return br.Header(), br.Records(), err
		}
		if len(rec.Key) > maxKey {
			return br.Header(), br.Records(), fmt.Errorf("%w: record %d: key of %d bytes, more than %d", backup.ErrCorrupt, br.Records(), len(rec.Key), maxKey)
		}
		var st vclock.State
		if err := st.UnmarshalBinary(rec.State); err != nil {
			return br.Header(), br.Records(), fmt.Errorf("%w: record %d (key %q): %w", backup.ErrCorrupt, br.Records(), rec.Key, err)
		}
		if keep != nil {
			keep(restoreRecord{key: rec.Key, st: st})
		}
	}
}

// CheckBackup reads a whole backup and checks everything a restore would
// refuse: framing and checksums, key lengths (at most the default
// Config's MaxKeyBytes) and that every state decodes. dynago restore calls
// it before sending anything.
func CheckBackup(r io.Reader) (backup.Header, uint64, error) {
	return readRestoreBatch(r, DefaultConfig().MaxKeyBytes, nil)
}

// handleRestore merges a batch of backup records into their keys'
// replicas (POST /admin/restore).
func (h *httpAPI) handleRestore(w http.ResponseWriter, r *http.Request) {
	wq, aerr := h.count(r, "w", h.cfg.Quorum.W, false)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	timeout, aerr := h.timeout(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var recs []restoreRecord
	_, _, err := readRestoreBatch(r.Body, h.cfg.MaxKeyBytes, func(rr restoreRecord) { recs = append(recs, rr) }) // r.Body is capped (shed)
	if err != nil {
		if tooLarge(err) {
			writeError(w, bodyTooLarge(maxRestoreBodyBytes))
			return
		}
		h.metrics.restoreRecords.WithLabelValues("refused").Inc()
		writeError(w, badRequest("bad_backup", "the restore batch was refused and nothing of it was written: %v", err))
		return
	}
	res := api.RestoreResult{Records: len(recs), W: wq, Node: h.cfg.Name}
	var mu sync.Mutex
	sem := make(chan struct{}, restoreConcurrency)
	var wg sync.WaitGroup
	for _, rec := range recs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := h.coord.restoreKey(r.Context(), rec.key, rec.st, wq, timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				if len(res.Errors) < 10 {
					res.Errors = append(res.Errors, fmt.Sprintf("%q: %v", rec.key, err))
				}
				return
			}
			res.Restored++
		})
	}
	wg.Wait()
	h.metrics.restoreRecords.WithLabelValues("restored").Add(float64(res.Restored))
	h.metrics.restoreRecords.WithLabelValues("failed").Add(float64(res.Failed))
	if res.Failed > 0 {
		writeJSON(w, http.StatusServiceUnavailable, restoreIncomplete{
			Error: fmt.Sprintf("%d of %d records were not stored by w=%d replicas; a restore merges, so run it again", res.Failed, res.Records, wq),
			Code:  "restore_incomplete", RestoreResult: res})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// restoreIncomplete is the 503 body of a restore batch that was not
// stored everywhere: the contract's error fields plus the result.
type restoreIncomplete struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	api.RestoreResult
}

// restoreKey merges st into key's replicas (sloppy targets: a fallback
// keeps it as a hint for a down primary) and returns once w of them
// stored it, as a read repair's push does: no new dot, nothing the
// replicas hold is dropped unless st's contexts cover it.
func (c *coordinator) restoreKey(ctx context.Context, key []byte, st vclock.State, w int, timeout time.Duration) error {
	v := c.members.currentView()
	_, targets := c.targets(v, key, false)
	if err := c.checkAvailable(opWrite, w, 0, targets); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type ack struct {
		count bool
		err   error
	}
	acks := make(chan ack, len(targets))
	var wg sync.WaitGroup // the calls end before restoreKey returns
	defer wg.Wait()
	sent := 0
	for _, t := range targets {
		if !c.peers.Alive(string(t.ID)) && string(t.ID) != c.cfg.Name {
			continue
		}
		sent++
		wg.Go(func() {
			var count bool
			err := c.safely("restore", func() (err error) {
				count, err = c.applyReplica(rctx, v.id, t, key, st)
				return err
			})
			acks <- ack{count: count, err: err}
		})
	}
	got := 0
	var errs []error
	for range sent {
		a := <-acks
		switch {
		case a.err != nil:
			errs = append(errs, a.err)
		case a.count:
			got++
		}
	}
	if got < w {
		return fmt.Errorf("stored by %d of w=%d replicas: %w", got, w, errors.Join(errs...))
	}
	return nil
}

// RestoreStats is what RestoreDataDir did.
type RestoreStats struct {
	Records uint64 // records in the backup
	Written uint64 // keys whose stored state changed
}

// RestoreDataDir merges a backup into a stopped node's store (dynago
// restore --data-dir). It reads and checks the whole backup first (src is
// opened twice: once to verify, once to write), so a truncated or corrupt
// backup writes nothing. Each key's state is merged with what the store
// holds (vclock.Merge; the stored record's owner actor is kept) in the
// partition the node's ring places it: partitions is the node's Q, taken
// from the store when it records its cluster's. Afterwards the store is
// marked unclean, so the node takes a new incarnation on its next start
// and honours no owner actor minted before the restore (record.go).
func RestoreDataDir(ctx context.Context, st storage.Store, partitions int, src func() (io.ReadCloser, error)) (RestoreStats, error) {
	var stats RestoreStats
	if b, err := st.Get(ctx, metaCluster); err == nil {
		c, err := membership.Unmarshal(b)
		if err != nil {
			return stats, fmt.Errorf("node: the data dir's membership: %w", err)
		}
		partitions = c.Partitions
	} else if !errors.Is(err, storage.ErrNotFound) {
		return stats, err
	}
	if partitions <= 0 || partitions&(partitions-1) != 0 {
		return stats, fmt.Errorf("node: partitions %d is not a power of two", partitions)
	}
	rc, err := src()
	if err != nil {
		return stats, err
	}
	_, _, err = CheckBackup(rc)
	rc.Close()
	if err != nil {
		return stats, err
	}
	rc, err = src()
	if err != nil {
		return stats, err
	}
	defer rc.Close()
	br, err := backup.NewReader(rc)
	if err != nil {
		return stats, err
	}
	// Unclean first: if the restore stops half way, the node still takes
	// a new incarnation.
	if err := st.Update(ctx, metaClean, func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
		return stats, err
	}
	for {
		rec, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stats, fmt.Errorf("node: the backup changed between its check and its restore: %w", err)
		}
		var in vclock.State
		if err := in.UnmarshalBinary(rec.State); err != nil {
			return stats, fmt.Errorf("node: record %d (key %q): %w", br.Records(), rec.Key, err)
		}
		stats.Records++
		p := uint32(ring.PartitionOf(partitions, rec.Key))
		changed := false
		err = st.Update(ctx, storage.DataKey(p, rec.Key), func(old []byte, found bool) ([]byte, error) {
			changed = false
			var cur record
			if found {
				c, err := decodeRecord(old)
				if err != nil {
					return nil, fmt.Errorf("node: stored state of %q is corrupt: %w", rec.Key, err)
				}
				cur = c
			}
			merged := vclock.Merge(cur.State, in)
			if found && merged.Equal(cur.State) {
				return nil, storage.ErrSkipWrite
			}
			enc, err := merged.MarshalBinary()
			if err != nil {
				return nil, err
			}
			changed = true
			return appendRecord(nil, cur.Owner, enc), nil
		})
		if err != nil {
			return stats, err
		}
		if changed {
			stats.Written++
		}
	}
	return stats, nil
}
