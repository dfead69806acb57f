// Package backup is dynago's backup file format: a header, framed records
// (a key and its replicated causal state) and a trailer, each with a
// CRC-32C, so a truncated or corrupted backup is refused instead of
// restored in part.
//
// # What it is
//
//	"DYNAGOBK" | version (u16) | header length (u32) | header (JSON) | crc (u32)
//	record*:   'R' | length (u32) | uvarint key length | key | state | crc (u32)
//	trailer:   'E' | records (u64) | payload bytes (u64) | crc (u32)
//
// Integers are big-endian. A record's crc covers its tag, length and
// payload; the header's covers everything before it; the trailer's crc is
// a running CRC-32C of every byte of the stream before it (header and
// records, their own crcs included), so a dropped, repeated or reordered
// record, a cut after a whole record, or bytes after the trailer are all
// detected. The state is the replicated form replicas exchange (vclock's
// State encoding: siblings, tombstones, dots and contexts), never a
// node's private record header (owner actors): a restore merges it like
// any other replica state.
//
// The same format is the body of GET /admin/backup (one node's stream)
// and of POST /admin/restore (a batch of records), and the file `dynago
// backup` writes.
//
// # What it must not do
//
// It imports the standard library only (test/arch_test.go), does no I/O of
// its own beyond the io.Reader/io.Writer it is given, and reads no clock:
// the header's creation time is the caller's.
//
// # Invariants
//
//   - A Reader returns io.EOF only after it has checked the trailer (count,
//     byte total, running crc) and that nothing follows it. Every other
//     end of input is an error wrapping ErrTruncated or ErrCorrupt. So a
//     caller that must write nothing from a bad backup reads it to io.EOF
//     first, then reads it again to write.
//   - Lengths are bounded (MaxRecordBytes, maxHeaderBytes) before anything
//     is allocated for them.
//
// # How to use it
//
//	w, _ := backup.NewWriter(f, backup.Header{Nodes: []string{"n1"}})
//	w.Write(backup.Record{Key: k, State: st})
//	w.Close() // the trailer
//
//	r, err := backup.NewReader(f)
//	for { rec, err := r.Next(); if err == io.EOF { break } … }
package backup
