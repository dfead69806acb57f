package memory

import (
	"context"
	"fmt"
	"testing"

	"github.com/dynago/dynago/storage"
)

// TestIndexDropsDeletedKeys checks that deletes do not leave the sorted index
// growing without bound: once more than half of it is dead, the next Scan
// rebuilds it from live keys.
func TestIndexDropsDeletedKeys(t *testing.T) {
	ctx := context.Background()
	s := New()
	defer s.Close()
	set := func(k string) error {
		return s.Update(ctx, []byte(k), func([]byte, bool) ([]byte, error) { return []byte("v"), nil })
	}
	del := func(k string) error {
		return s.Update(ctx, []byte(k), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey })
	}
	scanCount := func() int {
		n := 0
		if err := s.Scan(ctx, nil, nil, func(k, v []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	indexLen := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.mu.sorted)
	}
	for i := range 100 {
		if err := set(fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := scanCount(); n != 100 || indexLen() != 100 {
		t.Fatalf("after 100 sets: scan %d, index %d; want 100, 100", n, indexLen())
	}
	for i := range 40 {
		if err := del(fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// 40 of 100 dead: below half, the index keeps them and Scan skips them.
	if n := scanCount(); n != 60 || indexLen() != 100 {
		t.Fatalf("after 40 deletes: scan %d, index %d; want 60, 100", n, indexLen())
	}
	for i := 40; i < 70; i++ {
		if err := del(fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := scanCount(); n != 30 || indexLen() != 30 {
		t.Fatalf("after 70 deletes: scan %d, index %d; want 30, 30", n, indexLen())
	}
}
