//go:build !unix

package sync

// fileOwner is "" where the owner needs the security API (Windows): the message then says it is unknown and
// where to look.
func fileOwner(string) string { return "" }
