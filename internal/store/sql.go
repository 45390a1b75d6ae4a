package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
)

// SQL implements Store on database/sql for SQLite and PostgreSQL.
type SQL struct {
	db        *sql.DB
	tx        *sql.Tx // set on the copy InTx hands to its function
	dialect   goose.Dialect
	forUpdate string // row lock clause for read-modify-write transactions
	// forUpdateCredential locks only the credential (c) of a read joined
	// with its usage: PostgreSQL locks no row of an outer join's nullable side.
	forUpdateCredential string
	queries             *sync.Map
	shared              *shared
}

// shared is what every copy of the store that InTx makes shares: a
// statement prepared once, on first use, the usage writes' own connection
// and when usage was last folded.
type shared struct {
	appendUsageOnce sync.Once
	appendUsage     *sql.Stmt
	appendUsageErr  error
	usage           usageConn
	fold            folding
}

var _ Store = (*SQL)(nil)

func newSQL(db *sql.DB, dialect goose.Dialect) *SQL {
	s := &SQL{db: db, dialect: dialect, queries: &sync.Map{}, shared: &shared{}}
	if dialect == goose.DialectPostgres {
		s.forUpdate = " FOR UPDATE"
		s.forUpdateCredential = " FOR UPDATE OF c"
	}
	return s
}

// DB exposes the underlying handle for tests and tools.
func (s *SQL) DB() *sql.DB { return s.db }

// q returns the query in the placeholder syntax of the backend.
func (s *SQL) q(query string) string {
	if s.dialect != goose.DialectPostgres {
		return query
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	r := rebind(query)
	s.queries.Store(query, r)
	return r
}

// Ping checks that the database answers.
func (s *SQL) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close releases the prepared statement and the connections.
func (s *SQL) Close() error {
	if st := s.shared.appendUsage; st != nil {
		st.Close()
	}
	s.shared.usage.close()
	return s.db.Close()
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// conn is the transaction when there is one, else the pool.
func (s *SQL) conn() queryer {
	if s.tx != nil {
		return s.tx
	}
	return s.db
}

// InTx runs fn with a Store whose every call is part of one transaction,
// committed when fn returns nil and rolled back otherwise. Calls nest: InTx
// inside InTx joins the outer transaction.
func (s *SQL) InTx(ctx context.Context, fn func(Store) error) error {
	return s.inTx(ctx, func(q queryer) error {
		if s.tx != nil {
			return fn(s)
		}
		child := *s
		child.tx = q.(*sql.Tx)
		return fn(&child)
	})
}

// mapErr turns driver errors callers branch on into sentinel errors.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrAlreadyExists, op)
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return fmt.Errorf("%w: %s", ErrAlreadyExists, op)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// inTx runs fn in a transaction and commits it when fn returns nil. Inside
// a transaction already, fn joins it.
func (s *SQL) inTx(ctx context.Context, fn func(q queryer) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	return runTx(ctx, s.db, fn)
}

// runTx runs fn in a transaction begun on db (the pool, or one connection
// of it) and commits it when fn returns nil.
func runTx(ctx context.Context, db interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}, fn func(q queryer) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// micros stores a time as Unix microseconds; the zero time is NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

func splitScopes(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Fields(s)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ---- organisations ----

const orgColumns = `id, name, scopes, created_at, updated_at, token_rate_limit, api_rate_limit`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var (
		o                Org
		scopes           string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&o.ID, &o.Name, &scopes, &created, &updated, &o.TokenRateLimit, &o.APIRateLimit); err != nil {
		return Org{}, err
	}
	o.Scopes = splitScopes(scopes)
	o.CreatedAt = fromMicros(created)
	o.UpdatedAt = fromMicros(updated)
	return o, nil
}

// CreateOrg inserts an organisation; names are unique case-insensitively.
func (s *SQL) CreateOrg(ctx context.Context, o Org) error {
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO orgs (`+orgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		o.ID, o.Name, joinScopes(o.Scopes), micros(o.CreatedAt), o.UpdatedAt.UnixMicro(), o.TokenRateLimit, o.APIRateLimit)
	return mapErr("create organisation", err)
}

// GetOrg finds an organisation by ID.
func (s *SQL) GetOrg(ctx context.Context, id string) (Org, error) {
	o, err := scanOrg(s.conn().QueryRowContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE id = ?`), id))
	return o, mapErr("get organisation", err)
}

// GetOrgByName finds an organisation by name, case-insensitively.
func (s *SQL) GetOrgByName(ctx context.Context, name string) (Org, error) {
	o, err := scanOrg(s.conn().QueryRowContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE lower(name) = lower(?)`), name))
	return o, mapErr("get organisation", err)
}

// ListOrgs lists every organisation by name.
func (s *SQL) ListOrgs(ctx context.Context) ([]Org, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs ORDER BY lower(name)`))
	if err != nil {
		return nil, mapErr("list organisations", err)
	}
	return collect(rows, scanOrg, "list organisations")
}

// UpdateOrg changes an organisation's name or scope grant.
func (s *SQL) UpdateOrg(ctx context.Context, id string, update func(Org) (Org, error)) (Org, error) {
	var out Org
	err := s.inTx(ctx, func(tx queryer) error {
		old, err := scanOrg(tx.QueryRowContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE id = ?`+s.forUpdate), id))
		if err != nil {
			return mapErr("update organisation", err)
		}
		o, err := update(old)
		if err != nil {
			return err
		}
		if !o.UpdatedAt.After(old.UpdatedAt) {
			o.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE orgs SET name = ?, scopes = ?, updated_at = ?, token_rate_limit = ?, api_rate_limit = ?
			WHERE id = ?`), o.Name, joinScopes(o.Scopes), o.UpdatedAt.UnixMicro(), o.TokenRateLimit, o.APIRateLimit, id)
		if err != nil {
			return mapErr("update organisation", err)
		}
		o.ID = id
		out = o
		return nil
	})
	return out, err
}

// OrgsUpdatedSince returns organisations changed at or after since.
func (s *SQL) OrgsUpdatedSince(ctx context.Context, since time.Time) ([]Org, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE updated_at >= ? ORDER BY updated_at`), since.UnixMicro())
	if err != nil {
		return nil, mapErr("poll organisations", err)
	}
	return collect(rows, scanOrg, "poll organisations")
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error), op string) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}

// ---- users ----

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

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
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

// ---- scopes ----

func scanScope(row interface{ Scan(...any) error }) (Scope, error) {
	var (
		sc                 Scope
		builtin, adminOnly int64
		created            sql.NullInt64
	)
	if err := row.Scan(&sc.Name, &sc.Description, &builtin, &adminOnly, &created); err != nil {
		return Scope{}, err
	}
	sc.Builtin, sc.AdminOnly = builtin != 0, adminOnly != 0
	sc.CreatedAt = fromMicros(created)
	return sc, nil
}

// CreateScope defines a scope.
func (s *SQL) CreateScope(ctx context.Context, sc Scope) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO scopes (name, description, builtin, admin_only, created_at) VALUES (?, ?, ?, ?, ?)`),
		sc.Name, sc.Description, boolInt(sc.Builtin), boolInt(sc.AdminOnly), micros(sc.CreatedAt))
	return mapErr("create scope", err)
}

// ListScopes lists every scope by name.
func (s *SQL) ListScopes(ctx context.Context) ([]Scope, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT name, description, builtin, admin_only, created_at FROM scopes ORDER BY name`))
	if err != nil {
		return nil, mapErr("list scopes", err)
	}
	return collect(rows, scanScope, "list scopes")
}

// ---- credentials ----

const credentialColumns = `client_id, org_id, name, secret_hash, scopes, created_at, created_by,
	last_used_at, revoked_at, revoked_by, expires_at, updated_at,
	last_used_ip, previous_secret_hash, previous_secret_expires_at, allowed_cidrs`

func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var (
		c                                                    Credential
		scopes, cidrs                                        string
		created, lastUsed, revoked, expires, upd, prevExpiry sql.NullInt64
	)
	if err := row.Scan(&c.ClientID, &c.OrgID, &c.Name, &c.SecretHash, &scopes, &created, &c.CreatedBy,
		&lastUsed, &revoked, &c.RevokedBy, &expires, &upd,
		&c.LastUsedIP, &c.PreviousSecretHash, &prevExpiry, &cidrs); err != nil {
		return Credential{}, err
	}
	c.PreviousSecretExpiresAt = fromMicros(prevExpiry)
	c.AllowedCIDRs = splitScopes(cidrs)
	c.Scopes = splitScopes(scopes)
	c.CreatedAt = fromMicros(created)
	c.LastUsedAt = fromMicros(lastUsed)
	c.RevokedAt = fromMicros(revoked)
	c.ExpiresAt = fromMicros(expires)
	c.UpdatedAt = fromMicros(upd)
	return c, nil
}

// CreateCredential inserts a credential. A second active credential with
// the same name (case-insensitively) in one organisation is ErrAlreadyExists.
func (s *SQL) CreateCredential(ctx context.Context, c Credential) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO credentials (`+credentialColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ClientID, c.OrgID, c.Name, c.SecretHash, joinScopes(c.Scopes), micros(c.CreatedAt), c.CreatedBy,
		micros(c.LastUsedAt), micros(c.RevokedAt), c.RevokedBy, micros(c.ExpiresAt), micros(c.UpdatedAt),
		c.LastUsedIP, c.PreviousSecretHash, micros(c.PreviousSecretExpiresAt), joinScopes(c.AllowedCIDRs))
	return mapErr("create credential", err)
}

// credentialsWithLastUse is the FROM clause of the reads people see
// (console, API, CLI): each credential, as c, with the usage row (u) of its
// latest hour that holds a last use, found through usage_hourly's index on
// (client_id, hour). A bucket's last use falls within its hour, so that
// row holds the credential's latest last use in usage.
const credentialsWithLastUse = `credentials c LEFT JOIN usage_hourly u
	ON u.client_id = c.client_id AND u.hour = (SELECT max(h.hour) FROM usage_hourly h
		WHERE h.client_id = c.client_id AND h.last_used_at IS NOT NULL)`

// credentialViewColumns are credentialColumns read from
// credentialsWithLastUse, in the same order so that scanCredential reads
// them: the last use is the later of the usage row's and the one kept with
// the credential.
var credentialViewColumns = func() string {
	const later = `c.last_used_at IS NULL OR u.last_used_at > c.last_used_at`
	cols := strings.Split(credentialColumns, ",")
	for i, col := range cols {
		switch col = strings.TrimSpace(col); col {
		case "last_used_at":
			cols[i] = `CASE WHEN ` + later + ` THEN u.last_used_at ELSE c.last_used_at END`
		case "last_used_ip":
			cols[i] = `CASE WHEN ` + later + ` THEN coalesce(u.last_used_ip, c.last_used_ip) ELSE c.last_used_ip END`
		default:
			cols[i] = "c." + col
		}
	}
	return strings.Join(cols, ", ")
}()

// GetCredential finds a credential by client ID, with its last use.
func (s *SQL) GetCredential(ctx context.Context, clientID string) (Credential, error) {
	if err := s.FoldUsage(ctx); err != nil {
		return Credential{}, err
	}
	c, err := scanCredential(s.conn().QueryRowContext(ctx,
		s.q(`SELECT `+credentialViewColumns+` FROM `+credentialsWithLastUse+` WHERE c.client_id = ?`), clientID))
	return c, mapErr("get credential", err)
}

// ListCredentials lists credentials, newest first, with their last use.
func (s *SQL) ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error) {
	if err := s.FoldUsage(ctx); err != nil {
		return nil, err
	}
	query := `SELECT ` + credentialViewColumns + ` FROM ` + credentialsWithLastUse
	var args []any
	if f.OrgID != "" {
		query += ` WHERE c.org_id = ?`
		args = append(args, f.OrgID)
	}
	query += ` ORDER BY c.created_at DESC, c.client_id`
	rows, err := s.conn().QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, mapErr("list credentials", err)
	}
	return collect(rows, scanCredential, "list credentials")
}

// UpdateCredential is a read-modify-write of one credential. The result
// carries the last use as GetCredential reads it.
func (s *SQL) UpdateCredential(ctx context.Context, clientID string, update func(Credential) (Credential, error)) (Credential, error) {
	if err := s.FoldUsage(ctx); err != nil {
		return Credential{}, err
	}
	var out Credential
	err := s.inTx(ctx, func(tx queryer) error {
		old, err := scanCredential(tx.QueryRowContext(ctx,
			s.q(`SELECT `+credentialViewColumns+` FROM `+credentialsWithLastUse+` WHERE c.client_id = ?`+s.forUpdateCredential), clientID))
		if err != nil {
			return mapErr("update credential", err)
		}
		c, err := update(old)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE credentials SET name = ?, secret_hash = ?, scopes = ?, revoked_at = ?,
			revoked_by = ?, expires_at = ?, updated_at = ?, previous_secret_hash = ?, previous_secret_expires_at = ?,
			allowed_cidrs = ? WHERE client_id = ?`),
			c.Name, c.SecretHash, joinScopes(c.Scopes), micros(c.RevokedAt), c.RevokedBy, micros(c.ExpiresAt),
			micros(c.UpdatedAt), c.PreviousSecretHash, micros(c.PreviousSecretExpiresAt), joinScopes(c.AllowedCIDRs), clientID)
		if err != nil {
			return mapErr("update credential", err)
		}
		c.ClientID, c.OrgID, c.LastUsedAt, c.LastUsedIP = old.ClientID, old.OrgID, old.LastUsedAt, old.LastUsedIP
		out = c
		return nil
	})
	return out, err
}

// CredentialsUpdatedSince returns credentials changed at or after since.
func (s *SQL) CredentialsUpdatedSince(ctx context.Context, since time.Time) ([]Credential, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+credentialColumns+` FROM credentials WHERE updated_at >= ? ORDER BY updated_at`),
		since.UnixMicro())
	if err != nil {
		return nil, mapErr("poll credentials", err)
	}
	return collect(rows, scanCredential, "poll credentials")
}

// ---- revoked tokens ----

// RevokeToken records a revoked token; a repeat is not an error.
func (s *SQL) RevokeToken(ctx context.Context, t RevokedToken) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (jti) DO NOTHING`), t.JTI, t.ClientID, t.ExpiresAt.UnixMicro(), t.RevokedAt.UnixMicro())
	return mapErr("revoke token", err)
}

// RevokedTokensSince returns tokens revoked at or after since.
func (s *SQL) RevokedTokensSince(ctx context.Context, since time.Time) ([]RevokedToken, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT jti, client_id, expires_at, revoked_at FROM revoked_tokens
		WHERE revoked_at >= ? ORDER BY revoked_at`), since.UnixMicro())
	if err != nil {
		return nil, mapErr("poll revoked tokens", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (RevokedToken, error) {
		var (
			t            RevokedToken
			exp, revoked sql.NullInt64
		)
		err := row.Scan(&t.JTI, &t.ClientID, &exp, &revoked)
		t.ExpiresAt, t.RevokedAt = fromMicros(exp), fromMicros(revoked)
		return t, err
	}, "poll revoked tokens")
}

// PruneRevokedTokens forgets tokens that expired before t.
func (s *SQL) PruneRevokedTokens(ctx context.Context, before time.Time) (int, error) {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM revoked_tokens WHERE expires_at < ?`), before.UnixMicro())
	if err != nil {
		return 0, mapErr("prune revoked tokens", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ---- signing keys ----

// CreateSigningKey stores a new signing key.
func (s *SQL) CreateSigningKey(ctx context.Context, k SigningKey) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at, activates_at)
		VALUES (?, ?, ?, ?, ?, ?)`), k.ID, k.Algorithm, string(k.PrivateKey), string(k.PublicKey), micros(k.CreatedAt), micros(k.ActivatesAt))
	return mapErr("create signing key", err)
}

// ListSigningKeys lists keys in the order they activate.
func (s *SQL) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT kid, algorithm, private_key, public_key, created_at, activates_at
		FROM signing_keys ORDER BY activates_at, created_at, kid`))
	if err != nil {
		return nil, mapErr("list signing keys", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (SigningKey, error) {
		var (
			k                 SigningKey
			priv, pub         string
			created, activate sql.NullInt64
		)
		err := row.Scan(&k.ID, &k.Algorithm, &priv, &pub, &created, &activate)
		k.PrivateKey, k.PublicKey = []byte(priv), []byte(pub)
		k.CreatedAt, k.ActivatesAt = fromMicros(created), fromMicros(activate)
		return k, err
	}, "list signing keys")
}

// DeleteSigningKey removes a key that no unexpired token can name.
func (s *SQL) DeleteSigningKey(ctx context.Context, id string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM signing_keys WHERE kid = ?`), id)
	return mapErr("delete signing key", err)
}

// ---- sessions ----

// CreateSession stores a console session.
func (s *SQL) CreateSession(ctx context.Context, se Session) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)`),
		se.ID, se.UserID, micros(se.CreatedAt), micros(se.LastSeenAt), micros(se.ExpiresAt))
	return mapErr("create session", err)
}

// GetSession finds a session by the digest of its cookie value.
func (s *SQL) GetSession(ctx context.Context, id string) (Session, error) {
	var (
		se                     Session
		created, seen, expires sql.NullInt64
	)
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id = ?`), id).
		Scan(&se.ID, &se.UserID, &created, &seen, &expires)
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return se, mapErr("get session", err)
}

// TouchSession records activity on a session.
func (s *SQL) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	_, err := s.conn().ExecContext(ctx, s.q(`UPDATE sessions SET last_seen_at = ? WHERE id = ?`), lastSeen.UnixMicro(), id)
	return mapErr("touch session", err)
}

// DeleteSession ends a session.
func (s *SQL) DeleteSession(ctx context.Context, id string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id = ?`), id)
	return mapErr("delete session", err)
}

// DeleteUserSessions ends every session of a user except keepID.
func (s *SQL) DeleteUserSessions(ctx context.Context, userID, keepID string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`), userID, keepID)
	return mapErr("delete sessions", err)
}

// DeleteExpiredSessions removes sessions past their absolute or idle limit.
func (s *SQL) DeleteExpiredSessions(ctx context.Context, now, idleSince time.Time) (int, error) {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?`),
		now.UnixMicro(), idleSince.UnixMicro())
	if err != nil {
		return 0, mapErr("delete expired sessions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
