package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/backup"
	"github.com/dynago/dynago/vclock"
)

// The backup and restore routes need the admin role; the stream is a
// valid backup of the node's keys in their replicated form; a restore
// batch that does not verify is refused whole (400 bad_backup) and one
// that does is merged (restored=1).
func TestBackupRoutes(t *testing.T) {
	tn, _ := authNode(t, nil)
	if r := tn.do("PUT", "/kv/a", []byte("x"), bearer(tokAdmin)); r.status != http.StatusNoContent && r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"write backs up", "GET", api.PathBackup, tokWrite, http.StatusForbidden},
		{"write restores", "POST", api.PathRestore, tokWrite, http.StatusForbidden},
		{"read backs up", "GET", api.PathBackup, tokRead, http.StatusForbidden},
		{"no token", "GET", api.PathBackup, "", http.StatusUnauthorized},
		{"bad partitions", "GET", api.PathBackup + "?partitions=1,x", tokAdmin, http.StatusBadRequest},
		{"admin restores junk", "POST", api.PathRestore, tokAdmin, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := tn.do(tc.method, tc.path, []byte("junk"), bearer(tc.token)); r.status != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.want)
			}
		})
	}

	r := tn.do("GET", api.PathBackup, nil, bearer(tokAdmin))
	if r.status != http.StatusOK {
		t.Fatalf("admin backup: %d %s", r.status, r.body)
	}
	br, err := backup.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if h := br.Header(); h.Scope != "node" || len(h.Nodes) != 1 || h.Nodes[0] != tn.cfg.Name {
		t.Errorf("header %+v", h)
	}
	var recs []backup.Record
	for {
		rec, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 1 || string(recs[0].Key) != "a" {
		t.Fatalf("backup holds %d records, want key a alone", len(recs))
	}
	var st vclock.State
	if err := st.UnmarshalBinary(recs[0].State); err != nil {
		t.Fatalf("the record's state is not a replica state: %v", err)
	}
	if len(st.Versions) != 1 || string(st.Versions[0].Value) != "x" {
		t.Errorf("backed-up state %+v", st)
	}

	r = tn.do("POST", api.PathRestore, r.body, bearer(tokAdmin))
	var res api.RestoreResult
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != http.StatusOK || res.Records != 1 || res.Restored != 1 {
		t.Errorf("admin restore: %d %s", r.status, r.body)
	}
}
