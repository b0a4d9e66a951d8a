package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// position is where a key or table is first written.
type position struct {
	line     int
	explicit bool // a [table] header, which beats a table implied by a dotted key
}

const pathSep = "\x00"

func pathKey(parts []string) string { return strings.Join(parts, pathSep) }

func elemKey(parts []string, i int) string {
	return pathKey(parts) + pathSep + "[" + strconv.Itoa(i) + "]"
}

// collectPositions maps every key path, table and array element of a document to its line. The decoder
// gives values but no positions, so the document is parsed a second time with go-toml's AST parser.
func collectPositions(data []byte) map[string]position {
	var newlines []int
	for i, c := range data {
		if c == '\n' {
			newlines = append(newlines, i)
		}
	}
	lineOf := func(r unstable.Range) int { return sort.SearchInts(newlines, int(r.Offset)) + 1 }

	pos := map[string]position{}
	record := func(parts []string, line int, explicit bool) {
		for i := 1; i <= len(parts); i++ {
			k := pathKey(parts[:i])
			old, seen := pos[k]
			if !seen || (explicit && i == len(parts) && !old.explicit) {
				pos[k] = position{line: line, explicit: explicit && i == len(parts)}
			}
		}
	}
	keyOf := func(it unstable.Iterator, base []string) ([]string, int) {
		parts := append([]string(nil), base...)
		line := 0
		for it.Next() {
			k := it.Node()
			parts = append(parts, string(k.Data))
			if line == 0 {
				line = lineOf(k.Raw)
			}
		}
		return parts, line
	}

	var keyValue func(base []string, kv *unstable.Node)
	keyValue = func(base []string, kv *unstable.Node) {
		parts, line := keyOf(kv.Key(), base)
		record(parts, line, false)
		v := kv.Value()
		switch v.Kind {
		case unstable.InlineTable:
			for it := v.Children(); it.Next(); {
				if c := it.Node(); c.Kind == unstable.KeyValue {
					keyValue(parts, c)
				}
			}
		case unstable.Array:
			i := 0
			for it := v.Children(); it.Next(); {
				c := it.Node()
				if c.Kind == unstable.Comment {
					continue
				}
				elemLine := line
				if c.Raw.Length > 0 {
					elemLine = lineOf(c.Raw)
				}
				pos[elemKey(parts, i)] = position{line: elemLine}
				i++
			}
		}
	}

	var p unstable.Parser
	p.Reset(data)
	var current []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var line int
			current, line = keyOf(e.Key(), nil)
			record(current, line, true)
		case unstable.KeyValue:
			keyValue(current, e)
		}
	}
	return pos
}
