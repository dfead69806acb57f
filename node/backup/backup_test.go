package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
)

func sample(t testing.TB, n int) ([]byte, []Record) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{CreatedUnixMilli: 1700000000000, Scope: "node", Nodes: []string{"n1"}, Partitions: 8, N: 3})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range n {
		r := Record{Key: fmt.Appendf(nil, "key-%d", i), State: bytes.Repeat([]byte{byte(i)}, i%7)}
		recs = append(recs, r)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), recs
}

func readAll(b []byte) (Header, []Record, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return Header{}, nil, err
	}
	var out []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), out, nil
		}
		if err != nil {
			return r.Header(), out, err
		}
		out = append(out, rec)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 50} {
		b, want := sample(t, n)
		h, got, err := readAll(b)
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if h.Scope != "node" || !slices.Equal(h.Nodes, []string{"n1"}) || h.Partitions != 8 || h.N != 3 || h.CreatedUnixMilli != 1700000000000 {
			t.Errorf("header = %+v", h)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records read, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].State, want[i].State) {
				t.Errorf("record %d = %q/%x, want %q/%x", i, got[i].Key, got[i].State, want[i].Key, want[i].State)
			}
		}
		if _, cnt, err := Verify(bytes.NewReader(b)); err != nil || cnt != uint64(n) {
			t.Errorf("Verify = %d, %v; want %d, nil", cnt, err, n)
		}
	}
}

// Every cut of a backup short of its end is refused as truncated.
func TestTruncatedAnywhere(t *testing.T) {
	b, _ := sample(t, 5)
	for cut := range len(b) {
		_, _, err := Verify(bytes.NewReader(b[:cut]))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: err = %v, want ErrTruncated", cut, len(b), err)
		}
	}
}

// Every one-byte change of a backup is refused (whichever check sees it
// first), and so are extra bytes after the trailer.
func TestCorruptAnywhere(t *testing.T) {
	b, _ := sample(t, 5)
	for i := range b {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := slices.Clone(b)
			c[i] ^= x
			if _, _, err := Verify(bytes.NewReader(c)); err == nil {
				t.Fatalf("byte %d ^ %#x: accepted", i, x)
			}
		}
	}
	if _, _, err := Verify(bytes.NewReader(append(slices.Clone(b), 0))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a byte after the trailer: err = %v, want ErrCorrupt", err)
	}
}

// A dropped or repeated whole record keeps every frame's own checksum
// valid; the trailer's running checksum and count catch it.
func TestDroppedOrRepeatedRecord(t *testing.T) {
	var one, two bytes.Buffer
	for _, c := range []struct {
		buf  *bytes.Buffer
		keys []string
	}{{&one, []string{"a", "b", "c"}}, {&two, []string{"a", "b", "b", "c"}}} {
		w, _ := NewWriter(c.buf, Header{})
		for _, k := range c.keys {
			_ = w.Write(Record{Key: []byte(k), State: []byte{1}})
		}
		_ = w.Close()
	}
	// Splice: two's header and records with one's trailer (3 records).
	tr := one.Bytes()[one.Len()-21:]
	spliced := append(slices.Clone(two.Bytes()[:two.Len()-21]), tr...)
	if _, _, err := Verify(bytes.NewReader(spliced)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a repeated record: err = %v, want ErrCorrupt", err)
	}
}

func TestNotBackupAndVersion(t *testing.T) {
	if _, err := NewReader(bytes.NewReader([]byte("hello world, not a backup"))); !errors.Is(err, ErrNotBackup) {
		t.Errorf("err = %v, want ErrNotBackup", err)
	}
	b, _ := sample(t, 1)
	b[len(Magic)+1] = 9
	if _, err := NewReader(bytes.NewReader(b)); !errors.Is(err, ErrVersion) {
		t.Errorf("err = %v, want ErrVersion", err)
	}
}

// FuzzReader: no input crashes the decoder or allocates what it only
// claims; an input it accepts whole re-encodes to a backup with the same
// records.
func FuzzReader(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		b, _ := sample(f, n)
		f.Add(b)
		f.Add(b[:len(b)-3])
	}
	f.Add([]byte(Magic + "\x00\x01\x00\x00\x00\x02{}"))
	f.Add([]byte(Magic + "\x00\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := readAll(b)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, h)
		if err != nil {
			t.Fatalf("re-encode header %+v: %v", h, err)
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
		}
		_ = w.Close()
		_, again, err := readAll(buf.Bytes())
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-encoded backup: %d records, %v; want %d", len(again), err, len(recs))
		}
		for i := range recs {
			if !bytes.Equal(again[i].Key, recs[i].Key) || !bytes.Equal(again[i].State, recs[i].State) {
				t.Fatalf("record %d changed in a round trip", i)
			}
		}
	})
}
