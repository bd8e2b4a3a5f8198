package tender

import (
	"slices"
	"strings"
	"time"
)

// conflictf is an EConflict error that still names the field at fault, for
// "right input, wrong moment" cases such as awarding a withdrawn bid.
func conflictf(field, format string, args ...any) *Error {
	e := Errorf(EConflict, format, args...)
	e.Field = field
	return e
}

// Publish validates a draft and makes it active: from then on it is
// federated and accepts bids until its deadline.
func (t *Tender) Publish(now time.Time) error {
	if t.Status != "" && t.Status != StatusPlanning {
		return Errorf(EConflict, "the tender is already %s", t.Status)
	}
	if err := t.Validate(now); err != nil {
		return err
	}
	t.Status = StatusActive
	if t.Published.IsZero() {
		t.Published = now
	}
	t.Updated = now
	return nil
}

// AcceptingBids reports whether a bid arriving now is accepted: the tender
// is active and its deadline has not been reached. At the deadline itself
// bids are refused, so that "closes at 12:00" means what it says.
func (t *Tender) AcceptingBids(now time.Time) bool {
	return t.Status == StatusActive && now.Before(t.Deadline)
}

// Closed reports whether bidding is over for good: the tender was published
// and either its deadline has passed or it has been cancelled, awarded or
// declared unsuccessful. A draft is not closed: it has not opened yet.
func (t *Tender) Closed(now time.Time) bool {
	switch t.Status {
	case StatusActive:
		return !now.Before(t.Deadline)
	case StatusCancelled, StatusUnsuccessful, StatusComplete:
		return true
	}
	return false
}

// Sealed reports whether bid contents must stay hidden, from the owner's own
// staff too: until the deadline passes, whatever the status, so that a
// cancelled tender never reveals its bids early either.
func (t *Tender) Sealed(now time.Time) bool {
	return t.Deadline.IsZero() || now.Before(t.Deadline)
}

// Amendment lists changes to a published tender. A nil field keeps the
// current value, so one type serves every partial edit from the CLI or web.
type Amendment struct {
	Title       *string
	Description *string
	Categories  *[]string
	Regions     *[]string
	Languages   *[]string
	// Budget replaces the budget; RemoveBudget drops it (Budget must be nil).
	Budget       *Budget
	RemoveBudget bool
	Deadline     *time.Time
	// DeliveryStart and DeliveryEnd: a pointer to the zero time unsets them.
	DeliveryStart *time.Time
	DeliveryEnd   *time.Time
	Eligibility   *string
	// Lots replaces the lot list. Every existing lot must still be there
	// (same ID), because bids may refer to it; new lots may have an empty ID
	// for the node to assign.
	Lots   *[]Lot
	Parent *string
}

func (a *Amendment) empty() bool {
	return a.Title == nil && a.Description == nil && a.Categories == nil &&
		a.Regions == nil && a.Languages == nil && a.Budget == nil && !a.RemoveBudget &&
		a.Deadline == nil && a.DeliveryStart == nil && a.DeliveryEnd == nil &&
		a.Eligibility == nil && a.Lots == nil && a.Parent == nil
}

// Amend applies p to an active tender that is still open for bids and has
// no award, re-validating the result as a whole; on error t is unchanged.
// Amending after the deadline is refused because bids are unsealed by then:
// reopening would let late bidders compete against known prices. The budget
// currency cannot change once set, because bids are priced in it.
func (t *Tender) Amend(p Amendment, now time.Time) error {
	switch {
	case t.Status != StatusActive:
		return Errorf(EConflict, "only an active tender can be amended; this one is %s", t.Status)
	case len(t.Awards) > 0:
		return Errorf(EConflict, "the tender has an award and can no longer be amended")
	case !t.AcceptingBids(now):
		return Errorf(EConflict, "the deadline has passed (%s); the tender can no longer be amended", fmtTime(t.Deadline))
	case p.empty():
		return Errorf(EInvalid, "nothing to amend")
	case p.RemoveBudget && p.Budget != nil:
		return FieldErrorf("budget-max", "cannot both set and remove the budget")
	}
	c := t.clone()
	if p.Title != nil {
		c.Title = *p.Title
	}
	if p.Description != nil {
		c.Description = *p.Description
	}
	if p.Categories != nil {
		c.Categories = slices.Clone(*p.Categories)
	}
	if p.Regions != nil {
		c.Regions = slices.Clone(*p.Regions)
	}
	if p.Languages != nil {
		c.Languages = slices.Clone(*p.Languages)
	}
	if p.Budget != nil {
		b := *p.Budget
		c.Budget = &b
	}
	if p.RemoveBudget {
		c.Budget = nil
	}
	if p.Deadline != nil {
		c.Deadline = *p.Deadline
	}
	if p.DeliveryStart != nil {
		c.DeliveryStart = *p.DeliveryStart
	}
	if p.DeliveryEnd != nil {
		c.DeliveryEnd = *p.DeliveryEnd
	}
	if p.Eligibility != nil {
		c.Eligibility = *p.Eligibility
	}
	if p.Lots != nil {
		c.Lots = cloneLots(*p.Lots)
		for _, old := range t.Lots {
			if old.ID != "" && c.Lot(old.ID) == nil {
				return FieldErrorf("lot", "lot %q cannot be removed (bids may refer to it); cancel and re-tender instead", old.Title)
			}
		}
	}
	if p.Parent != nil {
		c.Parent = *p.Parent
	}
	if err := c.Validate(now); err != nil {
		return err
	}
	if t.Budget != nil && c.Budget != nil && c.Budget.Currency != NormalizeCurrency(t.Budget.Currency) {
		return FieldErrorf("currency", "cannot change from %s once published; bids are priced in it", t.Budget.Currency)
	}
	c.Updated = now
	*t = *c
	return nil
}

// Cancel withdraws the tender, keeping it on record with the reason that
// bidders and followers are told. A decided tender cannot be cancelled.
func (t *Tender) Cancel(reason string, now time.Time) error {
	switch t.Status {
	case StatusCancelled:
		return Errorf(EConflict, "the tender is already cancelled")
	case StatusComplete, StatusUnsuccessful:
		return Errorf(EConflict, "a %s tender cannot be cancelled", t.Status)
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, MaxReason, true); err != nil {
		return err
	}
	t.Status = StatusCancelled
	t.CancelReason = reason
	t.Updated = now
	return nil
}

// notAcceptingError says why no bid or question is accepted now. Its message
// is sent to late bidders as the Reject reason, so it is written for them.
func (t *Tender) notAcceptingError(now time.Time) *Error {
	switch t.Status {
	case StatusActive:
		return Errorf(EConflict, "the deadline for bids passed at %s", fmtTime(t.Deadline))
	case StatusCancelled:
		if t.CancelReason != "" {
			return Errorf(EConflict, "the tender is cancelled: %s", t.CancelReason)
		}
		return Errorf(EConflict, "the tender is cancelled")
	case StatusComplete:
		return Errorf(EConflict, "the tender has been awarded")
	case StatusUnsuccessful:
		return Errorf(EConflict, "the tender was closed without an award")
	case StatusPlanning, "":
		return Errorf(EConflict, "the tender is not published")
	}
	return Errorf(EConflict, "the tender does not accept bids (status %s)", t.Status)
}

// CheckBid applies the rules a bid must meet to be accepted now. State
// problems (deadline passed, tender cancelled) are EConflict and their
// message is meant for the bidder; bad input is EInvalid naming the field.
// It does not change b; see ReceiveBid for the owner's side.
func (t *Tender) CheckBid(b *Bid, now time.Time) error {
	if b == nil {
		return FieldErrorf("bid", "required")
	}
	if !t.AcceptingBids(now) {
		return t.notAcceptingError(now)
	}
	if t.ID != "" && b.Tender != t.ID {
		return FieldErrorf("tender", "the bid is for %q, not this tender", b.Tender)
	}
	if b.Bidder != "" && b.Bidder == t.Owner {
		return Errorf(EForbidden, "the owner of a tender cannot bid on it")
	}
	if b.Lot != "" && t.Lot(b.Lot) == nil {
		return FieldErrorf("lot", "the tender has no lot %q", b.Lot)
	}
	if b.Amount <= 0 {
		return FieldErrorf("amount", "must be greater than zero")
	}
	if b.Currency == "" {
		return FieldErrorf("currency", "required")
	}
	if !ValidCurrency(b.Currency) {
		return FieldErrorf("currency", "%q is not an ISO 4217 currency code", b.Currency)
	}
	if t.Budget != nil && b.Currency != t.Budget.Currency {
		return FieldErrorf("currency", "the tender is priced in %s, not %s", t.Budget.Currency, b.Currency)
	}
	// A tender may budget only its lots; a bid is priced in the currency
	// of the lot it is for, or of any budgeted lot for a whole-tender bid.
	if t.Budget == nil {
		for _, l := range t.Lots {
			if l.Budget != nil && (b.Lot == "" || b.Lot == l.ID) && b.Currency != l.Budget.Currency {
				return FieldErrorf("currency", "the tender is priced in %s, not %s", l.Budget.Currency, b.Currency)
			}
		}
	}
	if err := checkText("text", b.Text, MaxText, true); err != nil {
		return err
	}
	return checkText("delivery-plan", b.DeliveryPlan, MaxText, false)
}

// ReceiveBid is the owner's node storing an incoming bid. A valid bid
// becomes received. A bid that arrives when the tender no longer accepts
// bids becomes late with the refusal as its Reason, and the EConflict error
// is returned so the caller stores it and sends the Reject. Any other error
// leaves b unchanged and means: do not store it.
func (t *Tender) ReceiveBid(b *Bid, now time.Time) error {
	err := t.CheckBid(b, now)
	if err == nil {
		b.Status = BidReceived
		b.Reason = ""
		b.Received = now
		b.Changed = now
		return nil
	}
	if e, ok := err.(*Error); ok && e.Code == EConflict {
		b.Status = BidLate
		b.Reason = e.Message
		b.Received = now
		b.Changed = now
	}
	return err
}

// CheckQuestion applies the rules for a clarification question: asked while
// bids are accepted (an answer after the deadline helps nobody), with text.
func (t *Tender) CheckQuestion(q *Question, now time.Time) error {
	if q == nil {
		return FieldErrorf("text", "required")
	}
	if !t.AcceptingBids(now) {
		return t.notAcceptingError(now)
	}
	if t.ID != "" && q.Tender != t.ID {
		return FieldErrorf("tender", "the question is about %q, not this tender", q.Tender)
	}
	return checkText("text", strings.TrimSpace(q.Text), MaxText, true)
}

// Awarded reports whether lot (or, for "", the whole tender) can no longer be
// awarded: it has an award, or the whole tender has one. For "" it is also
// true once any lot is awarded, since the tender can then no longer go to a
// single bid.
func (t *Tender) Awarded(lot string) bool {
	for _, a := range t.Awards {
		if lot == "" || a.Lot == "" || a.Lot == lot {
			return true
		}
	}
	return false
}

// fullyAwarded reports whether nothing is left to award: the tender has a
// whole-tender award, or (with lots) every lot has its own.
func (t *Tender) fullyAwarded() bool {
	if len(t.Awards) == 0 {
		return false
	}
	if len(t.Lots) == 0 || slices.ContainsFunc(t.Awards, func(a Award) bool { return a.Lot == "" }) {
		return true
	}
	for _, l := range t.Lots {
		if !t.Awarded(l.ID) {
			return false
		}
	}
	return true
}

// AwardBid awards win and turns down the bids it beats: every other live bid
// on the same lot, and every live whole-tender bid (which can no longer win
// once a part is awarded); for a whole-tender winner, every other live bid.
// Ownership is checked by the caller. Awarding is allowed only once the
// deadline has passed, because bids are sealed until then and the owner
// cannot have compared them. The tender becomes complete when every lot (or
// the tender as a whole) is awarded; any bid still live then is rejected too.
// It returns the bids it rejected, for the caller to store and notify. On
// error nothing is changed.
func (t *Tender) AwardBid(win *Bid, all []*Bid, reason string, now time.Time) ([]*Bid, error) {
	if win == nil {
		return nil, FieldErrorf("bid", "required")
	}
	if t.Status != StatusActive {
		return nil, Errorf(EConflict, "a %s tender cannot be awarded", t.Status)
	}
	if t.Sealed(now) {
		return nil, Errorf(EConflict, "bids are sealed until the deadline (%s); award after it", fmtTime(t.Deadline))
	}
	if t.ID != "" && win.Tender != t.ID {
		return nil, FieldErrorf("bid", "the bid is for %q, not this tender", win.Tender)
	}
	switch win.Status {
	case BidWithdrawn, BidLate, BidRejected:
		return nil, conflictf("bid", "award of a %s bid", win.Status)
	case BidAccepted:
		return nil, conflictf("bid", "the bid is already accepted")
	}
	if !win.Status.Live() {
		return nil, conflictf("bid", "a bid with status %q cannot be awarded", win.Status)
	}
	if win.Lot != "" && t.Lot(win.Lot) == nil {
		return nil, FieldErrorf("lot", "the tender has no lot %q", win.Lot)
	}
	if t.Awarded(win.Lot) {
		if win.Lot == "" {
			return nil, conflictf("lot", "the tender (or one of its lots) is already awarded")
		}
		return nil, conflictf("lot", "lot %q is already awarded", t.Lot(win.Lot).Title)
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, MaxReason, false); err != nil {
		return nil, err
	}

	loserReason := "another bid was awarded"
	if reason != "" {
		loserReason += ": " + reason
	}
	if len(loserReason) > MaxReason {
		loserReason = "another bid was awarded"
	}
	_ = win.Accept(now) // cannot fail: win is live
	var rejected []*Bid
	reject := func(b *Bid) {
		if b.Status.Live() && b.Reject(loserReason, now) == nil {
			rejected = append(rejected, b)
		}
	}
	others := make([]*Bid, 0, len(all))
	for _, b := range all {
		if b == nil || b == win || (win.ID != "" && b.ID == win.ID) || (t.ID != "" && b.Tender != t.ID) {
			continue
		}
		others = append(others, b)
	}
	for _, b := range others {
		if win.Lot == "" || b.Lot == "" || b.Lot == win.Lot {
			reject(b)
		}
	}
	t.Awards = append(t.Awards, Award{
		Bid: win.ID, Lot: win.Lot, Winner: win.Bidder,
		Amount: win.Amount, Currency: win.Currency, Reason: reason, At: now,
	})
	if t.fullyAwarded() {
		t.Status = StatusComplete
		for _, b := range others {
			reject(b)
		}
	}
	t.Updated = now
	return rejected, nil
}

// MarkUnsuccessful closes a tender whose deadline has passed without an
// award: no bids came, or none is acceptable. Bids still live are the
// caller's to reject (with Bid.Reject), since only it knows them.
func (t *Tender) MarkUnsuccessful(now time.Time) error {
	if t.Status != StatusActive {
		return Errorf(EConflict, "a %s tender cannot be closed as unsuccessful", t.Status)
	}
	if t.AcceptingBids(now) {
		return Errorf(EConflict, "the tender accepts bids until %s", fmtTime(t.Deadline))
	}
	if len(t.Awards) > 0 {
		return Errorf(EConflict, "the tender has an award; award the remaining lots or cancel")
	}
	t.Status = StatusUnsuccessful
	t.Updated = now
	return nil
}

func (t *Tender) clone() *Tender {
	c := *t
	c.Categories = slices.Clone(t.Categories)
	c.Regions = slices.Clone(t.Regions)
	c.Languages = slices.Clone(t.Languages)
	if t.Budget != nil {
		b := *t.Budget
		c.Budget = &b
	}
	c.Lots = cloneLots(t.Lots)
	c.Awards = slices.Clone(t.Awards)
	return &c
}

func cloneLots(in []Lot) []Lot {
	if in == nil {
		return nil
	}
	out := make([]Lot, len(in))
	for i, l := range in {
		if l.Budget != nil {
			b := *l.Budget
			l.Budget = &b
		}
		out[i] = l
	}
	return out
}

func fmtTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
