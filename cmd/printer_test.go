package cmd

import (
	"bytes"
	"testing"
)

func TestTableAlignsColumns(t *testing.T) {
	var buf bytes.Buffer
	tb := newTable(&buf, "MAILBOX", "CREATED", "WHY")
	tb.Row("anna.lindqvist@example.com", 8, "new booking")
	tb.Row("(1 more in step)", 0, "")
	tb.Flush()
	want := "MAILBOX                     CREATED  WHY\n" +
		"anna.lindqvist@example.com  8        new booking\n" +
		"(1 more in step)            0        \n"
	if buf.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestPrinterPicksTheStreamsByOutput(t *testing.T) {
	for _, output := range []string{"text", "json"} {
		streams, out, errOut := TestIO()
		f := NewFactory(streams)
		f.Output = output
		p := f.printer()
		if p.JSON() != (output == "json") {
			t.Errorf("%s: JSON() = %v", output, p.JSON())
		}
		p.Table("A", "B").Flush()
		// Text for people goes to stdout, except when stdout carries the JSON result.
		if got := out.Len() > 0; got != (output == "text") {
			t.Errorf("%s: table on stdout = %v (stdout %q, stderr %q)", output, got, out, errOut)
		}
	}
}

func TestJSONResultIsNotHTMLEscaped(t *testing.T) {
	streams, _, _ := TestIO()
	f := NewFactory(streams)
	f.Output = "json"
	if err := f.printer().Result(map[string]string{"error": "<mailbox>: Tom & Jerry"}); err != nil {
		t.Fatal(err)
	}
	if want := `{"error":"<mailbox>: Tom & Jerry"}`; string(f.jsonResult) != want {
		t.Errorf("result = %s, want %s", f.jsonResult, want)
	}
}
