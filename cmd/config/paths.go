package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// PathEnv names the configuration file when --config is not given, so a scheduled task or service can say where
// the file is without depending on its working directory.
const PathEnv = "TFSYNC_CONFIG"

// sameFile reports whether a and b name the same file: the same clean path (ignoring case on Windows), or, when
// both exist, the same file under two names (a link, a different spelling).
func sameFile(a, b string) bool {
	ca, cb := filepath.Clean(a), filepath.Clean(b)
	if ca == cb || (runtime.GOOS == "windows" && strings.EqualFold(ca, cb)) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
