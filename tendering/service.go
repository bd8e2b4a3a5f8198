package tendering

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/outbox"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/google/uuid"
)

// Service is the tendering side of one node.
type Service struct {
	DB     *storage.DB
	Actors *actors.Service
	Outbox *outbox.Outbox
	Now    func() time.Time
	Log    *slog.Logger
}

// New returns a Service.
func New(db *storage.DB, a *actors.Service, o *outbox.Outbox, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, Actors: a, Outbox: o, Now: now, Log: log}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Second) }

func (s *Service) newID(a *storage.LocalActor, kind string) string {
	return s.Actors.ActorURL(a.Username) + "/" + kind + "/" + uuid.NewString()
}

// audience splits an actor's accepted followers: coopnet nodes get the
// tender itself, others a Note a person can read.
func (s *Service) audience(ctx context.Context, a *storage.LocalActor) (coop, plain []string, err error) {
	return s.DB.FollowerInboxes(ctx, a.ID)
}

// bidderInboxes returns the personal inboxes of everyone who bid on or
// asked about a local tender: they hear of every change, followers or not.
func (s *Service) concerned(ctx context.Context, t *tender.Tender, withAskers bool) ([]string, error) {
	seen := map[string]bool{}
	var actorsIRIs []string
	bids, err := s.DB.Bids(ctx, storage.BidQuery{Side: storage.BidReceived, Tender: t.ID})
	if err != nil {
		return nil, err
	}
	for _, b := range bids {
		if !seen[b.Bid.Bidder] {
			seen[b.Bid.Bidder] = true
			actorsIRIs = append(actorsIRIs, b.Bid.Bidder)
		}
	}
	if withAskers {
		qs, err := s.DB.Questions(ctx, t.ID, storage.QuestionReceived)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			if !seen[q.Question.Author] {
				seen[q.Question.Author] = true
				actorsIRIs = append(actorsIRIs, q.Question.Author)
			}
		}
	}
	sort.Strings(actorsIRIs)
	var inboxes []string
	for _, iri := range actorsIRIs {
		if s.Actors.IsLocal(iri) {
			continue
		}
		r, err := s.Actors.Remote(ctx, iri, false)
		if err != nil {
			s.Log.Warn("cannot reach a bidder", "actor", iri, "err", err)
			continue
		}
		inboxes = append(inboxes, r.Inbox)
	}
	return inboxes, nil
}

// Publish makes t a published tender of a and announces it.
func (s *Service) Publish(ctx context.Context, a *storage.LocalActor, t *tender.Tender) (*tender.Tender, error) {
	now := s.now()
	t.ID = s.newID(a, "tenders")
	t.Owner = s.Actors.ActorURL(a.Username)
	t.Status = ""
	for i := range t.Lots {
		t.Lots[i].ID = t.ID + "#lot-" + uuid.NewString()[:8]
	}
	if t.Parent != "" && strings.HasPrefix(t.Parent, s.Actors.BaseURL) {
		if _, err := s.DB.Tender(ctx, strings.SplitN(t.Parent, "#", 2)[0]); err != nil {
			return nil, tender.FieldErrorf("parent", "%s is not a tender known here", t.Parent)
		}
	}
	if err := t.Publish(now); err != nil {
		return nil, err
	}
	rec := &storage.TenderRecord{Tender: t, ActorID: a.ID, NoteIRI: s.newID(a, "notes")}
	ch, err := s.announce(ctx, a, rec, "publish", nil)
	if err != nil {
		return nil, err
	}
	if err := s.DB.Apply(ctx, ch); err != nil {
		return nil, err
	}
	return t, nil
}

// announce builds the change that stores rec and tells everyone concerned:
// verb "publish" sends Offer + Create{Note}, anything else Update of both.
// extra is delivered the tender update too (bidders, by their personal
// inboxes, kept out of the addressing so they do not learn of each other).
func (s *Service) announce(ctx context.Context, a *storage.LocalActor, rec *storage.TenderRecord, verb string, extra []string) (*storage.Change, error) {
	t := rec.Tender
	now := s.now()
	followers := s.Actors.FollowersURL(a.Username)
	coop, plain, err := s.audience(ctx, a)
	if err != nil {
		return nil, err
	}
	doc := TenderDocument(t, followers, now)
	note := NoteForTender(t, rec.NoteIRI, followers, now)
	noteBody, err := jsonBytes(note)
	if err != nil {
		return nil, err
	}
	doc.Context, note.Context = nil, nil
	offerType, noteType := "Offer", "Create"
	if verb != "publish" {
		offerType, noteType = "Update", "Update"
	}
	offer := s.Outbox.New(a, offerType, doc)
	offer.To, offer.Cc = []string{federation.PublicAddress}, []string{followers}
	create := s.Outbox.New(a, noteType, note)
	create.To, create.Cc = []string{federation.PublicAddress}, []string{followers}
	o1, err := s.Outbox.PrepareTo(a, offer, true, append(coop, extra...))
	if err != nil {
		return nil, err
	}
	o2, err := s.Outbox.PrepareTo(a, create, true, plain)
	if err != nil {
		return nil, err
	}
	return &storage.Change{
		Tenders: []*storage.TenderRecord{rec},
		Objects: []*storage.Object{{IRI: rec.NoteIRI, ActorID: a.ID, Type: "Note", Body: noteBody, Public: true, Created: t.Published, Updated: now}},
		Out:     []*storage.Outgoing{o1, o2},
	}, nil
}

// ownTender loads a local tender and checks that a owns it.
func (s *Service) ownTender(ctx context.Context, a *storage.LocalActor, iri string) (*storage.TenderRecord, error) {
	rec, err := s.DB.Tender(ctx, iri)
	if err != nil {
		return nil, err
	}
	if rec.ActorID != a.ID {
		return nil, tender.Errorf(tender.EForbidden, "%s is not a tender of %s", iri, a.Username)
	}
	return rec, nil
}

// Amend changes a published tender; followers and every bidder are told.
func (s *Service) Amend(ctx context.Context, a *storage.LocalActor, iri string, p tender.Amendment) (*tender.Tender, error) {
	rec, err := s.ownTender(ctx, a, iri)
	if err != nil {
		return nil, err
	}
	if p.Lots != nil {
		for i := range *p.Lots {
			if (*p.Lots)[i].ID == "" {
				(*p.Lots)[i].ID = rec.Tender.ID + "#lot-" + uuid.NewString()[:8]
			}
		}
	}
	if err := rec.Tender.Amend(p, s.now()); err != nil {
		return nil, err
	}
	return rec.Tender, s.update(ctx, a, rec, nil)
}

// update stores rec and sends its Update to followers and the concerned.
func (s *Service) update(ctx context.Context, a *storage.LocalActor, rec *storage.TenderRecord, more *storage.Change) error {
	extra, err := s.concerned(ctx, rec.Tender, false)
	if err != nil {
		return err
	}
	ch, err := s.announce(ctx, a, rec, "update", extra)
	if err != nil {
		return err
	}
	if more != nil {
		ch.Bids = append(ch.Bids, more.Bids...)
		ch.Out = append(ch.Out, more.Out...)
	}
	return s.DB.Apply(ctx, ch)
}

// Cancel cancels a tender (it stays on record) and tells everyone.
func (s *Service) Cancel(ctx context.Context, a *storage.LocalActor, iri, reason string) (*tender.Tender, error) {
	rec, err := s.ownTender(ctx, a, iri)
	if err != nil {
		return nil, err
	}
	if err := rec.Tender.Cancel(reason, s.now()); err != nil {
		return nil, err
	}
	return rec.Tender, s.update(ctx, a, rec, nil)
}

// CloseDue announces the closing of every local tender whose deadline has
// passed: bids are no longer accepted, so followers and bidders get an
// Update. It returns how many it closed.
func (s *Service) CloseDue(ctx context.Context) (int, error) {
	due, err := s.DB.DueTenders(ctx, s.now())
	if err != nil {
		return 0, err
	}
	for _, rec := range due {
		a, err := s.DB.LocalActorByID(ctx, rec.ActorID)
		if err != nil {
			return 0, err
		}
		rec.ClosedSent = true
		rec.Tender.Updated = s.now()
		if err := s.update(ctx, a, rec, nil); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// RunCloser closes tenders as their deadlines pass, until ctx ends.
func (s *Service) RunCloser(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.CloseDue(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("close tenders", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Known returns a tender by id, fetching it from its origin (signed by a)
// when this node has not seen it.
func (s *Service) Known(ctx context.Context, a *storage.LocalActor, iri string) (*storage.TenderRecord, error) {
	rec, err := s.DB.Tender(ctx, iri)
	if err == nil || tender.ErrorCode(err) != tender.ENotFound || s.Actors.IsLocal(iri) {
		return rec, err
	}
	signer, err := s.Actors.Signer(a)
	if err != nil {
		return nil, err
	}
	body, err := s.Actors.Client.Get(ctx, iri, signer)
	if err != nil {
		return nil, err
	}
	var d TenderDoc
	if err := jsonUnmarshal(body, &d); err != nil {
		return nil, err
	}
	if d.ID != iri {
		return nil, tender.Errorf(tender.EInvalid, "%s answered with another id", iri)
	}
	t, err := ParseTender(&d)
	if err != nil {
		return nil, err
	}
	rec = &storage.TenderRecord{Tender: t}
	if err := s.DB.Apply(ctx, &storage.Change{Tenders: []*storage.TenderRecord{rec}}); err != nil {
		return nil, err
	}
	return rec, nil
}

// Ask sends a clarification question to a tender's owner, shaped as a
// Mastodon direct message (a Note mentioning the owner, to the owner only)
// so that people on Mastodon can ask the same way.
func (s *Service) Ask(ctx context.Context, a *storage.LocalActor, tenderIRI, text string) (*tender.Question, error) {
	rec, err := s.Known(ctx, a, tenderIRI)
	if err != nil {
		return nil, err
	}
	t := rec.Tender
	if err := s.notSameNode(t); err != nil {
		return nil, err
	}
	now := s.now()
	q := &tender.Question{ID: s.newID(a, "questions"), Tender: t.ID, Author: s.Actors.ActorURL(a.Username), Text: strings.TrimSpace(text), Asked: now}
	if err := t.CheckQuestion(q, now); err != nil {
		return nil, err
	}
	owner, err := s.Actors.Remote(ctx, t.Owner, false)
	if err != nil && !s.Actors.IsLocal(t.Owner) {
		return nil, err
	}
	note := &NoteDoc{ID: q.ID, Type: "Note", AttributedTo: q.Author, InReplyTo: t.ID, Content: TextHTML(q.Text),
		Source: &SourceDoc{Content: q.Text, MediaType: "text/plain"}, Published: rfc3339(now), To: []string{t.Owner}}
	if owner != nil {
		note.Tag = []MentionDoc{{Type: "Mention", Href: owner.IRI, Name: "@" + owner.Handle()}}
		note.Content = `<p><span class="h-card"><a href="` + owner.IRI + `" class="u-url mention">@` + owner.Username + `</a></span></p>` + note.Content
	}
	act := s.Outbox.New(a, "Create", note)
	act.To = []string{t.Owner}
	out, err := s.Outbox.Prepare(ctx, a, act, false)
	if err != nil {
		return nil, err
	}
	err = s.DB.Apply(ctx, &storage.Change{
		Questions: []*storage.QuestionRecord{{Question: q, Side: storage.QuestionAsked, ActorID: a.ID}},
		Out:       []*storage.Outgoing{out},
	})
	return q, err
}

// Answer publishes the answer to a question: public, quoting the question
// without naming the asker, and delivered privately to everyone who asked
// or bid so they need not follow the owner.
func (s *Service) Answer(ctx context.Context, a *storage.LocalActor, questionIRI, text string) (*storage.Answer, error) {
	qr, err := s.DB.GetQuestion(ctx, questionIRI, storage.QuestionReceived)
	if err != nil {
		return nil, err
	}
	if qr.ActorID != a.ID {
		return nil, tender.Errorf(tender.EForbidden, "the question was not asked of %s", a.Username)
	}
	rec, err := s.ownTender(ctx, a, qr.Question.Tender)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := qr.Question.Reply(text, now); err != nil {
		return nil, err
	}
	ans := &storage.Answer{IRI: s.newID(a, "answers"), Tender: rec.Tender.ID, Question: qr.Question.Text, Answer: qr.Question.Answer, Published: now}
	followers := s.Actors.FollowersURL(a.Username)
	note := &NoteDoc{
		ID: ans.IRI, Type: "Note", AttributedTo: s.Actors.ActorURL(a.Username), InReplyTo: rec.Tender.ID,
		Content:  "<p><strong>Q:</strong> " + htmlInline(ans.Question) + "</p><p><strong>A:</strong> " + htmlInline(ans.Answer) + "</p>",
		Question: ans.Question, Answer: ans.Answer, URL: rec.Tender.ID,
		Published: rfc3339(now), To: []string{federation.PublicAddress}, Cc: []string{followers},
	}
	body, err := jsonBytes(withContext(note))
	if err != nil {
		return nil, err
	}
	note.Context = nil
	act := s.Outbox.New(a, "Create", note)
	act.To, act.Cc = note.To, note.Cc
	concerned, err := s.concerned(ctx, rec.Tender, true)
	if err != nil {
		return nil, err
	}
	out, err := s.Outbox.Prepare(ctx, a, act, true, concerned...)
	if err != nil {
		return nil, err
	}
	err = s.DB.Apply(ctx, &storage.Change{
		Questions: []*storage.QuestionRecord{qr},
		Answers:   []*storage.Answer{ans},
		Objects:   []*storage.Object{{IRI: ans.IRI, ActorID: a.ID, Type: "Note", Body: body, Public: true, Created: now, Updated: now}},
		Out:       []*storage.Outgoing{out},
	})
	return ans, err
}

func withContext(n *NoteDoc) *NoteDoc {
	c := *n
	c.Context = federation.Context()
	return &c
}

// Submit sends a sealed bid: addressed to the owner alone, stored on the
// bidder's node and the owner's, never in a collection.
func (s *Service) Submit(ctx context.Context, a *storage.LocalActor, b *tender.Bid) (*tender.Bid, error) {
	rec, err := s.Known(ctx, a, b.Tender)
	if err != nil {
		return nil, err
	}
	t := rec.Tender
	if err := s.notSameNode(t); err != nil {
		return nil, err
	}
	now := s.now()
	b.ID = s.newID(a, "bids")
	b.Bidder = s.Actors.ActorURL(a.Username)
	b.Tender = t.ID
	b.Submitted, b.Changed = now, now
	b.Status = tender.BidSubmitted
	if err := t.CheckBid(b, now); err != nil {
		return nil, err
	}
	doc := BidDocument(b, t.Owner)
	doc.Context = nil
	act := s.Outbox.New(a, "Create", doc)
	act.To = []string{t.Owner}
	out, err := s.Outbox.Prepare(ctx, a, act, false)
	if err != nil {
		return nil, err
	}
	err = s.DB.Apply(ctx, &storage.Change{
		Bids: []*storage.BidRecord{{Bid: b, Side: storage.BidSent, ActorID: a.ID, Activity: act.ID, Created: now}},
		Out:  []*storage.Outgoing{out},
	})
	return b, err
}

// Withdraw withdraws a bid a sent.
func (s *Service) Withdraw(ctx context.Context, a *storage.LocalActor, bidIRI string) (*tender.Bid, error) {
	br, err := s.DB.GetBid(ctx, bidIRI, storage.BidSent)
	if err != nil {
		return nil, err
	}
	if br.ActorID != a.ID {
		return nil, tender.Errorf(tender.EForbidden, "the bid is not %s's", a.Username)
	}
	if err := br.Bid.Withdraw(s.now()); err != nil {
		return nil, err
	}
	rec, err := s.DB.Tender(ctx, br.Bid.Tender)
	if err != nil {
		return nil, err
	}
	act := s.Outbox.New(a, "Delete", map[string]any{"id": br.Bid.ID, "type": "Tombstone", "formerType": "Bid"})
	act.To = []string{rec.Tender.Owner}
	out, err := s.Outbox.Prepare(ctx, a, act, false)
	if err != nil {
		return nil, err
	}
	return br.Bid, s.DB.Apply(ctx, &storage.Change{Bids: []*storage.BidRecord{br}, Out: []*storage.Outgoing{out}})
}

// Award awards a received bid: Accept to the winner, Reject to the other
// bids on the same lot (or the whole tender), and an Update of the tender
// with the public award notice.
func (s *Service) Award(ctx context.Context, a *storage.LocalActor, bidIRI, reason string) (*tender.Award, error) {
	br, err := s.DB.GetBid(ctx, bidIRI, storage.BidReceived)
	if err != nil {
		return nil, err
	}
	rec, err := s.ownTender(ctx, a, br.Bid.Tender)
	if err != nil {
		return nil, err
	}
	all, err := s.DB.Bids(ctx, storage.BidQuery{Side: storage.BidReceived, Tender: rec.Tender.ID})
	if err != nil {
		return nil, err
	}
	var win *storage.BidRecord
	var bids []*tender.Bid
	for _, r := range all {
		if r.Bid.ID == br.Bid.ID {
			win = r
		}
		bids = append(bids, r.Bid)
	}
	now := s.now()
	rejected, err := rec.Tender.AwardBid(win.Bid, bids, reason, now)
	if err != nil {
		return nil, err
	}
	more := &storage.Change{Bids: []*storage.BidRecord{win}}
	decide := func(b *tender.Bid, typ, summary string) error {
		act := s.Outbox.New(a, typ, map[string]any{"id": b.ID, "type": "Bid", "attributedTo": b.Bidder, "inReplyTo": b.Tender, "status": string(b.Status)})
		act.To = []string{b.Bidder}
		act.Summary = summary
		out, err := s.Outbox.Prepare(ctx, a, act, false)
		if err != nil {
			return err
		}
		more.Out = append(more.Out, out)
		return nil
	}
	if err := decide(win.Bid, "Accept", reason); err != nil {
		return nil, err
	}
	byID := map[string]*storage.BidRecord{}
	for _, r := range all {
		byID[r.Bid.ID] = r
	}
	for _, b := range rejected {
		more.Bids = append(more.Bids, byID[b.ID])
		if err := decide(b, "Reject", b.Reason); err != nil {
			return nil, err
		}
	}
	if err := s.update(ctx, a, rec, more); err != nil {
		return nil, err
	}
	aw := rec.Tender.Awards[len(rec.Tender.Awards)-1]
	return &aw, nil
}

// notSameNode refuses to ask about or bid on a tender of a co-op hosted on
// this same node: activities between local actors are not delivered yet
// (the outbox sends only to remote inboxes), and a bid that could never
// arrive must not sit "submitted" forever.
func (s *Service) notSameNode(t *tender.Tender) error {
	if s.Actors.IsLocal(t.Owner) {
		return tender.Errorf(tender.EConflict, "%s is hosted on this node; co-ops on the same node cannot yet bid on or ask about each other's tenders", t.Owner)
	}
	return nil
}
