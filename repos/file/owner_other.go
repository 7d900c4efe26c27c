//go:build !unix

package file

import (
	"io/fs"
	"os"
)

// keepOwner does nothing where files have no Unix owner: a file written
// beside another inherits the directory's access control.
func keepOwner(*os.File, fs.FileInfo) {}
