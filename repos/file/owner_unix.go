//go:build unix

package file

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of the file it is to replace. Only
// root may give a file away, and an owner may only pick one of its groups, so
// a failure is expected and ignored: the file is then the caller's, as any
// file it writes.
func keepOwner(f *os.File, old fs.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
