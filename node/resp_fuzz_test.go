package node

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/dynago/dynago/vclock"
)

func fuzzFramer() respFramer {
	return respFramer{maxArgs: 8, maxBulk: 32, maxInline: 64, maxCmd: 200}
}

// encodeRESP encodes args as a RESP multibulk command.
func encodeRESP(args ...[]byte) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"...)
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// The framer decides the same whatever the reads' sizes, and what it
// lets through never crashes redcon's reader (which it does on a bulk
// length near MaxInt: TestRESPProtocolAbuse).
func FuzzRESPFramer(f *testing.F) {
	f.Add([]byte("*1\r\n$4\r\nPING\r\n"), uint8(3))
	f.Add(encodeRESP([]byte("SET"), []byte("k"), []byte("v")), uint8(1))
	f.Add([]byte("*1\r\n$9223372036854775807\r\nxx\r\n"), uint8(7))
	f.Add([]byte("*2000000000\r\n"), uint8(2))
	f.Add([]byte("PING\r\nECHO hi\r\n"), uint8(5))
	f.Add([]byte("*0\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		whole := fuzzFramer()
		n, err := whole.scan(in)
		if (err == nil) != (n == len(in)) || n > len(in) {
			t.Fatalf("scan = %d, %v of %d bytes", n, err, len(in))
		}
		step := int(chunk)%16 + 1
		parts := fuzzFramer()
		got, pos := 0, 0
		var perr error
		for pos < len(in) && perr == nil {
			end := min(pos+step, len(in))
			var k int
			k, perr = parts.scan(in[pos:end])
			got += k
			pos = end
		}
		if got != n || (perr == nil) != (err == nil) {
			t.Fatalf("in chunks of %d: %d, %v; whole: %d, %v", step, got, perr, n, err)
		}
		// redcon parses what the framer let through without panicking.
		rd := redcon.NewReader(bytes.NewReader(in[:n]))
		for range len(in) + 1 {
			if _, err := rd.ReadCommands(); err != nil {
				break
			}
		}
	})
}

// Any command within the limits passes the framer whole.
func FuzzRESPFramerAccepts(f *testing.F) {
	f.Add([]byte("SET"), []byte("key"), []byte("value"))
	f.Add([]byte(""), []byte("\r\n"), []byte("*$"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		if len(a) > 32 || len(b) > 32 || len(c) > 32 {
			return
		}
		in := append(encodeRESP(a, b, c), encodeRESP(c)...)
		fr := fuzzFramer()
		if n, err := fr.scan(in); err != nil || n != len(in) {
			t.Fatalf("refused %q at %d: %v", in, n, err)
		}
	})
}

// parseRESPOpts never panics, returns counts within range, and reads back
// the options it is given.
func FuzzRESPOpts(f *testing.F) {
	f.Add([]byte("R"), []byte("2"), []byte("PR"), []byte("1"), uint8(3))
	f.Add([]byte("w"), []byte("all"), []byte("CONTEXT"), []byte(vclock.EncodeContext(vclock.VV{})), uint8(3))
	f.Add([]byte("PW"), []byte("quorum"), []byte("pw"), []byte("one"), uint8(5))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte, n uint8) {
		ring := int(n)%7 + 1
		def := respOpts{R: 1, PR: 0, W: 1, PW: 0}
		all := optR | optPR | optW | optPW | optContext
		for _, args := range [][][]byte{{k1}, {k1, v1}, {k1, v1, k2}, {k1, v1, k2, v2}} {
			o, err := parseRESPOpts("X", args, all, ring, def)
			if err != nil {
				var re *respError
				if !errors.As(err, &re) {
					t.Fatalf("%q: error %T %v, want a *respError", args, err, err)
				}
				continue
			}
			if o.R < 1 || o.R > ring || o.W < 1 || o.W > ring || o.PR < 0 || o.PR > ring || o.PW < 0 || o.PW > ring {
				t.Fatalf("%q (n=%d): out of range: %+v", args, ring, o)
			}
			if len(args)%2 == 1 {
				t.Fatalf("%q: an option without a value was accepted", args)
			}
		}
		// Round trip: what is formatted is read back.
		w, pr := int(n)%ring+1, int(n)%(ring+1)
		o, err := parseRESPOpts("X", [][]byte{[]byte("w"), []byte(strconv.Itoa(w)), []byte("PR"), []byte(fmt.Sprint(pr))}, all, ring, def)
		if err != nil || o.W != w || o.PR != pr || o.R != def.R || o.PW != def.PW {
			t.Fatalf("W %d PR %d (n=%d): %+v, %v", w, pr, ring, o, err)
		}
	})
}

func FuzzSETOptions(f *testing.F) {
	f.Add([]byte("EX"), []byte("10"))
	f.Add([]byte("nx"), []byte(""))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if err := parseSETOptions(nil); err != nil {
			t.Fatal(err)
		}
		for _, opts := range [][][]byte{{a}, {a, b}} {
			err := parseSETOptions(opts)
			var re *respError
			if err == nil || !errors.As(err, &re) || !bytes.HasPrefix([]byte(re.Msg), []byte("ERR ")) {
				t.Fatalf("%q: %v, want an ERR reply (SET takes no option dynago serves)", opts, err)
			}
		}
	})
}
