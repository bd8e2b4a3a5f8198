package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/coopnet/coopnet/tender"
)

// Backup writes a consistent copy of the database to path with VACUUM INTO.
// It runs as one read transaction, so it sees a single committed state
// while other connections (another process's serve included, thanks to
// WAL) keep writing; the copy is compacted and has no WAL of its own. An
// existing file at path is refused: a backup never overwrites anything.
// The copy is checked with PRAGMA integrity_check before Backup returns.
func (db *DB) Backup(ctx context.Context, path string) error {
	if path == "" {
		return tender.Errorf(tender.EInvalid, "no backup file named")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("storage: backup %s: %w", path, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return tender.Errorf(tender.EConflict, "%s already exists: a backup never overwrites a file", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: backup %s: %w", path, err)
	}
	if same, _ := filepath.Abs(db.path); same == abs {
		return tender.Errorf(tender.EInvalid, "the backup cannot be the database itself")
	}
	// VACUUM INTO also refuses a non-empty existing file, which closes the
	// gap between the check above and the write.
	if _, err := db.read.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		return fmt.Errorf("storage: backup to %s: %w", path, wrapErr(err))
	}
	if err := CheckFile(ctx, abs); err != nil {
		return fmt.Errorf("storage: backup %s written but failed its check: %w", path, err)
	}
	return nil
}

// CheckFile opens the database file at path read-only and runs SQLite's
// integrity check on it, without migrating or writing anything: for
// checking a backup before relying on it or restoring it.
func CheckFile(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("storage: check %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	conn, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("storage: check %s: %w", path, err)
	}
	defer conn.Close()
	var result string
	if err := conn.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return fmt.Errorf("storage: check %s: %w", path, err)
	}
	if result != "ok" {
		return fmt.Errorf("storage: check %s: integrity check says %q", path, result)
	}
	var version int
	if err := conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("storage: check %s: %w", path, err)
	}
	if version < 1 || version > SchemaVersion() {
		return fmt.Errorf("storage: check %s: schema version %d is not one this binary knows (1..%d)", path, version, SchemaVersion())
	}
	return nil
}
