package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	_ "github.com/mattn/go-sqlite3" // for reading the file behind the DB's back
)

// t0 is the fixed clock of these tests: storage keeps milliseconds, so a
// round value compares equal after a round trip.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// open opens a fresh database file in the test's temporary directory with
// the clock fixed at t0, and closes it when the test ends.
func open(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "coopnet.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return t0 }
	t.Cleanup(func() { db.Close() })
	return db
}

// rawQuery reads one integer from the file with a separate connection, to
// see what is on disk rather than what the DB type reports.
func rawQuery(t *testing.T, path, query string) int {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func newActor(t *testing.T, db *storage.DB, username string) *storage.LocalActor {
	t.Helper()
	a := &storage.LocalActor{
		Username: username, Name: strings.ToUpper(username), Summary: "about " + username,
		Regions: []string{"Ontario", "Québec"}, Categories: []string{"hosting"}, Languages: nil,
		ManualApproval: true, Icon: "https://example.org/i.png",
		PrivateKeyPEM: "PRIVATE " + username, PublicKeyPEM: "PUBLIC " + username,
		Published: t0, Updated: t0,
	}
	if err := db.CreateLocalActor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "coopnet.db")
	db, err := storage.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if storage.SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion() = %d, want the embedded migrations counted", storage.SchemaVersion())
	}
	if db.Path() != path {
		t.Errorf("Path() = %q", db.Path())
	}
	newActor(t, db, "keep")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if v := rawQuery(t, path, "PRAGMA user_version"); v != storage.SchemaVersion() {
		t.Errorf("user_version = %d, want %d", v, storage.SchemaVersion())
	}
	if mode := rawString(t, path, "PRAGMA journal_mode"); mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	// Reopening applies nothing twice (a CREATE TABLE would fail) and
	// keeps the data.
	for i := 0; i < 2; i++ {
		db, err = storage.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if _, err := db.LocalActor(ctx, "keep"); err != nil {
			t.Errorf("reopen %d: %v", i, err)
		}
		db.Close()
	}
	if v := rawQuery(t, path, "PRAGMA user_version"); v != storage.SchemaVersion() {
		t.Errorf("user_version after reopen = %d", v)
	}
}

func rawString(t *testing.T, path, query string) string {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var s string
	if err := conn.QueryRow(query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// TestNewerSchemaRefused: an old binary must never write to a layout it
// does not know, and must say why it stops.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "coopnet.db")
	db, err := storage.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	conn, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	newer := storage.SchemaVersion() + 1
	if _, err := conn.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	db, err = storage.Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("opened a database with a newer schema")
	}
	for _, want := range []string{fmt.Sprint(newer), fmt.Sprint(storage.SchemaVersion()), "newer", "upgrade coopnet", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if v := rawQuery(t, path, "PRAGMA user_version"); v != newer {
		t.Errorf("user_version changed to %d", v)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := storage.Open(context.Background(), ""); err == nil {
		t.Fatal("opened an empty path")
	}
}

func TestActors(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	if a.ID == 0 {
		t.Fatal("no id assigned")
	}
	newActor(t, db, "bcoop")
	newActor(t, db, "_instance") // hidden from lists and counts

	got, err := db.LocalActor(ctx, "acoop")
	if err != nil {
		t.Fatal(err)
	}
	want := *a
	want.Languages = []string{} // stored as an empty list
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("LocalActor:\n got %+v\nwant %+v", *got, want)
	}

	if _, err := db.LocalActor(ctx, "nobody"); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("unknown actor: %v, want not found", err)
	}
	dup := &storage.LocalActor{Username: "acoop", Name: "x", PrivateKeyPEM: "k", PublicKeyPEM: "k", Published: t0, Updated: t0}
	err = db.CreateLocalActor(ctx, dup)
	var te *tender.Error
	if tender.ErrorCode(err) != tender.EConflict || !errors.As(err, &te) || te.Field != "username" {
		t.Errorf("duplicate username: %v, want a conflict on username", err)
	}

	list, err := db.LocalActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := usernames(list); !reflect.DeepEqual(names, []string{"acoop", "bcoop"}) {
		t.Errorf("LocalActors = %v", names)
	}

	// Update changes the profile, not the keys.
	got.Name, got.Summary, got.Regions = "A Co-op", "new", []string{"Yukon"}
	got.PrivateKeyPEM = "ignored"
	got.Updated = t0.Add(time.Hour)
	if err := db.UpdateLocalActor(ctx, got); err != nil {
		t.Fatal(err)
	}
	upd, _ := db.LocalActor(ctx, "acoop")
	if upd.Name != "A Co-op" || upd.Summary != "new" || !reflect.DeepEqual(upd.Regions, []string{"Yukon"}) || !upd.Updated.Equal(t0.Add(time.Hour)) {
		t.Errorf("after update: %+v", upd)
	}
	if upd.PrivateKeyPEM != "PRIVATE acoop" {
		t.Errorf("update changed the private key to %q", upd.PrivateKeyPEM)
	}

	u, err := db.Usage(ctx)
	if err != nil || u.Users != 2 {
		t.Errorf("Usage = %+v, %v; want 2 users", u, err)
	}

	// Delete marks the row: the username stays taken (its URL answers
	// 410) and the actor leaves lists and counts.
	if _, err := db.PutFollow(ctx, &storage.Follow{ActorID: a.ID, Remote: "https://x/u/1", Direction: storage.DirFollower, State: storage.StateAccepted, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteLocalActor(ctx, a); err != nil {
		t.Fatal(err)
	}
	del, err := db.LocalActor(ctx, "acoop")
	if err != nil || !del.Deleted.Equal(t0) {
		t.Errorf("deleted actor: %+v, %v", del, err)
	}
	if n, _ := db.CountFollows(ctx, a.ID, storage.DirFollower, ""); n != 0 {
		t.Errorf("%d follows survive the delete", n)
	}
	list, _ = db.LocalActors(ctx)
	if names := usernames(list); !reflect.DeepEqual(names, []string{"bcoop"}) {
		t.Errorf("LocalActors after delete = %v", names)
	}
	if err := db.UpdateLocalActor(ctx, del); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("update of a deleted actor: %v, want not found", err)
	}
	if err := db.CreateLocalActor(ctx, &storage.LocalActor{Username: "acoop", Name: "again", PrivateKeyPEM: "k", PublicKeyPEM: "k", Published: t0, Updated: t0}); tender.ErrorCode(err) != tender.EConflict {
		t.Errorf("re-creating a deleted username: %v, want conflict", err)
	}
}

func usernames(list []*storage.LocalActor) []string {
	out := []string{}
	for _, a := range list {
		out = append(out, a.Username)
	}
	return out
}

func TestFollows(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	const remote = "https://remote.example/users/bob"
	if err := db.PutRemoteActor(ctx, &storage.RemoteActor{IRI: remote, Type: "Person", Username: "bob", Host: "remote.example",
		Inbox: remote + "/inbox", SharedInbox: "https://remote.example/inbox", Fetched: t0}); err != nil {
		t.Fatal(err)
	}
	f := &storage.Follow{ActorID: a.ID, Remote: remote, Direction: storage.DirFollower, State: storage.StatePending, ActivityID: "https://remote.example/follow/1", Created: t0}
	created, err := db.PutFollow(ctx, f)
	if err != nil || !created {
		t.Fatalf("PutFollow = %v, %v; want created", created, err)
	}
	// A replayed Follow (same relation, new activity id) is not new.
	f2 := *f
	f2.ActivityID = "https://remote.example/follow/2"
	created, err = db.PutFollow(ctx, &f2)
	if err != nil || created {
		t.Fatalf("replayed PutFollow = %v, %v; want not created", created, err)
	}
	got, err := db.GetFollow(ctx, a.ID, remote, storage.DirFollower)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != storage.StatePending || got.ActivityID != f2.ActivityID || !got.Created.Equal(t0) {
		t.Errorf("GetFollow = %+v", got)
	}

	changed, err := db.SetFollowState(ctx, a.ID, remote, storage.DirFollower, storage.StateAccepted)
	if err != nil || !changed {
		t.Errorf("SetFollowState = %v, %v; want changed", changed, err)
	}
	changed, _ = db.SetFollowState(ctx, a.ID, remote, storage.DirFollower, storage.StateAccepted)
	if changed {
		t.Error("setting the same state reports a change")
	}
	// A replay of a pending Follow must not demote an accepted relation.
	if _, err := db.PutFollow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetFollow(ctx, a.ID, remote, storage.DirFollower); got.State != storage.StateAccepted {
		t.Errorf("replayed pending Follow set state %q", got.State)
	}

	// The other direction is a separate relation.
	if created, _ := db.PutFollow(ctx, &storage.Follow{ActorID: a.ID, Remote: remote, Direction: storage.DirFollowing, State: storage.StatePending, Created: t0}); !created {
		t.Error("following relation not created beside the follower one")
	}

	list, err := db.Follows(ctx, a.ID, storage.DirFollower, "", 0, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("Follows = %v, %v", list, err)
	}
	if list[0].Handle != "bob@remote.example" || list[0].Inbox != "https://remote.example/inbox" {
		t.Errorf("Follows joined %+v; want handle and shared inbox from the cache", list[0])
	}
	if n, _ := db.CountFollows(ctx, a.ID, storage.DirFollower, storage.StateAccepted); n != 1 {
		t.Errorf("CountFollows accepted = %d", n)
	}
	if n, _ := db.CountFollows(ctx, a.ID, storage.DirFollowing, storage.StateAccepted); n != 0 {
		t.Errorf("CountFollows following accepted = %d", n)
	}
	coop, plain, err := db.FollowerInboxes(ctx, a.ID)
	if err != nil || len(coop) != 0 || !reflect.DeepEqual(plain, []string{"https://remote.example/inbox"}) {
		t.Errorf("FollowerInboxes = %v, %v, %v", coop, plain, err)
	}

	deleted, err := db.DeleteFollow(ctx, a.ID, remote, storage.DirFollower)
	if err != nil || !deleted {
		t.Errorf("DeleteFollow = %v, %v", deleted, err)
	}
	deleted, _ = db.DeleteFollow(ctx, a.ID, remote, storage.DirFollower)
	if deleted {
		t.Error("second DeleteFollow reports a deletion")
	}
	if _, err := db.GetFollow(ctx, a.ID, remote, storage.DirFollower); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("GetFollow after delete: %v", err)
	}
}

func TestFollowsPaging(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	for i := 0; i < 5; i++ {
		if _, err := db.PutFollow(ctx, &storage.Follow{ActorID: a.ID, Remote: fmt.Sprintf("https://r.example/u/%d", i), Direction: storage.DirFollower, State: storage.StateAccepted, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.Follows(ctx, a.ID, storage.DirFollower, storage.StateAccepted, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Remote != "https://r.example/u/2" || page[1].Remote != "https://r.example/u/3" {
		t.Errorf("page = %+v", page)
	}
	if page[0].Handle != "" {
		t.Errorf("handle %q for an actor not in the cache", page[0].Handle)
	}
}

func TestInboxDedupe(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	it := &storage.InboxItem{Activity: "https://r.example/a/1", Actor: "https://r.example/u/1", Type: "Follow", Recipient: "acoop", Body: []byte(`{"id":"https://r.example/a/1"}`), Received: t0}
	created, err := db.StoreInbox(ctx, it)
	if err != nil || !created {
		t.Fatalf("StoreInbox = %v, %v", created, err)
	}
	if it.Seq == 0 {
		t.Error("no seq assigned")
	}
	// The same activity delivered to another inbox (shared, or another
	// local recipient) is not stored again.
	for _, rcpt := range []string{"", "bcoop", "acoop"} {
		again := *it
		again.Recipient, again.Seq = rcpt, 0
		created, err := db.StoreInbox(ctx, &again)
		if err != nil || created {
			t.Errorf("recipient %q: StoreInbox = %v, %v; want a duplicate", rcpt, created, err)
		}
	}
	stored, processed, err := db.CountInbox(ctx)
	if err != nil || stored != 1 || processed != 0 {
		t.Errorf("CountInbox = %d, %d, %v", stored, processed, err)
	}

	pending, err := db.PendingInbox(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].Activity != it.Activity || pending[0].Recipient != "acoop" || !pending[0].Received.Equal(t0) {
		t.Fatalf("PendingInbox = %+v, %v", pending, err)
	}
	if err := db.InboxDone(ctx, pending[0].Seq, "boom"); err != nil {
		t.Fatal(err)
	}
	if pending, _ := db.PendingInbox(ctx, 10); len(pending) != 0 {
		t.Errorf("still pending after InboxDone: %+v", pending)
	}
	got, err := db.InboxActivity(ctx, it.Activity)
	if err != nil || !got.Processed || got.Error != "boom" || string(got.Body) != string(it.Body) {
		t.Errorf("InboxActivity = %+v, %v", got, err)
	}
	if _, err := db.InboxActivity(ctx, "https://r.example/none"); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("unknown activity: %v", err)
	}
}

// TestInboxConcurrent: every caller that got true must find its row on
// disk, including when many arrive together and share one commit.
func TestInboxConcurrent(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		for dup := 0; dup < 2; dup++ {
			go func() {
				defer wg.Done()
				// Each activity arrives twice at once: exactly one of the
				// two calls may report it new.
				it := &storage.InboxItem{Activity: fmt.Sprintf("https://r.example/a/%d", i), Actor: "https://r.example/u/1", Type: "Create", Body: []byte("{}"), Received: t0}
				created, err := db.StoreInbox(ctx, it)
				if err != nil {
					errs <- err
					return
				}
				if created {
					errs <- nil
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		created++
	}
	if created != n {
		t.Errorf("%d calls reported a new activity, want %d", created, n)
	}
	stored, _, err := db.CountInbox(ctx)
	if err != nil || stored != n {
		t.Errorf("CountInbox = %d, %v; want %d", stored, err, n)
	}
	// And on disk, as a separate process would see it.
	if c := rawQuery(t, db.Path(), "SELECT count(*) FROM inbox"); c != n {
		t.Errorf("%d rows on disk, want %d", c, n)
	}
	select {
	case <-db.InboxStored():
	default:
		t.Error("InboxStored not signalled after commits")
	}
}

func TestInboxAfterClose(t *testing.T) {
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = db.StoreInbox(context.Background(), &storage.InboxItem{Activity: "x", Actor: "y", Type: "Follow", Body: []byte("{}")})
	if tender.ErrorCode(err) != tender.EUnavailable {
		t.Errorf("StoreInbox after Close: %v, want unavailable (503, never 2xx)", err)
	}
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	out := &storage.Outgoing{
		IRI: "https://local.example/users/acoop/activities/1", ActorID: a.ID, Type: "Create", Body: []byte(`{"type":"Create"}`), Public: true,
		// Duplicates and empty entries collapse to one delivery per inbox.
		Inboxes: []string{"https://a.example/inbox", "https://b.example/users/x/inbox", "https://a.example/inbox", "", "https://b.example/users/x/inbox"},
	}
	if err := db.Queue(ctx, out); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.DeliveriesQueued():
	default:
		t.Error("DeliveriesQueued not signalled")
	}
	if err := db.Queue(ctx, out); tender.ErrorCode(err) != tender.EConflict {
		t.Errorf("queueing the same activity twice: %v, want conflict", err)
	}
	private := &storage.Outgoing{IRI: "https://local.example/users/acoop/activities/2", ActorID: a.ID, Type: "Follow", Body: []byte(`{}`), Inboxes: []string{"https://c.example/inbox"}}
	if err := db.Queue(ctx, private); err != nil {
		t.Fatal(err)
	}
	if err := db.Queue(ctx, &storage.Outgoing{IRI: "https://local.example/x/3", ActorID: a.ID, Type: "Note", Body: []byte(`{}`), Inboxes: []string{"not a url"}}); err == nil {
		t.Error("queued a delivery to an inbox without a host")
	}

	if n, _ := db.CountOutbox(ctx, a.ID); n != 1 {
		t.Errorf("CountOutbox = %d, want only the public activity", n)
	}
	page, err := db.OutboxPage(ctx, a.ID, 0, 10)
	if err != nil || len(page) != 1 || page[0].IRI != out.IRI {
		t.Errorf("OutboxPage = %+v, %v", page, err)
	}
	act, err := db.ActivityByIRI(ctx, private.IRI)
	if err != nil || act.Public || act.Type != "Follow" {
		t.Errorf("ActivityByIRI = %+v, %v", act, err)
	}

	if next, _ := db.NextDeliveryTime(ctx); !next.Equal(t0) {
		t.Errorf("NextDeliveryTime = %v, want %v", next, t0)
	}
	if due, _ := db.DueDeliveries(ctx, t0.Add(-time.Second), 10, nil); len(due) != 0 {
		t.Errorf("%d deliveries due before they were queued", len(due))
	}
	due, err := db.DueDeliveries(ctx, t0, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 {
		t.Fatalf("DueDeliveries = %d, want 3 (two inboxes for the first activity, one for the second)", len(due))
	}
	var inboxes []string
	for _, d := range due {
		if d.ActivityID == due[0].ActivityID {
			inboxes = append(inboxes, d.Inbox)
		}
	}
	if !reflect.DeepEqual(inboxes, []string{"https://a.example/inbox", "https://b.example/users/x/inbox"}) {
		t.Errorf("deliveries of the first activity go to %v", inboxes)
	}
	d0 := due[0]
	if d0.Actor != "acoop" || d0.Host != "a.example" || d0.Activity != out.IRI || d0.Attempts != 0 {
		t.Errorf("first delivery = %+v", d0)
	}
	if body, err := db.ActivityBody(ctx, d0.ActivityID); err != nil || string(body) != string(out.Body) {
		t.Errorf("ActivityBody = %q, %v; want the queued body", body, err)
	}
	// Deliveries being sent are skipped, and the limit still holds.
	busy := map[int64]bool{d0.ID: true}
	if due, _ := db.DueDeliveries(ctx, t0, 1, busy); len(due) != 1 || due[0].ID == d0.ID {
		t.Errorf("DueDeliveries with busy = %+v", due)
	}

	// 2xx: delivered, never sent again.
	db.Now = func() time.Time { return t0.Add(time.Minute) }
	if err := db.DeliveryDone(ctx, d0.ID, 202); err != nil {
		t.Fatal(err)
	}
	// A failure with a next try: pending, due only then.
	retry := t0.Add(time.Hour)
	if err := db.DeliveryFailed(ctx, due[1].ID, 503, "unavailable", retry); err != nil {
		t.Fatal(err)
	}
	// A failure without one: given up.
	if err := db.DeliveryFailed(ctx, due[2].ID, 410, "gone", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.DueDeliveries(ctx, t0.Add(30*time.Minute), 10, nil); len(due) != 0 {
		t.Errorf("due before the retry time: %+v", due)
	}
	if next, _ := db.NextDeliveryTime(ctx); !next.Equal(retry) {
		t.Errorf("NextDeliveryTime = %v, want %v", next, retry)
	}
	again, _ := db.DueDeliveries(ctx, retry, 10, nil)
	if len(again) != 1 || again[0].ID != due[1].ID || again[0].Attempts != 1 {
		t.Errorf("due at the retry time: %+v", again)
	}

	all, err := db.Deliveries(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	states := map[int64]*storage.Delivery{}
	for _, d := range all {
		states[d.ID] = d
	}
	if d := states[d0.ID]; d.State != storage.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != 202 || !d.Updated.Equal(t0.Add(time.Minute)) {
		t.Errorf("delivered row = %+v", d)
	}
	if d := states[due[1].ID]; d.State != storage.DeliveryPending || d.LastStatus != 503 || d.LastError != "unavailable" || !d.NextTry.Equal(retry) {
		t.Errorf("retried row = %+v", d)
	}
	if d := states[due[2].ID]; d.State != storage.DeliveryFailed || d.LastStatus != 410 {
		t.Errorf("failed row = %+v", d)
	}
	// People see what needs attention first: pending, then failed.
	if len(all) != 3 || all[0].State != storage.DeliveryPending || all[1].State != storage.DeliveryFailed || all[2].State != storage.DeliveryDelivered {
		t.Errorf("Deliveries order: %v", deliveryStates(all))
	}

	if err := db.DeliveryDone(ctx, due[1].ID, 200); err != nil {
		t.Fatal(err)
	}
	if next, _ := db.NextDeliveryTime(ctx); !next.IsZero() {
		t.Errorf("NextDeliveryTime with nothing pending = %v", next)
	}
}

func deliveryStates(ds []*storage.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.State)
	}
	return out
}

// TestQueueWithChange: a domain change and the activity announcing it
// commit together or not at all.
func TestQueueWithChange(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	first := &storage.Outgoing{IRI: "https://l.example/a/1", ActorID: a.ID, Type: "Update", Body: []byte("{}"), Inboxes: []string{"https://r.example/inbox"}}
	if err := db.Queue(ctx, first); err != nil {
		t.Fatal(err)
	}
	a.Name = "Renamed"
	// The activity id is taken, so the whole transaction fails and the
	// rename is not saved either.
	if err := db.UpdateLocalActor(ctx, a, first); tender.ErrorCode(err) != tender.EConflict {
		t.Fatalf("UpdateLocalActor with a taken activity id: %v", err)
	}
	if got, _ := db.LocalActor(ctx, "acoop"); got.Name == "Renamed" {
		t.Error("the change committed without its activity")
	}
}

func TestObjects(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	o := &storage.Object{IRI: "https://l.example/users/acoop/notes/1", ActorID: a.ID, Type: "Note", Body: []byte(`{"v":1}`), Public: true, Created: t0, Updated: t0}
	if err := db.PutObject(ctx, o); err != nil {
		t.Fatal(err)
	}
	o.Body, o.Updated = []byte(`{"v":2}`), t0.Add(time.Hour)
	if err := db.PutObject(ctx, o); err != nil {
		t.Fatal(err)
	}
	got, err := db.ObjectByIRI(ctx, o.IRI)
	if err != nil || string(got.Body) != `{"v":2}` || !got.Created.Equal(t0) || !got.Updated.Equal(t0.Add(time.Hour)) || !got.Public {
		t.Errorf("ObjectByIRI = %+v, %v", got, err)
	}
	if _, err := db.ObjectByIRI(ctx, "https://l.example/none"); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("unknown object: %v", err)
	}
}

func TestRemoteActors(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	r := &storage.RemoteActor{IRI: "https://r.example/users/bob", Type: "Person", Username: "bob", Host: "r.example", Inbox: "https://r.example/users/bob/inbox",
		KeyID: "https://r.example/users/bob#main-key", PublicKeyPEM: "PEM", Coopnet: true, Raw: []byte("{}"), Fetched: t0}
	if err := db.PutRemoteActor(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.PublicKeyPEM, r.Fetched = "ROTATED", t0.Add(time.Hour)
	if err := db.PutRemoteActor(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := db.RemoteActorByKey(ctx, r.KeyID)
	if err != nil || got.PublicKeyPEM != "ROTATED" || !got.Coopnet || !got.Fetched.Equal(t0.Add(time.Hour)) {
		t.Errorf("RemoteActorByKey = %+v, %v", got, err)
	}
	if got.Handle() != "bob@r.example" || got.DeliveryInbox() != r.Inbox {
		t.Errorf("Handle/DeliveryInbox = %q, %q", got.Handle(), got.DeliveryInbox())
	}
	if err := db.DeleteRemoteActor(ctx, r.IRI); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RemoteActor(ctx, r.IRI); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("after delete: %v", err)
	}
}
