//go:build unix

package sync

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// fileOwner names the owner of name, or "" when it cannot be read.
func fileOwner(name string) string {
	fi, err := os.Stat(name)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(uid); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + uid
}
