package config

// Log is the [log] section: a log file for schedulers that throw stdout and stderr away.
type Log struct {
	File     string // [log] file: JSON lines, one per log entry (resolved); empty: no log file
	MaxSize  int    // max_size, default 10: megabytes a file may reach before it is rotated
	MaxFiles int    // max_files, default 5: files kept, the current one included
}
