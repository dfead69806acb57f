package jepsen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NamespacePrefix starts the name of every network namespace the suite
// creates: dynago-jepsen-<pid of the creating test process>-<n>. Only
// namespaces with this prefix are ever touched, and a stale one is removed
// only when its creating process is gone.
const NamespacePrefix = "dynago-jepsen-"

// ErrNoNamespace is returned when a network namespace cannot be created
// (typically: not root, or no iproute2).
var ErrNoNamespace = errors.New("jepsen: cannot create a network namespace")

// Namespace is a network namespace created by this process.
type Namespace struct {
	Name string
}

// NamespaceName returns the name of this process's n-th namespace.
func NamespaceName(n int) string {
	return fmt.Sprintf("%s%d-%d", NamespacePrefix, os.Getpid(), n)
}

// CreateNamespace creates a network namespace and brings its loopback up
// (127.0.0.0/8 is then all local inside it, so nodes can bind 127.0.0.11..).
func CreateNamespace(ctx context.Context, name string) (*Namespace, error) {
	if !strings.HasPrefix(name, NamespacePrefix) {
		return nil, fmt.Errorf("jepsen: namespace %q lacks the prefix %q", name, NamespacePrefix)
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s is not installed (apt-get install iproute2 iptables)", ErrNoNamespace, tool)
		}
	}
	if out, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("%w: ip netns add %s: %v: %s (the fault tests need root: CAP_NET_ADMIN and CAP_SYS_ADMIN)", ErrNoNamespace, name, err, out)
	}
	ns := &Namespace{Name: name}
	if out, err := run(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		ns.Delete(context.Background())
		return nil, fmt.Errorf("%w: ip -n %s link set lo up: %v: %s", ErrNoNamespace, name, err, out)
	}
	return ns, nil
}

// Command returns a command that runs name with args inside the namespace.
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Delete kills whatever still runs inside the namespace (by PID: only this
// suite's processes run there) and deletes it.
func (ns *Namespace) Delete(ctx context.Context) error {
	killNamespacePids(ctx, ns.Name)
	out, err := run(ctx, "ip", "netns", "delete", ns.Name)
	if err != nil {
		return fmt.Errorf("jepsen: ip netns delete %s: %v: %s", ns.Name, err, out)
	}
	return nil
}

func killNamespacePids(ctx context.Context, name string) {
	for range 3 {
		out, err := run(ctx, "ip", "netns", "pids", name)
		if err != nil || strings.TrimSpace(out) == "" {
			return
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond): // let the kernel reap them
		}
	}
}

// RemoveStaleNamespaces deletes namespaces with NamespacePrefix whose
// creating process no longer exists (left by a run that was killed before
// it could clean up). It returns the names it removed.
func RemoveStaleNamespaces(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, fmt.Errorf("jepsen: ip netns list: %v: %s", err, out)
	}
	var removed []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], NamespacePrefix) {
			continue
		}
		name := f[0]
		rest := strings.TrimPrefix(name, NamespacePrefix)
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || processAlive(pid) {
			continue
		}
		if err := (&Namespace{Name: name}).Delete(ctx); err != nil {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CurrentNetNS identifies the network namespace this process runs in.
func CurrentNetNS() (string, error) {
	id, err := nsID("/proc/self/ns/net")
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// CheckInside returns nil only if this process runs inside the named
// namespace, and not in outside, the namespace of the test process that
// created it (CurrentNetNS there), nor in init's when that is visible.
// Everything that changes the firewall calls it first, so no rule can land
// in the namespace the test was started in.
func CheckInside(name, outside string) error {
	if !strings.HasPrefix(name, NamespacePrefix) {
		return fmt.Errorf("jepsen: %q is not one of this suite's namespaces", name)
	}
	self, err := nsID("/proc/self/ns/net")
	if err != nil {
		return err
	}
	want, err := nsID("/run/netns/" + name)
	if err != nil {
		return err
	}
	if self.String() == outside || outside == "" {
		return fmt.Errorf("jepsen: refusing: this process is in the test's own network namespace, not in %s", name)
	}
	if root, err := nsID("/proc/1/ns/net"); err == nil && self == root {
		return fmt.Errorf("jepsen: refusing: this process is in init's network namespace")
	}
	if self != want {
		return fmt.Errorf("jepsen: refusing: this process is not in namespace %s", name)
	}
	return nil
}

type nsIdent struct{ dev, ino uint64 }

func (i nsIdent) String() string { return fmt.Sprintf("%d:%d", i.dev, i.ino) }

func nsID(path string) (nsIdent, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsIdent{}, fmt.Errorf("jepsen: stat %s: %w", path, err)
	}
	return nsIdent{dev: uint64(st.Dev), ino: st.Ino}, nil
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
