// Package inbox receives activities: it checks each POST (size, signature,
// origin), stores it durably before answering 202, and applies stored
// activities in workers, idempotently, so a replay changes nothing.
package inbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/outbox"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/go-fed/activity/streams"
)

// MaxBody is the largest inbox POST accepted.
const MaxBody = 1 << 20

// Inbox is the receiving side of one node.
type Inbox struct {
	DB       *storage.DB
	Actors   *actors.Service
	Outbox   *outbox.Outbox
	Verifier *federation.Verifier
	Now      func() time.Time
	Log      *slog.Logger
	// Blocked reports whether a host may not federate with us (domain
	// blocks, allowlist). nil allows every host.
	Blocked func(ctx context.Context, host string) bool
	// Handlers apply activity types beyond the ones this package knows
	// (the tendering flow registers Create, Offer, ...). They must be
	// idempotent.
	Handlers map[string]Handler
}

// Handler applies one stored activity.
type Handler func(ctx context.Context, act *Incoming) error

// Incoming is a stored activity being applied.
type Incoming struct {
	Item      *storage.InboxItem
	Raw       map[string]any
	Recipient *storage.LocalActor // nil for the shared inbox
}

// envelope is the part of an activity the POST handler reads.
type envelope struct {
	ID     string          `json:"id"`
	Type   json.RawMessage `json:"type"`
	Actor  json.RawMessage `json:"actor"`
	Object json.RawMessage `json:"object"`
}

// Accept handles POST to an inbox: username is "" for the shared inbox.
// The order matters: size first (cheapest), then the signature (before we
// trust anything in the body), then parsing and origin checks, then the
// durable store; only a stored activity gets 202.
func (in *Inbox) Accept(ctx context.Context, r *http.Request, username string) (int, error) {
	var recipient *storage.LocalActor
	if username != "" {
		a, err := in.Actors.Get(ctx, username)
		if err != nil {
			return 0, err
		}
		recipient = a
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return 0, &tender.Error{Code: tender.ETooLarge, Message: "body over 1 MiB"}
		}
		return 0, tender.Errorf(tender.EInvalid, "cannot read body")
	}
	if in.Blocked != nil {
		// Refuse blocked hosts before fetching any key from them.
		if p, err := federation.ParseSignatureHeader(r.Header.Get("Signature")); err == nil {
			if in.Blocked(ctx, federation.Host(p["keyId"])) {
				return 0, tender.Errorf(tender.EForbidden, "domain blocked")
			}
		}
	}
	key, err := in.Verifier.Verify(ctx, r, body)
	if err != nil {
		return 0, err
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return 0, tender.Errorf(tender.EInvalid, "malformed JSON")
	}
	actor := idOf(env.Actor)
	typ := typeOf(env.Type)
	switch {
	case env.ID == "":
		return 0, tender.Errorf(tender.EInvalid, "activity has no id")
	case actor == "":
		return 0, tender.Errorf(tender.EInvalid, "activity has no actor")
	case typ == "":
		return 0, tender.Errorf(tender.EInvalid, "activity has no type")
	case key.Owner != actor:
		return 0, tender.Errorf(tender.EUnauthorized, "signer %s is not the actor", key.Owner)
	case !federation.SameOrigin(env.ID, actor):
		return 0, tender.Errorf(tender.EInvalid, "activity id is not on the actor's host")
	case in.Actors.IsLocal(actor):
		return 0, tender.Errorf(tender.EInvalid, "actor claims to be local")
	}
	if in.Blocked != nil && in.Blocked(ctx, federation.Host(actor)) {
		return 0, tender.Errorf(tender.EForbidden, "domain blocked")
	}
	switch typ {
	case "Accept", "Reject", "Announce", "Like", "Flag":
		// These refer to someone else's object without creating or
		// changing it; workers look it up by id, never trusting the copy.
	default:
		if err := checkEmbedded(env.Object, actor); err != nil {
			return 0, err
		}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return 0, tender.Errorf(tender.EInvalid, "malformed JSON")
	}
	if _, ok := m["@context"]; !ok {
		// AS2 lets a consumer assume its context when none is given.
		m["@context"] = federation.ActivityStreamsContext
	}
	if err := classify(ctx, m); err != nil {
		return 0, err
	}
	item := &storage.InboxItem{Activity: env.ID, Actor: actor, Type: typ, Body: body, Received: in.Now().UTC()}
	if recipient != nil {
		item.Recipient = recipient.Username
	}
	if _, err := in.DB.StoreInbox(ctx, item); err != nil {
		return 0, err
	}
	return http.StatusAccepted, nil
}

// checkEmbedded refuses an embedded object that claims another host than
// the actor's: such an object must be fetched from its origin, never
// trusted inline. Objects given by id are fine (they are only referenced).
func checkEmbedded(raw json.RawMessage, actor string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var obj struct {
		ID           string          `json:"id"`
		Type         json.RawMessage `json:"type"`
		AttributedTo json.RawMessage `json:"attributedTo"`
		Actor        json.RawMessage `json:"actor"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return tender.Errorf(tender.EInvalid, "malformed object")
	}
	// An Accept or Reject embeds our own Follow, and an Undo the actor's
	// own activity: what matters is who made the embedded thing.
	if a := idOf(obj.Actor); a != "" {
		return nil
	}
	if obj.ID != "" && !federation.SameOrigin(obj.ID, actor) {
		return tender.Errorf(tender.EInvalid, "embedded object %s is not on the actor's host", obj.ID)
	}
	if at := idOf(obj.AttributedTo); at != "" && at != actor {
		return tender.Errorf(tender.EInvalid, "embedded object is attributed to another actor")
	}
	return nil
}

// idOf reads a property that may be an IRI string, an object with an id,
// or an array of those (first wins).
func idOf(raw json.RawMessage) string { return idOfAt(raw, 0) }

// idOfAt is idOf looking into at most one array: AS2 allows an array of
// values, not arrays of arrays, and following those let every level
// re-read the rest of the body (18 KB of nested arrays cost seconds of
// CPU). The first byte picks the one decoding that can succeed.
func idOfAt(raw json.RawMessage, depth int) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '{':
		var obj struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &obj) == nil {
			return obj.ID
		}
	case '[':
		var list []json.RawMessage
		if depth == 0 && json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			return idOfAt(list[0], depth+1)
		}
	}
	return ""
}

func typeOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

// classify has go-fed check that m is an ActivityStreams activity. A type
// it does not know is accepted all the same (peers extend the vocabulary)
// and ignored by workers. An embedded object is passed by its id: the
// worker that applies the activity parses the object with its own rules,
// and deserialising it here too was nearly half the inbox's CPU.
func classify(ctx context.Context, m map[string]any) error {
	shallow := m
	if o, ok := m["object"].(map[string]any); ok {
		if id, _ := o["id"].(string); id != "" {
			shallow = make(map[string]any, len(m))
			for k, v := range m {
				shallow[k] = v
			}
			shallow["object"] = id
		}
	}
	if _, err := streams.ToType(ctx, shallow); err != nil && !errors.Is(err, streams.ErrUnhandledType) {
		return tender.Errorf(tender.EInvalid, "not an ActivityStreams object: %v", err)
	}
	return nil
}
