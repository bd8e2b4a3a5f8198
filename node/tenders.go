package node

import (
	"html/template"
	"net/http"
	"time"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/coopnet/coopnet/tendering"
)

// serveTender serves a local tender: the document to peers, a page to
// browsers.
func (n *Node) serveTender(w http.ResponseWriter, r *http.Request, a *storage.LocalActor, iri string) error {
	rec, err := n.DB.Tender(r.Context(), iri)
	if err != nil || rec.ActorID != a.ID {
		return tender.Errorf(tender.ENotFound, "not found")
	}
	if wantsHTML(r) {
		return n.renderTenderPage(w, r, a, rec)
	}
	writeActivity(w, http.StatusOK, tendering.TenderDocument(rec.Tender, n.Actors.FollowersURL(a.Username), n.Now()))
	return nil
}

// serveBid serves a sealed bid only to a GET signed by its bidder or by
// the tender's owner. Everyone else, unsigned or not, gets 404: a sealed
// bid does not exist for them.
func (n *Node) serveBid(w http.ResponseWriter, r *http.Request, a *storage.LocalActor, iri string) error {
	notFound := tender.Errorf(tender.ENotFound, "not found")
	br, err := n.DB.GetBid(r.Context(), iri, storage.BidSent)
	if err != nil || br.ActorID != a.ID {
		return notFound
	}
	if r.Header.Get("Signature") == "" {
		return notFound
	}
	key, err := n.Inbox.Verifier.Verify(r.Context(), r, nil)
	if err != nil {
		return notFound
	}
	rec, err := n.DB.Tender(r.Context(), br.Bid.Tender)
	if err != nil {
		return notFound
	}
	if key.Owner != br.Bid.Bidder && key.Owner != rec.Tender.Owner {
		return notFound
	}
	w.Header().Set("Cache-Control", "private, no-store")
	writeActivity(w, http.StatusOK, tendering.BidDocument(br.Bid, rec.Tender.Owner))
	return nil
}

type lotView struct {
	ID, Title, Region, Budget string
	Description               string
}

type awardView struct {
	Lot, Winner, Amount, Reason string
}

type answerView struct {
	Question, Answer string
}

type tenderView struct {
	ID, Title, Owner, OwnerURL, Status, Deadline, Budget, Eligibility, Parent, CancelReason string
	Description                                                                             template.HTML
	Accepting                                                                               bool
	Categories, Regions, Languages                                                          []string
	Lots                                                                                    []lotView
	Awards                                                                                  []awardView
	Answers                                                                                 []answerView
}

func budgetString(b *tender.Budget) string {
	if b == nil {
		return ""
	}
	if b.Min > 0 && b.Min != b.Max {
		return tender.FormatAmount(b.Min, b.Currency) + "–" + tender.FormatAmount(b.Max, b.Currency) + " " + b.Currency
	}
	return tender.FormatAmount(b.Max, b.Currency) + " " + b.Currency
}

func (n *Node) renderTenderPage(w http.ResponseWriter, r *http.Request, a *storage.LocalActor, rec *storage.TenderRecord) error {
	t := rec.Tender
	now := n.Now()
	v := &tenderView{
		ID: t.ID, Title: t.Title, Owner: n.Actors.Handle(a.Username), OwnerURL: n.Actors.ActorURL(a.Username),
		Status: string(t.Status), Deadline: t.Deadline.UTC().Format("2006-01-02 15:04 MST"), Budget: budgetString(t.Budget),
		Eligibility: t.Eligibility, Parent: t.Parent, CancelReason: t.CancelReason,
		Description: SanitizeHTML(tendering.TextHTML(t.Description)), Accepting: t.AcceptingBids(now),
		Categories: t.Categories, Regions: t.Regions, Languages: t.Languages,
	}
	lotTitle := map[string]string{}
	for _, l := range t.Lots {
		lotTitle[l.ID] = l.Title
		v.Lots = append(v.Lots, lotView{ID: l.ID, Title: l.Title, Region: l.Region, Budget: budgetString(l.Budget), Description: l.Description})
	}
	for _, aw := range t.Awards {
		winner := aw.Winner
		if ra, err := n.DB.RemoteActor(r.Context(), aw.Winner); err == nil {
			winner = "@" + ra.Handle()
		}
		lot := "whole tender"
		if aw.Lot != "" {
			lot = lotTitle[aw.Lot]
		}
		v.Awards = append(v.Awards, awardView{Lot: lot, Winner: winner, Amount: tender.FormatAmount(aw.Amount, aw.Currency) + " " + aw.Currency, Reason: aw.Reason})
	}
	answers, err := n.DB.Answers(r.Context(), t.ID)
	if err != nil {
		return err
	}
	for _, an := range answers {
		v.Answers = append(v.Answers, answerView{Question: an.Question, Answer: an.Answer})
	}
	summary := t.Title + " — bids until " + v.Deadline
	if len(t.Regions) > 0 {
		summary += " · " + joinComma(t.Regions)
	}
	if v.Budget != "" {
		summary += " · budget " + v.Budget
	}
	n.render(w, r, "tender.html", &page{
		Title:     t.Title + " · tender by @" + v.Owner,
		OG:        &openGraph{Title: "Tender: " + t.Title, Description: summary, URL: t.ID},
		Alternate: t.ID,
		Data:      v,
	})
	return nil
}

func joinComma(v []string) string {
	out := ""
	for i, s := range v {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

// openTenderLinks lists an actor's tenders open for bids, for its page.
func (n *Node) openTenderLinks(r *http.Request, a *storage.LocalActor) []tenderLink {
	open := true
	recs, err := n.DB.Tenders(r.Context(), storage.TenderQuery{ActorID: a.ID, Filter: tender.Filter{Open: &open}, Now: n.Now(), Limit: 50})
	if err != nil {
		n.Log.Error("list tenders", "err", err)
		return nil
	}
	var out []tenderLink
	for _, rec := range recs {
		out = append(out, tenderLink{URL: rec.Tender.ID, Title: rec.Tender.Title, Deadline: rec.Tender.Deadline.UTC().Format(time.RFC3339)})
	}
	return out
}
