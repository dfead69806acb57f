package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium. Under CI=true its absence fails
// the test (.ci/run installs it); elsewhere the test is skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install chromium; .ci/run installs it)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// shotsDir is where the console test saves its screenshots: $DYNAGO_CONSOLE_SHOTS
// (.ci/run sets it and prints it), else the test's artifact directory
// (go test -artifacts keeps it).
func shotsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DYNAGO_CONSOLE_SHOTS")
	if dir == "" {
		return t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// apiCall makes an HTTP request with a bearer token and returns the
// status and body.
func apiCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProcessConsole loads every page of the web console (node/ui) in a
// real headless Chromium against three real agents with tokens, checks
// what each page shows and saves a screenshot of it:
//   - admin (token in the link's fragment): the overview lists the three
//     nodes alive with their partitions and disk sizes, the ring page their ownership,
//     repair the anti-entropy table, metrics a chart of the puts the test
//     made, the key inspector both siblings of a key on every replica,
//     and staged changes enabled buttons that stage and commit;
//   - no token: a sign-in prompt naming the 401; signing in with a read
//     token through the form: the admin views say 403, the destructive
//     buttons are disabled, and the key inspector still reads the value.
func TestProcessConsole(t *testing.T) {
	chrome := chromiumPath(t)
	dynagoBinary(t) // built before the clock starts
	start := time.Now()
	file := filepath.Join(t.TempDir(), "tokens")
	admin := createToken(t, file, "admin", "ops")
	read := createToken(t, file, "read", "dash")
	flags := []string{"--partitions", "16", "--token-file", file}
	n1 := newAgent(t, "n1", "")
	n1.flags = flags
	n1.start(t)
	agents := []*agent{n1}
	for _, name := range []string{"n2", "n3"} {
		a := newAgent(t, name, n1.gossip)
		a.flags = flags
		a.launch(t)
		agents = append(agents, a)
	}
	for _, a := range agents[1:] {
		a.waitHealthy(t)
	}
	t.Logf("agents healthy in %v", time.Since(start).Round(time.Millisecond))
	poll(t, "three valid members alive", 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		code, body := apiCall(t, "GET", n1.url()+"/cluster/members", admin, "")
		var ms []member
		if code != 200 || json.Unmarshal([]byte(body), &ms) != nil {
			return false, body
		}
		ok := 0
		for _, m := range ms {
			if m.Alive && m.State == "valid" {
				ok++
			}
		}
		return ok == 3, body
	})
	// Two writes without a context: two siblings.
	for _, kv := range [][2]string{{"greeting", "hello"}, {"conflict", "left"}, {"conflict", "right"}} {
		if code, body := apiCall(t, "PUT", n1.url()+"/kv/"+kv[0], admin, kv[1]); code != 204 {
			t.Fatalf("put %s=%s: %d %s", kv[0], kv[1], code, body)
		}
	}
	if code, body := apiCall(t, "GET", n1.url()+"/kv/conflict", read, ""); code != 300 {
		t.Fatalf("get conflict: %d %s; want 300 (siblings)", code, body)
	}
	// The chart needs a sample with the puts (one every 5 s).
	poll(t, "a metrics sample with puts", 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		_, body := apiCall(t, "GET", n1.url()+"/metrics/history", "", "")
		return strings.Contains(body, `"put":{"count":3`), body
	})
	t.Logf("cluster up and written in %v", time.Since(start).Round(time.Millisecond))

	dir := shotsDir(t)
	t.Logf("screenshots in %s", dir)
	var browserLog strings.Builder
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()), chromedp.CombinedOutput(&browserLog))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nbrowser output:\n%s", what, err, browserLog.String())
		}
	}
	eval := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](js)); err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
	}
	// shot saves a screenshot of the tab as name.png.
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// page shows the page of hash in the tab of ctx, waits until it has
	// rendered its data, saves its screenshot and returns its <main>.
	page := func(ctx context.Context, hash, shotName string) string {
		t.Helper()
		name, _, _ := strings.Cut(strings.TrimPrefix(hash, "#"), "/")
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("location.hash = %q", hash))); err != nil {
			t.Fatalf("go to %s: %v", hash, err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(fmt.Sprintf(`main[data-page=%q][data-state="ready"]`, name))); err != nil {
			t.Fatalf("page %s did not render: %v", hash, err)
		}
		html, err := chromedp.Run(ctx, chromedp.OuterHTML("main"))
		if err != nil {
			t.Fatal(err)
		}
		shot(ctx, shotName)
		return html
	}
	must := func(what, html string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(html, w) {
				t.Fatalf("%s: the page lacks %q:\n%s", what, w, html)
			}
		}
	}
	count := func(html, s string) int { return strings.Count(html, s) }

	// Admin, the token in the link's fragment.
	pageStart := time.Now()
	do("open the console", chromedp.Navigate(n1.url()+"/ui/#token="+admin+"&overview"),
		chromedp.WaitVisible(`main[data-page="overview"][data-state="ready"]`))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(loc, admin) {
		t.Fatalf("the token stayed in the address bar: %s", loc)
	}
	who, err := chromedp.Run(ctx, chromedp.Text("#whoami"))
	if err != nil || !strings.Contains(who, "ops (admin)") {
		t.Fatalf("signed in as %q (%v); want ops (admin)", who, err)
	}
	html := page(ctx, "#overview", "1-overview")
	for _, n := range []string{"n1", "n2", "n3"} {
		// Q=16, N=3, three nodes: each holds a replica of all 16.
		// Its disk size comes from the node itself (GET /cluster/nodes).
		row := regexp.MustCompile(`<tr data-node="` + n + `"><td>` + n + `</td><td>valid</td><td class="ok">alive</td>.*?<td class="num">16</td><td class="num">\d+</td><td class="num">[0-9.]+ (B|KiB|MiB)</td>`)
		if !row.MatchString(html) {
			t.Fatalf("overview: no row showing %s valid, alive, holding 16 partitions, with its disk size:\n%s", n, html)
		}
	}
	must("overview", html, `id="nodes-count">3<`)

	html = page(ctx, "#ring", "2-ring")
	must("ring", html, "16 partitions, 3 replicas each", `id="owners"`, "no fallback in use", `<svg class="ringviz"`)
	if got := count(html, "<path "); got != 16 {
		t.Fatalf("ring: %d partition arcs, want 16", got)
	}

	html = page(ctx, "#repair", "3-repair")
	must("repair", html, "n1 holds 0 hints", "No hint backlog", `id="aae"`, "Tombstones")

	html = page(ctx, "#metrics", "4-metrics")
	// The 3 puts of the test, all through n1.
	must("metrics", html, `data-series="put"`, `data-series="put p99"`, `<tr data-op="put"><td>put</td><td class="num">3</td>`)

	html = page(ctx, "#key/conflict", "5-key-conflict")
	must("key inspector", html, `id="siblings"`, ">left<", ">right<", "2 siblings", `id="preflist"`)
	for _, n := range []string{"n1", "n2", "n3"} {
		if got := count(html, `<tr data-node="`+n+`" class="replica-version">`); got != 2 {
			t.Fatalf("key inspector: %s shows %d stored versions, want 2 (both siblings):\n%s", n, got, html)
		}
	}

	html = page(ctx, "#staging", "6-staging")
	must("staging", html, "Staging is off", `data-action="Stage"`, `data-action="Leave"`)
	if strings.Contains(html, "disabled") {
		t.Fatalf("staging: an admin sees a disabled button:\n%s", html)
	}
	// Stage and commit through the buttons (the confirmation answered yes).
	eval(`window.confirm = () => true`)
	do("stage", chromedp.Click(`button[data-action="Stage"]`),
		chromedp.WaitVisible(`main[data-state="ready"] #staged`))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('main[data-state="ready"] #staged')?.textContent.includes('ON')`)); err != nil {
		t.Fatalf("the page never showed staging on: %v", err)
	}
	shot(ctx, "7-staging-on")
	if _, body := apiCall(t, "GET", n1.url()+"/cluster/plan", admin, ""); !strings.Contains(body, `"staged":true`) {
		t.Fatalf("after Stage, the plan says %s", body)
	}
	do("commit", chromedp.Click(`button[data-action="Commit"]`))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('main[data-state="ready"] #staged')?.textContent.includes('off')`)); err != nil {
		t.Fatalf("the page never showed staging off after Commit: %v", err)
	}
	if _, body := apiCall(t, "GET", n1.url()+"/cluster/plan", admin, ""); !strings.Contains(body, `"staged":false`) {
		t.Fatalf("after Commit, the plan says %s", body)
	}
	t.Logf("admin pages in %v", time.Since(pageStart).Round(time.Millisecond))

	// A new tab, no token: the sign-in prompt; then a read token typed in.
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.Navigate(agents[1].url()+"/ui/#overview"), chromedp.WaitVisible("#signin")); err != nil {
		t.Fatalf("no sign-in prompt without a token: %v", err)
	}
	html, err = chromedp.Run(tab, chromedp.OuterHTML("main"))
	if err != nil {
		t.Fatal(err)
	}
	must("sign-in", html, "This node requires a token (401)", `id="token-input"`)
	shot(tab, "8-signin")
	if err := chromedp.Do(tab, chromedp.SendKeys("#token-input", read), chromedp.Click(`#signin button[type="submit"]`),
		chromedp.WaitVisible(`main[data-page="overview"][data-state="ready"]`)); err != nil {
		t.Fatalf("signing in with a read token: %v", err)
	}
	if who, err := chromedp.Run(tab, chromedp.Text("#whoami")); err != nil || !strings.Contains(who, "dash (read)") {
		t.Fatalf("signed in as %q (%v); want dash (read)", who, err)
	}
	html = page(tab, "#staging", "9-staging-read")
	must("staging (read)", html, `id="readonly"`, "needs the admin role (403)")
	for _, b := range []string{"Stage", "Commit"} {
		disabled, err := chromedp.Run(tab, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector('button[data-action=%q]').disabled`, b)))
		if err != nil || !disabled {
			t.Fatalf("read role: the %s button is enabled (%v)", b, err)
		}
	}
	html = page(tab, "#key/conflict", "10-key-read")
	must("key inspector (read)", html, ">left<", ">right<", "needs the admin role (403)")
	t.Logf("all pages in %v", time.Since(pageStart).Round(time.Millisecond))
}
