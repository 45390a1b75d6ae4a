package storetest

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for schema set-up

	"sapient.dev/sapient/internal/store"
)

// PostgresEnv names the variable that points the tests at a PostgreSQL
// server, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "SAPIENT_TEST_POSTGRES_URL"

// RequirePostgresEnv, when set to 1, turns a missing PostgreSQL into a test
// failure instead of a skip. CI sets it.
const RequirePostgresEnv = "SAPIENT_TEST_REQUIRE_POSTGRES"

// Backend names one database kind and opens fresh databases of that kind.
type Backend struct {
	Name string
	// URL returns the URL of a new, empty database that is removed when
	// the test ends. It skips the test if the backend is not available.
	URL func(t testing.TB) string
}

// Backends lists every backend: SQLite always, PostgreSQL when configured.
func Backends() []Backend {
	return []Backend{{"sqlite", SQLiteURL}, {"postgres", PostgresURL}}
}

// ForEach runs fn as a subtest for each backend, the backends side by
// side: a test waits on its database about as long as it works.
func ForEach(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// SQLiteURL returns the path of a new SQLite database in a temporary folder.
func SQLiteURL(t testing.TB) string {
	return filepath.Join(t.TempDir(), "sapient.db")
}

// PostgresURL creates a schema of its own for the test on the server named
// by SAPIENT_TEST_POSTGRES_URL and returns a URL whose search_path selects
// it, so that tests running in parallel never see each other's tables. The
// URL reaches the server through the process's session pool
// (sessions.go) when it can.
func PostgresURL(t testing.TB) string {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv(RequirePostgresEnv) == "1" {
			t.Fatalf("%s is not set but %s=1", PostgresEnv, RequirePostgresEnv)
		}
		t.Skipf("PostgreSQL tests skipped: set %s to run them", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	schema := "sapient_test_" + rand.Text()[:16]
	schema = toLowerASCII(schema)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if p := sessions(); p != nil {
			p.forget(schema)
		}
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := schemaURL(base, schema)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	return u
}

// schemaURL is base with schema as the search path and as the application
// name of every connection, through the process's session pool. Its
// sessions commit without waiting for the write-ahead log to reach the
// disk (synchronous_commit off): no test is about PostgreSQL's own
// crashes, and every commit waited for a flush.
func schemaURL(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if p := sessions(); p != nil {
		u.Host = p.Addr()
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Open opens and migrates the database at url and closes it when the test
// ends.
func Open(t testing.TB, url string) *store.SQL {
	t.Helper()
	s, err := store.OpenMigrated(t.Context(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// New returns a migrated store of the given backend with no data in it.
func New(t testing.TB, b Backend) *store.SQL {
	t.Helper()
	return Open(t, b.Migrated(t))
}

// String implements fmt.Stringer for test names.
func (b Backend) String() string { return fmt.Sprint(b.Name) }
