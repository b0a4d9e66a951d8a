package exitcode

import (
	"strings"
	"testing"
)

// TestTable keeps the table what Lookup relies on (row i is code i) and every row complete.
func TestTable(t *testing.T) {
	names := map[string]bool{}
	for i, c := range All() {
		if c.Code != i {
			t.Errorf("row %d holds code %d: keep the table in code order without gaps", i, c.Code)
		}
		if c.Name == "" || strings.ContainsAny(c.Name, " _") || names[c.Name] {
			t.Errorf("code %d: name %q is empty, not kebab-case or used twice", c.Code, c.Name)
		}
		names[c.Name] = true
		if c.Meaning == "" || c.Meaning != strings.TrimSpace(c.Meaning) || strings.HasSuffix(c.Meaning, ".") {
			t.Errorf("code %d: meaning %q must be a sentence fragment without a full stop, as the mail quotes it", c.Code, c.Meaning)
		}
		if got, ok := Lookup(c.Code); !ok || got != c || Name(c.Code) != c.Name || Meaning(c.Code) != c.Meaning {
			t.Errorf("Lookup(%d) = %+v, %v", c.Code, got, ok)
		}
	}
	if len(names) != Interrupted+1 {
		t.Errorf("%d codes, want %d", len(names), Interrupted+1)
	}
	for _, code := range []int{-1, Interrupted + 1, 255} {
		if _, ok := Lookup(code); ok || Name(code) != "" || Meaning(code) != "" {
			t.Errorf("code %d is not tfsync's, yet Lookup finds it", code)
		}
	}
}
