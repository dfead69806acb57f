package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/backup"
	"github.com/dynago/dynago/storage/badger"
)

// restoreBatchBytes is the payload a restore batch carries at most (one
// larger record goes alone): many keys per round trip, and little for the
// node to hold in memory per batch (it reads a batch whole to check it).
const restoreBatchBytes = 1 << 20

// progressEvery is how often backup and restore print progress.
const progressEvery = time.Second

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent snapshot of a node's (or, with --cluster, every node's) data to a file",
		ArgsUsage: " ",
		Description: "Streams GET /admin/backup (admin role) from --addr into --out: every key the node stores with its\n" +
			"causal state (siblings and tombstones included), read from one snapshot of its store. With --cluster it\n" +
			"backs up every member of the ring (each from its own snapshot) into the same file, so each key appears\n" +
			"once per replica; a restore merges the copies. --cluster refuses to run while a member is down (its\n" +
			"data would be missing). The file is written to FILE.partial and renamed once its trailer is checked.\n" +
			"Progress (records, bytes) goes to stderr every second.",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "out", Usage: "the backup `FILE` to write (required)"},
			&cli.BoolFlag{Name: "cluster", Usage: "back up every member of the ring, not only --addr"},
		),
		Action: runBackup,
	}
}

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "merge a backup into a running cluster (--addr) or a stopped node's data dir (--data-dir)",
		ArgsUsage: "FILE",
		Description: "Checks the whole backup (format version, every checksum, the trailer) before writing anything: a\n" +
			"truncated or corrupt file is refused and nothing is written. Then, with --addr, sends it in batches to\n" +
			"POST /admin/restore (admin role), which merges each key's causal state into the key's replicas like a\n" +
			"read repair (dotted version vectors: what the cluster holds that is newer or concurrent is kept), and\n" +
			"exits 1 if some records were not stored by --w replicas (a restore merges: run it again). With\n" +
			"--data-dir it merges the backup into a stopped node's store directly; that node takes a new\n" +
			"incarnation when it next starts. Progress goes to stderr every second.",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "data-dir", Usage: "restore into the stopped node whose data dir is `DIR` instead of --addr"},
			&cli.IntFlag{Name: "partitions", Value: node.DefaultConfig().Ring.Partitions, Usage: "with --data-dir: the ring's partitions `Q` (as the agent's --partitions; a data dir that joined a cluster records its own)"},
			&cli.StringFlag{Name: "w", Usage: "replicas that must store each key (1..N, one, quorum, all; empty: the node's --w)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, EnvVars: []string{clientTimeoutEnv}, Usage: "how long one batch may take, e.g. `5m`"},
		),
		Action: runRestore,
	}
}

// progress prints "what: records, bytes" to stderr at most once per
// progressEvery, and always at the end.
type progress struct {
	c       *cli.Context
	what    string
	last    time.Time
	printed uint64 // records at the last line
}

func newProgress(c *cli.Context, what string) *progress {
	return &progress{c: c, what: what, last: time.Now()}
}

func (p *progress) show(records, bytes uint64, final bool) {
	if !final && time.Since(p.last) < progressEvery || final && records == p.printed && records > 0 {
		return
	}
	p.last, p.printed = time.Now(), records
	fmt.Fprintf(p.c.App.ErrWriter, "%s: %d records, %s\n", p.what, records, humanBytes(bytes))
}

func humanBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func runBackup(c *cli.Context) error {
	if _, err := positional(c, 0, 0, ""); err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		return usagef(c, "--out FILE is required")
	}
	base, err := client.NormalizeAddr(c.String("addr"))
	if err != nil {
		return usagef(c, "--addr: %v", err)
	}
	hc, err := httpClient(c, 0) // a stream: no overall timeout
	if err != nil {
		return err
	}
	sources := []string{base}
	scope := "node"
	var members []string
	if c.Bool("cluster") {
		scope = "cluster"
		if sources, members, err = clusterSources(c, base); err != nil {
			return err
		}
	}
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	var enc *backup.Writer
	var nodes []string
	prog := newProgress(c, "backup")
	for _, src := range sources {
		err := streamBackup(c.Context, hc, c.String("token"), src, func(h backup.Header, br *backup.Reader) error {
			if enc == nil {
				hdr := backup.Header{CreatedUnixMilli: time.Now().UnixMilli(), Scope: scope, Nodes: h.Nodes, Partitions: h.Partitions, N: h.N}
				if scope == "cluster" {
					hdr.Nodes = members
				}
				if enc, err = backup.NewWriter(f, hdr); err != nil {
					return err
				}
			}
			nodes = append(nodes, h.Nodes...)
			for {
				rec, err := br.Next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				if err := enc.Write(rec); err != nil {
					return err
				}
				prog.show(enc.Records(), enc.Bytes(), false)
			}
		})
		if err != nil {
			return fmt.Errorf("backup from %s: %w", src, err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f = nil
	// Check what is on disk before it takes the name.
	if err := verifyFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: the written file does not verify: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	prog.show(enc.Records(), enc.Bytes(), true)
	fmt.Fprintf(c.App.Writer, "backed up %d records (%s) from %s to %s\n", enc.Records(), humanBytes(enc.Bytes()), strings.Join(nodes, ", "), out)
	return nil
}

// clusterSources returns the HTTP base URL of every ring member, refusing
// when one is down.
func clusterSources(c *cli.Context, base string) (urls, names []string, err error) {
	cl, err := newClient(c, 30*time.Second)
	if err != nil {
		return nil, nil, err
	}
	ms, _, err := cl.Members(c.Context)
	if err != nil {
		return nil, nil, requestFailed(c, "backup: members", err)
	}
	u, _ := url.Parse(base)
	var down []string
	for _, m := range ms {
		if !m.Alive {
			down = append(down, m.Name)
			continue
		}
		urls = append(urls, u.Scheme+"://"+m.HTTP)
		names = append(names, m.Name)
	}
	if len(down) > 0 {
		return nil, nil, fmt.Errorf("backup --cluster: members %s are down: their data would be missing from the backup; bring them back (or remove them) and run it again", strings.Join(down, ", "))
	}
	if len(urls) == 0 {
		return nil, nil, errors.New("backup --cluster: the node lists no members")
	}
	return urls, names, nil
}

// streamBackup GETs one node's backup stream and hands it to fn, which
// must read it to io.EOF (the trailer checked).
func streamBackup(ctx context.Context, hc *http.Client, token, base string, fn func(backup.Header, *backup.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.PathBackup, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpFailure(resp)
	}
	br, err := backup.NewReader(resp.Body)
	if err != nil {
		return err
	}
	return fn(br.Header(), br)
}

// httpFailure describes a non-2xx answer from its JSON error body.
func httpFailure(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error, Code string
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg := fmt.Sprintf("%d %s: %s", resp.StatusCode, e.Code, e.Error)
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg += " (backup and restore need a token with the admin role: --token or DYNAGO_TOKEN)"
		}
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
}

func verifyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = backup.Verify(f)
	return err
}

func runRestore(c *cli.Context) error {
	args, err := positional(c, 1, 1, "FILE")
	if err != nil {
		return err
	}
	file, dir := args[0], c.String("data-dir")
	if dir != "" && c.IsSet("addr") && os.Getenv(envName("addr")) == "" { // DYNAGO_ADDR alone: --data-dir wins
		return usagef(c, "--addr and --data-dir exclude each other: restore into a running cluster or into a stopped node's data dir")
	}
	if w := c.String("w"); w != "" && dir != "" {
		return usagef(c, "--w applies to a restore through --addr only")
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	h, n, err := node.CheckBackup(f)
	if err != nil {
		return fmt.Errorf("restore: %s is not a usable backup, nothing was written: %w", file, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "restore: %s checks out: %d records, scope %s, nodes %s, taken %s\n", file, n, h.Scope,
		strings.Join(h.Nodes, ","), time.UnixMilli(h.CreatedUnixMilli).UTC().Format(time.RFC3339))
	if dir != "" {
		return restoreDataDir(c, dir, file)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return restoreCluster(c, f, h)
}

func restoreDataDir(c *cli.Context, dir, file string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usagef(c, "--data-dir %s: not a directory", dir)
	}
	st, err := badger.Open(badger.Options{Dir: filepath.Clean(dir)})
	if err != nil {
		return fmt.Errorf("restore: open %s (is its node still running? stop it first): %w", dir, err)
	}
	stats, rerr := node.RestoreDataDir(c.Context, st, c.Int("partitions"), func() (io.ReadCloser, error) { return os.Open(file) })
	if err := st.Close(); err != nil && rerr == nil {
		rerr = err
	}
	if rerr != nil {
		return fmt.Errorf("restore: %w", rerr)
	}
	fmt.Fprintf(c.App.Writer, "restored %d records into %s (%d keys changed); the node takes a new incarnation when it starts\n", stats.Records, dir, stats.Written)
	return nil
}

func restoreCluster(c *cli.Context, f io.Reader, h backup.Header) error {
	base, err := client.NormalizeAddr(c.String("addr"))
	if err != nil {
		return usagef(c, "--addr: %v", err)
	}
	hc, err := httpClient(c, c.Duration("timeout"))
	if err != nil {
		return err
	}
	q := url.Values{}
	if w := c.String("w"); w != "" {
		q.Set("w", w)
	}
	target := base + api.PathRestore
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	br, err := backup.NewReader(f)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	prog := newProgress(c, "restore")
	var batch bytes.Buffer
	var enc *backup.Writer
	var sent, sentBytes uint64
	var restored, failed int
	var firstErrs []string
	flush := func() error {
		if enc == nil || enc.Records() == 0 {
			return nil
		}
		if err := enc.Close(); err != nil {
			return err
		}
		res, err := postRestore(c.Context, hc, c.String("token"), target, batch.Bytes())
		if err != nil {
			return err
		}
		restored += res.Restored
		failed += res.Failed
		if len(firstErrs) < 10 {
			firstErrs = append(firstErrs, res.Errors...)
		}
		sent += enc.Records()
		sentBytes += enc.Bytes()
		prog.show(sent, sentBytes, false)
		enc = nil
		return nil
	}
	for {
		rec, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore: the file changed after it was checked: %w", err)
		}
		if enc != nil && enc.Bytes()+uint64(len(rec.Key)+len(rec.State)) > restoreBatchBytes {
			if err := flush(); err != nil {
				return fmt.Errorf("restore: after %d records: %w", sent, err)
			}
		}
		if enc == nil {
			batch.Reset()
			if enc, err = backup.NewWriter(&batch, backup.Header{Scope: "batch", Nodes: h.Nodes, Partitions: h.Partitions, N: h.N}); err != nil {
				return err
			}
		}
		if err := enc.Write(rec); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("restore: after %d records: %w", sent, err)
	}
	prog.show(sent, sentBytes, true)
	if failed > 0 {
		return fmt.Errorf("restore: %d of %d records were not stored by enough replicas (e.g. %s); a restore merges, so run it again once the cluster is healthy",
			failed, sent, strings.Join(firstErrs, "; "))
	}
	fmt.Fprintf(c.App.Writer, "restored %d records (%s) through %s\n", restored, humanBytes(sentBytes), base)
	return nil
}

// postRestore sends one batch. A 503 restore_incomplete is a result (some
// records failed), not an error.
func postRestore(ctx context.Context, hc *http.Client, token, target string, body []byte) (api.RestoreResult, error) {
	var res api.RestoreResult
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", api.ContentTypeBackup)
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return res, httpFailure(resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, err
	}
	var e struct {
		Code string `json:"code"`
		api.RestoreResult
	}
	if err := json.Unmarshal(b, &e); err != nil || (resp.StatusCode == http.StatusServiceUnavailable && e.Code != "restore_incomplete") {
		return res, httpFailure(&http.Response{StatusCode: resp.StatusCode, Status: resp.Status, Body: io.NopCloser(bytes.NewReader(b))})
	}
	return e.RestoreResult, nil
}
