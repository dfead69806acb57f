package hintedhandoff

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestAgeIndex(t *testing.T) {
	type op struct {
		sec int64
		d   int
	}
	tests := []struct {
		name   string
		ops    []op
		oldest int64
		ok     bool
		secs   int // entries kept
	}{
		{"empty", nil, 0, false, 0},
		{"one", []op{{5, 1}}, 5, true, 1},
		{"out of order", []op{{9, 1}, {3, 2}, {7, 1}}, 3, true, 3},
		{"oldest emptied", []op{{3, 1}, {7, 1}, {3, -1}}, 7, true, 1},
		{"all emptied", []op{{3, 1}, {3, -1}}, 0, false, 0},
		{"negative before positive", []op{{3, -1}, {5, 1}}, 5, true, 2},
		{"negative then restored", []op{{3, -1}, {5, 1}, {3, 1}}, 5, true, 1},
		{"zero delta is nothing", []op{{3, 0}}, 0, false, 0},
		{"before 1970", []op{{-10, 1}, {4, 1}}, -10, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a ageIndex
			for _, o := range tc.ops {
				a.add(o.sec, o.d)
			}
			got, ok := a.oldest()
			if got != tc.oldest || ok != tc.ok || len(a.secs) != tc.secs || len(a.counts) != tc.secs {
				t.Fatalf("oldest = %d, %v with %d/%d entries; want %d, %v with %d", got, ok, len(a.secs), len(a.counts), tc.oldest, tc.ok, tc.secs)
			}
		})
	}
}

// TestAgeIndexModel compares ageIndex with a plain map under random
// increments and decrements that keep every count non-negative.
func TestAgeIndexModel(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0xa6e))
	var a ageIndex
	model := map[int64]int{}
	for i := range 5000 {
		sec := int64(r.IntN(50))
		d := 1
		if model[sec] > 0 && r.IntN(2) == 0 {
			d = -1
		}
		a.add(sec, d)
		model[sec] += d
		want, wantOK := int64(0), false
		for s, c := range model {
			if c > 0 && (!wantOK || s < want) {
				want, wantOK = s, true
			}
		}
		if got, ok := a.oldest(); got != want || ok != wantOK {
			t.Fatalf("step %d: oldest = %d, %v; model says %d, %v", i, got, ok, want, wantOK)
		}
	}
}

func TestTargetStatsLag(t *testing.T) {
	tests := []struct {
		name string
		s    TargetStats
		now  time.Time
		want time.Duration
	}{
		{"empty", TargetStats{}, t0, 0},
		{"one hint", TargetStats{Count: 1, Oldest: t0}, t0.Add(time.Minute), time.Minute},
		{"clock behind", TargetStats{Count: 1, Oldest: t0}, t0.Add(-time.Minute), 0},
		{"count zero ignores Oldest", TargetStats{Oldest: t0}, t0.Add(time.Hour), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Lag(tc.now); got != tc.want {
				t.Fatalf("Lag = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{"zero is the default", Config{}, ""},
		{"defaults", DefaultConfig(), ""},
		{"negative bytes", Config{MaxBytesPerTarget: -1}, "MaxBytesPerTarget"},
		{"negative age", Config{MaxAge: -time.Second}, "MaxAge"},
		{"negative batch keys", Config{BatchKeys: -1}, "BatchKeys"},
		{"negative batch bytes", Config{BatchBytes: -1}, "BatchBytes"},
		{"negative rate", Config{Rate: -1}, "Rate"},
		{"negative burst", Config{Burst: -1}, "Burst"},
		{"huge burst", Config{Burst: MaxBurst + 1}, "Burst"},
		{"negative backoff", Config{BackoffMin: -1}, "BackoffMin"},
		{"min over max", Config{BackoffMin: time.Hour, BackoffMax: time.Minute}, "exceeds"},
		{"min over the default max", Config{BackoffMin: time.Hour}, "exceeds"},
		{"min equal max", Config{BackoffMin: time.Minute, BackoffMax: time.Minute}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error about %s", err, tc.wantErr)
			}
			if tc.wantErr != "" {
				if _, err := NewDelivery("n1", tc.cfg); err == nil {
					t.Fatal("NewDelivery accepted an invalid config")
				}
				if _, err := Open(t.Context(), backends[0].open(t), tc.cfg); err == nil {
					t.Fatal("Open accepted an invalid config")
				}
			}
		})
	}
	// Every default is set and positive.
	d := DefaultConfig()
	if d.WithDefaults() != d || d.MaxBytesPerTarget <= 0 || d.MaxAge <= 0 || d.BatchKeys <= 0 || d.BatchBytes <= 0 ||
		d.Rate <= 0 || d.Burst <= 0 || d.BackoffMin <= 0 || d.BackoffMax <= 0 {
		t.Fatalf("DefaultConfig has an unset field: %+v", d)
	}
	if (Config{}).WithDefaults() != d {
		t.Fatal("a zero Config does not take every default")
	}
}

// FuzzDecodeRecord checks that the record decoder never panics and accepts
// exactly what appendRecord produces.
func FuzzDecodeRecord(f *testing.F) {
	ok, _ := appendRecord(nil, t0.UnixNano(), fresh("a", "value"))
	f.Add(ok)
	merged, _ := appendRecord(nil, -5, vclockMergeForFuzz())
	f.Add(merged)
	f.Add([]byte{})
	f.Add([]byte{recordFormatV1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		created, st, err := decodeRecord(v)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("decodeRecord error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		again, err := appendRecord(nil, created, st)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		if string(again) != string(v) {
			t.Fatalf("record %x decodes and re-encodes to %x", v, again)
		}
		if c, err := decodeCreated(v); err != nil || c != created {
			t.Fatalf("decodeCreated = %d, %v; decodeRecord said %d", c, err, created)
		}
	})
}
