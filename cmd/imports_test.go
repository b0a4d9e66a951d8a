package cmd

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestImportRules keeps the package graph the shape docs/architecture.md describes: the table there is the rule,
// so the page and the code cannot drift apart.
func TestImportRules(t *testing.T) {
	allowed := readImportRules(t, "../docs/architecture.md")
	found := internalImports(t, "..")
	if len(found) < 5 {
		t.Fatalf("found only %d packages under the module root; the walk is broken", len(found))
	}
	var pkgs []string
	for p := range found {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		rule, ok := allowed[p]
		if !ok {
			t.Errorf("package %s has no row in docs/architecture.md's import table: add one saying what it may import", p)
			continue
		}
		if rule == nil { // "anything"
			continue
		}
		for _, imp := range found[p] {
			if !rule[imp] {
				t.Errorf("package %s imports %s, which its row in docs/architecture.md does not allow", p, imp)
			}
		}
	}
}

var importRuleRow = regexp.MustCompile("^\\| `([^`]+)`[^|]*\\| (.*) \\|$")

// readImportRules reads the table of docs/architecture.md: package -> the set it may import, nil for "anything".
func readImportRules(t *testing.T, path string) map[string]map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		m := importRuleRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		switch m[2] {
		case "anything":
			rules[m[1]] = nil
		case "nothing":
			rules[m[1]] = map[string]bool{}
		default:
			set := map[string]bool{}
			for _, f := range strings.Split(m[2], ",") {
				set[strings.Trim(strings.TrimSpace(f), "`")] = true
			}
			rules[m[1]] = set
		}
	}
	if len(rules) < 5 {
		t.Fatalf("%s: found %d rows of the import table; its format changed", path, len(rules))
	}
	return rules
}

// internalImports lists, for each package of the module (as the go tool sees them: testdata and dot folders are
// not packages), the module's packages its non-test files import.
func internalImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	const module = "tfsync"
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := module
		if rel != "." {
			pkg = filepath.ToSlash(rel)
		}
		seen := map[string]bool{}
		for _, imp := range out[pkg] {
			seen[imp] = true
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, is := range f.Imports {
			p := strings.Trim(is.Path.Value, `"`)
			if !strings.HasPrefix(p, module+"/") {
				continue
			}
			p = strings.TrimPrefix(p, module+"/")
			if !seen[p] {
				seen[p] = true
				out[pkg] = append(out[pkg], p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
