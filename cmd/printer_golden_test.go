package cmd

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

// TestCommandTextGolden keeps each command's text output as it is, byte for byte, over a first pass and the reads
// after it: the printer's tables, the lines around them and their order. Run ids, the test's folder, the account
// and the installation id are replaced, since they differ from run to run. Refresh with -update and read the diff.
func TestCommandTextGolden(t *testing.T) {
	e := newEnv(t, "")
	steps := []struct {
		name string
		args []string
		code int
	}{
		{"list-resources-before", []string{"list-resources"}, exitcode.OK},
		{"show-before", []string{"show", "--resource", "RES-101"}, exitcode.OK},
		{"sync", []string{"sync"}, exitcode.OK},
		{"dry-run", []string{"dry-run"}, exitcode.OK},
		{"list-resources", []string{"list-resources", "--check"}, exitcode.OK},
		{"show-resource", []string{"show", "--resource", "anna.lindqvist@example.com"}, exitcode.OK},
		{"show-booking", []string{"show", "--booking", "BES-10233"}, exitcode.OK},
		{"test-connection", []string{"test-connection"}, exitcode.OK},
		{"uninstall", []string{"uninstall", "--yes"}, exitcode.OK},
	}
	runID := regexp.MustCompile(`\brun [0-9a-f]{12}\b`)
	installation := regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	for _, s := range steps {
		code, out, stderr := e.run(s.args...)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\n%s%s", s.name, code, s.code, out, stderr)
		}
		out = strings.ReplaceAll(out, e.dir, "DIR")
		out = runID.ReplaceAllString(out, "run RUNID")
		out = installation.ReplaceAllStringFunc(out, func(id string) string {
			if id == "11111111-2222-3333-4444-555555555555" { // the configured client id
				return id
			}
			return "INSTALLATION"
		})
		out = strings.ReplaceAll(out, calsync.CurrentAccount()+" may write", "ACCOUNT may write")
		golden(t, filepath.Join("testdata", "text", s.name+".txt"), []byte(out))
	}
}
