// Package cli is Sapient's command line: serve, migrate, and scriptable
// administration against the same database, with --json output.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// Version is set at build time with -ldflags "-X sapient.dev/sapient/internal/cli.Version=…".
var Version = "dev"

// app holds the global flags and the streams commands write to.
type app struct {
	database  string
	logFormat string
	// passwordHash is --password-hash as given, password what it parses to.
	passwordHash string
	password     user.PasswordParams
	jsonOut      bool
	stdin        io.Reader
	stdout       io.Writer
	stderr       io.Writer
	getenv       func(string) string
}

// Main runs the command line with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "sapient: "+oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sapient",
		Short:         "Sapient: self-hosted API credentials and OAuth 2.0 client credentials token server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.database, "database", a.env("SAPIENT_DATABASE_URL", "sapient.db"),
		"SQLite file path or postgres:// URL (env SAPIENT_DATABASE_URL)")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", a.env("SAPIENT_LOG_FORMAT", ""),
		"log format: text or json (default: text on a terminal, json otherwise; env SAPIENT_LOG_FORMAT)")
	root.PersistentFlags().StringVar(&a.passwordHash, "password-hash", a.getenv("SAPIENT_PASSWORD_HASH"),
		"argon2id parameters of the password hashes made from now on, m=KiB,t=passes,p=lanes (env SAPIENT_PASSWORD_HASH; default "+user.DefaultPasswordParams.String()+")")
	root.PersistentPreRunE = func(*cobra.Command, []string) (err error) {
		if a.password, err = user.ParsePasswordParams(a.passwordHash); err != nil {
			return fmt.Errorf("--password-hash: %w", err)
		}
		return nil
	}
	root.AddCommand(a.serveCmd(), a.migrateCmd(), a.orgsCmd(), a.usersCmd(), a.scopesCmd(),
		a.credentialsCmd(), a.webhooksCmd(), a.keysCmd(), a.resourcesCmd(), a.versionCmd(), a.benchCmd())
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("unknown help topic %q; see %q", strings.Join(args, " "), c.Root().Name()+" --help")
			}
			return cmd.Help()
		},
	})
	root.InitDefaultCompletionCmd() // now, so that refuseUnknown sees it
	refuseUnknown(root)
	return root
}

// refuseUnknown makes every group command in the tree (one that has
// subcommands and no action of its own) fail on an unknown subcommand or a
// missing one, instead of printing its help and exiting 0: a script that
// mistypes a command must not believe it succeeded. Only --help (and the
// help command) prints help and exits 0. A command that does not say which
// arguments it takes takes none.
//
// Cobra checks a subcommand's name only under the root; below it, a group
// without an action takes any arguments and shows its help.
func refuseUnknown(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknown(sub)
	}
	if !c.HasSubCommands() {
		if c.Args == nil { // a command that takes arguments says so
			c.Args = cobra.NoArgs
		}
		return
	}
	if c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%q needs a command; see %q", cmd.CommandPath(), cmd.CommandPath()+" --help")
		}
		return fmt.Errorf("unknown command %q for %q; see %q", args[0], cmd.CommandPath(), cmd.CommandPath()+" --help")
	}
}

func (a *app) env(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

// addJSON adds the --json flag to a command that prints data.
func (a *app) addJSON(c *cobra.Command) *cobra.Command {
	c.Flags().BoolVar(&a.jsonOut, "json", false, "print JSON")
	return c
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// logger builds the process logger: text on a terminal, JSON otherwise.
func (a *app) logger() (*slog.Logger, error) {
	format := a.logFormat
	if format == "" {
		format = "json"
		if f, ok := a.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, nil)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// openStore opens and migrates the database.
func (a *app) openStore(ctx context.Context) (*store.SQL, error) {
	s, err := store.Open(ctx, a.database)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", redactURL(a.database), err)
	}
	if _, err := s.MigrateWaiting(ctx, a.migrationWait); err != nil {
		s.Close()
		if errors.Is(err, store.ErrNewerDatabase) {
			return nil, err
		}
		return nil, fmt.Errorf("database %s: %w", redactURL(a.database), err)
	}
	return s, nil
}

// migrationWait tells, on standard error, why a start waits: another
// instance or sapient migrate holds the migration lock.
func (a *app) migrationWait() {
	fmt.Fprintln(a.stderr, "sapient: another instance is migrating the database; waiting for it to finish")
}

// kek finds the key-encryption key: SAPIENT_SECRET_KEY, or for an SQLite
// database a key file beside it, created on first use with mode 0600.
func (a *app) kek() (*keys.KEK, error) {
	if secret := a.getenv("SAPIENT_SECRET_KEY"); secret != "" {
		return keys.NewKEK(secret)
	}
	if store.IsPostgres(a.database) {
		return nil, errors.New("SAPIENT_SECRET_KEY is required with PostgreSQL: every instance must share it")
	}
	path := strings.TrimPrefix(a.database, "file:")
	return keys.LoadOrCreateKEKFile(filepath.Clean(path) + ".key")
}

// redactURL hides a password in a database URL.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.LastIndex(u, "@"); at > i {
			if colon := strings.Index(u[i+3:at], ":"); colon >= 0 {
				return u[:i+3+colon+1] + "xxxxx" + u[at:]
			}
		}
	}
	return u
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(a.stdout, "sapient", Version)
			return nil
		},
	}
}

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(cmd.Context(), a.database)
			if err != nil {
				return fmt.Errorf("database %s: %w", redactURL(a.database), err)
			}
			defer s.Close()
			v, err := s.MigrateWaiting(cmd.Context(), a.migrationWait)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "database schema at version %d\n", v)
			return nil
		},
	}
}
