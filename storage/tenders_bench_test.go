package storage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// BenchmarkTenderList measures `tender list --network` with filters over
// 100,000 stored tenders (issue 5: p50 ≤ 5 ms). Setup builds the table
// once; the loop runs the query the CLI runs.
func BenchmarkTenderList(b *testing.B) {
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	a := &storage.LocalActor{Username: "acoop", Name: "A", PrivateKeyPEM: "x", PublicKeyPEM: "x", Published: time.Now(), Updated: time.Now()}
	if err := db.CreateLocalActor(ctx, a); err != nil {
		b.Fatal(err)
	}
	const total, owners = 100000, 200
	cats := tender.Categories
	regions := []string{"Ontario", "Quebec", "Ottawa", "Manitoba", "Nova Scotia", "Alberta", "Yukon", "Bretagne", "Kerala", "Lagos"}
	langs := []string{"en", "fr", "go", "python", "es"}
	now := time.Now().UTC()
	for o := 0; o < owners; o++ {
		owner := fmt.Sprintf("https://peer%d.example/users/coop", o)
		if o%2 == 0 { // half the owners are followed
			if _, err := db.PutFollow(ctx, &storage.Follow{ActorID: a.ID, Remote: owner, Direction: storage.DirFollowing, State: storage.StateAccepted, Created: now}); err != nil {
				b.Fatal(err)
			}
		}
	}
	const batch = 2000
	for i := 0; i < total; i += batch {
		ch := &storage.Change{}
		for j := i; j < i+batch; j++ {
			owner := fmt.Sprintf("https://peer%d.example/users/coop", j%owners)
			t := &tender.Tender{
				ID: fmt.Sprintf("%s/tenders/%d", owner, j), Owner: owner, Title: fmt.Sprintf("Tender %d", j), Description: "work",
				Categories: []string{cats[j%len(cats)], cats[(j/7)%len(cats)]}, Regions: []string{regions[j%len(regions)]}, Languages: []string{langs[j%len(langs)]},
				Deadline: now.Add(time.Duration(j%40-10) * 24 * time.Hour), Status: tender.StatusActive,
				Published: now.Add(-time.Duration(total-j) * time.Minute), Updated: now,
			}
			ch.Tenders = append(ch.Tenders, &storage.TenderRecord{Tender: t})
		}
		if err := db.Apply(ctx, ch); err != nil {
			b.Fatal(err)
		}
	}
	open := true
	queries := []storage.TenderQuery{
		{Network: true, Now: now, Limit: 100, Filter: tender.Filter{Category: "training", Region: "Ontario", Open: &open}},
		{Network: true, Now: now, Limit: 100, Filter: tender.Filter{Language: "go"}},
		{Network: true, Now: now, Limit: 100},
	}
	for i, q := range queries {
		b.Run(fmt.Sprint("query", i), func(b *testing.B) {
			for b.Loop() {
				if _, err := db.Tenders(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
