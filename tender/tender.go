package tender

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is the tender's OCDS tender status. The codes are OCDS's verbatim so
// that an OCDS export is a mapping, not a translation. "Closed for bids" is
// not a status (OCDS keeps "active" until award or cancellation): it is
// derived from the deadline by AcceptingBids and Closed.
type Status string

// The OCDS tender status codes we use.
const (
	// StatusPlanning is a draft: stored locally, not yet federated, freely editable.
	StatusPlanning Status = "planning"
	// StatusActive is published: bids are accepted until the deadline, then awarded.
	StatusActive Status = "active"
	// StatusCancelled is withdrawn by the owner; kept on record with CancelReason.
	StatusCancelled Status = "cancelled"
	// StatusUnsuccessful is closed with no award (no bids, or none acceptable).
	StatusUnsuccessful Status = "unsuccessful"
	// StatusComplete means every lot (or the whole tender) has been awarded.
	StatusComplete Status = "complete"
)

// Valid reports whether s is one of the OCDS codes above, so that a remote
// document with an invented status is refused rather than stored.
func (s Status) Valid() bool {
	switch s {
	case StatusPlanning, StatusActive, StatusCancelled, StatusUnsuccessful, StatusComplete:
		return true
	}
	return false
}

// Limits on sizes. They exist so that one tender cannot fill a peer's
// storage or a page; they are generous for real procurement texts.
const (
	MaxTitle       = 200
	MaxText        = 20000 // descriptions, bid texts, delivery plans, questions, answers
	MaxReason      = 2000  // cancel, award and reject reasons; eligibility
	MaxListItems   = 20    // categories, regions, languages
	MaxListItemLen = 100
	MaxLots        = 50
)

// Budget is an indicative price range in minor units (cents) of an ISO 4217
// currency. Integers, because floating-point prices do not add up.
type Budget struct {
	Min      int64
	Max      int64
	Currency string
}

// Lot is a part of a tender that can be bid on and awarded on its own. Its
// ID is an IRI assigned by the owner's node; bids and awards refer to it.
type Lot struct {
	ID          string
	Title       string
	Description string
	Region      string
	Budget      *Budget // nil: the tender's budget covers it
}

// Tender is a call for bids published by a co-operative.
type Tender struct {
	ID          string // IRI
	Owner       string // actor IRI (attributedTo)
	Title       string
	Description string
	Categories  []string // normalised, from Categories
	Regions     []string // where the work is delivered, as the owner wrote them
	Languages   []string // human and programming languages, lower case
	Budget      *Budget  // nil: no budget announced
	Deadline    time.Time
	// DeliveryStart and DeliveryEnd bound the delivery period; zero = unset.
	DeliveryStart time.Time
	DeliveryEnd   time.Time
	Eligibility   string // e.g. "co-operatives only; open-source deliverables"
	Lots          []Lot
	// Parent is the IRI of the tender or lot this one sub-contracts, or "".
	Parent       string
	Status       Status
	CancelReason string
	// Awards holds one award per lot, or a single one with Lot "" for the
	// whole tender; a slice because a tender with lots is awarded piecewise.
	Awards    []Award
	Published time.Time
	Updated   time.Time
}

// Categories is the closed list of categories of work (the seeds' list).
// Closed so that filters on one node find tenders from another; "other"
// covers the rest.
var Categories = []string{
	"training", "technical-support", "web-development", "hosting",
	"software-development", "database-development", "documentation",
	"facilitation", "e-commerce", "publicity", "mobile-apps", "consulting",
	"design", "translation", "other",
}

// categoryAliases catches the spellings people actually type, so that they
// do not have to learn our hyphenation.
var categoryAliases = map[string]string{
	"ecommerce":    "e-commerce",
	"mobile-app":   "mobile-apps",
	"tech-support": "technical-support",
	"support":      "technical-support",
	"web-dev":      "web-development",
}

// NormalizeCategory maps "Web Development", "web_development" and
// "web-development" to the same key, so that comparisons and filters work
// whatever a person or a peer typed. It does not check that the result is
// known; see ValidCategory.
func NormalizeCategory(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
			continue
		}
		hyphen = true
	}
	out := b.String()
	if a, ok := categoryAliases[out]; ok {
		return a
	}
	return out
}

// ValidCategory reports whether c (already normalised) is in Categories.
func ValidCategory(c string) bool {
	for _, k := range Categories {
		if k == c {
			return true
		}
	}
	return false
}

// NormalizeCategories normalises each category and drops duplicates, keeping
// the first occurrence's position so the owner's order is preserved.
func NormalizeCategories(in []string) []string {
	return dedupe(in, NormalizeCategory, func(s string) string { return s })
}

// NormalizeRegions trims each region and drops case-insensitive duplicates.
// Case is kept because region names are proper nouns ("Île-de-France").
func NormalizeRegions(in []string) []string {
	return dedupe(in, strings.TrimSpace, strings.ToLower)
}

// NormalizeLanguages trims and lower-cases each language ("en", "go",
// "python") and drops duplicates; language tags and programming languages
// are case-insensitive, and one spelling makes filters exact.
func NormalizeLanguages(in []string) []string {
	return dedupe(in, func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }, func(s string) string { return s })
}

// dedupe applies norm to each item and keeps the first item of each key.
// Empty items are kept (once) so that Validate can report them instead of
// silently dropping what someone typed.
func dedupe(in []string, norm, key func(string) string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		s = norm(s)
		k := key(s)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	return out
}

// Normalize canonicalises t in place (trimmed texts, normalised lists,
// upper-case currencies, lot budgets inheriting the tender's currency), so
// that what is validated is exactly what is stored and federated.
func (t *Tender) Normalize() {
	t.Title = strings.TrimSpace(t.Title)
	t.Description = strings.TrimSpace(t.Description)
	t.Eligibility = strings.TrimSpace(t.Eligibility)
	t.Parent = strings.TrimSpace(t.Parent)
	t.Categories = NormalizeCategories(t.Categories)
	t.Regions = NormalizeRegions(t.Regions)
	t.Languages = NormalizeLanguages(t.Languages)
	if t.Budget != nil {
		t.Budget.Currency = NormalizeCurrency(t.Budget.Currency)
	}
	for i := range t.Lots {
		l := &t.Lots[i]
		l.Title = strings.TrimSpace(l.Title)
		l.Description = strings.TrimSpace(l.Description)
		l.Region = strings.TrimSpace(l.Region)
		if l.Budget != nil {
			l.Budget.Currency = NormalizeCurrency(l.Budget.Currency)
			if l.Budget.Currency == "" && t.Budget != nil {
				l.Budget.Currency = t.Budget.Currency
			}
		}
	}
}

// Validate checks the rules for a tender about to be published or amended;
// it is not meant for stored tenders, whose deadline may be past. It
// normalises t first (see Normalize) and returns the first rule broken as an
// EInvalid *Error whose Field is the CLI flag name at fault.
func (t *Tender) Validate(now time.Time) error {
	t.Normalize()
	if err := checkLine("title", t.Title, MaxTitle); err != nil {
		return err
	}
	if err := checkText("description", t.Description, MaxText, true); err != nil {
		return err
	}
	if t.Deadline.IsZero() {
		return FieldErrorf("deadline", "required")
	}
	if !t.Deadline.After(now) {
		return FieldErrorf("deadline", "must be in the future (it is %s)", t.Deadline.UTC().Format(time.RFC3339))
	}
	if t.Budget != nil {
		if err := checkBudget(t.Budget); err != nil {
			return err
		}
	}
	if err := checkCategories(t.Categories); err != nil {
		return err
	}
	if err := checkList("region", t.Regions); err != nil {
		return err
	}
	if err := checkList("language", t.Languages); err != nil {
		return err
	}
	if !t.DeliveryStart.IsZero() && !t.DeliveryEnd.IsZero() && !t.DeliveryEnd.After(t.DeliveryStart) {
		return FieldErrorf("delivery-end", "must be after delivery-start")
	}
	if err := checkText("eligibility", t.Eligibility, MaxReason, false); err != nil {
		return err
	}
	if err := t.checkLots(); err != nil {
		return err
	}
	if t.Parent != "" {
		if !isAbsoluteIRI(t.Parent) {
			return FieldErrorf("parent", "%q is not an absolute http(s) IRI", t.Parent)
		}
		if t.Parent == t.ID {
			return FieldErrorf("parent", "a tender cannot sub-contract itself")
		}
	}
	if t.Status != "" && !t.Status.Valid() {
		return FieldErrorf("status", "%q is not an OCDS tender status", t.Status)
	}
	return nil
}

func (t *Tender) checkLots() error {
	if len(t.Lots) > MaxLots {
		return FieldErrorf("lot", "at most %d lots", MaxLots)
	}
	ids := make(map[string]bool, len(t.Lots))
	for i, l := range t.Lots {
		n := i + 1
		if l.ID != "" {
			if ids[l.ID] {
				return FieldErrorf("lot", "lot %d: id %s is used twice", n, l.ID)
			}
			ids[l.ID] = true
		}
		if err := checkLine("lot", l.Title, MaxTitle); err != nil {
			return FieldErrorf("lot", "lot %d: title %s", n, err.(*Error).Message)
		}
		if err := checkText("lot", l.Description, MaxText, false); err != nil {
			return FieldErrorf("lot", "lot %d: description %s", n, err.(*Error).Message)
		}
		if utf8.RuneCountInString(l.Region) > MaxListItemLen {
			return FieldErrorf("lot", "lot %d: region longer than %d characters", n, MaxListItemLen)
		}
		if l.Budget != nil {
			if err := checkBudget(l.Budget); err != nil {
				e := err.(*Error)
				return FieldErrorf("lot", "lot %d: %s %s", n, e.Field, e.Message)
			}
			if t.Budget != nil && l.Budget.Currency != t.Budget.Currency {
				return FieldErrorf("lot", "lot %d: currency %s differs from the tender's %s", n, l.Budget.Currency, t.Budget.Currency)
			}
		}
	}
	return nil
}

// checkBudget applies the budget rules. Max must be positive: a budget of
// nothing says nothing, and an open-ended "from N" is better written in the
// description than guessed at by a filter.
func checkBudget(b *Budget) error {
	if b.Min < 0 {
		return FieldErrorf("budget-min", "must not be negative")
	}
	if b.Max <= 0 {
		return FieldErrorf("budget-max", "must be greater than zero")
	}
	if b.Max < b.Min {
		return FieldErrorf("budget-max", "must not be less than budget-min")
	}
	if b.Currency == "" {
		return FieldErrorf("currency", "required with a budget")
	}
	if !ValidCurrency(b.Currency) {
		return FieldErrorf("currency", "%q is not an ISO 4217 currency code", b.Currency)
	}
	return nil
}

func checkCategories(cs []string) error {
	if err := checkList("category", cs); err != nil {
		return err
	}
	for _, c := range cs {
		if !ValidCategory(c) {
			return FieldErrorf("category", "unknown category %q; use one of: %s", c, strings.Join(Categories, ", "))
		}
	}
	return nil
}

func checkList(field string, items []string) error {
	if len(items) > MaxListItems {
		return FieldErrorf(field, "at most %d items", MaxListItems)
	}
	for _, s := range items {
		if s == "" {
			return FieldErrorf(field, "empty item")
		}
		if utf8.RuneCountInString(s) > MaxListItemLen {
			return FieldErrorf(field, "%.20q… is longer than %d characters", s, MaxListItemLen)
		}
		if hasControl(s) {
			return FieldErrorf(field, "%q contains control characters", s)
		}
	}
	return nil
}

// checkLine checks a required single-line text: a title with a newline
// breaks every list and notification it appears in.
func checkLine(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return FieldErrorf(field, "required")
	}
	if utf8.RuneCountInString(s) > max {
		return FieldErrorf(field, "longer than %d characters", max)
	}
	if hasControl(s) {
		return FieldErrorf(field, "must be a single line without control characters")
	}
	return nil
}

func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return FieldErrorf(field, "required")
	}
	if !utf8.ValidString(s) {
		return FieldErrorf(field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return FieldErrorf(field, "longer than %d characters", max)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return !utf8.ValidString(s)
}

func isAbsoluteIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Lot returns the lot with the given IRI, or nil, so callers need not loop.
func (t *Tender) Lot(id string) *Lot {
	if id == "" {
		return nil
	}
	for i := range t.Lots {
		if t.Lots[i].ID == id {
			return &t.Lots[i]
		}
	}
	return nil
}
