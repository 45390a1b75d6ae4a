//go:build unix

package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// TestSQLiteFilesPrivate checks that the database, its -wal and its -shm
// are created readable and writable by their owner alone (0600), whatever
// the umask: they hold password hashes, secret digests, session digests
// and the audit trail.
//
// It changes the process umask, so it must not run in parallel with
// tests that create files.
func TestSQLiteFilesPrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0o000, 0o077} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			path := filepath.Join(t.TempDir(), "sapient.db")
			s, err := store.OpenMigrated(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A write, so that the WAL holds a frame and exists.
			if err := s.CreateScope(t.Context(), store.Scope{Name: "files:private", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if mode := fi.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), mode)
				}
			}
		})
	}
}

// TestSQLiteExistingFileKeepsMode checks that opening a database that
// exists leaves its mode as the operator set it.
func TestSQLiteExistingFileKeepsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sapient.db")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenMigrated(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("existing database: mode %v, err %v; want 0640 kept", fi.Mode().Perm(), err)
	}
}
