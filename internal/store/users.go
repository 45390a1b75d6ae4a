package store

import (
	"context"
	"database/sql"
	"time"
)

const userColumns = `id, email, password_hash, role, org_id, created_at, password_changed_at, disabled_at, owner, last_login_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u                               User
		role                            string
		org                             sql.NullString
		created, changed, disabled, low sql.NullInt64
		owner                           int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &org, &created, &changed, &disabled, &owner, &low); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.OrgID = org.String
	u.CreatedAt = fromMicros(created)
	u.PasswordChangedAt = fromMicros(changed)
	u.DisabledAt = fromMicros(disabled)
	u.Owner = owner != 0
	u.LastLoginAt = fromMicros(low)
	return u, nil
}

// CreateUser inserts a user; emails are unique case-insensitively.
func (s *SQL) CreateUser(ctx context.Context, u User) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.PasswordHash, string(u.Role), nullString(u.OrgID), micros(u.CreatedAt), micros(u.PasswordChangedAt),
		micros(u.DisabledAt), boolInt(u.Owner), micros(u.LastLoginAt))
	return mapErr("create user", err)
}

// GetUser finds a user by ID.
func (s *SQL) GetUser(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.conn().QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
	return u, mapErr("get user", err)
}

// GetUserByEmail finds a user by email, case-insensitively.
func (s *SQL) GetUserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.conn().QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE lower(email) = lower(?)`), email))
	return u, mapErr("get user", err)
}

// ListUsers lists every user by email.
func (s *SQL) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+userColumns+` FROM users ORDER BY lower(email)`))
	if err != nil {
		return nil, mapErr("list users", err)
	}
	return collect(rows, scanUser, "list users")
}

// UpdateUser changes a user's email, password, role, organisation,
// owner flag, disabled time or last login.
func (s *SQL) UpdateUser(ctx context.Context, id string, update func(User) (User, error)) (User, error) {
	var out User
	err := s.inTx(ctx, func(tx queryer) error {
		old, err := scanUser(tx.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`+s.forUpdate), id))
		if err != nil {
			return mapErr("update user", err)
		}
		u, err := update(old)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE users SET email = ?, password_hash = ?, role = ?, org_id = ?, password_changed_at = ?,
			disabled_at = ?, owner = ?, last_login_at = ? WHERE id = ?`),
			u.Email, u.PasswordHash, string(u.Role), nullString(u.OrgID), micros(u.PasswordChangedAt),
			micros(u.DisabledAt), boolInt(u.Owner), micros(u.LastLoginAt), id)
		if err != nil {
			return mapErr("update user", err)
		}
		u.ID, u.CreatedAt = id, old.CreatedAt
		out = u
		return nil
	})
	return out, err
}

// CountAdmins counts users with the Admin role.
func (s *SQL) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT count(*) FROM users WHERE role = ?`), string(RoleAdmin)).Scan(&n)
	return n, mapErr("count admins", err)
}

// ActiveAdmins lists the IDs of Admins who are not disabled, locking their
// rows on PostgreSQL (SQLite transactions write one at a time anyway).
func (s *SQL) ActiveAdmins(ctx context.Context) ([]string, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT id FROM users WHERE role = ? AND disabled_at IS NULL ORDER BY id`+s.forUpdate), string(RoleAdmin))
	if err != nil {
		return nil, mapErr("active admins", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	}, "active admins")
}

// DeleteUser deletes a user; their sessions and links go with them.
func (s *SQL) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx queryer) error {
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = ?`, `DELETE FROM user_links WHERE user_id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
				return mapErr("delete user", err)
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM users WHERE id = ?`), id)
		if err != nil {
			return mapErr("delete user", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// CreateUserLink stores a one-time link by the digest of its token.
func (s *SQL) CreateUserLink(ctx context.Context, l UserLink) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO user_links (id, user_id, purpose, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?)`),
		l.ID, l.UserID, l.Purpose, micros(l.CreatedAt), micros(l.ExpiresAt), micros(l.UsedAt))
	return mapErr("create link", err)
}

// GetUserLink finds a one-time link by the digest of its token.
func (s *SQL) GetUserLink(ctx context.Context, id string) (UserLink, error) {
	var (
		l                  UserLink
		created, exp, used sql.NullInt64
	)
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT id, user_id, purpose, created_at, expires_at, used_at FROM user_links WHERE id = ?`), id).
		Scan(&l.ID, &l.UserID, &l.Purpose, &created, &exp, &used)
	l.CreatedAt, l.ExpiresAt, l.UsedAt = fromMicros(created), fromMicros(exp), fromMicros(used)
	return l, mapErr("get link", err)
}

// UseUserLink marks a link used, once.
func (s *SQL) UseUserLink(ctx context.Context, id string, at time.Time) error {
	res, err := s.conn().ExecContext(ctx, s.q(`UPDATE user_links SET used_at = ? WHERE id = ? AND used_at IS NULL`), at.UnixMicro(), id)
	if err != nil {
		return mapErr("use link", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteUserLinks deletes a user's unused links for purpose.
func (s *SQL) DeleteUserLinks(ctx context.Context, userID, purpose string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM user_links WHERE user_id = ? AND purpose = ? AND used_at IS NULL`), userID, purpose)
	return mapErr("delete links", err)
}
