package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

func cmdBackup(ctx context.Context, env *cliEnv, args []string) error {
	fset, cfg := flagSet(env, "backup", "backup FILE")
	pos, err := parse(fset, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := loadConfig(env, *cfg)
	if err != nil {
		return err
	}
	// Open the database only if it is there: a typo in storage.path must
	// not back up a fresh empty database and look like success.
	if _, err := os.Stat(c.Storage.Path); errors.Is(err, fs.ErrNotExist) {
		return tender.Errorf(tender.ENotFound, "no database at %s (storage.path)", c.Storage.Path)
	}
	// storage.Open rather than a whole node: a backup creates nothing
	// (no instance actor), and works beside a running serve thanks to WAL.
	db, err := storage.Open(ctx, c.Storage.Path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, pos[0]); err != nil {
		return err
	}
	st, err := os.Stat(pos[0])
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(env.stdout, "backup of %s written to %s (%d bytes, integrity checked)\n", c.Storage.Path, pos[0], st.Size())
	return nil
}
