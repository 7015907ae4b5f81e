package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
)

// externalFlags are flags the docs name of other tools (curl, the nats
// CLI, helm, make), not of ours.
var externalFlags = map[string]bool{
	"--fail-with-body": true, // curl
	"--nkey":           true, // the nats CLI
	"--from-literal":   true, // kubectl
}

// declaredFlags are the flags our code declares with the flag package:
// every command of the binary, the CLI's, the simulator's, the tools'.
func declaredFlags(t *testing.T) map[string]bool {
	t.Helper()
	decl := regexp.MustCompile(`\.(?:String|Bool|Int|Int64|Uint|Uint64|Float64|Duration|Func|BoolFunc|Var|TextVar|StringVar|BoolVar|IntVar|Int64Var|UintVar|Uint64Var|Float64Var|DurationVar)\((?:[^,"()]+(?:\([^)]*\))?, )?"([a-z0-9][a-z0-9-]*)"`)
	// Helpers that declare a flag on a flag set: timeFlag(fs, "from", …).
	helper := regexp.MustCompile(`[A-Za-z]+\(fs, "([a-z0-9][a-z0-9-]*)"`)
	flags := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range []*regexp.Regexp{decl, helper} {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				flags["--"+m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !flags["--data-dir"] || !flags["--nats-listen"] || !flags["--infra"] {
		t.Fatalf("the flag scan found too little: %v", flags)
	}
	return flags
}

// docFlags are the flags the project's docs name: in inline code, and on
// the lines of code blocks that run our binary, by document.
func docFlags(t *testing.T) map[string][]string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../../README.md")
	exs, _ := filepath.Glob("../../examples/*.md")
	docs = append(docs, exs...)
	flag := regexp.MustCompile(`(?:^|[\s(\x60\[])(--[a-z][a-z0-9-]*[a-z0-9])(?:[^a-z0-9*-]|$)`)
	inline := regexp.MustCompile("`([^`\n]+)`")
	ours := regexp.MustCompile(`(^|[\s/$])(provisioning|BIN\}?|bin/provisioning)\s`)
	named := map[string][]string{}
	for _, doc := range docs {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(doc, "../../")
		inBlock := false
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inBlock = !inBlock
				continue
			}
			var spans []string
			if inBlock {
				if ours.MatchString(line) || strings.HasPrefix(strings.TrimSpace(line), "--") {
					spans = append(spans, line)
				}
			} else {
				for _, m := range inline.FindAllStringSubmatch(line, -1) {
					spans = append(spans, m[1])
				}
			}
			for _, s := range spans {
				for _, m := range flag.FindAllStringSubmatch(s, -1) {
					named[m[1]] = append(named[m[1]], name)
				}
			}
		}
	}
	return named
}

// Every flag the docs name exists: a doc that says otherwise than the
// code is a bug.
func TestEveryFlagTheDocsNameExists(t *testing.T) {
	declared := declaredFlags(t)
	var missing []string
	for f, where := range docFlags(t) {
		if !declared[f] && !externalFlags[f] {
			missing = append(missing, f+" (in "+strings.Join(unique(where), ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the docs name flags that do not exist:\n  %s", strings.Join(missing, "\n  "))
	}
}

// The defaults the docs' flag tables give for serve are the ones serve
// has (rows like "| `--ws-queue` | 1024 | …").
func TestServeFlagDefaultsInTheDocs(t *testing.T) {
	out, _ := exec.Command(apptest.Binary(t), "serve", "-h").CombinedOutput()
	help := string(out)
	defaults := map[string]string{}
	name := regexp.MustCompile(`^([a-z0-9-]+)`)
	def := regexp.MustCompile(`\(default ([^)]*)\)\s*$`)
	for _, entry := range regexp.MustCompile(`(?m)^  -`).Split(help, -1)[1:] {
		n := name.FindString(entry)
		if m := def.FindStringSubmatch(entry); m != nil && n != "" {
			defaults["--"+n] = strings.Trim(m[1], `"`)
		}
	}
	if defaults["--data-dir"] != "./data" {
		t.Fatalf("could not read serve's defaults from its help:\n%s", help)
	}
	docs, _ := filepath.Glob("../../docs/*.md")
	docs = append(docs, "../../README.md")
	row := regexp.MustCompile("^\\| `(--[a-z0-9-]+)` \\| `?([^`|]+?)`? \\|")
	compared := 0
	for _, doc := range docs {
		raw, _ := os.ReadFile(doc)
		for _, line := range strings.Split(string(raw), "\n") {
			m := row.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			want, ok := defaults[m[1]]
			if !ok {
				continue // not a serve flag with a default, or a prose default
			}
			compared++
			got := strings.TrimSpace(m[2])
			if !sameDefault(got, want) {
				t.Errorf("%s: %s defaults to %q, the docs say %q", strings.TrimPrefix(doc, "../../"), m[1], want, got)
			}
		}
	}
	if compared < 8 {
		t.Fatalf("only %d documented defaults compared: the tables were not read", compared)
	}
}

// sameDefault compares a documented default with the flag's: durations
// by value ("1h" is "1h0m0s"), others by their first word.
// (see TestServeFlagDefaultsInTheDocs)
func sameDefault(doc, flag string) bool {
	first, _, _ := strings.Cut(doc, " ")
	first = strings.Trim(first, ",")
	if d, err := time.ParseDuration(first); err == nil {
		f, err := time.ParseDuration(flag)
		return err == nil && d == f
	}
	return first == flag
}

func unique(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// The project's docs stand alone: they never point at documents outside
// the repository.
func TestDocsStandAlone(t *testing.T) {
	docs, _ := filepath.Glob("../../docs/*.md")
	exs, _ := filepath.Glob("../../examples/*.md")
	docs = append(append(docs, exs...), "../../README.md")
	outside := regexp.MustCompile(`CONTRACT\.md|DESIGN\.md|STYLE\.md|api-reference(\.md)?|\.\./shared|/work/`)
	for _, doc := range docs {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d points outside the repository (%s): %s", strings.TrimPrefix(doc, "../../"), i+1, m, line)
			}
		}
	}
}
