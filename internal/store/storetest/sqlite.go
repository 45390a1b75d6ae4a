package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"sapient.dev/sapient/internal/store"
)

// A migrated SQLite database for a test is a copy of one this process
// migrated once: running the migrations, some two hundred statements that
// SQLite parses one at a time, was a third of the CPU of a test that
// starts a server.
var sqliteTemplate struct {
	once sync.Once
	data []byte
	err  error
}

// migratedSQLite writes a copy of the migrated template into the test's
// temporary folder and returns its path.
func migratedSQLite(t testing.TB) string {
	sqliteTemplate.once.Do(func() { sqliteTemplate.data, sqliteTemplate.err = migrateSQLiteTemplate() })
	if sqliteTemplate.err != nil {
		t.Fatalf("SQLite template: %v", sqliteTemplate.err)
	}
	path := SQLiteURL(t)
	if err := os.WriteFile(path, sqliteTemplate.data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// migrateSQLiteTemplate migrates a new database and returns its file,
// whole once the store is closed: the last connection to close writes the
// write-ahead log back into the file and removes it.
func migrateSQLiteTemplate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "sapient-sqlite-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sapient.db")
	s, err := store.OpenMigrated(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("%d bytes of write-ahead log left after closing", fi.Size())
	}
	return os.ReadFile(path)
}
