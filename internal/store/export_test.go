package store

import (
	"context"

	"github.com/pressly/goose/v3"
)

// MigrateTo moves the schema up or down to the version given, for tests
// of a migration against data written by the schema before it.
func (s *SQL) MigrateTo(ctx context.Context, version int64) error {
	p, err := s.migrations()
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if current > version {
		_, err = p.DownTo(ctx, version)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	return err
}

// MigrateWith is Migrate as a later release would run it, with the extra
// migrations that release adds, under the same lock.
func (s *SQL) MigrateWith(ctx context.Context, extra ...*goose.Migration) (int64, error) {
	return s.migrate(ctx, nil, extra...)
}

// MigrationLocks are the advisory locks under which the schema s is on
// migrates: the schema's and the queue's.
func (s *SQL) MigrationLocks(ctx context.Context) ([]int64, error) {
	var ids []int64
	for _, name := range []string{"sapient migrations", "sapient queue migrations"} {
		id, err := lockID(ctx, s.db, name)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
