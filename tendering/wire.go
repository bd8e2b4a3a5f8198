// Package tendering carries the tender domain across the network: it turns
// local actions (publish, amend, bid, award...) into stored changes and the
// activities that announce them, and applies the activities peers send.
package tendering

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/tender"
)

// BudgetDoc is a budget on the wire: decimal strings, so no peer has to
// know our minor units.
type BudgetDoc struct {
	MinAmount string `json:"minAmount,omitempty"`
	MaxAmount string `json:"maxAmount,omitempty"`
	Currency  string `json:"currency"`
}

// LotDoc is a lot inside a tender.
type LotDoc struct {
	ID      string     `json:"id"`
	Type    string     `json:"type"`
	Name    string     `json:"name"`
	Content string     `json:"content,omitempty"`
	Region  string     `json:"region,omitempty"`
	Budget  *BudgetDoc `json:"budget,omitempty"`
}

// AwardDoc is a public award notice.
type AwardDoc struct {
	Type      string `json:"type"`
	Bid       string `json:"bid"`
	Lot       string `json:"lot,omitempty"`
	Winner    string `json:"winner"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Reason    string `json:"reason,omitempty"`
	Published string `json:"published"`
}

// PeriodDoc is the delivery period.
type PeriodDoc struct {
	StartDate string `json:"startDate,omitempty"`
	EndDate   string `json:"endDate,omitempty"`
}

// SourceDoc keeps the text as typed, beside its HTML rendering.
type SourceDoc struct {
	Content   string `json:"content"`
	MediaType string `json:"mediaType"`
}

// TenderDoc is a tender as it goes on the wire and is served at its id.
type TenderDoc struct {
	Context        any        `json:"@context,omitempty"`
	ID             string     `json:"id"`
	Type           string     `json:"type"`
	AttributedTo   string     `json:"attributedTo"`
	Name           string     `json:"name"`
	Content        string     `json:"content"`
	Source         *SourceDoc `json:"source,omitempty"`
	URL            string     `json:"url"`
	Status         string     `json:"status"`
	AcceptingBids  bool       `json:"acceptingBids"`
	Deadline       string     `json:"deadline"`
	Categories     []string   `json:"categories"`
	Regions        []string   `json:"regions"`
	Languages      []string   `json:"languages"`
	Budget         *BudgetDoc `json:"budget,omitempty"`
	DeliveryPeriod *PeriodDoc `json:"deliveryPeriod,omitempty"`
	Eligibility    string     `json:"eligibility,omitempty"`
	Lots           []LotDoc   `json:"lots"`
	Parent         string     `json:"parent,omitempty"`
	Award          []AwardDoc `json:"award,omitempty"`
	CancelReason   string     `json:"cancelReason,omitempty"`
	Published      string     `json:"published"`
	Updated        string     `json:"updated,omitempty"`
	To             []string   `json:"to"`
	Cc             []string   `json:"cc,omitempty"`
}

// BidDoc is a sealed bid: addressed to the tender's owner alone.
type BidDoc struct {
	Context      any        `json:"@context,omitempty"`
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	AttributedTo string     `json:"attributedTo"`
	InReplyTo    string     `json:"inReplyTo"`
	Lot          string     `json:"lot,omitempty"`
	Amount       string     `json:"amount"`
	Currency     string     `json:"currency"`
	Content      string     `json:"content"`
	Source       *SourceDoc `json:"source,omitempty"`
	DeliveryPlan string     `json:"deliveryPlan,omitempty"`
	Published    string     `json:"published"`
	To           []string   `json:"to"`
}

// NoteDoc is a Note: the readable mirror of a tender for servers that do
// not speak coopnet, a question, or a public answer.
type NoteDoc struct {
	Context      any          `json:"@context,omitempty"`
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	AttributedTo string       `json:"attributedTo"`
	InReplyTo    string       `json:"inReplyTo,omitempty"`
	Name         string       `json:"name,omitempty"`
	Summary      string       `json:"summary,omitempty"`
	Content      string       `json:"content"`
	Source       *SourceDoc   `json:"source,omitempty"`
	URL          string       `json:"url,omitempty"`
	Question     string       `json:"question,omitempty"`
	Answer       string       `json:"answer,omitempty"`
	Tag          []MentionDoc `json:"tag,omitempty"`
	Published    string       `json:"published"`
	Updated      string       `json:"updated,omitempty"`
	To           []string     `json:"to"`
	Cc           []string     `json:"cc,omitempty"`
}

// MentionDoc tags an actor in a Note, as Mastodon does for direct messages.
type MentionDoc struct {
	Type string `json:"type"`
	Href string `json:"href"`
	Name string `json:"name"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func budgetDoc(b *tender.Budget) *BudgetDoc {
	if b == nil {
		return nil
	}
	d := &BudgetDoc{Currency: b.Currency, MaxAmount: tender.FormatAmount(b.Max, b.Currency)}
	if b.Min > 0 {
		d.MinAmount = tender.FormatAmount(b.Min, b.Currency)
	}
	return d
}

func parseBudget(d *BudgetDoc) (*tender.Budget, error) {
	if d == nil {
		return nil, nil
	}
	b := &tender.Budget{Currency: tender.NormalizeCurrency(d.Currency)}
	var err error
	if d.MinAmount != "" {
		if b.Min, err = tender.ParseAmount(d.MinAmount, b.Currency); err != nil {
			return nil, err
		}
	}
	if d.MaxAmount != "" {
		if b.Max, err = tender.ParseAmount(d.MaxAmount, b.Currency); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// TextHTML renders plain text as the escaped HTML peers expect.
func TextHTML(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			b.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(p), "\n", "<br>") + "</p>")
		}
	}
	return b.String()
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// htmlText turns remote HTML into plain text for storage: the CLI prints
// it and pages escape it, so no markup from a peer ever reaches a page.
func htmlText(s string) string {
	s = strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<br />", "\n", "</p>", "\n\n").Replace(s)
	s = tagRE.ReplaceAllString(s, "")
	return strings.TrimSpace(html.UnescapeString(s))
}

// TenderDocument builds the wire form of t, addressed publicly.
func TenderDocument(t *tender.Tender, followers string, now time.Time) *TenderDoc {
	d := &TenderDoc{
		Context:       federation.Context(),
		ID:            t.ID,
		Type:          "Tender",
		AttributedTo:  t.Owner,
		Name:          t.Title,
		Content:       TextHTML(t.Description),
		Source:        &SourceDoc{Content: t.Description, MediaType: "text/plain"},
		URL:           t.ID,
		Status:        string(t.Status),
		AcceptingBids: t.AcceptingBids(now),
		Deadline:      rfc3339(t.Deadline),
		Categories:    nonNil(t.Categories),
		Regions:       nonNil(t.Regions),
		Languages:     nonNil(t.Languages),
		Budget:        budgetDoc(t.Budget),
		Eligibility:   t.Eligibility,
		Lots:          []LotDoc{},
		Parent:        t.Parent,
		CancelReason:  t.CancelReason,
		Published:     rfc3339(t.Published),
		To:            []string{federation.PublicAddress},
		Cc:            []string{followers},
	}
	if !t.Updated.Equal(t.Published) {
		d.Updated = rfc3339(t.Updated)
	}
	if !t.DeliveryStart.IsZero() || !t.DeliveryEnd.IsZero() {
		d.DeliveryPeriod = &PeriodDoc{StartDate: rfc3339(t.DeliveryStart), EndDate: rfc3339(t.DeliveryEnd)}
	}
	for _, l := range t.Lots {
		d.Lots = append(d.Lots, LotDoc{ID: l.ID, Type: "Lot", Name: l.Title, Content: TextHTML(l.Description), Region: l.Region, Budget: budgetDoc(l.Budget)})
	}
	for _, a := range t.Awards {
		d.Award = append(d.Award, AwardDoc{Type: "Award", Bid: a.Bid, Lot: a.Lot, Winner: a.Winner, Amount: tender.FormatAmount(a.Amount, a.Currency), Currency: a.Currency, Reason: a.Reason, Published: rfc3339(a.At)})
	}
	return d
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, tender.FieldErrorf(field, "%q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// ParseTender reads a remote tender document. Its id and lots must be on
// its owner's origin: no actor may publish tenders in another's name.
func ParseTender(d *TenderDoc) (*tender.Tender, error) {
	if d.Type != "Tender" {
		return nil, tender.Errorf(tender.EInvalid, "object type %q is not a Tender", d.Type)
	}
	if d.ID == "" || d.AttributedTo == "" || !federation.SameOrigin(d.ID, d.AttributedTo) {
		return nil, tender.Errorf(tender.EInvalid, "tender id and attributedTo must be on one host")
	}
	t := &tender.Tender{
		ID: d.ID, Owner: d.AttributedTo, Title: d.Name, Status: tender.Status(d.Status),
		Categories: d.Categories, Regions: d.Regions, Languages: d.Languages,
		Eligibility: d.Eligibility, Parent: d.Parent, CancelReason: d.CancelReason,
	}
	if d.Source != nil && d.Source.MediaType == "text/plain" {
		t.Description = d.Source.Content
	} else {
		t.Description = htmlText(d.Content)
	}
	if !t.Status.Valid() {
		return nil, tender.FieldErrorf("status", "%q is not an OCDS tender status", d.Status)
	}
	var err error
	if t.Deadline, err = parseTime("deadline", d.Deadline); err != nil {
		return nil, err
	}
	if t.Published, err = parseTime("published", d.Published); err != nil {
		return nil, err
	}
	if t.Updated, err = parseTime("updated", d.Updated); err != nil {
		return nil, err
	}
	if t.Updated.IsZero() {
		t.Updated = t.Published
	}
	if d.DeliveryPeriod != nil {
		if t.DeliveryStart, err = parseTime("deliveryPeriod", d.DeliveryPeriod.StartDate); err != nil {
			return nil, err
		}
		if t.DeliveryEnd, err = parseTime("deliveryPeriod", d.DeliveryPeriod.EndDate); err != nil {
			return nil, err
		}
	}
	if t.Budget, err = parseBudget(d.Budget); err != nil {
		return nil, err
	}
	if len(d.Lots) > tender.MaxLots {
		return nil, tender.FieldErrorf("lots", "too many lots")
	}
	for _, l := range d.Lots {
		if !federation.SameOrigin(l.ID, d.ID) {
			return nil, tender.FieldErrorf("lots", "lot %s is not on the tender's host", l.ID)
		}
		b, err := parseBudget(l.Budget)
		if err != nil {
			return nil, err
		}
		t.Lots = append(t.Lots, tender.Lot{ID: l.ID, Title: l.Name, Description: htmlText(l.Content), Region: l.Region, Budget: b})
	}
	for _, a := range d.Award {
		amount, err := tender.ParseAmount(a.Amount, a.Currency)
		if err != nil {
			return nil, err
		}
		at, _ := parseTime("award", a.Published)
		t.Awards = append(t.Awards, tender.Award{Bid: a.Bid, Lot: a.Lot, Winner: a.Winner, Amount: amount, Currency: a.Currency, Reason: a.Reason, At: at})
	}
	if t.Title == "" || t.Deadline.IsZero() {
		return nil, tender.Errorf(tender.EInvalid, "tender without name or deadline")
	}
	return t, nil
}

// BidDocument builds the wire form of a bid, addressed to the owner alone.
func BidDocument(b *tender.Bid, owner string) *BidDoc {
	return &BidDoc{
		Context: federation.Context(), ID: b.ID, Type: "Bid", AttributedTo: b.Bidder, InReplyTo: b.Tender, Lot: b.Lot,
		Amount: tender.FormatAmount(b.Amount, b.Currency), Currency: b.Currency,
		Content: TextHTML(b.Text), Source: &SourceDoc{Content: b.Text, MediaType: "text/plain"},
		DeliveryPlan: b.DeliveryPlan, Published: rfc3339(b.Submitted), To: []string{owner},
	}
}

// ParseBid reads a bid received by the tender's owner.
func ParseBid(d *BidDoc) (*tender.Bid, error) {
	if d.Type != "Bid" {
		return nil, tender.Errorf(tender.EInvalid, "object type %q is not a Bid", d.Type)
	}
	if d.ID == "" || !federation.SameOrigin(d.ID, d.AttributedTo) {
		return nil, tender.Errorf(tender.EInvalid, "bid id and attributedTo must be on one host")
	}
	cur := tender.NormalizeCurrency(d.Currency)
	amount, err := tender.ParseAmount(d.Amount, cur)
	if err != nil {
		return nil, err
	}
	b := &tender.Bid{ID: d.ID, Tender: d.InReplyTo, Lot: d.Lot, Bidder: d.AttributedTo, Amount: amount, Currency: cur, DeliveryPlan: d.DeliveryPlan}
	if d.Source != nil && d.Source.MediaType == "text/plain" {
		b.Text = d.Source.Content
	} else {
		b.Text = htmlText(d.Content)
	}
	b.Submitted, _ = parseTime("published", d.Published)
	return b, nil
}

// NoteForTender is what followers on Mastodon and other plain servers see
// of a tender: everything a person needs to decide whether to look, and a
// link to the page.
func NoteForTender(t *tender.Tender, noteID, followers string, now time.Time) *NoteDoc {
	var b strings.Builder
	status := string(t.Status)
	switch {
	case t.Status == tender.StatusActive && t.AcceptingBids(now):
		status = "open for bids"
	case t.Status == tender.StatusActive:
		status = "closed for bids, award pending"
	}
	fmt.Fprintf(&b, "<p><strong>Tender: %s</strong> (%s)</p>", html.EscapeString(t.Title), html.EscapeString(status))
	b.WriteString(TextHTML(t.Description))
	var facts []string
	if len(t.Regions) > 0 {
		facts = append(facts, "Regions: "+strings.Join(t.Regions, ", "))
	}
	if len(t.Categories) > 0 {
		facts = append(facts, "Work: "+strings.Join(t.Categories, ", "))
	}
	if len(t.Languages) > 0 {
		facts = append(facts, "Languages: "+strings.Join(t.Languages, ", "))
	}
	facts = append(facts, "Bids until: "+t.Deadline.UTC().Format("2006-01-02 15:04 MST"))
	if t.Budget != nil {
		facts = append(facts, "Budget: "+budgetText(t.Budget))
	}
	b.WriteString("<p>" + html.EscapeString(strings.Join(facts, " · ")) + "</p>")
	if len(t.Lots) > 0 {
		b.WriteString("<p>Lots:<br>")
		for i, l := range t.Lots {
			line := fmt.Sprintf("%d. %s", i+1, l.Title)
			if l.Region != "" {
				line += " (" + l.Region + ")"
			}
			if l.Budget != nil {
				line += " — " + budgetText(l.Budget)
			}
			b.WriteString(html.EscapeString(line) + "<br>")
		}
		b.WriteString("</p>")
	}
	for _, a := range t.Awards {
		what := "the whole tender"
		if l := t.Lot(a.Lot); l != nil {
			what = "lot “" + l.Title + "”"
		}
		b.WriteString("<p>" + html.EscapeString(fmt.Sprintf("Awarded: %s to %s for %s %s", what, a.Winner, tender.FormatAmount(a.Amount, a.Currency), a.Currency)) + "</p>")
	}
	if t.Status == tender.StatusCancelled {
		b.WriteString("<p>" + html.EscapeString("Cancelled: "+t.CancelReason) + "</p>")
	}
	fmt.Fprintf(&b, `<p><a href="%s">%s</a></p>`, html.EscapeString(t.ID), html.EscapeString(t.ID))
	n := &NoteDoc{
		Context: federation.Context(), ID: noteID, Type: "Note", AttributedTo: t.Owner,
		Content: b.String(), URL: t.ID, Published: rfc3339(t.Published),
		To: []string{federation.PublicAddress}, Cc: []string{followers},
	}
	if !t.Updated.Equal(t.Published) {
		n.Updated = rfc3339(t.Updated)
	}
	return n
}

func budgetText(b *tender.Budget) string {
	if b.Min > 0 && b.Min != b.Max {
		return tender.FormatAmount(b.Min, b.Currency) + "–" + tender.FormatAmount(b.Max, b.Currency) + " " + b.Currency
	}
	return tender.FormatAmount(b.Max, b.Currency) + " " + b.Currency
}
