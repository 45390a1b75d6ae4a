package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// IsPostgres reports whether a database URL names PostgreSQL rather than an
// SQLite file.
func IsPostgres(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// Open connects to the database named by databaseURL: a postgres:// URL or
// the path of an SQLite file (created if missing). It does not migrate; call
// Migrate first, or OpenMigrated.
func Open(ctx context.Context, databaseURL string) (*SQL, error) {
	if databaseURL == "" {
		return nil, errors.New("store: empty database URL")
	}
	var (
		db      *sql.DB
		err     error
		dialect goose.Dialect
	)
	if IsPostgres(databaseURL) {
		dialect = goose.DialectPostgres
		db, err = sql.Open("pgx", databaseURL)
		if err == nil {
			db.SetMaxOpenConns(32)
			db.SetMaxIdleConns(32)
		}
	} else {
		dialect = goose.DialectSQLite3
		if err := createPrivate(sqlitePath(databaseURL)); err != nil {
			return nil, err
		}
		db, err = sql.Open("sqlite", sqliteDSN(databaseURL))
		if err == nil {
			// WAL lets readers proceed while one writer commits; writers
			// queue on the busy timeout.
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(8)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return newSQL(db, dialect), nil
}

// OpenMigrated opens the database and applies every pending migration.
func OpenMigrated(ctx context.Context, databaseURL string) (*SQL, error) {
	s, err := Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN turns a file path into a modernc.org/sqlite DSN with the
// settings Sapient relies on: WAL journal, foreign keys, a busy timeout and
// BEGIN IMMEDIATE transactions so that read-then-write transactions never
// fail with SQLITE_BUSY half-way. Temporary storage is in memory: each
// multi-row upsert of the usage flush keeps a statement journal, which
// SQLite otherwise writes to a temporary file (a third of the flush's
// time with a million credentials).
func sqliteDSN(path string) string {
	path = sqlitePath(path)
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// sqlitePath is the file path in an SQLite database URL.
func sqlitePath(databaseURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite://"), "file:")
}

// createPrivate creates the SQLite database file at path with mode 0600,
// whatever the process umask, if it does not exist yet. The file holds
// password hashes, secret and session digests and the audit trail, and is
// no more readable than the key file beside it. SQLite gives the -wal and
// -shm files it creates beside the database the database file's own
// permission bits (and sets them with fchmod, past the umask), so they are
// 0600 too. An existing file keeps its mode: an operator may have chosen
// it.
func createPrivate(path string) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	defer f.Close()
	// The umask cannot add bits, but a umask that takes the owner's away
	// would leave a file SQLite cannot open: set the mode exactly.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	return nil
}

// Migrate applies pending migrations and reports the resulting schema
// version. A database whose schema is newer than this binary is refused
// with ErrNewerDatabase and left untouched. On PostgreSQL the migrations
// run under a database lock (see migrationLock), so that instances started
// at once all come up.
func (s *SQL) Migrate(ctx context.Context) (int64, error) {
	return s.MigrateWaiting(ctx, nil)
}

// MigrateWaiting is Migrate that calls waiting, if not nil, when another
// process is migrating the database and this one waits for it to finish.
func (s *SQL) MigrateWaiting(ctx context.Context, waiting func()) (int64, error) {
	return s.migrate(ctx, waiting)
}

// migrate applies the schema's migrations and extra ones (tests of a
// release to come) under the migration lock. Up comes first, under the
// lock, since it also creates goose's version table: on a newer database
// it applies nothing (every migration this binary knows is applied), and
// the version read after it refuses the database.
func (s *SQL) migrate(ctx context.Context, waiting func(), extra ...*goose.Migration) (int64, error) {
	lockOpts, err := s.migrationLock(ctx, waiting)
	if err != nil {
		return 0, err
	}
	p, err := s.migrations(append(lockOpts, goose.WithGoMigrations(extra...))...)
	if err != nil {
		return 0, err
	}
	if latest, ok := s.upToDate(ctx, p); ok {
		return latest, nil
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	current, latest, err := p.GetVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	if current > latest {
		return current, fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade Sapient",
			ErrNewerDatabase, current, latest)
	}
	if err := s.migrateQueue(ctx); err != nil {
		return current, err
	}
	return current, nil
}

// upToDate reports whether the database holds every migration of p and of
// the queue and none newer, read in one query without the migration lock,
// and then the schema's version. Opening an up-to-date database, as every
// CLI command and every instance but the first of a new release does, then
// takes no lock and runs no migrator. Any doubt (a table missing, an older
// queue schema, a migration missing or unknown) answers false, and migrate
// goes on to take the lock and decide: a migration records its version in
// its own transaction, so a version read here is a migration finished.
func (s *SQL) upToDate(ctx context.Context, p *goose.Provider) (int64, bool) {
	sources := p.ListSources()
	queue, err := rivermigrate.New(s.QueueDriver(), nil)
	if err != nil || len(sources) == 0 {
		return 0, false
	}
	queueVersions := queue.AllVersions()
	if len(queueVersions) == 0 {
		return 0, false
	}
	known := make([]string, len(sources))
	for i, src := range sources {
		known[i] = strconv.FormatInt(src.Version, 10)
	}
	var applied, latest, queueLatest sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(DISTINCT version_id) FROM goose_db_version WHERE is_applied AND version_id IN (`+strings.Join(known, ",")+`)),
		(SELECT max(version_id) FROM goose_db_version WHERE is_applied),
		(SELECT max(version) FROM river_migration WHERE line = 'main')`).Scan(&applied, &latest, &queueLatest)
	if err != nil {
		return 0, false
	}
	want := sources[len(sources)-1].Version
	if !latest.Valid || latest.Int64 != want || applied.Int64 != int64(len(sources)) ||
		!queueLatest.Valid || queueLatest.Int64 != int64(queueVersions[len(queueVersions)-1].Version) {
		return 0, false
	}
	return want, true
}

// migrations returns the schema's migrations for this store's database:
// the SQL files, and those written in Go.
func (s *SQL) migrations(opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	opts = append([]goose.ProviderOption{goose.WithGoMigrations(usageByHour(s.dialect), nameKeys())}, opts...)
	p, err := goose.NewProvider(s.dialect, s.db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, nil
}

// rebind rewrites ? placeholders as $1, $2, … for PostgreSQL. Sapient's
// queries contain no literal question marks.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// MigrationsDigest identifies the migrations this build applies: their
// files, the versions of the migrations written in Go, and the queue's
// versions. Tests use it to tell databases migrated by this build from
// those migrated by another.
func MigrationsDigest() string {
	h := sha256.New()
	fs.WalkDir(migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := migrations.ReadFile(path)
			fmt.Fprintf(h, "%s\x00%d\x00%s\x00", path, len(b), b)
		}
		return nil
	})
	for _, m := range []*goose.Migration{usageByHour(goose.DialectPostgres), nameKeys()} {
		fmt.Fprintf(h, "go %d\x00", m.Version)
	}
	if m, err := rivermigrate.New(riverdatabasesql.New(nil), nil); err == nil {
		for _, v := range m.AllVersions() {
			fmt.Fprintf(h, "queue %d\x00", v.Version)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
