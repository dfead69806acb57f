package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Magic starts every backup.
const Magic = "DYNAGOBK"

// Version is the format version this package writes and reads.
const Version = 1

// MaxRecordBytes bounds one record's payload (key and state): a key's
// state is at most 48 MiB (node's maxStateBytes), plus its key.
const MaxRecordBytes = 48<<20 + 1<<16

// maxHeaderBytes bounds the header's JSON.
const maxHeaderBytes = 1 << 20

// Frame tags.
const (
	tagRecord  = 'R'
	tagTrailer = 'E'
)

// Errors. A Reader's errors wrap one of these; callers use errors.Is.
var (
	// ErrNotBackup: the input does not start with Magic.
	ErrNotBackup = errors.New("backup: not a dynago backup (bad magic)")
	// ErrVersion: the input is a backup of a format version this build
	// does not read.
	ErrVersion = errors.New("backup: unsupported format version")
	// ErrTruncated: the input ends before its trailer.
	ErrTruncated = errors.New("backup: truncated")
	// ErrCorrupt: a checksum, a length, a count or a frame is wrong.
	ErrCorrupt = errors.New("backup: corrupt")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header describes a backup. Its JSON is the header block.
type Header struct {
	// CreatedUnixMilli is when the backup was taken (the caller's clock);
	// 0: unknown.
	CreatedUnixMilli int64 `json:"created_unix_ms,omitempty"`
	// Scope is "node" (one node's data) or "cluster" (every member's).
	Scope string `json:"scope,omitempty"`
	// Nodes are the nodes whose data the backup holds.
	Nodes []string `json:"nodes,omitempty"`
	// Partitions and N are the source cluster's ring (informational: a
	// restore places each key by its own ring).
	Partitions int `json:"partitions,omitempty"`
	N          int `json:"n,omitempty"`
}

// Record is one key and its replicated state (vclock's encoding).
type Record struct {
	Key   []byte
	State []byte
}

// Writer writes a backup. It is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	crc     uint32 // running crc of everything written
	records uint64
	bytes   uint64
	buf     []byte
	closed  bool
}

// NewWriter writes the magic, version and header to w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("backup: header: %w", err)
	}
	if len(hj) > maxHeaderBytes {
		return nil, fmt.Errorf("backup: header of %d bytes, more than %d", len(hj), maxHeaderBytes)
	}
	bw := &Writer{w: w}
	b := append([]byte(Magic), 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(b[len(Magic):], Version)
	binary.BigEndian.PutUint32(b[len(Magic)+2:], uint32(len(hj)))
	b = append(b, hj...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return bw, bw.emit(b)
}

func (bw *Writer) emit(b []byte) error {
	bw.crc = crc32.Update(bw.crc, castagnoli, b)
	_, err := bw.w.Write(b)
	return err
}

// Write writes one record.
func (bw *Writer) Write(r Record) error {
	if bw.closed {
		return errors.New("backup: write after Close")
	}
	if len(r.Key) == 0 {
		return errors.New("backup: empty key")
	}
	n := binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(r.Key))) + len(r.Key) + len(r.State)
	if n > MaxRecordBytes {
		return fmt.Errorf("backup: record of %d bytes, more than %d", n, MaxRecordBytes)
	}
	b := append(bw.buf[:0], tagRecord, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = append(b, r.State...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	bw.buf = b
	bw.records++
	bw.bytes += uint64(n)
	return bw.emit(b)
}

// Records returns how many records were written.
func (bw *Writer) Records() uint64 { return bw.records }

// Bytes returns the records' payload bytes written.
func (bw *Writer) Bytes() uint64 { return bw.bytes }

// Close writes the trailer. It does not close the underlying writer.
func (bw *Writer) Close() error {
	if bw.closed {
		return nil
	}
	bw.closed = true
	b := []byte{tagTrailer}
	b = binary.BigEndian.AppendUint64(b, bw.records)
	b = binary.BigEndian.AppendUint64(b, bw.bytes)
	crc := crc32.Update(bw.crc, castagnoli, b)
	b = binary.BigEndian.AppendUint32(b, crc)
	_, err := bw.w.Write(b)
	return err
}

// Reader reads and checks a backup. It is not safe for concurrent use.
type Reader struct {
	r       *bufio.Reader
	h       Header
	crc     uint32
	records uint64
	bytes   uint64
	done    bool
	err     error
}

// NewReader reads and checks the magic, version and header.
func NewReader(r io.Reader) (*Reader, error) {
	br := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	pre := make([]byte, len(Magic)+6)
	if err := br.full(pre, "the header"); err != nil {
		return nil, err
	}
	if string(pre[:len(Magic)]) != Magic {
		return nil, ErrNotBackup
	}
	if v := binary.BigEndian.Uint16(pre[len(Magic):]); v != Version {
		return nil, fmt.Errorf("%w: %d (this build reads version %d)", ErrVersion, v, Version)
	}
	n := binary.BigEndian.Uint32(pre[len(Magic)+2:])
	if n > maxHeaderBytes {
		return nil, fmt.Errorf("%w: header length %d", ErrCorrupt, n)
	}
	hj, err := br.read(int(n), "the header")
	if err != nil {
		return nil, err
	}
	var sum [4]byte
	if err := br.full(sum[:], "the header"); err != nil {
		return nil, err
	}
	crc := crc32.Update(crc32.Checksum(pre, castagnoli), castagnoli, hj)
	if binary.BigEndian.Uint32(sum[:]) != crc {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if err := json.Unmarshal(hj, &br.h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	br.crc = crc32.Update(crc, castagnoli, sum[:])
	return br, nil
}

// Header returns the backup's header.
func (br *Reader) Header() Header { return br.h }

// Records returns how many records were read so far.
func (br *Reader) Records() uint64 { return br.records }

// Bytes returns the records' payload bytes read so far.
func (br *Reader) Bytes() uint64 { return br.bytes }

// full reads exactly len(b) bytes; an early end is ErrTruncated.
func (br *Reader) full(b []byte, what string) error {
	if _, err := io.ReadFull(br.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return br.truncated(what)
		}
		return fmt.Errorf("backup: read: %w", err)
	}
	return nil
}

func (br *Reader) truncated(what string) error {
	if what == "the header" || what == "the trailer" {
		return fmt.Errorf("%w: the input ends inside %s, after %d records", ErrTruncated, what, br.records)
	}
	return fmt.Errorf("%w: the input ends inside %s (record %d)", ErrTruncated, what, br.records+1)
}

// read reads n bytes without allocating them up front (n comes from the
// input: a truncated input must not cost n bytes of memory).
func (br *Reader) read(n int, what string) ([]byte, error) {
	var buf bytes.Buffer
	m, err := io.CopyN(&buf, br.r, int64(n))
	if m < int64(n) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, br.truncated(what)
		}
		return nil, fmt.Errorf("backup: read: %w", err)
	}
	return buf.Bytes(), nil
}

// Next returns the next record, or io.EOF once the trailer has been read
// and checked. Any other error is final: later calls return it again.
func (br *Reader) Next() (Record, error) {
	if br.err != nil {
		return Record{}, br.err
	}
	rec, err := br.next()
	if err != nil {
		br.err = err
	}
	return rec, err
}

func (br *Reader) next() (Record, error) {
	if br.done {
		return Record{}, io.EOF
	}
	var tag [1]byte
	if err := br.full(tag[:], "the trailer"); err != nil { // no tag: the trailer is missing
		return Record{}, err
	}
	switch tag[0] {
	case tagRecord:
		return br.record()
	case tagTrailer:
		return Record{}, br.trailer()
	default:
		return Record{}, fmt.Errorf("%w: unknown frame tag %#x after record %d", ErrCorrupt, tag[0], br.records)
	}
}

func (br *Reader) record() (Record, error) {
	var hdr [5]byte
	hdr[0] = tagRecord
	if err := br.full(hdr[1:], "a record"); err != nil {
		return Record{}, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxRecordBytes {
		return Record{}, fmt.Errorf("%w: record %d claims %d bytes, more than %d", ErrCorrupt, br.records+1, n, MaxRecordBytes)
	}
	payload, err := br.read(int(n), "a record")
	if err != nil {
		return Record{}, err
	}
	var sum [4]byte
	if err := br.full(sum[:], "a record"); err != nil {
		return Record{}, err
	}
	crc := crc32.Update(crc32.Checksum(hdr[:], castagnoli), castagnoli, payload)
	if binary.BigEndian.Uint32(sum[:]) != crc {
		return Record{}, fmt.Errorf("%w: record %d checksum mismatch", ErrCorrupt, br.records+1)
	}
	kl, m := binary.Uvarint(payload)
	if m <= 0 || kl == 0 || kl > uint64(len(payload)-m) {
		return Record{}, fmt.Errorf("%w: record %d: bad key length", ErrCorrupt, br.records+1)
	}
	br.crc = crc32.Update(br.crc, castagnoli, hdr[:])
	br.crc = crc32.Update(br.crc, castagnoli, payload)
	br.crc = crc32.Update(br.crc, castagnoli, sum[:])
	br.records++
	br.bytes += uint64(n)
	key := payload[m : m+int(kl)]
	return Record{Key: key[:len(key):len(key)], State: payload[m+int(kl):]}, nil
}

func (br *Reader) trailer() error {
	var t [1 + 8 + 8 + 4]byte
	t[0] = tagTrailer
	if err := br.full(t[1:], "the trailer"); err != nil {
		return err
	}
	records, bytes := binary.BigEndian.Uint64(t[1:]), binary.BigEndian.Uint64(t[9:])
	crc := crc32.Update(br.crc, castagnoli, t[:17])
	switch {
	case binary.BigEndian.Uint32(t[17:]) != crc:
		return fmt.Errorf("%w: trailer checksum mismatch (records dropped, repeated or reordered?)", ErrCorrupt)
	case records != br.records || bytes != br.bytes:
		return fmt.Errorf("%w: the trailer counts %d records (%d bytes), the backup holds %d (%d bytes)", ErrCorrupt, records, bytes, br.records, br.bytes)
	}
	if _, err := br.r.ReadByte(); err == nil {
		return fmt.Errorf("%w: data after the trailer", ErrCorrupt)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("backup: read: %w", err)
	}
	br.done = true
	return io.EOF
}

// Verify reads a whole backup from r and checks it, returning its header
// and record count. It returns nil only if every record and the trailer
// check out.
func Verify(r io.Reader) (Header, uint64, error) {
	br, err := NewReader(r)
	if err != nil {
		return Header{}, 0, err
	}
	for {
		if _, err := br.Next(); errors.Is(err, io.EOF) {
			return br.h, br.records, nil
		} else if err != nil {
			return br.h, br.records, err
		}
	}
}
