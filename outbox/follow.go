package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// followRef is how we embed a Follow in Accept, Reject and Undo: with its
// actor and object, since some servers (and our inbox) match on those
// rather than on the id.
type followRef struct {
	ID     string `json:"id,omitempty"`
	Type   string `json:"type"`
	Actor  string `json:"actor"`
	Object string `json:"object"`
}

// FollowResponse builds the Accept or Reject of a remote actor's Follow of
// local, addressed to the follower's personal inbox.
func (o *Outbox) FollowResponse(ctx context.Context, local *storage.LocalActor, remote *storage.RemoteActor, typ, followID string) (*storage.Outgoing, error) {
	act := o.New(local, typ, followRef{ID: followID, Type: "Follow", Actor: remote.IRI, Object: o.Actors.ActorURL(local.Username)})
	act.ID = o.FollowResponseID(local, typ, followID)
	act.To = []string{remote.IRI}
	return o.Prepare(ctx, local, act, false)
}

// FollowResponseID is the id of our Accept or Reject of one Follow. It is
// derived from the Follow's id, so that a Follow applied again after a
// crash finds its answer already queued instead of sending a second one.
func (o *Outbox) FollowResponseID(local *storage.LocalActor, typ, followID string) string {
	sum := sha256.Sum256([]byte(followID))
	return o.Actors.ActorURL(local.Username) + "/activities/" + strings.ToLower(typ) + "-" + hex.EncodeToString(sum[:16])
}

// ActivityOwner returns the local actor under whose URL an id lives.
func (o *Outbox) ActivityOwner(ctx context.Context, iri string) (*storage.LocalActor, error) {
	rest, ok := strings.CutPrefix(iri, o.Actors.BaseURL+"/users/")
	if !ok {
		return nil, tender.Errorf(tender.ENotFound, "%s is not ours", iri)
	}
	user, _, _ := strings.Cut(rest, "/")
	return o.Actors.Get(ctx, user)
}

// Follow asks remote to let local follow it. The relation is pending until
// remote answers Accept.
func (o *Outbox) Follow(ctx context.Context, local *storage.LocalActor, remote *storage.RemoteActor) (*storage.Follow, error) {
	act := o.New(local, "Follow", remote.IRI)
	act.To = []string{remote.IRI}
	out, err := o.Prepare(ctx, local, act, false)
	if err != nil {
		return nil, err
	}
	f := &storage.Follow{ActorID: local.ID, Remote: remote.IRI, Direction: storage.DirFollowing, State: storage.StatePending, ActivityID: act.ID, Created: o.Now().UTC()}
	if _, err := o.DB.PutFollow(ctx, f, out); err != nil {
		return nil, err
	}
	return o.DB.GetFollow(ctx, local.ID, remote.IRI, storage.DirFollowing)
}

// Unfollow sends Undo{Follow} and forgets the relation.
func (o *Outbox) Unfollow(ctx context.Context, local *storage.LocalActor, remote *storage.RemoteActor) error {
	f, err := o.DB.GetFollow(ctx, local.ID, remote.IRI, storage.DirFollowing)
	if err != nil {
		return tender.Errorf(tender.ENotFound, "%s does not follow %s", local.Username, remote.IRI)
	}
	act := o.New(local, "Undo", followRef{ID: f.ActivityID, Type: "Follow", Actor: o.Actors.ActorURL(local.Username), Object: remote.IRI})
	act.To = []string{remote.IRI}
	out, err := o.Prepare(ctx, local, act, false)
	if err != nil {
		return err
	}
	_, err = o.DB.DeleteFollow(ctx, local.ID, remote.IRI, storage.DirFollowing, out)
	return err
}

// ApproveFollower accepts a pending follow request.
func (o *Outbox) ApproveFollower(ctx context.Context, local *storage.LocalActor, remote *storage.RemoteActor) error {
	f, err := o.DB.GetFollow(ctx, local.ID, remote.IRI, storage.DirFollower)
	if err != nil || f.State != storage.StatePending {
		return tender.Errorf(tender.ENotFound, "no pending follow request from %s", remote.IRI)
	}
	out, err := o.FollowResponse(ctx, local, remote, "Accept", f.ActivityID)
	if err != nil {
		return err
	}
	_, err = o.DB.SetFollowState(ctx, local.ID, remote.IRI, storage.DirFollower, storage.StateAccepted, out)
	return err
}

// RejectFollower refuses a follow request (or removes a follower).
func (o *Outbox) RejectFollower(ctx context.Context, local *storage.LocalActor, remote *storage.RemoteActor) error {
	f, err := o.DB.GetFollow(ctx, local.ID, remote.IRI, storage.DirFollower)
	if err != nil {
		return tender.Errorf(tender.ENotFound, "no follow request from %s", remote.IRI)
	}
	out, err := o.FollowResponse(ctx, local, remote, "Reject", f.ActivityID)
	if err != nil {
		return err
	}
	_, err = o.DB.DeleteFollow(ctx, local.ID, remote.IRI, storage.DirFollower, out)
	return err
}

// UpdateActor saves a changed profile and sends Update{Organization} to
// the actor's followers, in one transaction.
func (o *Outbox) UpdateActor(ctx context.Context, a *storage.LocalActor) error {
	a.Updated = o.Now().UTC()
	act := o.New(a, "Update", o.Actors.Document(a))
	act.To = []string{federation.PublicAddress}
	act.Cc = []string{o.Actors.FollowersURL(a.Username)}
	out, err := o.Prepare(ctx, a, act, true)
	if err != nil {
		return err
	}
	return o.DB.UpdateLocalActor(ctx, a, out)
}

// DeleteActor deletes a local actor: Delete goes to its followers and every
// peer it knows, and its URL answers 410 from then on.
func (o *Outbox) DeleteActor(ctx context.Context, a *storage.LocalActor) error {
	id := o.Actors.ActorURL(a.Username)
	act := o.New(a, "Delete", id)
	act.To = []string{federation.PublicAddress}
	act.Cc = []string{o.Actors.FollowersURL(a.Username)}
	known, err := o.DB.KnownInboxes(ctx, a.ID)
	if err != nil {
		return err
	}
	out, err := o.Prepare(ctx, a, act, false, known...)
	if err != nil {
		return err
	}
	return o.DB.DeleteLocalActor(ctx, a, out)
}
