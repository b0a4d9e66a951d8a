package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// printer writes a command's result in the format --output asks for: one JSON object (recorded here, written by run
// when the command ends, docs/json.md), or text with aligned tables. Every command that prints a result goes
// through it, so the JSON settings and the table layout are set in one place.
type printer struct {
	f *Factory
}

func (f *Factory) printer() *printer { return &printer{f: f} }

// JSON reports whether the result is JSON (--output json).
func (p *printer) JSON() bool { return p.f.Output == "json" }

// Text is where text for a person goes: stdout, or stderr when stdout carries the JSON result (the demo's story,
// uninstall's plan and prompts).
func (p *printer) Text() io.Writer {
	if p.JSON() {
		return p.f.IO.ErrOut
	}
	return p.f.IO.Out
}

// Table starts an aligned table on Text, with a header row when one is given.
func (p *printer) Table(header ...any) *table { return newTable(p.Text(), header...) }

// Result records v as the command's JSON result. run writes it when the command has ended, with "schema_version"
// and "command" first and an "error" object when the command failed, so every exit code gets one JSON object.
func (p *printer) Result(v any) error {
	b, err := encodeJSON(v)
	if err != nil {
		return fmt.Errorf("encode the JSON result: %w", err)
	}
	p.f.jsonResult = b
	return nil
}

// ResultNow writes a result at once, for a command that keeps running after it (the emulator).
func (p *printer) ResultNow(command string, v any) error {
	if err := p.Result(v); err != nil {
		return err
	}
	writeJSONResult(p.f, command, nil)
	p.f.jsonWritten = true
	return nil
}

// encodeJSON is the project's JSON setting: "<mailbox>" and "&" read as written, not escaped for HTML.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// table is a text table with columns aligned by two spaces.
type table struct {
	w *tabwriter.Writer
}

func newTable(w io.Writer, header ...any) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.Row(header...)
	}
	return t
}

// Row adds one row, a cell a value, each written as fmt.Print writes it.
func (t *table) Row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			_, _ = io.WriteString(t.w, "\t")
		}
		fmt.Fprint(t.w, c)
	}
	_, _ = io.WriteString(t.w, "\n")
}

// Flush writes the table out, aligned.
func (t *table) Flush() { _ = t.w.Flush() }
