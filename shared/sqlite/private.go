package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// PrivateFile makes the SQLite database at path readable and writable by its owner only
// (0600), before it is opened: it creates the file empty (which SQLite reads as a new
// database) when missing, and tightens an existing one and its -wal and -shm files. SQLite
// gives the -wal and -shm files it creates the database file's mode, so they are 0600 too;
// without this the database would be 0644 (the process umask permitting), readable by every
// local user although it holds every recipient's name and email.
func PrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	return nil
}
