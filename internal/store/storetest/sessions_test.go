package storetest

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestSessionPool: a client of the session pool gets a session another
// client left, with nothing of that client's left in it; a session its
// client left busy, or that PostgreSQL ended, is never handed out; and a
// client's cancel request reaches its query.
func TestSessionPool(t *testing.T) {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		PostgresURL(t) // skips, or fails when PostgreSQL is required
	}
	addr := plainTCPAddr(base)
	if addr == "" {
		t.Skipf("%s does not reach PostgreSQL over TCP without TLS", PostgresEnv)
	}
	p, err := startSessionPool(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.ln.Close() })
	url := strings.Replace(base, addr, p.Addr(), 1)
	if url == base {
		t.Fatalf("%s does not name %s", PostgresEnv, addr)
	}
	url += "&application_name=sessions_test"
	ctx := t.Context()

	// connect opens one client connection and returns the server process
	// behind it.
	connect := func(t *testing.T) (*pgconn.PgConn, string) {
		t.Helper()
		c, err := pgconn.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c, query(t, c, `SELECT pg_backend_pid()`)[0]
	}
	// leave closes a client's connection and waits until the pool holds
	// every session idle.
	leave := func(t *testing.T, c *pgconn.PgConn) {
		t.Helper()
		c.Close(ctx)
		for {
			p.mu.Lock()
			busy, changed := false, p.changed
			for s := range p.live {
				busy = busy || s.state != idle
			}
			p.mu.Unlock()
			if !busy {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatal("the session never became idle")
			}
		}
	}

	t.Run("reused and reset", func(t *testing.T) {
		c, pid := connect(t)
		for _, q := range []string{
			`SET statement_timeout = '1h'`,
			`CREATE TEMP TABLE left_behind (x int)`,
			`LISTEN left_behind`,
			`SELECT pg_advisory_lock(42)`,
			`PREPARE left_behind AS SELECT 1`,
			`BEGIN`,
			`CREATE TABLE uncommitted (x int)`,
		} {
			query(t, c, q)
		}
		leave(t, c)
		c, again := connect(t)
		if again != pid {
			t.Fatalf("server process %s, want %s, the session left idle", again, pid)
		}
		got := query(t, c, `SELECT current_setting('statement_timeout'),
			(SELECT count(*) FROM pg_tables WHERE tablename = 'left_behind'),
			(SELECT count(*) FROM pg_listening_channels()),
			(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
			(SELECT count(*) FROM pg_prepared_statements WHERE name = 'left_behind'),
			(SELECT count(*) FROM pg_tables WHERE tablename = 'uncommitted'),
			current_setting('application_name')`)
		if want := []string{"0", "0", "0", "0", "0", "0", "sessions_test"}; !slices.Equal(got, want) {
			t.Fatalf("statement_timeout, temporary tables, channels, advisory locks, prepared statements, uncommitted tables, application_name = %q; want %q, a session as new", got, want)
		}
		leave(t, c)
	})

	t.Run("busy when left", func(t *testing.T) {
		c, pid := connect(t)
		c.Frontend().Send(&pgproto3.Query{String: `SELECT pg_sleep(0.2)`})
		if err := c.Frontend().Flush(); err != nil {
			t.Fatal(err)
		}
		c.Conn().Close() // without waiting for the answer
		for range 3 {
			if _, again := connect(t); again == pid {
				t.Fatalf("server process %s, left in a query, handed out again", pid)
			}
		}
	})

	t.Run("ended by the server", func(t *testing.T) {
		c, pid := connect(t)
		leave(t, c)
		admin, err := pgconn.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		if ended := query(t, admin, `SELECT pg_terminate_backend(`+pid+`, 5000)`); ended[0] != "t" {
			t.Fatalf("terminate %s: %v", pid, ended)
		}
		if _, again := connect(t); again == pid {
			t.Fatalf("server process %s, ended, handed out", pid)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		c, pid := connect(t)
		admin, err := pgconn.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, `SELECT pg_sleep(5)`).ReadAll()
			done <- err
		}()
		for query(t, admin, `SELECT count(*) FROM pg_stat_activity WHERE pid = `+pid+` AND state = 'active'`)[0] != "1" {
		}
		if err := c.CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		var pgErr *pgconn.PgError
		if err := <-done; !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("err = %v, want the server's query_canceled (57014)", err)
		}
	})
}

// query runs sql and returns the first row of its last result, as text.
func query(t *testing.T, c *pgconn.PgConn, sql string) []string {
	t.Helper()
	results, err := c.Exec(t.Context(), sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var row []string
	if r := results[len(results)-1]; len(r.Rows) > 0 {
		for _, v := range r.Rows[0] {
			row = append(row, string(v))
		}
	}
	return row
}
