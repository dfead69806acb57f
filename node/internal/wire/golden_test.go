package wire

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/dynago/dynago/antientropy"
	"github.com/dynago/dynago/node/internal/membership"
)

// TestGolden pins the bytes of every message kind. The expected bytes
// were taken from the encoders in node/wire.go before they moved here: a
// message's encoding is the wire format between nodes of different
// versions, and changes only with a new format version.
func TestGolden(t *testing.T) {
	st := sampleState()
	enc, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hs := make([]uint64, antientropy.Fanout)
	for i := range hs {
		hs[i] = uint64(i) * 0x0101010101
	}
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"state", enc, "0102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f"},
		{"read", ReadRequest{Key: []byte("k"), Owner: "n2"}.Marshal(), "01016b026e32"},
		{"apply", must(ApplyRequest{Key: []byte("k"), State: st, Owner: "n3"}.Marshal()), "01016b230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f026e33"},
		{"handoff", must(HandoffRequest{From: "n4", Items: []HandoffItem{{Key: []byte("a"), State: st}, {Key: []byte("b"), State: st}}}.Marshal()),
			"01026e3400020161230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f0162230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f"},
		{"handoff hints", must(HandoffRequest{From: "n4", Hints: true, Items: []HandoffItem{{Key: []byte("a"), State: st, Age: 1500 * time.Millisecond}}}.Marshal()),
			"01026e3401010161230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f80dea0cb05"},
		{"aae roots request", AAERootsRequest{Partitions: []uint32{0, 7, 255}}.Marshal(), "01030007ff01"},
		{"aae roots", AAERootsResponse{Roots: []AAERoot{{Root: 1 << 60, Depth: 3, Keys: 4000, Ready: true}, {Root: 5, Depth: 1}}}.Marshal(),
			"0102100000000000000003a01f010000000000000005010000"},
		{"aae tree", AAETreeRequest{Partition: 3, Level: 2, Indices: []uint32{0, 255}}.Marshal(), "0103020200ff01"},
		{"aae children", MarshalAAEChildren([][]uint64{hs}), "0100000000000000000000000101010101000000020202020200000003030303030000000404040404000000050505050500000006060606060000000707070707000000080808080800000009090909090000000a0a0a0a0a0000000b0b0b0b0b0000000c0c0c0c0c0000000d0d0d0d0d0000000e0e0e0e0e0000000f0f0f0f0f"},
		{"aae entries", MarshalAAEEntries([]antientropy.Entry{{Key: []byte("k"), Hash: 42}, {Key: []byte("kk"), Hash: 1 << 63}}),
			"0102016b000000000000002a026b6b8000000000000000"},
		{"aae fetch request", AAEFetchRequest{Partition: 1, Keys: [][]byte{[]byte("a"), []byte("b")}}.Marshal(), "01010201610162"},
		{"aae fetch", MarshalAAEFetch([]FetchedRaw{{State: enc}, {}, {State: enc, Settled: true}}), "0103230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f000000230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f01"},
		{"transfer request", TransferRequest{Partition: 3, After: []byte("k")}.Marshal(), "0103016b"},
		{"transfer batch", TransferBatch{Done: true, Items: []TransferItem{{Key: []byte("k"), State: enc}}}.Marshal(), "010101016b230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f"},
		{"write request", WriteRequest{Key: []byte("key"), Value: []byte("val"), Context: st.Context, Delete: true, W: 2, PW: 1, TimeoutMS: 1500, ReturnBody: true, Strict: true}.Marshal(),
			"01036b65790376616c1041514943626a454841514a754d676b42070201dc0b"},
		{"write request overwrite", WriteRequest{Key: []byte("key"), Value: []byte("val"), W: 2, TimeoutMS: 1500, Overwrite: true}.Marshal(),
			"01036b65790376616c03415141080200dc0b"},
		{"write outcome", must(WriteOutcome{State: st, Context: st.Context, Coordinator: "n1", W: 2, PW: 1, Acked: []string{"n1", "n2"}, Failed: []string{"n3"}, Pending: []string{"n4"}, Primaries: 2, Fallbacks: 1}.Marshal()),
			"0200230102026e310701026e32090102026e3107010000036f6e65026e32090100000374776f1041514943626a454841514a754d676b42026e31020102026e31026e3201026e3301026e340201"},
		{"envelope request", WrapRequest(membership.TableID{Version: 7, Digest: 42}, []byte("payload")), "e107000000000000002a7061796c6f6164"},
		{"envelope ok", WrapOK([]byte("answer")), "e100616e73776572"},
		{"envelope mismatch", WrapMismatch(membership.TableID{Version: 1 << 40, Digest: 1}), "e1018080808080200000000000000001"},
	}
	// Each error kind and variant, in a WriteOutcome (node's
	// TestWireErrorsGolden pins the same bytes from its typed errors).
	errs := []string{
		"02010201030202026e31026e340101026e330003010000034151410002000000000000",
		"020101010200000002026e32026e330003010000034151410002000000000000",
		"0201020202010000000003010000034151410002000000000000",
		"020102030200000000031f6469616c3a20636f6e7465787420646561646c696e6520657863656564656403010000034151410002000000000000",
		"0201020301000000000003010000034151410002000000000000",
		"0202020301020102026e31026e3201026e3301026e340003010000034151410002000000000000",
		"0202010201010001026e310001026e320003010000034151410002000000000000",
		"02020202000000000000012774686520636f6f7264696e61746f72206e3220646964206e6f7420616e737765722028656f662903010000034151410002000000000000",
		"0203026e3107808080808020030003010000034151410002000000000000",
		"020300000000025076636c6f636b3a206163746f72277320636f756e746572206578686175737465643a206163746f72206e312e3720697320617420636f756e74657220313834343637343430373337303935353136313503010000034151410002000000000000",
		"0204016403010000034151410002000000000000",
		"0204028080801803010000034151410002000000000000",
		"02050117696e6a65637465643a20636f6d6d6974206661696c656403010000034151410002000000000000",
		"0205041a646561646c696e653a20636f6e746578742063616e63656c656403010000034151410002000000000000",
		"0206020200010101026e3102026e32026e33000002026e32026e330003010000034151410002000000000000",
		"020602030100000003026e31026e32026e33000102026e32026e330003010000034151410002000000000000",
	}
	for i, e := range wireErrors() {
		cases = append(cases, struct {
			name string
			got  []byte
			want string
		}{fmt.Sprintf("error %d", i), must(WriteOutcome{Err: e, W: 2}.Marshal()), errs[i]})
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s encodes as\n%s, was\n%s", c.name, got, c.want)
		}
	}
}
