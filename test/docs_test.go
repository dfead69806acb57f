package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The README is self-contained (issue 14): it and docs/ link only to
// files inside the repository that exist, and to anchors those files
// have. Links to the web are not checked (CI has no network to spare).

// mdLink matches an inline markdown link or image: [text](target "title").
var mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// linkProblems returns what is wrong with the links of the markdown file
// path (relative to root), whose text is text.
func linkProblems(root, path, text string, exists func(string) bool, anchors func(string) map[string]bool) []string {
	var bad []string
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if strings.Contains(line, "../shared/") {
			bad = append(bad, fmt.Sprintf("%s:%d: refers to ../shared/, outside the repository", path, i+1))
		}
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(line), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := path
			if file != "" {
				dest = filepath.Clean(filepath.Join(filepath.Dir(path), file))
				if dest == ".." || strings.HasPrefix(dest, "../") || filepath.IsAbs(file) {
					bad = append(bad, fmt.Sprintf("%s:%d: link %q leaves the repository", path, i+1, target))
					continue
				}
				if !exists(filepath.Join(root, dest)) {
					bad = append(bad, fmt.Sprintf("%s:%d: link %q: %s does not exist", path, i+1, target, dest))
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(dest, ".md") && !anchors(dest)[anchor] {
				bad = append(bad, fmt.Sprintf("%s:%d: link %q: %s has no heading #%s", path, i+1, target, dest, anchor))
			}
		}
	}
	return bad
}

// stripCode blanks inline code spans, whose brackets are not links.
func stripCode(line string) string {
	var b strings.Builder
	in := false
	for _, r := range line {
		if r == '`' {
			in = !in
		}
		if in {
			b.WriteRune(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headingAnchors returns the anchors GitHub gives text's headings: lower
// case, punctuation dropped, spaces as hyphens.
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

func TestDocLinks(t *testing.T) {
	root := ".."
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		files = append(files, strings.TrimPrefix(d, root+"/"))
	}
	for _, want := range []string{"docs/http-api.md", "docs/cli.md", "docs/consistency.md", "docs/performance.md"} {
		found := false
		for _, f := range files {
			found = found || f == want
		}
		if !found {
			t.Errorf("%s is missing: the contracts live in the repository", want)
		}
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	anchors := func(p string) map[string]bool {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil
		}
		return headingAnchors(string(b))
	}
	links := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		links += len(mdLink.FindAllString(string(b), -1))
		for _, p := range linkProblems(root, f, string(b), exists, anchors) {
			t.Error(p)
		}
	}
	if links < 10 {
		t.Errorf("found %d links in README.md and docs/: the checker is not reading them", links)
	}
}

// TestLinkChecker: the checker flags each kind of bad link and passes good
// ones.
func TestLinkChecker(t *testing.T) {
	files := map[string]string{"docs/a.md": "# Title\n## Some Section (x)\n"}
	exists := func(p string) bool { _, ok := files[strings.TrimPrefix(p, "root/")]; return ok }
	anchors := func(p string) map[string]bool { return headingAnchors(files[p]) }
	text := strings.Join([]string{
		"[ok](docs/a.md) [ok](docs/a.md#some-section-x) [web](https://example.com/x.md)",
		"[outside](../shared/DESIGN.md)",
		"[missing](docs/b.md)",
		"[bad anchor](docs/a.md#nope)",
		"`[in code](nowhere.md)`",
		"```",
		"[in a fence](nowhere.md)",
		"```",
		"see ../shared/DESIGN.md §5",
	}, "\n")
	got := linkProblems("root", "README.md", text, exists, anchors)
	want := []string{
		`README.md:2: refers to ../shared/, outside the repository`,
		`README.md:2: link "../shared/DESIGN.md" leaves the repository`,
		`README.md:3: link "docs/b.md": docs/b.md does not exist`,
		`README.md:4: link "docs/a.md#nope": docs/a.md has no heading #nope`,
		`README.md:9: refers to ../shared/, outside the repository`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
