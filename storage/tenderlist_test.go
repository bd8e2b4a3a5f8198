package storage_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// TestTenderListMatchesFilter checks the SQL of Tenders against the
// domain's own rule, tender.Filter.Matches, over every combination of
// filters: the query joins tag rows in a hand-picked order for speed, and
// must still return exactly the tenders the rule keeps, newest first.
func TestTenderListMatchesFilter(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	now := t0.Add(30 * 24 * time.Hour)
	cats := []string{"training", "hosting", "web-development"}
	regions := []string{"Ontario", "Ottawa", "Québec", "Manitoba"}
	langs := []string{"en", "fr", "go"}
	const owners = 4
	for o := range owners {
		if o%2 == 0 { // owners 0 and 2 are followed
			if _, err := db.PutFollow(ctx, &storage.Follow{ActorID: a.ID, Remote: owner(o), Direction: storage.DirFollowing, State: storage.StateAccepted, Created: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var all []*storage.TenderRecord
	ch := &storage.Change{}
	for i := range 96 {
		tn := &tender.Tender{
			ID: fmt.Sprintf("%s/tenders/%d", owner(i%owners), i), Owner: owner(i % owners), Title: fmt.Sprint("T", i), Description: "d",
			Categories: []string{cats[i%3]}, Regions: []string{regions[i%4]}, Languages: []string{langs[(i/3)%3]},
			Deadline: now.Add(time.Duration(i%5-2) * 24 * time.Hour), Status: tender.StatusActive,
			Published: t0.Add(time.Duration(i) * time.Hour), Updated: t0,
		}
		if i%7 == 0 {
			tn.Categories = append(tn.Categories, cats[(i+1)%3])
		}
		if i%5 == 0 { // a lot delivered elsewhere counts for the region filter
			tn.Lots = []tender.Lot{{ID: tn.ID + "#lot-1", Title: "L", Region: regions[(i+1)%4]}}
		}
		if i%11 == 0 {
			tn.Status = tender.StatusCancelled
		}
		rec := &storage.TenderRecord{Tender: tn}
		if i%8 == 0 { // some are the local co-op's own
			rec.ActorID = a.ID
			tn.Owner = "https://node.example/users/acoop"
			tn.ID = fmt.Sprintf("https://node.example/users/acoop/tenders/%d", i)
		}
		ch.Tenders = append(ch.Tenders, rec)
		all = append(all, rec)
	}
	if err := db.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	followed := func(r *storage.TenderRecord) bool {
		return r.ActorID == 0 && (r.Tender.Owner == owner(0) || r.Tender.Owner == owner(2))
	}
	yes, no := true, false
	var filters []tender.Filter
	for _, c := range append([]string{""}, cats...) {
		for _, r := range append([]string{""}, "ontario", "Ottawa", "Québec") {
			for _, l := range []string{"", "fr"} {
				for _, open := range []*bool{nil, &yes, &no} {
					filters = append(filters, tender.Filter{Category: c, Region: r, Language: l, Open: open})
				}
			}
		}
	}
	scopes := []struct {
		name string
		q    storage.TenderQuery
		keep func(*storage.TenderRecord) bool
	}{
		{"all", storage.TenderQuery{}, func(*storage.TenderRecord) bool { return true }},
		{"network", storage.TenderQuery{Network: true}, followed},
		{"local", storage.TenderQuery{Local: true}, func(r *storage.TenderRecord) bool { return r.ActorID != 0 }},
		{"actor", storage.TenderQuery{ActorID: a.ID}, func(r *storage.TenderRecord) bool { return r.ActorID == a.ID }},
	}
	for _, sc := range scopes {
		for _, f := range filters {
			q := sc.q
			q.Filter, q.Now, q.Limit = f, now, 1000
			got, err := db.Tenders(ctx, q)
			if err != nil {
				t.Fatalf("%s %+v: %v", sc.name, f, err)
			}
			var want []string
			for i := len(all) - 1; i >= 0; i-- { // newest first
				if r := all[i]; sc.keep(r) && f.Matches(r.Tender, now) {
					want = append(want, r.Tender.ID)
				}
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.Tender.ID)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("%s %+v (open %v):\n got %v\nwant %v", sc.name, f, deref(f.Open), ids, want)
			}
		}
	}
}

func owner(o int) string { return fmt.Sprintf("https://peer%d.example/users/coop", o) }

func deref(b *bool) string {
	if b == nil {
		return "any"
	}
	return fmt.Sprint(*b)
}
