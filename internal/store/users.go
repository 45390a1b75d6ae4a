package store

import (
	"context"
	"database/sql"
)

const userColumns = `id, email, password_hash, role, org_id, created_at, password_changed_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u                User
		role             string
		org              sql.NullString
		created, changed sql.NullInt64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &org, &created, &changed); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.OrgID = org.String
	u.CreatedAt = fromMicros(created)
	u.PasswordChangedAt = fromMicros(changed)
	return u, nil
}

// CreateUser inserts a user; emails are unique case-insensitively.
func (s *SQL) CreateUser(ctx context.Context, u User) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.PasswordHash, string(u.Role), nullString(u.OrgID), micros(u.CreatedAt), micros(u.PasswordChangedAt))
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

// UpdateUser changes a user's email, password, role or organisation.
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
		_, err = tx.ExecContext(ctx, s.q(`UPDATE users SET email = ?, password_hash = ?, role = ?, org_id = ?, password_changed_at = ? WHERE id = ?`),
			u.Email, u.PasswordHash, string(u.Role), nullString(u.OrgID), micros(u.PasswordChangedAt), id)
		if err != nil {
			return mapErr("update user", err)
		}
		u.ID = id
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
