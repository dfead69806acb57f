package badger

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/dynago/dynago/storage"
)

// A commit that meets a full disk (badger wraps ENOSPC) is reported as
// storage.ErrNoSpace, so the node answers 507, and fails the store as any
// failed commit does (its write may be partly applied).
func TestCommitNoSpace(t *testing.T) {
	st := openInternal(t, Options{Dir: t.TempDir()})
	st.testFault = func(op string) error {
		if op == "commit" {
			return fmt.Errorf("write vlog: %w", syscall.ENOSPC)
		}
		return nil
	}
	err := st.Update(context.Background(), []byte("k"), setTo("v"))
	if !errors.Is(err, storage.ErrNoSpace) || !errors.Is(err, storage.ErrNotDurable) {
		t.Fatalf("Update on a full disk = %v, want ErrNoSpace and ErrNotDurable", err)
	}
	if errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%v wraps the engine's error; it must carry only its message", err)
	}
}
