package tender

import (
	"strings"
	"time"
)

// Filter selects tenders for a listing. Empty fields do not constrain, so
// the zero Filter matches everything; storage may pre-filter in SQL but this
// is the reference for what a match means.
type Filter struct {
	Category string // compared after NormalizeCategory
	Region   string // case-insensitive, against the tender's and its lots' regions
	Language string // case-insensitive
	// Open, when set, keeps only tenders accepting bids (true) or only those
	// not accepting them (false), as of the now passed to Matches.
	Open *bool
}

// Matches reports whether t passes every constraint of f at time now.
// Regions of lots count, because a co-op looking for work near it should
// find a tender one of whose lots is delivered there.
func (f Filter) Matches(t *Tender, now time.Time) bool {
	if t == nil {
		return false
	}
	if f.Category != "" {
		want := NormalizeCategory(f.Category)
		if !anyMatch(t.Categories, func(c string) bool { return NormalizeCategory(c) == want }) {
			return false
		}
	}
	if r := strings.TrimSpace(f.Region); r != "" {
		eq := func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), r) }
		if !anyMatch(t.Regions, eq) && !anyLot(t.Lots, func(l Lot) bool { return eq(l.Region) }) {
			return false
		}
	}
	if l := strings.TrimSpace(f.Language); l != "" {
		if !anyMatch(t.Languages, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), l) }) {
			return false
		}
	}
	if f.Open != nil && t.AcceptingBids(now) != *f.Open {
		return false
	}
	return true
}

func anyMatch(items []string, ok func(string) bool) bool {
	for _, s := range items {
		if ok(s) {
			return true
		}
	}
	return false
}

func anyLot(lots []Lot, ok func(Lot) bool) bool {
	for _, l := range lots {
		if ok(l) {
			return true
		}
	}
	return false
}
