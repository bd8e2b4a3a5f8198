package tendering

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/tender"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

var (
	published = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base      = "https://a.example/users/acoop"
)

func sampleTender() *tender.Tender {
	return &tender.Tender{
		ID: base + "/tenders/t1", Owner: base, Title: "Digital skills <programme>", Description: "Training for 40 libraries.\n\nBilingual.",
		Categories: []string{"training", "hosting"}, Regions: []string{"Ontario"}, Languages: []string{"en", "fr"},
		Budget: &tender.Budget{Min: 1000000, Max: 5000000, Currency: "CAD"}, Deadline: published.Add(240 * time.Hour),
		Eligibility: "co-operatives only",
		Lots: []tender.Lot{
			{ID: base + "/tenders/t1#lot-1", Title: "Training in Ottawa", Region: "Ottawa", Budget: &tender.Budget{Max: 2000000, Currency: "CAD"}},
			{ID: base + "/tenders/t1#lot-2", Title: "Hosting", Region: "Ontario"},
		},
		Status: tender.StatusActive, Published: published, Updated: published,
	}
}

func TestWireDocuments(t *testing.T) {
	tn := sampleTender()
	now := published.Add(time.Hour)
	doc := TenderDocument(tn, base+"/followers", now)
	golden(t, "tender.json", doc)
	golden(t, "tender-note.json", NoteForTender(tn, base+"/notes/n1", base+"/followers", now))

	awarded := sampleTender()
	awarded.Awards = []tender.Award{{Bid: "https://b.example/users/bcoop/bids/b1", Lot: awarded.Lots[0].ID, Winner: "https://b.example/users/bcoop", Amount: 1800000, Currency: "CAD", Reason: "bilingual trainers", At: published.Add(300 * time.Hour)}}
	awarded.Updated = published.Add(300 * time.Hour)
	golden(t, "tender-awarded.json", TenderDocument(awarded, base+"/followers", published.Add(301*time.Hour)))

	bid := &tender.Bid{ID: "https://b.example/users/bcoop/bids/b1", Tender: tn.ID, Lot: tn.Lots[0].ID, Bidder: "https://b.example/users/bcoop",
		Amount: 1800000, Currency: "CAD", Text: "We train in both languages.", DeliveryPlan: "March to June", Submitted: published.Add(2 * time.Hour)}
	golden(t, "bid.json", BidDocument(bid, base))

	// What we send must read back as what we meant.
	back, err := ParseTender(doc)
	if err != nil {
		t.Fatal(err)
	}
	if back.Title != tn.Title || back.Description != tn.Description || *back.Budget != *tn.Budget || len(back.Lots) != 2 || *back.Lots[0].Budget != *tn.Lots[0].Budget || !back.Deadline.Equal(tn.Deadline) {
		t.Errorf("round trip lost something: %+v", back)
	}
	bb, err := ParseBid(BidDocument(bid, base))
	if err != nil {
		t.Fatal(err)
	}
	if bb.Amount != bid.Amount || bb.Text != bid.Text || bb.Lot != bid.Lot || bb.Bidder != bid.Bidder {
		t.Errorf("bid round trip: %+v", bb)
	}
}

func TestParseTenderRefusesForeignIDs(t *testing.T) {
	for name, mutate := range map[string]func(d *TenderDoc){
		"id on another host":  func(d *TenderDoc) { d.ID = "https://evil.example/tenders/1" },
		"lot on another host": func(d *TenderDoc) { d.Lots[0].ID = "https://evil.example/lot" },
		"unknown status":      func(d *TenderDoc) { d.Status = "open" },
		"bad deadline":        func(d *TenderDoc) { d.Deadline = "tomorrow" },
		"bad budget":          func(d *TenderDoc) { d.Budget.MaxAmount = "-5" },
		"not a tender":        func(d *TenderDoc) { d.Type = "Note" },
	} {
		t.Run(name, func(t *testing.T) {
			d := TenderDocument(sampleTender(), base+"/followers", published)
			mutate(d)
			if _, err := ParseTender(d); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func FuzzParseTender(f *testing.F) {
	b, _ := json.Marshal(TenderDocument(sampleTender(), base+"/followers", published))
	f.Add(b)
	f.Add([]byte(`{"type":"Tender","id":"https://a/t","attributedTo":"https://a/u","name":"x","deadline":"2030-01-01T00:00:00Z","status":"active","lots":[{"id":"https://a/t#1","budget":{"maxAmount":"1","currency":"EUR"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d TenderDoc
		if json.Unmarshal(data, &d) != nil {
			return
		}
		tn, err := ParseTender(&d)
		if err != nil {
			return
		}
		if !federation.SameOrigin(tn.ID, tn.Owner) {
			t.Fatalf("accepted a tender off its owner's origin: %s by %s", tn.ID, tn.Owner)
		}
	})
}

func FuzzParseBid(f *testing.F) {
	b, _ := json.Marshal(BidDocument(&tender.Bid{ID: "https://b/bids/1", Bidder: "https://b/u", Tender: "https://a/t", Amount: 100, Currency: "EUR", Text: "x"}, "https://a/u"))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var d BidDoc
		if json.Unmarshal(data, &d) != nil {
			return
		}
		if b, err := ParseBid(&d); err == nil && b.Amount < 0 {
			t.Fatalf("negative amount accepted: %d", b.Amount)
		}
	})
}
