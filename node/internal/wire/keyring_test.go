package wire

import (
	"bytes"
	"slices"
	"testing"
)

// A keyring request and answer survive the round trip.
func TestKeyringRoundTrip(t *testing.T) {
	req := KeyringRequest{Op: KeyringUse, Key: bytes.Repeat([]byte{7}, 32)}
	got, err := UnmarshalKeyringRequest(req.Marshal())
	if err != nil || got.Op != req.Op || !bytes.Equal(got.Key, req.Key) {
		t.Fatalf("request %+v: got %+v, %v", req, got, err)
	}
	resp := KeyringResponse{Keys: [][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)}}
	gotr, err := UnmarshalKeyringResponse(resp.Marshal())
	if err != nil || !slices.EqualFunc(gotr.Keys, resp.Keys, bytes.Equal) {
		t.Fatalf("response %+v: got %+v, %v", resp, gotr, err)
	}
	for _, bad := range [][]byte{
		KeyringRequest{Op: 9}.Marshal(),
		KeyringRequest{Op: KeyringInstall, Key: make([]byte, maxKeyBytes+1)}.Marshal(),
		KeyringResponse{Keys: [][]byte{{}}}.Marshal(),
	} {
		_, err1 := UnmarshalKeyringRequest(bad)
		_, err2 := UnmarshalKeyringResponse(bad)
		if err1 == nil && err2 == nil {
			t.Errorf("% x decoded by both", bad)
		}
	}
}

// FuzzUnmarshalKeyring: the keyring request and answer decoders never
// panic, and what they accept decodes the same after re-encoding.
func FuzzUnmarshalKeyring(f *testing.F) {
	f.Add(KeyringRequest{Op: KeyringInstall, Key: bytes.Repeat([]byte{1}, 16)}.Marshal())
	f.Add(KeyringRequest{}.Marshal())
	f.Add(KeyringResponse{Keys: [][]byte{bytes.Repeat([]byte{2}, 24)}}.Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := UnmarshalKeyringRequest(in); err == nil {
			again, err := UnmarshalKeyringRequest(m.Marshal())
			if err != nil || again.Op != m.Op || !bytes.Equal(again.Key, m.Key) {
				t.Fatalf("request % x: %+v re-decodes as %+v, %v", in, m, again, err)
			}
		}
		if m, err := UnmarshalKeyringResponse(in); err == nil {
			again, err := UnmarshalKeyringResponse(m.Marshal())
			if err != nil || !slices.EqualFunc(again.Keys, m.Keys, bytes.Equal) {
				t.Fatalf("response % x: %+v re-decodes as %+v, %v", in, m, again, err)
			}
		}
	})
}
