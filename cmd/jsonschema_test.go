package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"tfsync/cmd/exitcode"
	"tfsync/exchange"
)

// jsonSchemaFile is the JSON contract's machine-readable half; docs/json.md is the other.
var jsonSchemaFile = filepath.Join("..", "docs", "json.schema.json")

func compileJSONSchema(t *testing.T) func(command string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(jsonSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("docs/json.schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///tfsync/json.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	cache := map[string]*jsonschema.Schema{}
	return func(command string) *jsonschema.Schema {
		t.Helper()
		if s, ok := cache[command]; ok {
			return s
		}
		s, err := c.Compile("file:///tfsync/json.schema.json#/$defs/" + command)
		if err != nil {
			t.Fatalf("no schema for %s in docs/json.schema.json: %v", command, err)
		}
		cache[command] = s
		return s
	}
}

// TestJSONOutputMatchesSchema runs every command with --output json, on success and on failure, and checks that
// stdout is exactly one object that docs/json.schema.json accepts, carrying the exit code in "error" when it failed.
func TestJSONOutputMatchesSchema(t *testing.T) {
	schemaFor := compileJSONSchema(t)
	covered := map[string]bool{}
	check := func(t *testing.T, name string, code int, stdout string, wantCode int) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s", name, code, wantCode, stdout)
		}
		dec := json.NewDecoder(strings.NewReader(stdout))
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("%s: stdout is not a JSON object: %v\n%s", name, err, stdout)
		}
		if dec.More() {
			t.Fatalf("%s: more than one JSON value on stdout:\n%s", name, stdout)
		}
		command, _ := obj["command"].(string)
		covered[command] = true
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(stdout))
		if err := schemaFor(command).Validate(inst); err != nil {
			t.Errorf("%s: %s output does not match docs/json.schema.json: %v\n%s", name, command, err, stdout)
		}
		e, hasErr := obj["error"].(map[string]any)
		if (wantCode != exitcode.OK) != hasErr {
			t.Errorf("%s: exit %d but error object present = %v\n%s", name, code, hasErr, stdout)
		}
		if hasErr && int(e["exit"].(float64)) != code {
			t.Errorf("%s: error.exit = %v, process exit %d", name, e["exit"], code)
		}
		if bytes.Contains([]byte(stdout), []byte(": null,\n")) {
			for _, line := range strings.Split(stdout, "\n") {
				if strings.HasSuffix(line, ": null,") && !strings.Contains(line, "date") && !strings.Contains(line, "last_sync") && !strings.Contains(line, "last_written") &&
					!strings.Contains(line, "start") && !strings.Contains(line, "end") && !strings.Contains(line, "finished") && !strings.Contains(line, "_at\"") && !strings.Contains(line, "\"lock\"") {
					t.Errorf("%s: null where a list or value belongs: %s", name, line)
				}
			}
		}
	}

	e := newEnv(t, "")
	t.Run("version", func(t *testing.T) {
		code, out, _ := e.run("version", "--output", "json")
		check(t, "version", code, out, exitcode.OK)
	})
	t.Run("status before any pass", func(t *testing.T) {
		code, out, _ := e.run("status", "-o", "json")
		check(t, "status", code, out, exitcode.OK)
		if !strings.Contains(out, `"runs": []`) {
			t.Errorf("no pass yet, yet runs is not []:\n%s", out)
		}
	})
	t.Run("dry-run", func(t *testing.T) {
		code, out, _ := e.run("dry-run", "-o", "json")
		check(t, "dry-run", code, out, exitcode.OK)
	})
	t.Run("sync", func(t *testing.T) {
		code, out, _ := e.run("sync", "-o", "json")
		check(t, "sync", code, out, exitcode.OK)
	})
	t.Run("the schema is strict", func(t *testing.T) {
		_, out, _ := e.run("dry-run", "-o", "json", "--full")
		for name, doctored := range map[string]string{
			"a UTC time":   strings.Replace(out, `+01:00"`, `Z"`, 1),
			"a null list":  strings.Replace(out, `"resources": []`, `"resources": null`, 1),
			"an extra key": strings.Replace(out, `"run_id"`, `"linked_bookings": 1, "run_id"`, 1),
		} {
			if doctored == out {
				t.Fatalf("%s: nothing to doctor in\n%s", name, out)
			}
			inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(doctored))
			if schemaFor("dry-run").Validate(inst) == nil {
				t.Errorf("the schema accepts %s", name)
			}
		}
	})
	t.Run("status and list-resources after a pass", func(t *testing.T) {
		code, out, _ := e.run("status", "-o", "json")
		check(t, "status", code, out, exitcode.OK)
		code, out, _ = e.run("list-resources", "-o", "json")
		check(t, "list-resources", code, out, exitcode.OK)
		code, out, _ = e.run("test-connection", "-o", "json")
		check(t, "test-connection", code, out, exitcode.OK)
		code, out, _ = e.run("test-connection", "--round-trip", "anna.lindqvist@example.com", "-o", "json")
		check(t, "test-connection --round-trip", code, out, exitcode.OK)
		code, out, _ = e.run("show", "--resource", "RES-101", "-o", "json")
		check(t, "show", code, out, exitcode.OK)
		code, out, _ = e.run("show", "--booking", "NO-SUCH", "-o", "json")
		check(t, "show unknown", code, out, exitcode.Usage)
	})
	t.Run("partial pass: the report and the error", func(t *testing.T) {
		e.em.SetFault(func(op, mb string) error {
			if mb == "sara.nilsson@example.com" {
				return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
			}
			return nil
		})
		defer e.em.SetFault(nil)
		e.clock.Advance(5 * time.Minute)
		code, out, _ := e.run("sync", "-o", "json", "--full")
		check(t, "sync partial", code, out, exitcode.Partial)
		if !strings.Contains(out, `"results"`) || !strings.Contains(out, `"code": "partial"`) {
			t.Errorf("a partial pass needs both its report and the error:\n%s", out)
		}
	})
	t.Run("no calendar reachable (exit 3)", func(t *testing.T) {
		e.em.SetFault(func(op, mb string) error { return fmt.Errorf("injected: %w", exchange.ErrAuth) })
		defer e.em.SetFault(nil)
		code, out, _ := e.run("sync", "-o", "json", "--full")
		check(t, "sync auth", code, out, exitcode.Auth)
		code, out, _ = e.run("test-connection", "-o", "json")
		check(t, "test-connection auth", code, out, exitcode.Auth)
		code, out, _ = e.run("list-resources", "--check", "-o", "json")
		check(t, "list-resources auth", code, out, exitcode.Auth)
	})
	t.Run("uninstall refused, then done", func(t *testing.T) {
		code, out, _ := e.run("uninstall", "-o", "json")
		check(t, "uninstall without --yes", code, out, exitcode.Usage)
		code, out, _ = e.run("uninstall", "--yes", "-o", "json")
		check(t, "uninstall", code, out, exitcode.OK)
		if !strings.Contains(out, `"complete": true`) {
			t.Errorf("uninstall did not complete:\n%s", out)
		}
	})
	t.Run("configuration errors (exit 2)", func(t *testing.T) {
		for _, cmd := range []string{"sync", "dry-run", "status", "list-resources", "test-connection"} {
			io, out, _ := TestIO()
			code := run(context.Background(), NewFactory(io), []string{cmd, "--config", filepath.Join(t.TempDir(), "missing.toml"), "-o", "json"})
			check(t, cmd+" without a config", code, out.String(), exitcode.Usage)
		}
	})
	t.Run("usage errors (exit 2)", func(t *testing.T) {
		io, out, _ := TestIO()
		code := run(context.Background(), NewFactory(io), []string{"sync", "--no-such-flag", "-o", "json"})
		check(t, "unknown flag", code, out.String(), exitcode.Usage)
		io, out, _ = TestIO()
		code = run(context.Background(), NewFactory(io), []string{"init", "--config", filepath.Join(t.TempDir(), "x.toml"), "-o", "json"})
		check(t, "init without a domain", code, out.String(), exitcode.Usage)
	})
	t.Run("init", func(t *testing.T) {
		io, out, _ := TestIO()
		code := run(context.Background(), NewFactory(io), []string{"init", "--config", filepath.Join(t.TempDir(), "x.toml"), "--allowed-domain", "example.com", "-o", "json"})
		check(t, "init", code, out.String(), exitcode.OK)
	})
	t.Run("demo", func(t *testing.T) {
		io, out, _ := TestIO()
		f := NewFactory(io)
		f.Now = func() time.Time { return testNow }
		code := run(context.Background(), f, []string{"demo", "-o", "json"})
		check(t, "demo", code, out.String(), exitcode.OK)
	})
	t.Run("emulator", func(t *testing.T) {
		io, out, _ := TestIO()
		ctx, cancel := context.WithCancel(context.Background())
		// It prints its addresses as soon as it is up, then runs until stopped: stop it at the first write.
		io.Out = stopOnWrite{out, cancel}
		code := run(ctx, NewFactory(io), []string{"emulator", "--dir", t.TempDir(), "--listen", "127.0.0.1:0", "-o", "json"})
		check(t, "emulator", code, out.String(), exitcode.OK)
	})

	// Every command the root knows has been seen.
	for _, c := range NewCmdRoot(NewFactory(&IOStreams{})).Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !covered[c.Name()] {
			t.Errorf("no JSON output of %s was checked against the schema", c.Name())
		}
	}
}

type stopOnWrite struct {
	w    *bytes.Buffer
	stop context.CancelFunc
}

func (s stopOnWrite) Write(p []byte) (int, error) {
	defer s.stop()
	return s.w.Write(p)
}
