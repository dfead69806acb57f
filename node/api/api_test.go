package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestEncode pins the JSON of the contract's types: these strings are what
// clients and scripts read, so a change here is a breaking change.
func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"health", Health{Status: StatusOK}, `{"status":"ok"}`},
		{"object", Object{Found: true, Context: "c", Siblings: []Sibling{{Value: []byte("a")}, {Value: []byte{}}}},
			`{"found":true,"context":"c","siblings":[{"value":"YQ=="},{"value":""}]}`},
		{"not found object", Object{Context: "AQA", Siblings: []Sibling{}}, `{"found":false,"context":"AQA","siblings":[]}`},
		{"siblings", Siblings{Context: "c", Siblings: []Sibling{{Value: []byte("a")}}}, `{"context":"c","siblings":[{"value":"YQ=="}]}`},
		{"plain error", Error{Message: "not found", Code: "not_found"}, `{"error":"not found","code":"not_found"}`},
		{"definite write error", Error{Message: "m", Code: "unavailable", Indeterminate: Ptr(false), W: Ptr(3), PW: Ptr(0), Acks: Ptr(0),
			Alive: []string{"n1"}, Down: []string{}},
			`{"error":"m","code":"unavailable","indeterminate":false,"w":3,"pw":0,"acks":0,"alive":["n1"],"down":[]}`},
		{"indeterminate write error", Error{Message: "m", Code: "write_indeterminate", Indeterminate: Ptr(true), W: Ptr(2), PW: Ptr(0), Acks: Ptr(1),
			Acked: []string{"n1"}, Failed: []string{}, Pending: []string{"n2"}},
			`{"error":"m","code":"write_indeterminate","indeterminate":true,"w":2,"pw":0,"acks":1,"acked":["n1"],"failed":[],"pending":["n2"]}`},
		{"read quorum error", Error{Message: "m", Code: "read_quorum_not_met", R: Ptr(2), PR: Ptr(0), Replies: Ptr(1), Failed: []string{"n2"}, Pending: []string{}},
			`{"error":"m","code":"read_quorum_not_met","r":2,"pr":0,"replies":1,"failed":["n2"],"pending":[]}`},
		{"transfers not leaving", Transfers{Node: "n1", Status: "valid", Jobs: []TransferJob{}},
			`{"node":"n1","status":"valid","partitions_ready":0,"partitions_pending":0,"rate_bytes_per_sec":0,"jobs":[],` +
				`"totals":{"keys":0,"bytes":0,"partitions":0,"stale_keys_dropped":0,"stale_keys_pushed":0},"leaving":null}`},
		{"merkle tree of one partition", MerkleTree{Node: "n1", Partition: 3, Root: "00"},
			`{"node":"n1","partition":3,"held":false,"root":"00","keys":0,"depth":0,"tree_age_seconds":0}`},
		{"merkle tree in a list", MerkleTree{Partition: 3, Held: true, Root: "00"},
			`{"partition":3,"held":true,"root":"00","keys":0,"depth":0,"tree_age_seconds":0}`},
		{"preflist entry", PreflistEntry{Node: "n4", Alive: true, For: "n2"}, `{"node":"n4","primary":false,"alive":true,"for":"n2"}`},
		{"member", Member{Name: "n1", State: "valid", Alive: true}, `{"name":"n1","gossip":"","rpc":"","http":"","zone":"","state":"valid","alive":true}`},
		{"join request", JoinRequest{Seeds: []string{"h:1"}}, `{"seeds":["h:1"]}`},
		{"leave result", LeaveResult{Status: "leaving", Node: "n3"}, `{"status":"leaving","node":"n3"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
			// And back: decoding the contract's JSON gives the value again.
			p := reflect.New(reflect.TypeOf(tc.v))
			if err := json.Unmarshal(b, p.Interface()); err != nil {
				t.Fatal(err)
			}
			if got := p.Elem().Interface(); !reflect.DeepEqual(got, tc.v) {
				t.Errorf("round trip: %#v, want %#v", got, tc.v)
			}
		})
	}
}

// TestErrorDetails: an absent detail decodes as nil, a zero one as a
// pointer to zero, and an empty list as an empty (non-nil) slice.
func TestErrorDetails(t *testing.T) {
	var e Error
	if err := json.Unmarshal([]byte(`{"error":"m","code":"unavailable","indeterminate":false,"acks":0,"down":[]}`), &e); err != nil {
		t.Fatal(err)
	}
	if e.Indeterminate == nil || *e.Indeterminate || e.Acks == nil || *e.Acks != 0 || e.W != nil {
		t.Errorf("scalars: %+v", e)
	}
	if e.Down == nil || len(e.Down) != 0 || e.Alive != nil {
		t.Errorf("lists: down %#v alive %#v", e.Down, e.Alive)
	}
	if e.Error() != "m" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestKeyPath(t *testing.T) {
	for in, want := range map[string]string{
		"k":      "/kv/k",
		"a/b":    "/kv/a%2Fb",
		"a b":    "/kv/a%20b",
		"x?y#z%": "/kv/x%3Fy%23z%25",
	} {
		if got := KeyPath(in); got != want {
			t.Errorf("KeyPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLastExchangeTime(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		hasErr bool
	}{
		{"2026-11-22T02:00:00Z", true, false},
		{"", false, false},
		{"0001-01-01T00:00:00Z", false, false},
		{"soon", false, true},
	}
	for _, tc := range tests {
		_, ok, err := AAEPeer{LastExchange: tc.in}.LastExchangeTime()
		if ok != tc.ok || (err != nil) != tc.hasErr {
			t.Errorf("%q: ok %v err %v", tc.in, ok, err)
		}
	}
	if got := (LeaveProgress{BytesTotal: 10, BytesRemaining: 4}).BytesDone(); got != 6 {
		t.Errorf("BytesDone = %d", got)
	}
}
