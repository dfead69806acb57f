package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// ChildEnv names the environment variable that turns the test binary into
// the in-namespace runner: its value is the path of a RunSpec JSON file.
const ChildEnv = "DYNAGO_JEPSEN_CHILD"

// ChildMain runs one scenario inside the namespace the test process made
// (it is the test binary re-executed with `ip netns exec`). It refuses to
// run anywhere else, stops its agents on SIGINT/SIGTERM, writes the run
// directory and returns the process exit code: 0 when the run completed
// (whatever the checkers said: the test process judges results.json), 1
// when the harness itself failed.
func ChildMain(specPath string) int {
	logw := io.Writer(os.Stderr)
	b, err := os.ReadFile(specPath)
	if err != nil {
		fmt.Fprintf(logw, "jepsen child: %v\n", err)
		return 1
	}
	var spec RunSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		fmt.Fprintf(logw, "jepsen child: %s: %v\n", specPath, err)
		return 1
	}
	if err := CheckInside(spec.Namespace, spec.OutsideNS); err != nil {
		fmt.Fprintf(logw, "jepsen child: %v\n", err)
		return 1
	}
	if f, err := os.OpenFile(filepath.Join(spec.Dir, "harness.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		defer f.Close()
		logw = io.MultiWriter(os.Stderr, f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sc, ok := Lookup(spec.Scenario)
	if !ok {
		fmt.Fprintf(logw, "jepsen child: unknown scenario %q\n", spec.Scenario)
		return 1
	}
	switch sc.Kind {
	case KindDropRule:
		_, err = DropRule(ctx, spec, logw)
	case KindCluster:
		_, err = Execute(ctx, spec, logw)
	default:
		err = fmt.Errorf("scenario %s does not run in a namespace", sc.Name)
	}
	if err != nil {
		fmt.Fprintf(logw, "jepsen child: %s: %v\n", spec.Scenario, err)
		return 1
	}
	return 0
}
