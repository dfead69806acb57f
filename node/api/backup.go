package api

// Backup and restore (issue 14). GET PathBackup streams the node's data
// as a backup (node/backup's format; ?partitions=0,5,9 limits it to those
// partitions); POST PathRestore takes a batch of records in the same
// format and merges each key's state into the key's replicas (?w= how
// many must store it, default the node's W). Both need the admin role.
const (
	PathBackup  = "/admin/backup"
	PathRestore = "/admin/restore"
)

// ContentTypeBackup is the media type of a backup stream.
const ContentTypeBackup = "application/vnd.dynago.backup"

// RestoreResult answers POST /admin/restore: 200 when every record was
// stored by w replicas, 503 (code restore_incomplete, this body as the
// error's details) when some were not. A restore merges, so sending the
// same records again is safe.
type RestoreResult struct {
	Records  int      `json:"records"`          // records in the batch
	Restored int      `json:"restored"`         // stored by w replicas
	Failed   int      `json:"failed"`           // not (yet): retry
	Errors   []string `json:"errors,omitempty"` // the first few failures
	W        int      `json:"w"`                // acks each record needed
	Node     string   `json:"node,omitempty"`   // the node that coordinated the batch
}
