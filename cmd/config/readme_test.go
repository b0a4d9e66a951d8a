package config

import (
	"os"
	"strings"
	"testing"
)

const readmePath = "../../README.md"

// TestREADMEConfigTable keeps README.md's configuration table equal to the one rendered from Keys; go test
// -update rewrites it.
func TestREADMEConfigTable(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, readmeTableHeader)
	if start < 0 {
		t.Fatalf("README.md has no configuration table starting with %q", readmeTableHeader)
	}
	end := start
	for end < len(text) && text[end] == '|' {
		nl := strings.IndexByte(text[end:], '\n')
		if nl < 0 {
			end = len(text)
			break
		}
		end += nl + 1
	}
	got, want := text[start:end], readmeTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, []byte(text[:start]+want+text[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's configuration table differs from the key declarations (go test ./cmd/config -update rewrites it):\n--- README.md\n%s--- declared\n%s", got, want)
}

// TestKeyDeclarations checks what the declarations promise each other: every allowed word is documented, a key
// with a check or a generic Kind decodes, a required key says how to add it, and init writes only what loads.
func TestKeyDeclarations(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		id := k.Table + "." + k.Name
		if seen[id] {
			t.Errorf("%s is declared twice", id)
		}
		seen[id] = true
		if k.field == nil {
			t.Errorf("%s has no field", id)
		}
		if k.Doc == "" {
			t.Errorf("%s has no Doc", id)
		}
		for _, w := range k.Words {
			if k.Kind == KindWord && !strings.Contains(k.Doc, "`"+w+"`") {
				t.Errorf("%s: the README's meaning does not name the allowed word %q", id, w)
			}
		}
		if k.Need != Optional && k.Fix == "" {
			t.Errorf("%s is required but has no Fix", id)
		}
		if (k.Kind == KindPath || k.Kind == KindList) && k.check == nil {
			t.Errorf("%s is a path or a list and needs a check of its own", id)
		}
		if k.Init != nil && (k.Init.Commented || k.Init.Value != nil && k.Name == "client_secret_expires") && k.Init.Example == "" {
			t.Errorf("%s may be written commented out but has no Example", id)
		}
	}
	for _, tb := range Tables {
		if len(tableKeys(tb.Name)) == 0 {
			t.Errorf("table [%s] declares no keys", tb.Name)
		}
	}
}

// TestGoodConfigListsEveryKey keeps testdata/good.toml, which README.md points at as the example with every key,
// complete: each declared key is written in its table, set or commented out.
func TestGoodConfigListsEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	table := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			table = strings.Trim(line, "[]")
			continue
		}
		if name, _, ok := strings.Cut(line, "="); ok && !strings.Contains(strings.TrimSpace(name), " ") {
			written[table+"."+strings.TrimSpace(name)] = true
		}
	}
	for _, k := range Keys {
		if !written[k.Table+"."+k.Name] {
			t.Errorf("testdata/good.toml does not list [%s] %s", k.Table, k.Name)
		}
	}
}
