package cmd

import (
	"context"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator/emutest"
)

// The operations docs in docs/ are what an admin copies from, so these tests hold them to the code: every tfsync
// command line in them must parse against the real command tree, the Task Scheduler task must keep its schedule
// and overlap policy, every message in the troubleshooting table must still be printed by the code, and the first
// run of the admin guide must work.

const docsDir = "../docs"

// docsMarkdown are the docs whose code blocks and inline code are checked.
var docsMarkdown = []string{"admin-guide.md", "schedulers.md", "troubleshooting.md"}

// docsCommand is one tfsync invocation found in the docs.
type docsCommand struct {
	where string   // file:line
	args  []string // the arguments after the tfsync program
}

// docsToken is a word of a command line, or an unquoted operator (;, &&, ||, |, &, a redirection).
type docsToken struct {
	text     string
	op       bool
	redirect bool
}

// docsWords splits a command line the way sh, PowerShell or cmd would, as far as finding tfsync's arguments
// needs: quotes group, a backslash escapes only in sh (Windows paths keep theirs elsewhere), an unquoted # starts
// a comment (not in cmd), and operators come out as their own tokens.
func docsWords(line, dialect string) ([]docsToken, error) {
	var (
		toks   []docsToken
		cur    strings.Builder
		inWord bool
		quote  rune
	)
	flush := func() {
		if inWord {
			toks = append(toks, docsToken{text: cur.String()})
		}
		cur.Reset()
		inWord = false
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		next := rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case dialect == "sh" && r == '\\' && strings.ContainsRune("\"\\$`", next):
				cur.WriteRune(next)
				i++
			case dialect == "powershell" && r == '`' && next != 0:
				cur.WriteRune(next)
				i++
			default:
				cur.WriteRune(r)
			}
		case r == ' ' || r == '\t':
			flush()
		case r == '#' && !inWord && dialect != "cmd":
			flush()
			return toks, nil
		case r == '\'' && dialect != "cmd", r == '"':
			quote, inWord = r, true
		case r == '\\' && dialect == "sh" && next != 0:
			cur.WriteRune(next)
			inWord = true
			i++
		case r == '`' && dialect == "powershell" && next != 0:
			cur.WriteRune(next)
			inWord = true
			i++
		case r == ';' || r == '|' || r == '&':
			flush()
			op := string(r)
			if (r == '|' || r == '&') && next == r {
				op += string(r)
				i++
			}
			toks = append(toks, docsToken{text: op, op: true})
		case r == '>' || r == '<':
			// A file descriptor number written just before belongs to the redirection (2>, 2>&1).
			op := ""
			if s := cur.String(); inWord && s != "" && strings.Trim(s, "0123456789") == "" {
				op = s
				cur.Reset()
				inWord = false
			}
			flush()
			op += string(r)
			if next == '>' {
				op += ">"
				i++
				if i+1 < len(rs) {
					next = rs[i+1]
				} else {
					next = 0
				}
			}
			if next == '&' {
				op += "&"
				i++
			}
			toks = append(toks, docsToken{text: op, op: true, redirect: true})
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote in %q", quote, line)
	}
	flush()
	return toks, nil
}

// docsRedirect is a redirection of a simple command, such as > file.
type docsRedirect struct{ op, target string }

// docsSimple is one simple command: its words and redirections.
type docsSimple struct {
	words     []string
	redirects []docsRedirect
}

// docsSplit cuts tokens into simple commands at ;, &&, ||, | and &.
func docsSplit(toks []docsToken) []docsSimple {
	var out []docsSimple
	var cur docsSimple
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.redirect:
			target := ""
			if i+1 < len(toks) && !toks[i+1].op {
				target = toks[i+1].text
				i++
			}
			cur.redirects = append(cur.redirects, docsRedirect{op: t.text, target: target})
		case t.op:
			if len(cur.words) > 0 {
				out = append(out, cur)
			}
			cur = docsSimple{}
		default:
			cur.words = append(cur.words, t.text)
		}
	}
	if len(cur.words) > 0 {
		out = append(out, cur)
	}
	return out
}

var docsEnvAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// docsTfsyncArgs returns the arguments of a simple command that runs tfsync, after environment assignments and
// sudo with its options.
func docsTfsyncArgs(words []string) ([]string, bool) {
	i := 0
	for i < len(words) && docsEnvAssign.MatchString(words[i]) {
		i++
	}
	if i < len(words) && words[i] == "sudo" {
		i++
		for i < len(words) && strings.HasPrefix(words[i], "-") {
			if words[i] == "-u" || words[i] == "-g" {
				i++
			}
			i++
		}
	}
	if i >= len(words) {
		return nil, false
	}
	base := strings.ToLower(path.Base(strings.ReplaceAll(words[i], `\`, "/")))
	if base == "tfsync" || base == "tfsync.exe" {
		return words[i+1:], true
	}
	return nil, false
}

// docsBlock is a fenced code block of a markdown file.
type docsBlock struct {
	lang        string
	line        int // of the first line inside the fence
	lines       []string
	walkthrough bool // preceded by a <!-- walkthrough ... --> marker
}

var docsDialects = map[string]string{"sh": "sh", "bash": "sh", "shell": "sh", "powershell": "powershell",
	"ps1": "powershell", "pwsh": "powershell", "cmd": "cmd", "bat": "cmd"}

func docsBlocks(t *testing.T, file string) ([]docsBlock, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(docsDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docsBlock
	var cur *docsBlock
	prev := ""
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &docsBlock{lang: strings.TrimPrefix(trimmed, "```"), line: i + 2,
				walkthrough: strings.HasPrefix(prev, "<!-- walkthrough")}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
		if trimmed != "" {
			prev = trimmed
		}
	}
	if cur != nil {
		t.Fatalf("%s: code block from line %d is not closed", file, cur.line)
	}
	return blocks, string(data)
}

// docsLogicalLines joins continued lines (\ in sh, ` in PowerShell, ^ in cmd) and numbers them by their first line.
func docsLogicalLines(lines []string, first int, dialect string) (texts []string, nums []int) {
	cont := map[string]string{"sh": `\`, "powershell": "`", "cmd": "^"}[dialect]
	var buf strings.Builder
	start := -1
	for i, l := range lines {
		if start < 0 {
			start = first + i
		}
		if strings.HasSuffix(strings.TrimRight(l, " \t"), cont) {
			buf.WriteString(strings.TrimSuffix(strings.TrimRight(l, " \t"), cont))
			buf.WriteString(" ")
			continue
		}
		buf.WriteString(l)
		texts = append(texts, buf.String())
		nums = append(nums, start)
		buf.Reset()
		start = -1
	}
	return texts, nums
}

// docsCommandsIn finds the tfsync invocations of one command line.
func docsCommandsIn(t *testing.T, where, line, dialect string) []docsCommand {
	t.Helper()
	trimmed := strings.TrimSpace(line)
	if dialect == "cmd" && (strings.HasPrefix(strings.ToUpper(trimmed), "REM ") || strings.HasPrefix(trimmed, "::")) {
		return nil
	}
	toks, err := docsWords(line, dialect)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return nil
	}
	var out []docsCommand
	for _, s := range docsSplit(toks) {
		if args, ok := docsTfsyncArgs(s.words); ok {
			out = append(out, docsCommand{where: where, args: args})
		}
	}
	return out
}

var docsInlineCode = regexp.MustCompile("`([^`]+)`")

// docsMarkdownCommands collects the tfsync invocations in a markdown file's shell code blocks and in its inline
// code that starts with "tfsync ".
func docsMarkdownCommands(t *testing.T, file string) []docsCommand {
	t.Helper()
	blocks, text := docsBlocks(t, file)
	var out []docsCommand
	for _, b := range blocks {
		dialect, ok := docsDialects[b.lang]
		if !ok {
			continue
		}
		lines, nums := docsLogicalLines(b.lines, b.line, dialect)
		for i, l := range lines {
			out = append(out, docsCommandsIn(t, fmt.Sprintf("%s:%d", file, nums[i]), l, dialect)...)
		}
	}
	inFence, inMessages := false, false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		// The first column of the troubleshooting tables quotes messages, which may start with "tfsync".
		if cells, ok := strings.CutPrefix(strings.TrimSpace(line), "|"); ok {
			if strings.HasPrefix(strings.TrimSpace(cells), "Message contains") {
				inMessages = true
			}
			if inMessages {
				_, line, _ = strings.Cut(cells, "|")
			}
		} else {
			inMessages = false
		}
		for _, m := range docsInlineCode.FindAllStringSubmatch(line, -1) {
			if strings.HasPrefix(m[1], "tfsync ") {
				out = append(out, docsCommandsIn(t, fmt.Sprintf("%s:%d", file, i+1), m[1], "sh")...)
			}
		}
	}
	return out
}

// docsServiceCommands reads the ExecStart= lines of a systemd unit.
func docsServiceCommands(t *testing.T, file string) []docsCommand {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(docsDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []docsCommand
	for i, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			where := fmt.Sprintf("%s:%d", file, i+1)
			cmds := docsCommandsIn(t, where, strings.TrimLeft(v, "-@:+!"), "sh")
			if len(cmds) == 0 {
				t.Errorf("%s: ExecStart does not run tfsync: %s", where, v)
			}
			out = append(out, cmds...)
		}
	}
	return out
}

// docsCronCommands reads the job lines of an /etc/cron.d file: five time fields, the user, the command.
func docsCronCommands(t *testing.T, file string) []docsCommand {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(docsDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []docsCommand
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || docsEnvAssign.MatchString(trimmed) {
			continue
		}
		where := fmt.Sprintf("%s:%d", file, i+1)
		fields := strings.Fields(trimmed)
		if len(fields) < 7 {
			t.Errorf("%s: a cron.d job needs five time fields, a user and a command: %q", where, trimmed)
			continue
		}
		rest := trimmed
		for range 6 {
			rest = strings.TrimLeft(rest, " \t")
			rest = rest[strings.IndexAny(rest, " \t"):]
		}
		cmds := docsCommandsIn(t, where, rest, "sh")
		if len(cmds) == 0 {
			t.Errorf("%s: the job does not run tfsync: %s", where, rest)
		}
		out = append(out, cmds...)
	}
	return out
}

// docsParse resolves a tfsync command line against the real command tree, as cobra would before running it,
// and runs the root's flag checks (--output, --log-level, --log-format).
func docsParse(args []string) (string, error) {
	streams, _, _ := TestIO()
	root := NewCmdRoot(NewFactory(streams))
	root.InitDefaultHelpCmd()
	c, rest, err := root.Find(args)
	if err != nil {
		return "", err
	}
	c.InitDefaultHelpFlag()
	if err := c.ParseFlags(rest); err != nil {
		return "", err
	}
	if help, _ := c.Flags().GetBool("help"); help {
		return c.CommandPath(), nil
	}
	if !c.Runnable() {
		return "", fmt.Errorf("%q is not a command that runs", c.CommandPath())
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		return "", err
	}
	if err := root.PersistentPreRunE(c, c.Flags().Args()); err != nil {
		return "", err
	}
	return c.CommandPath(), nil
}

func TestDocsParse(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"sync", "--config", "x.toml"}, want: "tfsync sync"},
		{args: []string{"--config", "x.toml", "list-resources", "--check"}, want: "tfsync list-resources"},
		{args: []string{"sync", "--output", "yaml"}, wantErr: "--output"},
		{args: []string{"sync", "--frobnicate"}, wantErr: "unknown flag"},
		{args: []string{"synk"}, wantErr: "unknown command"},
		{args: []string{"status", "extra"}, wantErr: "does not take the argument"},
		{args: []string{}, wantErr: "not a command that runs"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := docsParse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDocsWords(t *testing.T) {
	tests := []struct {
		line, dialect string
		want          []string // each simple command's words joined by |, commands by " ; "
	}{
		{`tfsync sync --config /etc/tfsync/tfsync.toml >>/var/log/x.log 2>&1`, "sh", []string{"tfsync|sync|--config|/etc/tfsync/tfsync.toml"}},
		{`cd /var/lib/tfsync && /usr/local/bin/tfsync sync # comment`, "sh", []string{"cd|/var/lib/tfsync", "/usr/local/bin/tfsync|sync"}},
		{`sqlite3 tf.db "INSERT INTO t VALUES ('a', \"b\")"`, "sh", []string{`sqlite3|tf.db|INSERT INTO t VALUES ('a', "b")`}},
		{`& 'C:\Program Files\tfsync\tfsync.exe' test-connection`, "powershell", []string{`C:\Program Files\tfsync\tfsync.exe|test-connection`}},
		{`"C:\Program Files\tfsync\tfsync.exe" sync --config "C:\ProgramData\tfsync\tfsync.toml"`, "cmd", []string{`C:\Program Files\tfsync\tfsync.exe|sync|--config|C:\ProgramData\tfsync\tfsync.toml`}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			toks, err := docsWords(tt.line, tt.dialect)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range docsSplit(toks) {
				got = append(got, strings.Join(s.words, "|"))
			}
			if strings.Join(got, " ; ") != strings.Join(tt.want, " ; ") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := docsWords(`tfsync sync --config "unclosed`, "sh"); err == nil {
		t.Error("an unclosed quote was accepted")
	}
}

// docsTask is the part of a Task Scheduler task definition the docs promise.
type docsTask struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/windows/2004/02/mit/task Task"`
	Version  string   `xml:"version,attr"`
	Triggers struct {
		Time []struct {
			Repetition struct {
				Interval          string
				Duration          string
				StopAtDurationEnd string
			}
			StartBoundary string
			Enabled       string
		} `xml:"TimeTrigger"`
		Other []xml.Name `xml:",any"`
	}
	Principals struct {
		Principal []struct {
			ID        string `xml:"id,attr"`
			UserID    string `xml:"UserId"`
			LogonType string
		}
	}
	Settings struct {
		MultipleInstancesPolicy    string
		ExecutionTimeLimit         string
		StartWhenAvailable         string
		DisallowStartIfOnBatteries string
		StopIfGoingOnBatteries     string
		AllowHardTerminate         string
		Enabled                    string
	}
	Actions struct {
		Context string `xml:",attr"`
		Exec    []struct {
			Command          string
			Arguments        string
			WorkingDirectory string
		}
	}
}

var docsISODuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// docsDuration reads the ISO 8601 durations Task Scheduler writes (PnDTnHnMnS).
func docsDuration(s string) (time.Duration, error) {
	m := docsISODuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("%q is not a duration like PT30M", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, nil
}

func docsXMLCommand(t *testing.T) (docsTask, []docsCommand) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(docsDir, "windows-task.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Error("windows-task.xml must start with an XML declaration naming UTF-8, so Task Scheduler reads it right")
	}
	var task docsTask
	if err := xml.Unmarshal(data, &task); err != nil {
		t.Fatalf("windows-task.xml: %v", err)
	}
	var cmds []docsCommand
	for _, ex := range task.Actions.Exec {
		line := `"` + ex.Command + `" ` + ex.Arguments
		cmds = append(cmds, docsCommandsIn(t, "windows-task.xml", line, "cmd")...)
	}
	return task, cmds
}

// docsXMLOrder lists the names of the child elements of every element named parent, in document order.
func docsXMLOrder(t *testing.T, data []byte, parent string) [][]string {
	t.Helper()
	var out [][]string
	d := xml.NewDecoder(strings.NewReader(string(data)))
	depth, at := 0, -1
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			if el.Name.Local == parent && at < 0 {
				at = depth
				out = append(out, nil)
			} else if at >= 0 && depth == at+1 {
				out[len(out)-1] = append(out[len(out)-1], el.Name.Local)
			}
		case xml.EndElement:
			if depth == at {
				at = -1
			}
			depth--
		}
	}
}

func TestDocsWindowsTask(t *testing.T) {
	task, cmds := docsXMLCommand(t)
	data, err := os.ReadFile(filepath.Join(docsDir, "windows-task.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The schema defines these children as sequences: a validating reader wants them in this order.
	for parent, order := range map[string][]string{
		"TimeTrigger": {"Enabled", "StartBoundary", "EndBoundary", "Repetition", "ExecutionTimeLimit"},
		"Exec":        {"Command", "Arguments", "WorkingDirectory"},
	} {
		rank := map[string]int{}
		for i, name := range order {
			rank[name] = i + 1
		}
		for _, children := range docsXMLOrder(t, data, parent) {
			last := 0
			for _, c := range children {
				if rank[c] == 0 || rank[c] < last {
					t.Errorf("%s children %v: the schema's order is %v", parent, children, order)
					break
				}
				last = rank[c]
			}
		}
	}
	if v, err := strconv.ParseFloat(task.Version, 64); err != nil || v < 1.2 {
		t.Errorf("task version %q: want Task Scheduler 1.2 or later", task.Version)
	}
	if len(task.Triggers.Time) != 1 || len(task.Triggers.Other) != 0 {
		t.Fatalf("want exactly one trigger, a TimeTrigger; have %d time triggers and %v", len(task.Triggers.Time), task.Triggers.Other)
	}
	tr := task.Triggers.Time[0]
	if tr.Repetition.Interval != "PT5M" {
		t.Errorf("repetition interval = %q, want PT5M", tr.Repetition.Interval)
	}
	if tr.Repetition.Duration != "" {
		t.Errorf("repetition duration = %q: leave it out so the task repeats indefinitely", tr.Repetition.Duration)
	}
	if tr.StartBoundary == "" || tr.Enabled == "false" {
		t.Errorf("the trigger needs a StartBoundary and must be enabled: %+v", tr)
	}
	s := task.Settings
	if s.MultipleInstancesPolicy != "IgnoreNew" {
		t.Errorf("MultipleInstancesPolicy = %q, want IgnoreNew", s.MultipleInstancesPolicy)
	}
	if s.StartWhenAvailable != "true" {
		t.Errorf("StartWhenAvailable = %q, want true", s.StartWhenAvailable)
	}
	// Both default to true, which would stop the task on a laptop or a VM that reports a battery.
	if s.DisallowStartIfOnBatteries != "false" || s.StopIfGoingOnBatteries != "false" {
		t.Errorf("battery settings must be false: %q %q", s.DisallowStartIfOnBatteries, s.StopIfGoingOnBatteries)
	}
	if d, err := docsDuration(s.ExecutionTimeLimit); err != nil || d < 5*time.Minute || d > 24*time.Hour {
		t.Errorf("ExecutionTimeLimit = %q (%v): want a limit between PT5M and P1D", s.ExecutionTimeLimit, err)
	}
	if s.AllowHardTerminate == "false" || s.Enabled == "false" {
		t.Errorf("the time limit needs AllowHardTerminate, and the task must be enabled: %+v", s)
	}
	if len(task.Principals.Principal) != 1 {
		t.Fatalf("want one principal, have %d", len(task.Principals.Principal))
	}
	p := task.Principals.Principal[0]
	// Password and S4U logons run whether the user is logged on or not; InteractiveToken does not.
	if p.LogonType != "Password" && p.LogonType != "S4U" {
		t.Errorf("LogonType = %q: want Password, so the task runs whether the user is logged on or not", p.LogonType)
	}
	if task.Actions.Context != p.ID {
		t.Errorf("actions run as principal %q, but the principal is %q", task.Actions.Context, p.ID)
	}
	if len(task.Actions.Exec) != 1 {
		t.Fatalf("want one Exec action, have %d", len(task.Actions.Exec))
	}
	ex := task.Actions.Exec[0]
	if ex.Command != `C:\Program Files\tfsync\tfsync.exe` {
		t.Errorf("command = %q", ex.Command)
	}
	if ex.WorkingDirectory == "" || strings.ContainsAny(ex.WorkingDirectory, `"'`) {
		t.Errorf("working directory %q: give one, without quotes (Task Scheduler refuses quoted ones)", ex.WorkingDirectory)
	}
	if len(cmds) != 1 {
		t.Fatalf("the action does not run tfsync: %+v", ex)
	}
	args := cmds[0].args
	want := []string{"sync", "--config", `C:\ProgramData\tfsync\tfsync.toml`}
	if strings.Join(args, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("action arguments = %q, want %q", args, want)
	}
	if got, err := docsParse(args); err != nil || got != "tfsync sync" {
		t.Errorf("the action's command line does not parse as tfsync sync: %q, %v", got, err)
	}
}

func TestDocsCommandLines(t *testing.T) {
	byFile := map[string][]docsCommand{}
	for _, f := range docsMarkdown {
		byFile[f] = docsMarkdownCommands(t, f)
	}
	byFile["tfsync.service"] = docsServiceCommands(t, "tfsync.service")
	byFile["tfsync.cron"] = docsCronCommands(t, "tfsync.cron")
	_, byFile["windows-task.xml"] = docsXMLCommand(t)

	// The extractors must keep finding the commands, or this test would pass on nothing.
	atLeast := map[string]int{"admin-guide.md": 10, "schedulers.md": 8, "troubleshooting.md": 3,
		"tfsync.service": 1, "tfsync.cron": 1, "windows-task.xml": 1}
	for f, n := range atLeast {
		if len(byFile[f]) < n {
			t.Errorf("%s: found %d tfsync command lines, expected at least %d", f, len(byFile[f]), n)
		}
	}
	for _, f := range []string{"tfsync.service", "tfsync.cron", "windows-task.xml"} {
		for _, c := range byFile[f] {
			if len(c.args) == 0 || c.args[0] != "sync" {
				t.Errorf("%s: the scheduled command is %q, want tfsync sync", c.where, c.args)
			}
		}
	}

	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		for _, c := range byFile[f] {
			t.Run(c.where+" "+strings.Join(c.args, " "), func(t *testing.T) {
				if _, err := docsParse(c.args); err != nil {
					t.Errorf("tfsync %s: %v", strings.Join(c.args, " "), err)
				}
			})
		}
	}
}

// docsBaseConfig completes the configuration snippets of the docs so each can be loaded on its own.
var docsBaseConfig = []struct{ table, body string }{
	{"tf", "database = \"tf.db\"\n"},
	{"exchange", "mode = \"graph\"\n"},
	{"exchange.graph", "tenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"env:TFSYNC_DOCS_SECRET\"\n"},
	{"sync", "allowed_domains = [\"example.com\"]\n"},
}

var docsTableHeader = regexp.MustCompile(`^\s*\[([A-Za-z0-9_.]+)\]\s*(#.*)?$`)

func TestDocsConfigSnippets(t *testing.T) {
	n := 0
	for _, file := range docsMarkdown {
		blocks, _ := docsBlocks(t, file)
		for _, b := range blocks {
			if b.lang != "toml" {
				continue
			}
			n++
			t.Run(fmt.Sprintf("%s:%d", file, b.line), func(t *testing.T) {
				snippet := strings.Join(b.lines, "\n") + "\n"
				defined := map[string]bool{}
				for _, l := range b.lines {
					if m := docsTableHeader.FindStringSubmatch(l); m != nil {
						defined[m[1]] = true
					}
				}
				var full strings.Builder
				full.WriteString(snippet)
				for _, s := range docsBaseConfig {
					// A snippet that sets the mode brings its own backend section.
					if defined[s.table] || (s.table == "exchange.graph" && defined["exchange"]) {
						continue
					}
					fmt.Fprintf(&full, "\n[%s]\n%s", s.table, s.body)
				}
				p := filepath.Join(t.TempDir(), "tfsync.toml")
				if err := os.WriteFile(p, []byte(full.String()), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, warnings, err := config.Load(p); err != nil || len(warnings) > 0 {
					t.Errorf("the snippet does not load: %v %v\n%s", err, warnings, full.String())
				}
			})
		}
	}
	if n < 4 {
		t.Errorf("found %d toml snippets in the docs, expected at least 4", n)
	}
}

// docsExitCodes is cmd/exitcode's table as code -> name, so a new exit code must be documented too.
func docsExitCodes(t *testing.T) map[int]string {
	t.Helper()
	codes := map[int]string{}
	for _, c := range exitcode.All() {
		codes[c.Code] = c.Name
	}
	if len(codes) < 7 {
		t.Fatalf("read %d exit codes from cmd/exitcode: %v", len(codes), codes)
	}
	return codes
}

// docsTableRows returns the rows of every markdown table whose header starts with the given cells.
func docsTableRows(text string, header ...string) [][]string {
	var rows [][]string
	in := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in:
			in = len(cells) >= len(header)
			for i, h := range header {
				in = in && cells[i] == h
			}
		case strings.Trim(line, "|-: ") == "":
		default:
			rows = append(rows, cells)
		}
	}
	return rows
}

// docsGoSources is the text of the module's Go code that prints messages: no tests, no emulator (it plays the
// servers), no test data.
func docsGoSources(t *testing.T) string {
	t.Helper()
	skip := map[string]bool{".git": true, "docs": true, "testdata": true, "emulator": true, "exchangetest": true, "vendor": true}
	var b strings.Builder
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != ".." && (skip[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Write(data)
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var docsNumber = regexp.MustCompile(`\d+`)

func TestDocsTroubleshootingMatchesCode(t *testing.T) {
	codes := docsExitCodes(t)
	src := docsGoSources(t)
	_, text := docsBlocks(t, "troubleshooting.md")
	rows := docsTableRows(text, "Message contains", "Exit")
	if len(rows) < 60 {
		t.Fatalf("the troubleshooting tables have %d rows; expected at least 60", len(rows))
	}
	covered := map[int]bool{}
	seen := map[string]bool{}
	for _, row := range rows {
		m := docsInlineCode.FindStringSubmatch(row[0])
		if m == nil {
			t.Errorf("row without a `fragment` in its first column: %q", row)
			continue
		}
		frag := m[1]
		t.Run(frag, func(t *testing.T) {
			if len(row) != 4 {
				t.Fatalf("want 4 columns (message, exit, cause, fix), have %d: %q", len(row), row)
			}
			if seen[frag] {
				t.Errorf("listed twice")
			}
			seen[frag] = true
			if len(frag) < 10 {
				t.Errorf("fragment too short to identify a message")
			}
			// A fragment is text inside a Go string literal, where a double quote is written \".
			if !strings.Contains(src, frag) && !strings.Contains(src, strings.ReplaceAll(frag, `"`, `\"`)) {
				t.Errorf("no Go source prints %q any more: update the troubleshooting table", frag)
			}
			exit := row[1]
			nums := docsNumber.FindAllString(exit, -1)
			if exit != "—" && len(nums) == 0 {
				t.Errorf("exit column %q: give the exit code, or — for a warning", exit)
			}
			for _, n := range nums {
				v, _ := strconv.Atoi(n)
				if _, ok := codes[v]; !ok {
					t.Errorf("exit column %q: %d is not one of tfsync's exit codes", exit, v)
				}
				covered[v] = true
			}
			if row[2] == "" || row[3] == "" {
				t.Errorf("the cause and the fix must be filled in")
			}
		})
	}
	for v, name := range codes {
		if !covered[v] {
			t.Errorf("exit code %d (%s) has no message in the troubleshooting table", v, name)
		}
	}
	// The classes of problems an admin meets; each must keep a row.
	for _, want := range []string{"AADSTS7000215", "AADSTS7000222", "AADSTS700016", "AADSTS90002",
		"Grant admin consent", "ApplicationAccessPolicy", "ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "429",
		"CA", "Connection refused", "HTTP 401", "ErrorImpersonateUserDenied", "ErrorAccessDenied",
		"ErrorNonExistentMailbox", "ErrorServerBusy", ".asmx", "--rebuild", "newer tfsync", "max_delete_percent",
		"run lock", "[notify]", "allowed_domains", "bad row", "env:NAME", "integration schema"} {
		if !strings.Contains(text, want) {
			t.Errorf("troubleshooting.md no longer mentions %q", want)
		}
	}
}

func TestDocsExitCodeTable(t *testing.T) {
	codes := docsExitCodes(t)
	_, text := docsBlocks(t, "schedulers.md")
	rows := docsTableRows(text, "Exit code", "Meaning")
	got := map[int]int{}
	for _, r := range rows {
		v, err := strconv.Atoi(r[0])
		if err != nil {
			t.Errorf("exit code table: %q is not a number", r[0])
			continue
		}
		got[v]++
		if _, ok := codes[v]; !ok {
			t.Errorf("exit code table lists %d, which tfsync does not use", v)
		}
		if len(r) != 7 {
			t.Errorf("exit code %d: want a column for each scheduler (7 in all), have %d", v, len(r))
		}
	}
	for v, name := range codes {
		if got[v] != 1 {
			t.Errorf("exit code %d (%s) is listed %d times in schedulers.md, want once", v, name, got[v])
		}
	}
}

// TestDocsWalkthrough runs the admin guide's marked blocks in order, in a fresh folder, with the emulator's core
// standing in for the tenant. Besides tfsync it knows the few commands those blocks use to set up files.
func TestDocsWalkthrough(t *testing.T) {
	blocks, _ := docsBlocks(t, "admin-guide.md")
	var lines []string
	var where []string
	for _, b := range blocks {
		if !b.walkthrough {
			continue
		}
		ls, nums := docsLogicalLines(b.lines, b.line, "sh")
		for i, l := range ls {
			lines = append(lines, l)
			where = append(where, fmt.Sprintf("admin-guide.md:%d", nums[i]))
		}
	}
	if len(lines) == 0 {
		t.Fatal("admin-guide.md has no <!-- walkthrough --> block")
	}

	dir := t.TempDir()
	t.Chdir(dir)
	em := emutest.New(t, emutest.Options{Mailboxes: []string{"anna.lindqvist@example.com"}}).Emulator
	ctx := context.Background()
	ran := map[string]string{}

	for i, line := range lines {
		toks, err := docsWords(line, "sh")
		if err != nil {
			t.Fatalf("%s: %v", where[i], err)
		}
		for _, s := range docsSplit(toks) {
			if args, ok := docsTfsyncArgs(s.words); ok {
				streams, out, errOut := TestIO()
				f := NewFactory(streams)
				f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return em, nil }
				if code := run(ctx, f, args); code != exitcode.OK {
					t.Fatalf("%s: tfsync %s: exit %d\n%s\n%s", where[i], strings.Join(args, " "), code, out, errOut)
				}
				if len(args) > 0 {
					ran[args[0]] = out.String()
				}
				continue
			}
			if err := docsRunHelper(s); err != nil {
				t.Fatalf("%s: %v", where[i], err)
			}
		}
	}

	checks := []struct{ cmd, want string }{
		{"demo", "Pass 2"},
		{"init", "Created the TF integration schema"},
		{"test-connection", "Connection test passed."},
		{"dry-run", "BES-10233"},
		{"sync", "anna.lindqvist@example.com"},
		{"status", "anna.lindqvist@example.com"},
		{"list-resources", "RES-101"},
	}
	for _, c := range checks {
		out, ok := ran[c.cmd]
		if !ok {
			t.Errorf("the walkthrough no longer runs tfsync %s", c.cmd)
			continue
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("tfsync %s printed no %q:\n%s", c.cmd, c.want, out)
		}
	}
	var found bool
	for _, ev := range em.Events("anna.lindqvist@example.com") {
		found = found || ev.BookingID == "BES-10233"
	}
	if !found {
		t.Error("after the walkthrough's sync, BES-10233 is not in anna.lindqvist@example.com's calendar")
	}
}

// docsRunHelper performs the walkthrough's non-tfsync commands: sqlite3 DB "SQL", printf '%s\n' VALUE > FILE
// and chmod MODE FILE.
func docsRunHelper(s docsSimple) error {
	w := s.words
	switch {
	case len(w) == 3 && w[0] == "sqlite3":
		db, err := sql.Open("sqlite3", w[1])
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.Exec(w[2]); err != nil {
			return fmt.Errorf("sqlite3 %s: %w", w[1], err)
		}
		return nil
	case len(w) == 3 && w[0] == "printf" && w[1] == `%s\n` && len(s.redirects) == 1 && s.redirects[0].op == ">":
		return os.WriteFile(s.redirects[0].target, []byte(w[2]+"\n"), 0o600)
	case len(w) == 3 && w[0] == "chmod":
		mode, err := strconv.ParseUint(w[1], 8, 32)
		if err != nil {
			return fmt.Errorf("chmod %s: %w", w[1], err)
		}
		return os.Chmod(w[2], fs.FileMode(mode))
	}
	return errors.New("the walkthrough runs a command this test cannot perform: " + strings.Join(w, " "))
}

// docsSlug is the anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens.
func docsSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsLinks keeps the docs' links to each other, and to their sections, working.
func TestDocsLinks(t *testing.T) {
	anchors := map[string]map[string]bool{}
	texts := map[string]string{}
	for _, file := range docsMarkdown {
		_, text := docsBlocks(t, file)
		texts[file] = text
		anchors[file] = map[string]bool{}
		inFence := false
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inFence = !inFence
			}
			if h, ok := strings.CutPrefix(line, "#"); ok && !inFence {
				anchors[file][docsSlug(strings.TrimLeft(h, "# "))] = true
			}
		}
	}
	link := regexp.MustCompile(`\]\(([^)#:]*)(#[^)]*)?\)`)
	n := 0
	for _, file := range docsMarkdown {
		for i, line := range strings.Split(texts[file], "\n") {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				n++
				target := m[1]
				if target == "" {
					target = file
				} else if _, err := os.Stat(filepath.Join(docsDir, target)); err != nil {
					t.Errorf("%s:%d: link to %s: %v", file, i+1, target, err)
					continue
				}
				if m[2] == "" {
					continue
				}
				if a, ok := anchors[target]; ok && !a[strings.TrimPrefix(m[2], "#")] {
					t.Errorf("%s:%d: %s has no section %s", file, i+1, target, m[2])
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d links in the docs; the pattern may be broken", n)
	}
}

// TestDocsJSONContract keeps docs/json.md and docs/json.schema.json together: every command has a section, and
// every key the schema lets a command print is named in that command's section (or in the rules for all).
func TestDocsJSONContract(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(jsonSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // command -> its section's text
	parts := strings.Split(string(md), "\n## ")
	common := parts[0]
	for _, p := range parts[1:] {
		head, _, _ := strings.Cut(p, "\n")
		if strings.HasPrefix(head, "Rules") {
			common += p
			continue
		}
		for _, m := range regexp.MustCompile("`tfsync ?([a-z-]*)`").FindAllStringSubmatch(head, -1) {
			name := m[1]
			if name == "" {
				name = "tfsync"
			}
			sections[name] = p
		}
	}
	// keys collects property names under a schema node, following local $refs except the shared envelope parts.
	var keys func(node any, seen map[string]bool, out map[string]bool)
	keys = func(node any, seen map[string]bool, out map[string]bool) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/$defs/")
				if !seen[name] {
					seen[name] = true
					keys(schema.Defs[name], seen, out)
				}
			}
			if props, ok := n["properties"].(map[string]any); ok {
				for k := range props {
					out[k] = true
				}
			}
			for k, v := range n {
				if k != "$ref" {
					keys(v, seen, out)
				}
			}
		case []any:
			for _, v := range n {
				keys(v, seen, out)
			}
		}
	}
	commands := []string{"tfsync"}
	for _, c := range NewCmdRoot(NewFactory(&IOStreams{})).Commands() {
		if !c.Hidden && c.Name() != "help" && c.Name() != "completion" {
			commands = append(commands, c.Name())
		}
	}
	for _, name := range commands {
		sec, ok := sections[name]
		if !ok {
			t.Errorf("docs/json.md has no section for tfsync %s", name)
			continue
		}
		def, ok := schema.Defs[name]
		if !ok {
			t.Errorf("docs/json.schema.json has no $defs/%s", name)
			continue
		}
		found := map[string]bool{}
		keys(def, map[string]bool{}, found)
		for k := range found {
			// The rules for all name the error object's keys as error.code and so on.
			if !strings.Contains(sec, "`"+k+"`") && !strings.Contains(common, "`"+k+"`") && !strings.Contains(common, "."+k+"`") {
				t.Errorf("docs/json.md's section for tfsync %s does not name the key %q", name, k)
			}
		}
	}
}
