// Package inbox receives activities: it checks each POST (size, signature,
// origin), stores it durably before answering 202, and applies stored
// activities in workers, idempotently, so a replay changes nothing.
package inbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// activity is an incoming activity decoded once: the generic map the
// workers and go-fed read, and the properties the handler checks.
type activity struct {
	m     map[string]any
	id    string
	actor string
	typ   string
}

// decodeActivity decodes a body and reads its id, actor and type. It is
// the only JSON decoding of the POST path: reading the body into a typed
// envelope, then the object again, then a map cost a fifth of the
// handler's CPU.
func decodeActivity(body []byte) (*activity, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, tender.Errorf(tender.EInvalid, "malformed JSON")
	}
	a := &activity{m: m, actor: idOf(m["actor"]), typ: typeOf(m["type"])}
	switch id := m["id"].(type) {
	case string:
		a.id = id
	case nil:
	default:
		return nil, tender.Errorf(tender.EInvalid, "activity id is not a string")
	}
	switch {
	case a.id == "":
		return nil, tender.Errorf(tender.EInvalid, "activity has no id")
	case a.actor == "":
		return nil, tender.Errorf(tender.EInvalid, "activity has no actor")
	case a.typ == "":
		return nil, tender.Errorf(tender.EInvalid, "activity has no type")
	}
	return a, nil
}

// check refuses an embedded object that is not the actor's to send, and
// has go-fed classify the activity.
func (a *activity) check(ctx context.Context) error {
	switch a.typ {
	case "Accept", "Reject", "Announce", "Like", "Flag":
		// These refer to someone else's object without creating or
		// changing it; workers look it up by id, never trusting the copy.
	default:
		if err := checkEmbedded(a.m["object"], a.actor); err != nil {
			return err
		}
	}
	if _, ok := a.m["@context"]; !ok {
		// AS2 lets a consumer assume its context when none is given.
		a.m["@context"] = federation.ActivityStreamsContext
	}
	return classify(ctx, a.m)
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
	body, err := readBody(r)
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
	act, err := decodeActivity(body)
	if err != nil {
		return 0, err
	}
	actor, typ := act.actor, act.typ
	switch {
	case key.Owner != actor:
		return 0, tender.Errorf(tender.EUnauthorized, "signer %s is not the actor", key.Owner)
	case !federation.SameOrigin(act.id, actor):
		return 0, tender.Errorf(tender.EInvalid, "activity id is not on the actor's host")
	case in.Actors.IsLocal(actor):
		return 0, tender.Errorf(tender.EInvalid, "actor claims to be local")
	}
	if in.Blocked != nil && in.Blocked(ctx, federation.Host(actor)) {
		return 0, tender.Errorf(tender.EForbidden, "domain blocked")
	}
	if err := act.check(ctx); err != nil {
		return 0, err
	}
	item := &storage.InboxItem{Activity: act.id, Actor: actor, Type: typ, Body: body, Received: in.Now().UTC()}
	if recipient != nil {
		item.Recipient = recipient.Username
	}
	if _, err := in.DB.StoreInbox(ctx, item); err != nil {
		return 0, err
	}
	return http.StatusAccepted, nil
}

// readBody reads at most MaxBody bytes, in one allocation when the peer
// sent a Content-Length.
func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= MaxBody {
		buf.Grow(int(n) + 1) // +1: reading up to EOF needs room for one more byte
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, MaxBody))
	return buf.Bytes(), err
}

// checkEmbedded refuses an embedded object that claims another host than
// the actor's: such an object must be fetched from its origin, never
// trusted inline. Objects given by id are fine (they are only referenced).
func checkEmbedded(v any, actor string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	// An Accept or Reject embeds our own Follow, and an Undo the actor's
	// own activity: what matters is who made the embedded thing.
	if idOf(obj["actor"]) != "" {
		return nil
	}
	id, ok := obj["id"].(string)
	if !ok && obj["id"] != nil {
		return tender.Errorf(tender.EInvalid, "malformed object")
	}
	if id != "" && !federation.SameOrigin(id, actor) {
		return tender.Errorf(tender.EInvalid, "embedded object %s is not on the actor's host", id)
	}
	if at := idOf(obj["attributedTo"]); at != "" && at != actor {
		return tender.Errorf(tender.EInvalid, "embedded object is attributed to another actor")
	}
	return nil
}

// idOf reads a property that may be an IRI string, an object with an id,
// or an array of those (first wins). It looks into one array only: AS2
// allows an array of values, not arrays of arrays.
func idOf(v any) string { return idOfAt(v, 0) }

func idOfAt(v any, depth int) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["id"].(string)
		return s
	case []any:
		if depth == 0 && len(x) > 0 {
			return idOfAt(x[0], depth+1)
		}
	}
	return ""
}

// typeOf reads a type that may be a string or an array of them (first
// wins).
func typeOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		if len(x) > 0 {
			s, _ := x[0].(string)
			return s
		}
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
