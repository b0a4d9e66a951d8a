package config

import "strings"

// Log is the [log] section: a log file for schedulers that throw stdout and stderr away.
type Log struct {
	File     string // [log] file: JSON lines, one per log entry (resolved); empty: no log file
	MaxSize  int    // max_size, default 10: megabytes a file may reach before it is rotated
	MaxFiles int    // max_files, default 5: files kept, the current one included
}

func (d *configDecoder) decodeLog(root *configSection, cfg *Config) {
	l := root.sub("log")
	if p, ok := l.str("file"); ok {
		if strings.TrimSpace(p) == "" {
			l.problem("file", `%s is empty: remove it to write no log file, or name one such as "tfsync.log"`, l.name("file"))
		} else {
			cfg.Log.File = resolveConfigPath(d.dir, strings.TrimSpace(p))
		}
	}
	l.setInt("max_size", &cfg.Log.MaxSize, 1, 1024)
	l.setInt("max_files", &cfg.Log.MaxFiles, 1, 1000)
	l.unknown()
}
