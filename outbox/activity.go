// Package outbox turns local actions into activities, addresses them,
// queues one durable delivery per distinct inbox, and runs the workers that
// sign and send them. It also serves the outbox collections.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/google/uuid"
)

// Activity is an activity we send. Bto and Bcc address people privately:
// they pick personal inboxes and are never serialised.
type Activity struct {
	Context   any      `json:"@context,omitempty"`
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Actor     string   `json:"actor"`
	Object    any      `json:"object,omitempty"`
	Target    any      `json:"target,omitempty"`
	Summary   string   `json:"summary,omitempty"`
	Content   string   `json:"content,omitempty"`
	Published string   `json:"published,omitempty"`
	To        []string `json:"to,omitempty"`
	Cc        []string `json:"cc,omitempty"`
	Bto       []string `json:"-"`
	Bcc       []string `json:"-"`
}

// Outbox is the sending side of one node.
type Outbox struct {
	DB     *storage.DB
	Actors *actors.Service
	Now    func() time.Time
}

// New returns an Outbox.
func New(db *storage.DB, a *actors.Service, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{DB: db, Actors: a, Now: now}
}

// NewID returns a fresh id for an activity or object of a local actor.
// Ids live under the actor so that their origin is plainly the actor's.
func (o *Outbox) NewID(username, kind string) string {
	return o.Actors.ActorURL(username) + "/" + kind + "/" + uuid.NewString()
}

// New builds an activity of typ by a with a fresh id and the time now.
func (o *Outbox) New(a *storage.LocalActor, typ string, object any) *Activity {
	return &Activity{
		Context:   federation.Context(),
		ID:        o.NewID(a.Username, "activities"),
		Type:      typ,
		Actor:     o.Actors.ActorURL(a.Username),
		Object:    object,
		Published: o.Now().UTC().Format(time.RFC3339),
	}
}

// Prepare serialises act and works out where it goes: to and cc entries
// that are remote actors go to their shared inbox where they have one; the
// actor's own followers collection expands to its accepted followers;
// bto/bcc go to personal inboxes; extra inboxes are added as given. The
// result is queued by a storage call in the same transaction as the change
// that caused it.
func (o *Outbox) Prepare(ctx context.Context, a *storage.LocalActor, act *Activity, public bool, extra ...string) (*storage.Outgoing, error) {
	body, err := json.Marshal(act)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode %s: %w", act.Type, err)
	}
	inboxes, err := o.Inboxes(ctx, a, act)
	if err != nil {
		return nil, err
	}
	inboxes = append(inboxes, extra...)
	return &storage.Outgoing{IRI: act.ID, ActorID: a.ID, Type: act.Type, Body: body, Public: public, Inboxes: inboxes}, nil
}

// Inboxes resolves the recipients of act into inbox URLs.
func (o *Outbox) Inboxes(ctx context.Context, a *storage.LocalActor, act *Activity) ([]string, error) {
	var inboxes []string
	followers := o.Actors.FollowersURL(a.Username)
	// Shared inboxes serve broadcasts; an activity meant for named actors
	// only goes to their personal inboxes, as Mastodon sends Accepts and
	// direct messages, so the receiver knows exactly whom it is for.
	broadcast := false
	for _, list := range [][]string{act.To, act.Cc} {
		for _, r := range list {
			if r == federation.PublicAddress || r == followers {
				broadcast = true
			}
		}
	}
	for _, list := range [][]string{act.To, act.Cc} {
		for _, r := range list {
			switch {
			case r == federation.PublicAddress || r == "as:Public" || r == "Public":
			case r == followers:
				coop, plain, err := o.DB.FollowerInboxes(ctx, a.ID)
				if err != nil {
					return nil, err
				}
				inboxes = append(inboxes, coop...)
				inboxes = append(inboxes, plain...)
			case o.Actors.IsLocal(r):
				// Local recipients are not delivered over HTTP.
			default:
				ra, err := o.Actors.Remote(ctx, r, false)
				if err != nil {
					return nil, fmt.Errorf("outbox: recipient %s: %w", r, err)
				}
				if broadcast {
					inboxes = append(inboxes, ra.DeliveryInbox())
				} else {
					inboxes = append(inboxes, ra.Inbox)
				}
			}
		}
	}
	for _, list := range [][]string{act.Bto, act.Bcc} {
		for _, r := range list {
			if o.Actors.IsLocal(r) {
				continue
			}
			ra, err := o.Actors.Remote(ctx, r, false)
			if err != nil {
				return nil, fmt.Errorf("outbox: recipient %s: %w", r, err)
			}
			inboxes = append(inboxes, ra.Inbox)
		}
	}
	return inboxes, nil
}

// PrepareTo serialises act for exactly the inboxes given: for activities
// whose audience the caller splits itself (a tender goes as an Offer to
// coopnet followers and as a Note to the others).
func (o *Outbox) PrepareTo(a *storage.LocalActor, act *Activity, public bool, inboxes []string) (*storage.Outgoing, error) {
	body, err := json.Marshal(act)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode %s: %w", act.Type, err)
	}
	return &storage.Outgoing{IRI: act.ID, ActorID: a.ID, Type: act.Type, Body: body, Public: public, Inboxes: inboxes}, nil
}
