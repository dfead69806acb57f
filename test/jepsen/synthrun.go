package jepsen

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dynago/dynago/test/jepsen/checker"
	"github.com/dynago/dynago/test/jepsen/history"
)

// SynthOps is the length of S15's synthetic history.
const SynthOps = 1500

// RunSynthetic is S15: every checker must pass a synthetic history of a
// correct store, and each seeded anomaly must be flagged by its checker
// exactly (kind and count). No cluster, no root.
func RunSynthetic(seed int64, dir string) (*Results, error) {
	begin := time.Now()
	sc, _ := Lookup("S15")
	res := &Results{Scenario: sc.Name, Title: sc.Title, Injects: sc.Injects, Asserts: sc.Asserts, Seed: seed, RunDir: dir,
		Started: begin.Format(time.RFC3339), Ops: map[string]map[string]int{}}
	if err := os.MkdirAll(filepath.Join(dir, "anomalies"), 0o755); err != nil {
		return nil, err
	}
	clean := Synthesize(seed, SynthOps)
	if err := saveHistory(filepath.Join(dir, "history.jsonl"), clean.Ops); err != nil {
		return nil, err
	}
	writeJSON(filepath.Join(dir, "replicas.json"), clean.Replicas)
	ops, err := history.Complete(clean.Ops)
	if err != nil {
		return nil, fmt.Errorf("jepsen: the clean synthetic history is malformed: %w", err)
	}
	for _, op := range ops {
		if op.Process >= 0 {
			m := res.Ops[string(op.F)]
			if m == nil {
				m = map[string]int{}
				res.Ops[string(op.F)] = m
			}
			m[string(op.Type)]++
		}
	}
	for _, name := range AllCheckers {
		cr := RunChecker(name, ops, clean.Replicas)
		cr.Name = "clean history: " + name
		res.Checkers = append(res.Checkers, cr)
		res.Verdicts = append(res.Verdicts, Verdict{Checker: cr.Name, Valid: cr.Valid, Expected: true, OK: cr.Valid})
		if !cr.Valid {
			res.Problems = append(res.Problems, fmt.Sprintf("%s flags the clean synthetic history: %+v", name, cr.Examples))
		}
	}
	for _, a := range Anomalies() {
		h := clean.Clone()
		val := a.Seed(&h)
		ops, err := history.Complete(h.Ops)
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("anomaly %q made a malformed history: %v", a.Name, err))
			continue
		}
		cr := RunChecker(a.Checker, ops, h.Replicas)
		cr.Name = a.Checker + ": " + a.Name
		res.Checkers = append(res.Checkers, cr)
		problem := CheckAnomaly(a, val, cr)
		res.Verdicts = append(res.Verdicts, Verdict{Checker: cr.Name, Valid: cr.Valid, Expected: false, OK: problem == ""})
		if problem != "" {
			res.Problems = append(res.Problems, problem)
			path := filepath.Join(dir, "anomalies", checker.FileSafe(a.Name)+".jsonl")
			if err := saveHistory(path, h.Ops); err != nil {
				return nil, err
			}
			res.Problems = append(res.Problems, "the history with that anomaly is in "+path)
		}
	}
	res.Pass = len(res.Problems) == 0
	res.TotalSeconds = time.Since(begin).Seconds()
	return res, res.write(dir)
}

// CheckAnomaly says what is wrong with a checker's result for a seeded
// anomaly ("" when it flagged exactly the anomaly).
func CheckAnomaly(a Anomaly, val string, cr checker.Result) string {
	counter := a.Counter
	if counter == "" {
		counter = "violations"
	}
	switch {
	case cr.Valid:
		return fmt.Sprintf("%s did not flag the seeded anomaly %q", a.Checker, a.Name)
	case cr.Counts[counter] != a.Count:
		return fmt.Sprintf("%s flagged %d %s for the seeded anomaly %q, want exactly %d: %+v", a.Checker, cr.Counts[counter], counter, a.Name, a.Count, cr.Examples)
	}
	kinds := map[string]bool{}
	for _, ex := range cr.Examples {
		kinds[ex.Kind] = true
	}
	if !kinds[a.Kind] {
		return fmt.Sprintf("%s flagged %q as %v, want %s", a.Checker, a.Name, slices.Sorted(maps.Keys(kinds)), a.Kind)
	}
	if val != "" && !slices.ContainsFunc(cr.Examples, func(v checker.Violation) bool { return v.Value == val }) {
		return fmt.Sprintf("%s flagged %q but not value %q: %+v", a.Checker, a.Name, val, cr.Examples)
	}
	return ""
}

func saveHistory(path string, ops []history.Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := history.WriteJSONL(f, ops); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
