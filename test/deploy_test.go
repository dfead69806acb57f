package test

// Tests of the deployment files under deploy/ and the Dockerfile (issue
// 14): what can run on a machine without a container runtime or a
// cluster. The image's build command is run as is and its binary checked
// static; the compose file, the Kubernetes manifests and the systemd unit
// are parsed and checked against each other and against the agent's
// flags; promtool checks and unit-tests the alert rules; and real agents
// show that every metric the dashboard and the alerts name, with the
// label values they match, exists on a fresh node, at zero.
//
// A tool that .ci/run installs (promtool, systemd-analyze) fails the test
// under CI when missing; elsewhere its test is skipped with how to run it.
// With a Docker daemon (docker info) the image is built too.

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the module's root (tests run in test/).
const repoRoot = ".."

func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deployTool finds a tool .ci/run installs: on PATH or in .ci/bin.
func deployTool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p, err := filepath.Abs(filepath.Join(repoRoot, ".ci", "bin", name)); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this test must run, but %s is missing (.ci/run installs it: %s)", name, install)
	}
	t.Skipf("%s is missing: %s to run this test", name, install)
	return ""
}

// dockerfile is the Dockerfile's instructions, continuation lines joined,
// by stage.
type dockerStage struct {
	from  string
	instr [][2]string // instruction (upper case), arguments
}

func parseDockerfile(t *testing.T, src string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	var line strings.Builder
	sc := bufio.NewScanner(strings.NewReader(src))
	flush := func() {
		l := strings.TrimSpace(line.String())
		line.Reset()
		if l == "" {
			return
		}
		ins, args, _ := strings.Cut(l, " ")
		ins = strings.ToUpper(ins)
		args = strings.TrimSpace(args)
		if ins == "FROM" {
			stages = append(stages, dockerStage{from: args})
			return
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", ins)
		}
		s := &stages[len(stages)-1]
		s.instr = append(s.instr, [2]string{ins, args})
	}
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if body, ok := strings.CutSuffix(l, "\\"); ok {
			line.WriteString(body + " ")
			continue
		}
		line.WriteString(l)
		flush()
	}
	flush()
	return stages
}

// shellWords splits a simple shell command (double quotes, no
// expansions): what the Dockerfile's build line uses.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inQuote, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, any = !inQuote, true
		case r == ' ' && !inQuote:
			if any {
				words = append(words, w.String())
			}
			w.Reset()
			any = false
		default:
			w.WriteRune(r)
			any = true
		}
	}
	if any {
		words = append(words, w.String())
	}
	return words
}

// The Dockerfile is multi-stage, runs as a non-root user with a volume
// for data and a health check on /health (dynago health); its build line,
// run here exactly, makes a static binary (no ELF interpreter, no shared
// libraries), which is what a distroless static image can run. With a
// Docker daemon the image itself is built.
func TestDeployDockerfile(t *testing.T) {
	stages := parseDockerfile(t, string(readRepoFile(t, "Dockerfile")))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s); want a build stage and a run stage", len(stages))
	}
	final := stages[len(stages)-1]
	last := map[string]string{}
	var build string
	for _, s := range stages {
		for _, in := range s.instr {
			if in[0] == "RUN" && strings.Contains(in[1], "go build") {
				build = in[1]
			}
		}
	}
	for _, in := range final.instr {
		last[in[0]] = in[1]
		if in[0] == "RUN" {
			t.Errorf("the run stage has RUN %s: it is distroless (no shell)", in[1])
		}
	}
	if u := last["USER"]; u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("final stage USER = %q; want a non-root user", u)
	}
	if !strings.Contains(last["VOLUME"], "/var/lib/dynago") {
		t.Errorf("final stage VOLUME = %q; want the data directory /var/lib/dynago", last["VOLUME"])
	}
	if hc := last["HEALTHCHECK"]; !strings.Contains(hc, `"health"`) || !strings.Contains(hc, "CMD") {
		t.Errorf("final stage HEALTHCHECK = %q; want CMD [... \"health\"]", hc)
	}
	if !strings.Contains(last["ENV"], "DYNAGO_DATA_DIR=/var/lib/dynago") {
		t.Errorf("final stage ENV = %q; want DYNAGO_DATA_DIR on the volume", last["ENV"])
	}
	if build == "" {
		t.Fatal("no RUN ... go build line in the Dockerfile")
	}

	// Run the build line here: its environment, then go build with -o
	// pointed at a temporary file.
	words := shellWords(build)
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("build line %q: want [VAR=value ...] go build ...", build)
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build line %q does not set CGO_ENABLED=0", build)
	}
	bin := filepath.Join(t.TempDir(), "dynago")
	args := slices.Clone(words[1:])
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("build line %q has no -o", build)
	}
	args[i+1] = bin
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's binary has a %v program header: it is not static", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the image's binary needs shared libraries %v", libs)
	}
	// The entry point runs, and the health check command exists (1: no node).
	out, err := exec.Command(bin, "health", "--addr", "http://127.0.0.1:1", "--timeout", "1s").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("dynago health with no node: %v, want exit 1\n%s", err, out)
	}

	if exec.Command("docker", "info").Run() != nil {
		t.Log("no Docker daemon (docker info failed): the image itself was not built; its build line was run above")
		return
	}
	tag := fmt.Sprintf("dynago-deploy-test:%d", os.Getpid())
	if out, err := exec.Command("docker", "build", "-t", tag, repoRoot).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err = exec.Command("docker", "inspect", "--format", "{{.Config.User}} {{json .Config.Healthcheck}} {{json .Config.Volumes}}", tag).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "65532") || !strings.Contains(string(out), "/var/lib/dynago") {
		t.Errorf("docker inspect: %v\n%s", err, out)
	}
}

// agentFlags returns the flag names `dynago agent --help` lists.
func agentFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(dynagoBinary(t), "agent", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("dynago agent --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["data-dir"] || !flags["gossip"] {
		t.Fatalf("could not read the agent's flags from its help:\n%s", out)
	}
	return flags
}

// envFlag maps DYNAGO_FOO_BAR to foo-bar.
func envFlag(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "DYNAGO_")), "_", "-")
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Volumes  []string `yaml:"volumes"`
		Ports    []string `yaml:"ports"`
		Networks map[string]struct {
			IPv4 string `yaml:"ipv4_address"`
		} `yaml:"networks"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// deploy/compose.yml starts three dynago nodes (each with a health check,
// a data volume, an address of its own that its peers join and Prometheus
// scrapes) and Prometheus with the alert rules; every DYNAGO_* variable
// it sets is an agent flag. `docker compose config` validates it where
// the compose plugin is installed.
func TestDeployCompose(t *testing.T) {
	src := readRepoFile(t, "deploy/compose.yml")
	var c composeFile
	if err := yaml.Unmarshal(src, &c); err != nil {
		t.Fatalf("deploy/compose.yml: %v", err)
	}
	flags := agentFlags(t)
	var nodes []string
	gossipOf := map[string]string{}
	httpAddrs := map[string]bool{}
	for name, s := range c.Services {
		if s.Environment["DYNAGO_NAME"] == "" {
			continue
		}
		nodes = append(nodes, name)
		if s.Build.Context == "" || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: build %+v; want the repository's Dockerfile", name, s.Build)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, "deploy", s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: build context: %v", name, err)
		}
		if len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[len(s.Healthcheck.Test)-1] != "health" {
			t.Errorf("%s: healthcheck %q; want [CMD, dynago, health]", name, s.Healthcheck.Test)
		}
		if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/var/lib/dynago") }) {
			t.Errorf("%s: volumes %q; want one on /var/lib/dynago", name, s.Volumes)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond the host's loopback (the nodes run --insecure)", name, p)
			}
		}
		for k := range s.Environment {
			if !flags[envFlag(k)] {
				t.Errorf("%s sets %s, but the agent has no --%s", name, k, envFlag(k))
			}
		}
		ip := s.Networks["dynago"].IPv4
		for _, k := range []string{"DYNAGO_HTTP", "DYNAGO_RPC", "DYNAGO_GOSSIP"} {
			if !strings.HasPrefix(s.Environment[k], ip+":") || ip == "" {
				t.Errorf("%s: %s=%q is not on its compose address %q", name, k, s.Environment[k], ip)
			}
		}
		gossipOf[name] = s.Environment["DYNAGO_GOSSIP"]
		httpAddrs[s.Environment["DYNAGO_HTTP"]] = true
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"n1", "n2", "n3"}) {
		t.Fatalf("dynago services %v; want n1, n2, n3", nodes)
	}
	if j := c.Services["n1"].Environment["DYNAGO_JOIN"]; j != "" {
		t.Errorf("n1 joins %q; it starts the cluster", j)
	}
	for _, n := range []string{"n2", "n3"} {
		if j := c.Services[n].Environment["DYNAGO_JOIN"]; j != gossipOf["n1"] {
			t.Errorf("%s joins %q; want n1's gossip address %q", n, j, gossipOf["n1"])
		}
	}
	prom, ok := c.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	for _, want := range []string{"./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml", "./prometheus/alerts.yml:/etc/prometheus/alerts.yml"} {
		if !slices.ContainsFunc(prom.Volumes, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("prometheus volumes %q lack %s", prom.Volumes, want)
		}
	}
	var pc promConfig
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/prometheus/prometheus.yml"), &pc); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				scraped[tg] = true
			}
		}
	}
	if !maps.Equal(scraped, httpAddrs) {
		t.Errorf("prometheus scrapes %v; the nodes serve HTTP on %v", scraped, httpAddrs)
	}
	if !slices.Contains(pc.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus rule_files %q lack alerts.yml", pc.RuleFiles)
	}

	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Logf("docker compose is not installed (%v: %s): validated by parsing only", err, strings.TrimSpace(string(out)))
		return
	}
	if out, err := exec.Command("docker", "compose", "-f", filepath.Join(repoRoot, "deploy/compose.yml"), "config", "-q").CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

// The systemd unit passes systemd-analyze verify with no warning (a
// misspelt key or value is only a warning there), runs as the dedicated
// user deploy/systemd/dynago.sysusers creates, restarts on failure and
// raises the file limit; its environment file sets only agent flags.
func TestDeploySystemdUnit(t *testing.T) {
	unit := string(readRepoFile(t, "deploy/systemd/dynago.service"))
	for _, want := range []string{"\nUser=dynago\n", "\nRestart=on-failure\n", "\nLimitNOFILE=65536\n", "\nExecStart=/usr/local/bin/dynago agent\n", "\nStateDirectory=dynago\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	if !strings.Contains(string(readRepoFile(t, "deploy/systemd/dynago.sysusers")), "u dynago ") {
		t.Error("dynago.sysusers does not create the user dynago")
	}
	flags := agentFlags(t)
	for _, l := range strings.Split(string(readRepoFile(t, "deploy/systemd/dynago.env")), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") && !flags[envFlag(k)] {
			t.Errorf("dynago.env sets %s, but the agent has no --%s", k, envFlag(k))
		}
	}

	sa := deployTool(t, "systemd-analyze", "apt-get install systemd")
	// verify checks that ExecStart's binary exists: point it at a built one.
	dir := t.TempDir()
	bin, err := filepath.Abs(dynagoBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dynago.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/dynago", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// k8sObject is the part of a Kubernetes object the test reads.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		ClusterIP   string `yaml:"clusterIP"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
		Template       struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
					Env  []struct {
						Name      string `yaml:"name"`
						Value     string `yaml:"value"`
						ValueFrom struct {
							SecretKeyRef *struct {
								Name string `yaml:"name"`
							} `yaml:"secretKeyRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
	raw map[string]any
}

// The Kubernetes example: two StatefulSets (a seed that starts the
// cluster, members that join its pod) whose serviceName is a headless
// Service (clusterIP None), a PodDisruptionBudget over their pods, a
// volume claim template mounted on the data directory, probes on /health,
// certificates and the gossip key from secrets, and only agent flags.
func TestDeployKubernetes(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader(string(readRepoFile(t, "deploy/kubernetes/dynago.yaml"))))
	byKind := map[string][]k8sObject{}
	for {
		var node yaml.Node
		if err := dec.Decode(&node); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var o k8sObject
		if err := node.Decode(&o); err != nil {
			t.Fatal(err)
		}
		// The probes and the rest, by name.
		if err := node.Decode(&o.raw); err != nil {
			t.Fatal(err)
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	if len(byKind["StatefulSet"]) != 2 || len(byKind["PodDisruptionBudget"]) != 1 {
		t.Fatalf("want two StatefulSets (seed, members) and one PodDisruptionBudget; have %d, %d", len(byKind["StatefulSet"]), len(byKind["PodDisruptionBudget"]))
	}
	flags := agentFlags(t)
	joins := map[string]string{}
	for _, sts := range byKind["StatefulSet"] {
		joins[sts.Metadata.Name] = checkStatefulSet(t, sts, byKind, flags)
	}
	// The seed starts the cluster; the members join its first pod by the
	// headless Service's DNS name.
	seed := byKind["StatefulSet"][0]
	if joins[seed.Metadata.Name] != "" {
		t.Errorf("the first StatefulSet, %s, joins %q; the seed starts the cluster", seed.Metadata.Name, joins[seed.Metadata.Name])
	}
	member := byKind["StatefulSet"][1]
	if want := seed.Metadata.Name + "-0." + seed.Spec.ServiceName + "."; !strings.HasPrefix(joins[member.Metadata.Name], want) || !strings.HasSuffix(joins[member.Metadata.Name], ":7946") {
		t.Errorf("%s joins %q; want the seed's pod %s...:7946", member.Metadata.Name, joins[member.Metadata.Name], want)
	}
}

// checkStatefulSet checks one StatefulSet of the example and returns its
// pods' DYNAGO_JOIN.
func checkStatefulSet(t *testing.T, sts k8sObject, byKind map[string][]k8sObject, flags map[string]bool) (join string) {
	t.Helper()
	t.Logf("StatefulSet %s", sts.Metadata.Name)

	headless := false
	for _, s := range byKind["Service"] {
		if s.Metadata.Name == sts.Spec.ServiceName && s.Spec.ClusterIP == "None" {
			headless = true
		}
	}
	if !headless {
		t.Errorf("the StatefulSet's serviceName %q is not a headless Service (clusterIP: None)", sts.Spec.ServiceName)
	}
	labels := sts.Spec.Template.Metadata.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(sts.Spec.Selector.MatchLabels) {
		t.Errorf("the StatefulSet's selector %v does not match its pods' labels %v", sts.Spec.Selector.MatchLabels, labels)
	}
	pdb := byKind["PodDisruptionBudget"][0]
	if !matches(pdb.Spec.Selector.MatchLabels) || (pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil) {
		t.Errorf("the PodDisruptionBudget (selector %v, maxUnavailable %v) does not cover the StatefulSet's pods %v", pdb.Spec.Selector.MatchLabels, pdb.Spec.MaxUnavailable, labels)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("volumeClaimTemplates: %d, want 1", len(sts.Spec.VolumeClaimTemplates))
	}
	claim := sts.Spec.VolumeClaimTemplates[0].Metadata.Name
	ctrs := sts.Spec.Template.Spec.Containers
	if len(ctrs) != 1 {
		t.Fatalf("%d containers, want 1", len(ctrs))
	}
	c := ctrs[0]
	if !slices.ContainsFunc(c.VolumeMounts, func(m struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}) bool {
		return m.Name == claim && m.MountPath == "/var/lib/dynago"
	}) {
		t.Errorf("the claim %q is not mounted on /var/lib/dynago: %+v", claim, c.VolumeMounts)
	}
	// Probes, by name from the raw document.
	ctr := dig(t, sts.raw, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	for _, p := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		probe, ok := ctr[p].(map[string]any)
		if !ok {
			t.Errorf("no %s", p)
			continue
		}
		if path := dig(t, probe, "httpGet", "path"); path != "/health" {
			t.Errorf("%s path %v, want /health", p, path)
		}
	}
	for _, a := range c.Args[1:] {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !flags[name] {
			t.Errorf("arg %q is not an agent flag", a)
		}
	}
	if c.Args[0] != "agent" {
		t.Errorf("args start %q, want agent", c.Args[0])
	}
	secretEnv := false
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "DYNAGO_") && !flags[envFlag(e.Name)] {
			t.Errorf("env %s is not an agent flag", e.Name)
		}
		if e.Name == "DYNAGO_GOSSIP_KEY" && e.ValueFrom.SecretKeyRef != nil {
			secretEnv = true
		}
		if e.Name == "DYNAGO_JOIN" {
			join = e.Value
		}
	}
	if !secretEnv {
		t.Error("the gossip key does not come from a secret")
	}
	secretVols := map[string]bool{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretVols[v.Name] = true
		}
	}
	for _, want := range []string{"--node-cert=", "--cluster-ca=", "--tls-cert=", "--token-file="} {
		i := slices.IndexFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, want) })
		if i < 0 {
			t.Errorf("no %s: the example is the secure setup", want)
			continue
		}
		file := strings.TrimPrefix(c.Args[i], want)
		if !slices.ContainsFunc(c.VolumeMounts, func(m struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		}) bool {
			return secretVols[m.Name] && strings.HasPrefix(file, m.MountPath+"/")
		}) {
			t.Errorf("%s%s is not on a secret volume", want, file)
		}
	}
	if slices.Contains(c.Args, "--insecure") {
		t.Error("the Kubernetes example runs --insecure")
	}
	return join
}

func dig(t *testing.T, m map[string]any, path ...string) any {
	t.Helper()
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: %q is not a map", path, p)
		}
		v = mm[p]
	}
	return v
}

// promtool checks the alert rules and the compose's Prometheus
// configuration, and runs the rules' unit tests (alerts_test.yml: three
// alerts, each firing and not firing).
func TestDeployPromtool(t *testing.T) {
	pt := deployTool(t, "promtool", ".ci/run extracts it from Debian's prometheus package")
	dir := filepath.Join(repoRoot, "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// metricNameRE matches the names of dynago's, Go's and the process's
// metrics in PromQL expressions.
var metricNameRE = regexp.MustCompile(`\b((?:dynago|go|process)_[a-zA-Z0-9_]+)\b`)

// selectorRE matches a metric with a label selector: name{...}.
var selectorRE = regexp.MustCompile(`\b((?:dynago|go|process)_[a-zA-Z0-9_]+)\{([^}]*)\}`)

// matcherRE matches one equality or simple alternation matcher.
var matcherRE = regexp.MustCompile(`([a-z_]+)\s*(=~|=)\s*"([^"]*)"`)

// queries returns every PromQL expression of the dashboard and the rules.
func deployQueries(t *testing.T) map[string][]string {
	t.Helper()
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readRepoFile(t, "deploy/grafana/dynago.json"), &dash); err != nil {
		t.Fatalf("deploy/grafana/dynago.json: %v", err)
	}
	qs := map[string][]string{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs["dashboard panel "+p.Title] = append(qs["dashboard panel "+p.Title], tg.Expr)
		}
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/prometheus/alerts.yml"), &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			qs["alert "+r.Alert] = append(qs["alert "+r.Alert], r.Expr)
		}
	}
	if len(qs) < 20 {
		t.Fatalf("only %d dashboard panels and alerts with queries", len(qs))
	}
	return qs
}

// scrapeSeries fetches an agent's /metrics: each series line (name and
// labels) and its value.
func scrapeSeries(t *testing.T, a *agent) map[string]string {
	t.Helper()
	resp, err := http.Get(a.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s/metrics: %d %v", a.url(), resp.StatusCode, err)
	}
	series := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		series[l[:i]] = l[i+1:]
	}
	return series
}

// Every metric the Grafana dashboard and the alert rules name exists on
// three fresh agents (joined, nothing written yet), and every label value
// they select (op="put", outcome="409", result=~"equal|repaired",
// limit="hint_max_age_seconds", ...) names a series that is already there:
// a counter that appeared only at its first event would not show in
// increase() and an alert on it would never fire. The hint series of each
// peer exist at zero.
func TestDeployMetricsExistOnFreshNodes(t *testing.T) {
	n1 := newAgent(t, "n1", "")
	n1.start(t)
	agents := []*agent{n1}
	for _, name := range []string{"n2", "n3"} {
		a := newAgent(t, name, n1.gossip)
		a.start(t)
		agents = append(agents, a)
	}
	for _, a := range agents {
		waitAlive(t, a.url(), 3)
	}
	qs := deployQueries(t)
	for _, a := range agents {
		series := scrapeSeries(t, a)
		names := map[string]bool{}
		for s := range series {
			name, _, _ := strings.Cut(s, "{")
			names[name] = true
		}
		for where, exprs := range qs {
			for _, e := range exprs {
				for _, m := range metricNameRE.FindAllStringSubmatch(e, -1) {
					if !names[m[1]] {
						t.Errorf("%s: %s uses %s, which a fresh node does not export", a.name, where, m[1])
					}
				}
				for _, sel := range selectorRE.FindAllStringSubmatch(e, -1) {
					for _, mt := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
						label, op, val := mt[1], mt[2], mt[3]
						if label == "instance" || strings.ContainsAny(val, ".*+?[]()") {
							continue // dashboard variables, regexes over statuses
						}
						vals := []string{val}
						if op == "=~" {
							vals = strings.Split(val, "|")
						}
						for _, v := range vals {
							if !slices.ContainsFunc(slices.Collect(maps.Keys(series)), func(s string) bool {
								return strings.HasPrefix(s, sel[1]+"{") && strings.Contains(s, label+`="`+v+`"`)
							}) {
								t.Errorf("%s: %s selects %s{%s=%q}, which a fresh node does not have", a.name, where, sel[1], label, v)
							}
						}
					}
				}
			}
		}
		for _, want := range []string{
			`dynago_requests_total{op="put",outcome="503"}`,
			`dynago_requests_total{op="put",outcome="409"}`,
			`dynago_aae_exchanges_total{result="error"}`,
			`dynago_write_siblings_near_cap_total`,
			`dynago_hints_refused_total`,
			`dynago_storage_failed`,
		} {
			if v, ok := series[want]; !ok || v != "0" {
				t.Errorf("%s: %s = %q (present %v), want 0", a.name, want, v, ok)
			}
		}
		for _, peer := range agents {
			if peer == a {
				continue
			}
			for _, m := range []string{"dynago_hints_queued", "dynago_hint_delivery_lag_seconds", "dynago_hints_queued_bytes"} {
				s := fmt.Sprintf(`%s{target=%q}`, m, peer.name)
				if v, ok := series[s]; !ok || v != "0" {
					t.Errorf("%s: %s = %q (present %v), want 0", a.name, s, v, ok)
				}
			}
		}
		if v := series["dynago_disk_free_bytes"]; v == "" || v == "0" {
			t.Errorf("%s: dynago_disk_free_bytes = %q on a node with a data directory", a.name, v)
		}
	}
}
