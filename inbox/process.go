package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// Run applies stored activities in arrival order until ctx is cancelled.
// Activities left unprocessed by a crash are picked up on the next start.
func (in *Inbox) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			n, err := in.ProcessPending(ctx, 256)
			if err != nil {
				if ctx.Err() == nil {
					in.Log.Error("inbox worker", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-in.DB.InboxStored():
		case <-tick.C:
		}
	}
}

// shards is how many activities are applied at once. Activities from one
// actor always go to the same shard, in arrival order (a Follow before its
// Undo, a Create before its Update); different actors' activities never
// had an order to keep, since their servers deliver independently. Running
// them side by side lets their writes share one commit (storage batches
// concurrent transactions) and their fetches overlap: one at a time, each
// waited for its own fsync and the worker applied ~200 activities/s; with
// 4, about 1,400/s on 2 cores. More would take CPU from accepting: a
// burst is first stored (202), then applied as CPU allows.
const shards = 4

// ProcessPending applies up to limit stored activities and says how many.
func (in *Inbox) ProcessPending(ctx context.Context, limit int) (int, error) {
	items, err := in.DB.PendingInbox(ctx, limit)
	if err != nil {
		return 0, err
	}
	byShard := make([][]*storage.InboxItem, shards)
	h := fnv.New32a()
	for _, it := range items {
		h.Reset()
		_, _ = h.Write([]byte(it.Actor))
		k := h.Sum32() % shards
		byShard[k] = append(byShard[k], it)
	}
	var (
		mu       sync.Mutex
		done     []storage.InboxMark
		firstErr error
		wg       sync.WaitGroup
	)
	for _, list := range byShard {
		if len(list) == 0 {
			continue
		}
		wg.Go(func() {
			for _, it := range list {
				msg := ""
				if err := in.apply(ctx, it); err != nil {
					if tender.ErrorCode(err) == tender.EUnavailable || ctx.Err() != nil {
						// Not the activity's fault: leave it, and the rest
						// of this actor's, for the next pass.
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
					msg = err.Error()
					in.Log.Info("activity not applied", "id", it.Activity, "type", it.Type, "err", err)
				}
				mu.Lock()
				done = append(done, storage.InboxMark{Seq: it.Seq, Error: msg})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Marks are committed together at the end of the pass: one commit for
	// the batch instead of one per activity. A crash before that commit
	// makes the pass run again; handlers are idempotent.
	if len(done) > 0 {
		if err := in.DB.InboxDoneMany(context.WithoutCancel(ctx), done); err != nil {
			in.Log.Error("mark activities processed", "err", err)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return len(done), firstErr
}

func (in *Inbox) apply(ctx context.Context, it *storage.InboxItem) error {
	var raw map[string]any
	if err := json.Unmarshal(it.Body, &raw); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	act := &Incoming{Item: it, Raw: raw}
	if it.Recipient != "" {
		a, err := in.Actors.Get(ctx, it.Recipient)
		if err != nil {
			return err
		}
		act.Recipient = a
	}
	// The types this package knows come first; they hand what is not
	// theirs (an Undo of a Create, an Accept of a bid) to the handlers.
	switch it.Type {
	case "Follow":
		return in.follow(ctx, act)
	case "Undo":
		return in.undo(ctx, act)
	case "Accept", "Reject":
		return in.acceptReject(ctx, act)
	case "Update":
		return in.update(ctx, act)
	case "Delete":
		return in.deleteActivity(ctx, act)
	}
	if h, ok := in.Handlers[it.Type]; ok {
		return h(ctx, act)
	}
	return nil
}

// Str reads a string property, or the id of an object property.
func Str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case map[string]any:
		s, _ := v["id"].(string)
		return s
	case []any:
		if len(v) > 0 {
			return Str(map[string]any{key: v[0]}, key)
		}
	}
	return ""
}

// Obj returns an embedded object property, or nil when it is an IRI.
func Obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// localTarget returns the local actor an IRI names, or nil.
func (in *Inbox) localTarget(ctx context.Context, iri string) (*storage.LocalActor, error) {
	user := in.Actors.UsernameFromURL(iri)
	if user == "" || user == actors.InstanceUsername {
		return nil, tender.Errorf(tender.ENotFound, "%s is not a local actor", iri)
	}
	return in.Actors.Get(ctx, user)
}

// follow stores a follower and answers Accept in the same transaction, or
// holds the request for approval. A second Follow from the same actor
// (Mastodon re-sends one when it thinks it is not following) is answered
// again without a second follower row.
func (in *Inbox) follow(ctx context.Context, act *Incoming) error {
	target, err := in.localTarget(ctx, Str(act.Raw, "object"))
	if err != nil {
		return err
	}
	remote, err := in.Actors.Remote(ctx, act.Item.Actor, false)
	if err != nil {
		return err
	}
	if _, err := in.DB.ActivityByIRI(ctx, in.Outbox.FollowResponseID(target, "Accept", act.Item.Activity)); err == nil {
		// This very Follow was applied before a crash stopped the worker
		// from marking it done: its Accept is already queued.
		return nil
	}
	existing, _ := in.DB.GetFollow(ctx, target.ID, remote.IRI, storage.DirFollower)
	f := &storage.Follow{ActorID: target.ID, Remote: remote.IRI, Direction: storage.DirFollower, State: storage.StateAccepted, ActivityID: act.Item.Activity, Created: in.Now().UTC()}
	if target.ManualApproval {
		f.State = storage.StatePending
		if existing != nil && existing.State == storage.StateAccepted {
			f.State = storage.StateAccepted
		}
	}
	var out []*storage.Outgoing
	if f.State == storage.StateAccepted {
		o, err := in.Outbox.FollowResponse(ctx, target, remote, "Accept", act.Item.Activity)
		if err != nil {
			return err
		}
		out = append(out, o)
	}
	created, err := in.DB.PutFollow(ctx, f, out...)
	if err != nil || !created {
		return err
	}
	kind := "follow"
	if f.State == storage.StatePending {
		kind = "follow-request"
	}
	return in.DB.AddNotification(ctx, &storage.Notification{ActorID: target.ID, Kind: kind, Remote: remote.IRI, Object: target.Username, Summary: remote.Handle(), Activity: act.Item.Activity, Created: in.Now().UTC()})
}

// undo handles Undo{Follow}; the Follow may be embedded or named by id,
// and must be the Undo's actor's own.
func (in *Inbox) undo(ctx context.Context, act *Incoming) error {
	inner := Obj(act.Raw, "object")
	if inner != nil {
		if Str(inner, "actor") != act.Item.Actor {
			return tender.Errorf(tender.EForbidden, "undo of another actor's activity")
		}
		switch Str(inner, "type") {
		case "Follow":
			target, err := in.localTarget(ctx, Str(inner, "object"))
			if err != nil {
				return err
			}
			_, err = in.DB.DeleteFollow(ctx, target.ID, act.Item.Actor, storage.DirFollower)
			return err
		}
		if h, ok := in.Handlers["Undo"]; ok {
			return h(ctx, act)
		}
		return nil
	}
	// By id: only a Follow we stored from this very actor can match.
	id := Str(act.Raw, "object")
	prev, err := in.DB.InboxActivity(ctx, id)
	if err != nil || prev.Actor != act.Item.Actor || prev.Type != "Follow" {
		return tender.Errorf(tender.ENotFound, "nothing to undo")
	}
	var m map[string]any
	if err := json.Unmarshal(prev.Body, &m); err != nil {
		return err
	}
	target, err := in.localTarget(ctx, Str(m, "object"))
	if err != nil {
		return err
	}
	_, err = in.DB.DeleteFollow(ctx, target.ID, act.Item.Actor, storage.DirFollower)
	return err
}

// acceptReject answers our outgoing Follow: only the followed actor may.
// An Accept or Reject of anything else (a bid) goes to the handler
// registered for "Accept:" or "Reject:".
func (in *Inbox) acceptReject(ctx context.Context, act *Incoming) error {
	typ := act.Item.Type
	inner := Obj(act.Raw, "object")
	objID := Str(act.Raw, "object")
	other := func() error {
		if h, ok := in.Handlers[typ+":"]; ok {
			return h(ctx, act)
		}
		return nil
	}
	if it := Str(inner, "type"); it != "" && it != "Follow" {
		return other()
	}
	var local *storage.LocalActor
	if objID != "" {
		if sent, err := in.DB.ActivityByIRI(ctx, objID); err == nil {
			if sent.Type != "Follow" {
				return other()
			}
			a, err := in.DB.LocalActorByID(ctx, sent.ActorID)
			if err != nil {
				return err
			}
			local = a
		}
	}
	if local == nil && inner != nil && Str(inner, "actor") != "" {
		// Some servers answer with a Follow rebuilt without our id.
		a, err := in.localTarget(ctx, Str(inner, "actor"))
		if err != nil {
			return err
		}
		local = a
	}
	if local == nil {
		return other()
	}
	if obj := Str(inner, "object"); obj != "" && obj != act.Item.Actor {
		return tender.Errorf(tender.EForbidden, "%s answers a follow of %s", act.Item.Actor, obj)
	}
	f, err := in.DB.GetFollow(ctx, local.ID, act.Item.Actor, storage.DirFollowing)
	if err != nil {
		return err
	}
	if objID != "" && f.ActivityID != "" && objID != f.ActivityID {
		return tender.Errorf(tender.EConflict, "answer to an older follow")
	}
	if typ == "Accept" {
		_, err = in.DB.SetFollowState(ctx, local.ID, act.Item.Actor, storage.DirFollowing, storage.StateAccepted)
		return err
	}
	_, err = in.DB.DeleteFollow(ctx, local.ID, act.Item.Actor, storage.DirFollowing)
	return err
}

// update refreshes a remote actor from its origin when it says it changed;
// other Updates go to registered handlers.
func (in *Inbox) update(ctx context.Context, act *Incoming) error {
	objID := Str(act.Raw, "object")
	if objID == act.Item.Actor {
		_, err := in.Actors.Remote(ctx, act.Item.Actor, true)
		return err
	}
	if in.Actors.IsLocal(objID) {
		return tender.Errorf(tender.EForbidden, "update of a local object")
	}
	if h, ok := in.Handlers["Update:object"]; ok {
		return h(ctx, act)
	}
	return nil
}

// deleteActivity: an actor deleting itself loses its follows; objects go
// to registered handlers. A Delete never touches anything local.
func (in *Inbox) deleteActivity(ctx context.Context, act *Incoming) error {
	objID := Str(act.Raw, "object")
	if in.Actors.IsLocal(objID) {
		return tender.Errorf(tender.EForbidden, "delete of a local object")
	}
	if objID == act.Item.Actor {
		return in.DB.DeleteRemoteActor(ctx, act.Item.Actor)
	}
	if !federation.SameOrigin(objID, act.Item.Actor) {
		return tender.Errorf(tender.EForbidden, "delete of another host's object")
	}
	if h, ok := in.Handlers["Delete:object"]; ok {
		return h(ctx, act)
	}
	return nil
}
