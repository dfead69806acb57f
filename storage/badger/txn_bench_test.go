package badger

import (
	"context"
	"fmt"
	"testing"

	bdg "github.com/dgraph-io/badger/v4"
)

// BenchmarkPointRead answers issue 12's question whether a replica's point
// read needs a badger transaction of its own: badger reads only through a
// Txn, so the alternative to one read-only Txn per Get (what Store.Get
// does, via db.View) is a Txn shared by many reads, i.e. reads at one
// snapshot. The difference between the two is the cost of the
// transaction itself.
func BenchmarkPointRead(b *testing.B) {
	st, err := Open(Options{Dir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 10_000
	val := make([]byte, 100)
	for i := range n {
		if err := st.Update(context.Background(), []byte(fmt.Sprintf("key-%05d", i)), func([]byte, bool) ([]byte, error) { return val, nil }); err != nil {
			b.Fatal(err)
		}
	}
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%05d", i))
	}
	b.Run("Store.Get (a Txn per read)", func(b *testing.B) {
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			if _, err := st.Get(ctx, keys[i%n]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one Txn for every read", func(b *testing.B) {
		txn := st.db.NewTransaction(false)
		defer txn.Discard()
		for i := 0; b.Loop(); i++ {
			item, err := txn.Get(keys[i%n])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := item.ValueCopy(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("a Txn per read, bare", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			err := st.db.View(func(txn *bdg.Txn) error {
				item, err := txn.Get(keys[i%n])
				if err != nil {
					return err
				}
				_, err = item.ValueCopy(nil)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
