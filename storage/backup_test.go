package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// TestBackupWhileWriting takes a backup while writers commit to the same
// database, then opens the copy: it passes the integrity check, holds a
// prefix of what was written (every row committed before the backup
// started, none half-written), and opens as a normal node database.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, filepath.Join(dir, "coopnet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newActor(t, db, "acoop")

	var written atomic.Int64
	store := func(i int64) {
		it := &storage.InboxItem{Activity: fmt.Sprintf("https://peer.example/a/%d", i), Actor: "https://peer.example/users/p", Type: "Follow", Body: []byte(`{"type":"Follow"}`), Received: time.Now()}
		if _, err := db.StoreInbox(ctx, it); err != nil {
			t.Error(err)
			return
		}
		written.Add(1)
	}
	for i := int64(0); i < 200; i++ {
		store(i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := int64(0); w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				store(1_000_000*(w+1) + i)
			}
		}()
	}
	// Let the writers get going so the backup runs in the middle of them.
	deadline := time.Now().Add(10 * time.Second)
	for written.Load() < 400 {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("writers stuck at %d activities", written.Load())
		}
		time.Sleep(time.Millisecond)
	}
	before := written.Load()
	backup := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	after := written.Load()

	if err := storage.CheckFile(ctx, backup); err != nil {
		t.Fatal(err)
	}
	copyDB, err := storage.Open(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	stored, _, err := copyDB.CountInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(stored) < before || int64(stored) > after {
		t.Errorf("backup holds %d activities; %d were committed before it began and %d by the end", stored, before, after)
	}
	if _, err := copyDB.LocalActor(ctx, "acoop"); err != nil {
		t.Errorf("actor missing from the backup: %v", err)
	}
	t.Logf("backup taken with %d..%d activities committed holds %d", before, after, stored)

	// Never overwrite: not the backup just made, not the database itself.
	if err := db.Backup(ctx, backup); tender.ErrorCode(err) != tender.EConflict {
		t.Errorf("second backup to the same file: %v, want conflict", err)
	}
	if err := db.Backup(ctx, db.Path()); err == nil {
		t.Error("backup over the live database succeeded")
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, empty); tender.ErrorCode(err) != tender.EConflict {
		t.Errorf("backup over an existing (empty) file: %v, want conflict", err)
	}
	if err := storage.CheckFile(ctx, filepath.Join(dir, "missing.db")); err == nil {
		t.Error("CheckFile of a missing file succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte("not a database at all, just some words"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := storage.CheckFile(ctx, filepath.Join(dir, "junk.db")); err == nil {
		t.Error("CheckFile of junk succeeded")
	}
}
