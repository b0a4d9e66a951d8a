package config

import (
	"strconv"
	"strings"
)

// readmeTableHeader opens the configuration table in README.md, which readmeTable renders from Keys.
const readmeTableHeader = "| key | default | meaning |\n|---|---|---|\n"

// readmeTable renders the README's configuration table: one row per key, in declaration order.
func readmeTable() string {
	var b strings.Builder
	b.WriteString(readmeTableHeader)
	for _, k := range Keys {
		b.WriteString("| `[" + k.Table + "] " + k.Name + "` | " + k.defaultDoc() + " | " + k.Doc + " |\n")
	}
	return b.String()
}

// defaultDoc is the README's default column: what an absent key means.
func (k *Key) defaultDoc() string {
	switch {
	case k.DefaultDoc != "":
		return k.DefaultDoc
	case k.Need != Optional:
		return k.Need.doc()
	}
	switch x := k.Default.(type) {
	case string:
		return "`" + x + "`"
	case int:
		return "`" + strconv.Itoa(x) + "`"
	case bool:
		return "`" + strconv.FormatBool(x) + "`"
	}
	return ""
}
