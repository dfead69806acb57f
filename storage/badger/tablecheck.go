package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"google.golang.org/protobuf/proto"
)

// errCorruptTable is a table file of the store whose footer does not hold.
var errCorruptTable = errors.New("corrupt table file")

// checkTables checks the footer of every table (.sst) the store's
// MANIFEST lists, before badger opens them. Badger v4.9.6 reads a table's
// footer (the length of the index's checksum, the checksum, the index's
// length) without bounds checks, in goroutines of its Open, so a garbled
// or truncated table panics the whole process with a stack trace instead
// of failing Open (TestProcessCorruptDataDir's survey found it: exit 2,
// "slice bounds out of range" in table.initIndex). Here each length is
// checked against the file and the index against its checksum, as badger
// does next, so such a store is refused with an error naming the file.
// Tables the MANIFEST does not list (a crash mid-compaction leaves a
// partial one) are badger's to delete, not checked. A MANIFEST that can't
// be read is left for badger's own error.
func checkTables(dir string, bo bdg.Options) error {
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		return nil
	}
	m, _, err := bdg.ReplayManifestFile(f, bo.ExternalMagicVersion, bo)
	f.Close()
	if err != nil {
		return nil
	}
	for id := range m.Tables {
		path := table.NewFilename(id, dir)
		if err := checkTableFooter(path); err != nil {
			return fmt.Errorf("%w: %s: %v", errCorruptTable, path, err)
		}
	}
	return nil
}

// checkTableFooter checks one table's footer: from its end, the checksum's
// length (4 bytes, big endian), the checksum (a pb.Checksum), the index's
// length (4 bytes) and the index, which must match the checksum. It reads
// the footer and the index only, not the table's blocks. A missing file
// is left for badger, which names it.
func checkTableFooter(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	read := func(off, n int64) ([]byte, error) {
		b := make([]byte, n)
		_, err := f.ReadAt(b, off)
		return b, err
	}
	pos := size - 4
	if pos < 4 {
		return fmt.Errorf("%d bytes: too short for a table", size)
	}
	b, err := read(pos, 4)
	if err != nil {
		return err
	}
	chkLen := int64(binary.BigEndian.Uint32(b))
	if chkLen > pos-4 {
		return fmt.Errorf("its checksum's length %d does not fit in %d bytes", chkLen, size)
	}
	pos -= chkLen
	if b, err = read(pos, chkLen); err != nil {
		return err
	}
	var chk pb.Checksum
	if err := proto.Unmarshal(b, &chk); err != nil {
		return fmt.Errorf("its index checksum: %v", err)
	}
	pos -= 4
	if b, err = read(pos, 4); err != nil {
		return err
	}
	idxLen := int64(binary.BigEndian.Uint32(b))
	if idxLen > pos {
		return fmt.Errorf("its index's length %d does not fit in %d bytes", idxLen, size)
	}
	if b, err = read(pos-idxLen, idxLen); err != nil {
		return err
	}
	if err := y.VerifyChecksum(b, &chk); err != nil {
		return fmt.Errorf("its index: %v", err)
	}
	return nil
}
