package tendering

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/inbox"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// Handlers returns the inbox handlers of the tendering flow, keyed as the
// inbox package dispatches them. Each is idempotent: a replayed activity
// finds its work done.
func (s *Service) Handlers() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		"Offer":         s.onOffer,
		"Create":        s.onCreate,
		"Update:object": s.onUpdate,
		"Delete:object": s.onDelete,
		"Undo":          s.onUndo,
		"Accept:":       s.onDecision,
		"Reject:":       s.onDecision,
		"Announce":      s.onAnnounce,
	}
}

// object decodes the embedded object of an activity into v.
func object(act *inbox.Incoming, v any) error {
	o := inbox.Obj(act.Raw, "object")
	if o == nil {
		return tender.Errorf(tender.EInvalid, "object is not embedded")
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return jsonUnmarshal(b, v)
}

// storeRemoteTender saves a tender a peer sent about itself, unless we
// hold a newer version (activities may arrive out of order).
func (s *Service) storeRemoteTender(ctx context.Context, act *inbox.Incoming, d *TenderDoc) (*storage.TenderRecord, *storage.TenderRecord, error) {
	if d.AttributedTo != act.Item.Actor {
		return nil, nil, tender.Errorf(tender.EForbidden, "tender attributed to %s sent by %s", d.AttributedTo, act.Item.Actor)
	}
	if s.Actors.IsLocal(d.ID) {
		return nil, nil, tender.Errorf(tender.EForbidden, "a peer may not send our tenders")
	}
	t, err := ParseTender(d)
	if err != nil {
		return nil, nil, err
	}
	old, err := s.DB.Tender(ctx, t.ID)
	if err != nil && tender.ErrorCode(err) != tender.ENotFound {
		return nil, nil, err
	}
	if old != nil && old.Tender.Updated.After(t.Updated) {
		return old, old, nil
	}
	rec := &storage.TenderRecord{Tender: t}
	return rec, old, s.DB.Apply(ctx, &storage.Change{Tenders: []*storage.TenderRecord{rec}})
}

func (s *Service) onOffer(ctx context.Context, act *inbox.Incoming) error {
	var d TenderDoc
	if err := object(act, &d); err != nil {
		return err
	}
	if d.Type != "Tender" {
		return nil // an Offer of something else: not ours to handle
	}
	_, _, err := s.storeRemoteTender(ctx, act, &d)
	return err
}

func (s *Service) onUpdate(ctx context.Context, act *inbox.Incoming) error {
	var d TenderDoc
	if err := object(act, &d); err != nil {
		return nil
	}
	if d.Type != "Tender" {
		return nil
	}
	rec, old, err := s.storeRemoteTender(ctx, act, &d)
	if err != nil || rec == old {
		return err
	}
	// Everyone here who bid on it hears of the change.
	bids, err := s.DB.Bids(ctx, storage.BidQuery{Side: storage.BidSent, Tender: rec.Tender.ID})
	if err != nil {
		return err
	}
	kind := "amendment"
	switch {
	case rec.Tender.Status == tender.StatusCancelled:
		kind = "cancellation"
	case old == nil || len(old.Tender.Awards) < len(rec.Tender.Awards):
		if len(rec.Tender.Awards) > 0 {
			kind = "award-notice"
		}
	case !d.AcceptingBids && old.Tender.Deadline.Equal(rec.Tender.Deadline):
		kind = "closing"
	}
	seen := map[int64]bool{}
	var ns []*storage.Notification
	for _, b := range bids {
		if seen[b.ActorID] {
			continue
		}
		seen[b.ActorID] = true
		ns = append(ns, &storage.Notification{ActorID: b.ActorID, Kind: kind, Remote: act.Item.Actor, Object: rec.Tender.ID, Summary: rec.Tender.Title, Activity: act.Item.Activity, Created: s.now()})
	}
	if len(ns) == 0 {
		return nil
	}
	return s.DB.Apply(ctx, &storage.Change{Notifications: ns})
}

func (s *Service) onAnnounce(ctx context.Context, act *inbox.Incoming) error {
	// A hub passing a tender on: fetch it from its origin, never trust the
	// copy inline.
	iri := inbox.Str(act.Raw, "object")
	if iri == "" || s.Actors.IsLocal(iri) {
		return nil
	}
	if _, err := s.DB.Tender(ctx, iri); err == nil {
		return nil
	}
	inst, err := s.Actors.Instance(ctx)
	if err != nil {
		return err
	}
	_, err = s.Known(ctx, inst, iri)
	return err
}

// createType reads the type of a Create's embedded object.
func createType(act *inbox.Incoming) string {
	return inbox.Str(inbox.Obj(act.Raw, "object"), "type")
}

func (s *Service) onCreate(ctx context.Context, act *inbox.Incoming) error {
	switch createType(act) {
	case "Bid":
		return s.onBid(ctx, act)
	case "Note":
		return s.onNote(ctx, act)
	}
	return nil
}

// onNote sorts an incoming Note: a reply to one of our tenders (or to the
// Note mirroring it) is a question for its owner; a Note from a remote
// tender's owner replying to that tender is a public answer.
func (s *Service) onNote(ctx context.Context, act *inbox.Incoming) error {
	var n NoteDoc
	if err := object(act, &n); err != nil {
		return err
	}
	if n.AttributedTo != act.Item.Actor || !federation.SameOrigin(n.ID, act.Item.Actor) {
		return tender.Errorf(tender.EForbidden, "note not by its sender")
	}
	target := n.InReplyTo
	if target == "" {
		return nil
	}
	if s.Actors.IsLocal(target) {
		rec, err := s.DB.Tender(ctx, target)
		if tender.ErrorCode(err) == tender.ENotFound {
			rec, err = s.DB.TenderByNote(ctx, target)
		}
		if err != nil {
			return nil // a reply to something else of ours
		}
		text := n.Source
		q := &tender.Question{ID: n.ID, Tender: rec.Tender.ID, Author: act.Item.Actor, Asked: s.now()}
		if text != nil && text.MediaType == "text/plain" {
			q.Text = text.Content
		} else {
			q.Text = stripMentions(htmlText(n.Content))
		}
		if q.Text == "" {
			return tender.Errorf(tender.EInvalid, "empty question")
		}
		// The asker's node checks this too, but a Mastodon reply has no
		// such node: after the deadline or a cancellation it is not a
		// question any more (the error is kept on the inbox row).
		if err := rec.Tender.CheckQuestion(q, s.now()); err != nil {
			return err
		}
		if _, err := s.DB.GetQuestion(ctx, q.ID, storage.QuestionReceived); err == nil {
			return nil
		}
		return s.DB.Apply(ctx, &storage.Change{
			Questions:     []*storage.QuestionRecord{{Question: q, Side: storage.QuestionReceived, ActorID: rec.ActorID}},
			Notifications: []*storage.Notification{{ActorID: rec.ActorID, Kind: "question", Remote: act.Item.Actor, Object: q.ID, Summary: truncate(q.Text, 200), Activity: act.Item.Activity, Created: s.now()}},
		})
	}
	rec, err := s.DB.Tender(ctx, target)
	if err != nil || rec.Tender.Owner != act.Item.Actor {
		return nil
	}
	ans := &storage.Answer{IRI: n.ID, Tender: rec.Tender.ID, Question: n.Question, Answer: n.Answer, Published: s.now()}
	if ans.Answer == "" {
		ans.Answer = htmlText(n.Content)
	}
	ch := &storage.Change{Answers: []*storage.Answer{ans}}
	// Tell the local co-ops that asked or bid.
	seen := map[int64]bool{}
	bids, err := s.DB.Bids(ctx, storage.BidQuery{Side: storage.BidSent, Tender: rec.Tender.ID})
	if err != nil {
		return err
	}
	qs, err := s.DB.Questions(ctx, rec.Tender.ID, storage.QuestionAsked)
	if err != nil {
		return err
	}
	var ids []int64
	for _, b := range bids {
		ids = append(ids, b.ActorID)
	}
	for _, q := range qs {
		ids = append(ids, q.ActorID)
		if q.Question.Text == ans.Question && !q.Question.Answered() {
			q.Question.Answer, q.Question.AnsweredAt = ans.Answer, s.now()
			ch.Questions = append(ch.Questions, q)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			ch.Notifications = append(ch.Notifications, &storage.Notification{ActorID: id, Kind: "answer", Remote: act.Item.Actor, Object: rec.Tender.ID, Summary: truncate(ans.Answer, 200), Activity: act.Item.Activity, Created: s.now()})
		}
	}
	return s.DB.Apply(ctx, ch)
}

// stripMentions drops the leading @mentions Mastodon puts in a reply.
func stripMentions(s string) string {
	for {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "@") {
			return s
		}
		i := strings.IndexAny(s, " \n")
		if i < 0 {
			return ""
		}
		s = s[i:]
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// onBid receives a sealed bid on one of our tenders. A bid that arrives
// after the deadline is stored as late and refused with a Reject saying
// why.
func (s *Service) onBid(ctx context.Context, act *inbox.Incoming) error {
	var d BidDoc
	if err := object(act, &d); err != nil {
		return err
	}
	b, err := ParseBid(&d)
	if err != nil {
		return err
	}
	if b.Bidder != act.Item.Actor {
		return tender.Errorf(tender.EForbidden, "bid by %s sent by %s", b.Bidder, act.Item.Actor)
	}
	rec, err := s.DB.Tender(ctx, b.Tender)
	if err != nil || rec.ActorID == 0 {
		return tender.Errorf(tender.ENotFound, "bid on a tender not hosted here")
	}
	if _, err := s.DB.GetBid(ctx, b.ID, storage.BidReceived); err == nil {
		return nil // replay
	}
	owner, err := s.DB.LocalActorByID(ctx, rec.ActorID)
	if err != nil {
		return err
	}
	now := s.now()
	recvErr := rec.Tender.ReceiveBid(b, now)
	if recvErr != nil && b.Status != tender.BidLate {
		return recvErr // malformed: not stored
	}
	ch := &storage.Change{Bids: []*storage.BidRecord{{Bid: b, Side: storage.BidReceived, ActorID: owner.ID, Created: now}}}
	if b.Status == tender.BidLate {
		rej := s.Outbox.New(owner, "Reject", map[string]any{"id": b.ID, "type": "Bid", "attributedTo": b.Bidder, "inReplyTo": b.Tender, "status": string(tender.BidLate)})
		rej.To = []string{b.Bidder}
		rej.Summary = b.Reason
		out, err := s.Outbox.Prepare(ctx, owner, rej, false)
		if err != nil {
			return err
		}
		ch.Out = append(ch.Out, out)
		ch.Notifications = append(ch.Notifications, &storage.Notification{ActorID: owner.ID, Kind: "late-bid", Remote: b.Bidder, Object: b.ID, Summary: b.Reason, Activity: act.Item.Activity, Created: now})
	} else {
		ch.Notifications = append(ch.Notifications, &storage.Notification{ActorID: owner.ID, Kind: "bid", Remote: b.Bidder, Object: b.ID, Summary: rec.Tender.Title, Activity: act.Item.Activity, Created: now})
	}
	return s.DB.Apply(ctx, ch)
}

// withdraw marks a received bid withdrawn, when its bidder says so.
func (s *Service) withdraw(ctx context.Context, act *inbox.Incoming, bidIRI string) error {
	br, err := s.DB.GetBid(ctx, bidIRI, storage.BidReceived)
	if err != nil {
		return nil
	}
	if br.Bid.Bidder != act.Item.Actor {
		return tender.Errorf(tender.EForbidden, "only the bidder may withdraw a bid")
	}
	if br.Bid.Status == tender.BidWithdrawn {
		return nil
	}
	if err := br.Bid.Withdraw(s.now()); err != nil {
		return err
	}
	return s.DB.Apply(ctx, &storage.Change{
		Bids:          []*storage.BidRecord{br},
		Notifications: []*storage.Notification{{ActorID: br.ActorID, Kind: "withdrawal", Remote: act.Item.Actor, Object: br.Bid.ID, Activity: act.Item.Activity, Created: s.now()}},
	})
}

func (s *Service) onDelete(ctx context.Context, act *inbox.Incoming) error {
	return s.withdraw(ctx, act, inbox.Str(act.Raw, "object"))
}

func (s *Service) onUndo(ctx context.Context, act *inbox.Incoming) error {
	inner := inbox.Obj(act.Raw, "object")
	if inbox.Str(inner, "type") != "Create" {
		return nil
	}
	return s.withdraw(ctx, act, inbox.Str(inner, "object"))
}

// onDecision applies the owner's Accept or Reject of a bid we sent.
func (s *Service) onDecision(ctx context.Context, act *inbox.Incoming) error {
	bidIRI := inbox.Str(act.Raw, "object")
	if !s.Actors.IsLocal(bidIRI) {
		return nil
	}
	br, err := s.DB.GetBid(ctx, bidIRI, storage.BidSent)
	if err != nil {
		return nil
	}
	rec, err := s.DB.Tender(ctx, br.Bid.Tender)
	if err != nil {
		return err
	}
	if rec.Tender.Owner != act.Item.Actor {
		return tender.Errorf(tender.EForbidden, "only the tender's owner decides on its bids")
	}
	reason := inbox.Str(act.Raw, "summary")
	now := s.now()
	kind := "award"
	if act.Item.Type == "Accept" {
		if br.Bid.Status == tender.BidAccepted {
			return nil
		}
		err = br.Bid.Accept(now)
	} else {
		kind = "rejection"
		if br.Bid.Status == tender.BidRejected || br.Bid.Status == tender.BidLate {
			return nil
		}
		if inbox.Str(inbox.Obj(act.Raw, "object"), "status") == string(tender.BidLate) {
			// A late refusal, not a decision on the merits.
			br.Bid.Status, br.Bid.Reason, br.Bid.Changed = tender.BidLate, reason, now
		} else {
			err = br.Bid.Reject(orDefault(reason, "rejected"), now)
		}
	}
	if err != nil {
		return err
	}
	if act.Item.Type == "Accept" {
		br.Bid.Reason = reason
	}
	return s.DB.Apply(ctx, &storage.Change{
		Bids:          []*storage.BidRecord{br},
		Notifications: []*storage.Notification{{ActorID: br.ActorID, Kind: kind, Remote: act.Item.Actor, Object: br.Bid.ID, Summary: reason, Activity: act.Item.Activity, Created: now}},
	})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
