package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/auth"
	"assistant/server/config"
	"assistant/server/database"
	"assistant/server/logging"
	"assistant/server/secevent"
	"assistant/server/validation"
)

const usersUsage = `usage: assistant users create --email EMAIL [--admin] [--display-name NAME] < password

Creates an account, whatever REGISTRATION_MODE says; --admin makes it an admin. The
password is the first line of standard input (8 to 128 characters) and is never echoed.
Prints the new account's id.
`

// The bounds of the spec's Password, Email and DisplayName.
const (
	minPassword, maxPassword = 8, 128
	minEmail, maxEmail       = 3, 254
	maxDisplayName           = 100
	maxPasswordLine          = 4*maxPassword + 3 // the longest valid line, with \r\n, and one byte more
)

func runUsers(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, usersUsage)
		if len(args) == 0 {
			return &exitError{2, errors.New("users: no subcommand given")}
		}
		return &exitError{2, fmt.Errorf("users: unknown subcommand %q", args[0])}
	}
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the account's email (required)")
	admin := fs.Bool("admin", false, "make the account an admin")
	name := fs.String("display-name", "", "the display name (default: the email's local part)")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{2, err}
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("users create: unexpected argument %q", fs.Arg(0))}
	}
	addr, err := checkEmail(*email)
	if err != nil {
		return &exitError{2, err}
	}
	display := strings.TrimSpace(*name)
	if !validation.ValidText(display) || utf8.RuneCountInString(display) > maxDisplayName {
		return &exitError{2, fmt.Errorf("--display-name must be UTF-8 text of at most %d characters", maxDisplayName)}
	}
	if display == "" {
		display, _, _ = strings.Cut(addr, "@")
	}
	password, err := readPassword(stdin)
	if err != nil {
		return &exitError{2, err}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel)
	hash, err := auth.NewPasswords(auth.Argon2Params{MemoryKiB: cfg.Argon2MemoryKiB, Time: cfg.Argon2Time}, 1).Hash(ctx, password)
	if err != nil {
		return err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := db.New()
	var u db.User
	err = database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if err := q.LockRegistration(ctx, tx); err != nil {
			return err
		}
		u, err = q.CreateUser(ctx, tx, db.CreateUserParams{ID: database.NewID(), Email: addr, DisplayName: display,
			PasswordHash: hash, Admin: *admin})
		return err
	})
	if database.IsUniqueViolation(err, "users_email_key") {
		return fmt.Errorf("an account with the email %s already exists", addr)
	}
	if err != nil {
		return fmt.Errorf("create the account: %w", err)
	}
	secevent.Log(ctx, log, secevent.UserCreatedByCLI, u.ID, slog.String("role", u.Role))
	fmt.Fprintln(stdout, u.ID)
	return nil
}

// checkEmail returns the stored form of an email (trimmed, lower-cased), or why it is not
// one: the API's rules for its Email schema.
func checkEmail(s string) (string, error) {
	if s == "" {
		return "", errors.New("--email is required")
	}
	n := accounts.NormalizeEmail(s)
	if validation.ValidEmail(n) != nil || len(n) < minEmail || len(n) > maxEmail || !validation.ValidText(n) {
		return "", fmt.Errorf("--email %q is not an email address", s)
	}
	return n, nil
}

// readPassword reads the first line of r (without its line ending) and checks it against
// the API's password rules. It never repeats the password in an error.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxPasswordLine), maxPasswordLine).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	if err != nil && len(line) == maxPasswordLine {
		return "", fmt.Errorf("the password must be at most %d characters", maxPassword)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input (pipe it in: the first line is the password)")
	}
	if !validation.ValidText(line) {
		return "", errors.New("the password must be UTF-8 text without NUL characters")
	}
	switch n := utf8.RuneCountInString(line); {
	case n < minPassword:
		return "", fmt.Errorf("the password must be at least %d characters", minPassword)
	case n > maxPassword:
		return "", fmt.Errorf("the password must be at most %d characters", maxPassword)
	}
	return line, nil
}
