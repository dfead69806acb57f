package memory_test

import (
	"testing"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/memory"
	"github.com/dynago/dynago/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
}

func BenchmarkUpdate(b *testing.B) {
	st := memory.New()
	defer st.Close()
	storagetest.BenchUpdate(b, st)
}

func BenchmarkUpdateParallel(b *testing.B) {
	st := memory.New()
	defer st.Close()
	storagetest.BenchUpdateParallel(b, st)
}

func BenchmarkGet(b *testing.B) {
	st := memory.New()
	defer st.Close()
	storagetest.BenchGet(b, st)
}
