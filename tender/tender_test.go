package tender

import (
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// validTender returns a tender that passes Validate at now, for tests to break one rule at a time.
func validTender() *Tender {
	return &Tender{
		ID:          "https://a.example/tenders/1",
		Owner:       "https://a.example/actors/coop-a",
		Title:       "New website for the bakery co-op",
		Description: "We need a bilingual website with an order form.",
		Categories:  []string{"web-development"},
		Regions:     []string{"Wallonia"},
		Languages:   []string{"fr", "en"},
		Budget:      &Budget{Min: 500000, Max: 1200000, Currency: "EUR"},
		Deadline:    now.Add(14 * 24 * time.Hour),
		Lots: []Lot{
			{ID: "https://a.example/tenders/1#lot-1", Title: "Design"},
			{ID: "https://a.example/tenders/1#lot-2", Title: "Build", Budget: &Budget{Max: 800000, Currency: "EUR"}},
		},
	}
}

func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		edit  func(*Tender)
		field string // "" = valid
	}{
		{"valid", func(*Tender) {}, ""},
		{"no budget", func(x *Tender) { x.Budget = nil; x.Lots[1].Budget.Currency = "USD" }, ""},
		{"no lots", func(x *Tender) { x.Lots = nil }, ""},
		{"title missing", func(x *Tender) { x.Title = "  " }, "title"},
		{"title 200 runes", func(x *Tender) { x.Title = strings.Repeat("é", 200) }, ""},
		{"title too long", func(x *Tender) { x.Title = long(201) }, "title"},
		{"title newline", func(x *Tender) { x.Title = "a\nb" }, "title"},
		{"description missing", func(x *Tender) { x.Description = "" }, "description"},
		{"description max", func(x *Tender) { x.Description = long(20000) }, ""},
		{"description too long", func(x *Tender) { x.Description = long(20001) }, "description"},
		{"description bad utf8", func(x *Tender) { x.Description = "a\xffb" }, "description"},
		{"deadline missing", func(x *Tender) { x.Deadline = time.Time{} }, "deadline"},
		{"deadline now", func(x *Tender) { x.Deadline = now }, "deadline"},
		{"deadline past", func(x *Tender) { x.Deadline = now.Add(-time.Hour) }, "deadline"},
		{"budget min negative", func(x *Tender) { x.Budget.Min = -1 }, "budget-min"},
		{"budget max zero", func(x *Tender) { x.Budget = &Budget{Currency: "EUR"} }, "budget-max"},
		{"budget max < min", func(x *Tender) { x.Budget.Max = x.Budget.Min - 1 }, "budget-max"},
		{"budget max = min", func(x *Tender) { x.Budget.Max = x.Budget.Min }, ""},
		{"budget currency missing", func(x *Tender) { x.Budget.Currency = ""; x.Lots[1].Budget = nil }, "currency"},
		{"budget currency unknown", func(x *Tender) { x.Budget.Currency = "EUX" }, "currency"},
		{"budget currency lower case normalised", func(x *Tender) { x.Budget.Currency = "eur" }, ""},
		{"category unknown", func(x *Tender) { x.Categories = []string{"plumbing"} }, "category"},
		{"category normalised", func(x *Tender) { x.Categories = []string{"Web Development", "E-Commerce", "ecommerce"} }, ""},
		{"category empty", func(x *Tender) { x.Categories = []string{""} }, "category"},
		{"region empty", func(x *Tender) { x.Regions = []string{"Wallonia", " "} }, "region"},
		{"region too long", func(x *Tender) { x.Regions = []string{long(101)} }, "region"},
		{"region control", func(x *Tender) { x.Regions = []string{"a\tb"} }, "region"},
		{"regions too many", func(x *Tender) {
			x.Regions = nil
			for i := 0; i < 21; i++ {
				x.Regions = append(x.Regions, "r"+string(rune('a'+i)))
			}
		}, "region"},
		{"regions 20 after dedupe", func(x *Tender) {
			x.Regions = nil
			for i := 0; i < 20; i++ {
				x.Regions = append(x.Regions, "r"+string(rune('a'+i)), "R"+string(rune('a'+i)))
			}
		}, ""},
		{"language empty", func(x *Tender) { x.Languages = []string{""} }, "language"},
		{"language too long", func(x *Tender) { x.Languages = []string{long(101)} }, "language"},
		{"categories too many", func(x *Tender) {
			x.Categories = nil
			for i := 0; i < 21; i++ {
				x.Categories = append(x.Categories, "c"+string(rune('a'+i)))
			}
		}, "category"},
		{"delivery end before start", func(x *Tender) {
			x.DeliveryStart = now.AddDate(0, 2, 0)
			x.DeliveryEnd = now.AddDate(0, 1, 0)
		}, "delivery-end"},
		{"delivery end equal start", func(x *Tender) {
			x.DeliveryStart = now.AddDate(0, 2, 0)
			x.DeliveryEnd = x.DeliveryStart
		}, "delivery-end"},
		{"delivery ok", func(x *Tender) {
			x.DeliveryStart = now.AddDate(0, 1, 0)
			x.DeliveryEnd = now.AddDate(0, 2, 0)
		}, ""},
		{"delivery only end", func(x *Tender) { x.DeliveryEnd = now.AddDate(0, 2, 0) }, ""},
		{"eligibility too long", func(x *Tender) { x.Eligibility = long(2001) }, "eligibility"},
		{"lot title missing", func(x *Tender) { x.Lots[0].Title = "" }, "lot"},
		{"lot title too long", func(x *Tender) { x.Lots[0].Title = long(201) }, "lot"},
		{"lot description too long", func(x *Tender) { x.Lots[0].Description = long(20001) }, "lot"},
		{"lot region too long", func(x *Tender) { x.Lots[0].Region = long(101) }, "lot"},
		{"lot duplicate id", func(x *Tender) { x.Lots[1].ID = x.Lots[0].ID }, "lot"},
		{"lot budget negative", func(x *Tender) { x.Lots[1].Budget.Min = -5 }, "lot"},
		{"lot budget max < min", func(x *Tender) { x.Lots[1].Budget.Min = 900000 }, "lot"},
		{"lot budget currency other", func(x *Tender) { x.Lots[1].Budget.Currency = "USD" }, "lot"},
		{"lot budget currency unknown", func(x *Tender) { x.Lots[1].Budget.Currency = "ZZZ" }, "lot"},
		{"lot budget currency inherited", func(x *Tender) { x.Lots[1].Budget.Currency = "" }, ""},
		{"lot budget currency missing without tender budget", func(x *Tender) {
			x.Budget = nil
			x.Lots[1].Budget.Currency = ""
		}, "lot"},
		{"too many lots", func(x *Tender) { x.Lots = make([]Lot, MaxLots+1) }, "lot"},
		{"parent ok", func(x *Tender) { x.Parent = "https://b.example/tenders/9#lot-2" }, ""},
		{"parent not IRI", func(x *Tender) { x.Parent = "lot-2" }, "parent"},
		{"parent self", func(x *Tender) { x.Parent = x.ID }, "parent"},
		{"status unknown", func(x *Tender) { x.Status = "open" }, "status"},
		{"status active", func(x *Tender) { x.Status = StatusActive }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := validTender()
			tt.edit(x)
			err := x.Validate(now)
			if tt.field == "" {
				wantErr(t, err, "", "")
				return
			}
			wantErr(t, err, EInvalid, tt.field)
		})
	}
}

func TestValidateCategoryMessageListsCategories(t *testing.T) {
	x := validTender()
	x.Categories = []string{"Plumbing"}
	err := x.Validate(now)
	wantErr(t, err, EInvalid, "category")
	if msg := ErrorMessage(err); !strings.Contains(msg, `"plumbing"`) || !strings.Contains(msg, "web-development") {
		t.Errorf("message %q should name the category and the list", msg)
	}
}

func TestNormalize(t *testing.T) {
	x := validTender()
	x.Title = "  Title  "
	x.Categories = []string{" Web  Development ", "web_development", "Mobile App", "SOFTWARE/development"}
	x.Regions = []string{" Île-de-France", "île-de-france", "Wallonia"}
	x.Languages = []string{"EN", " en ", "Go", "fr"}
	x.Budget.Currency = " eur"
	x.Lots[1].Budget.Currency = ""
	x.Normalize()
	if x.Title != "Title" {
		t.Errorf("title %q", x.Title)
	}
	if got := strings.Join(x.Categories, ","); got != "web-development,mobile-apps,software-development" {
		t.Errorf("categories %q", got)
	}
	if got := strings.Join(x.Regions, ","); got != "Île-de-France,Wallonia" {
		t.Errorf("regions %q", got)
	}
	if got := strings.Join(x.Languages, ","); got != "en,go,fr" {
		t.Errorf("languages %q", got)
	}
	if x.Budget.Currency != "EUR" || x.Lots[1].Budget.Currency != "EUR" {
		t.Errorf("currencies %q %q", x.Budget.Currency, x.Lots[1].Budget.Currency)
	}
}

func TestNormalizeCategory(t *testing.T) {
	for in, want := range map[string]string{
		"training":            "training",
		"Technical Support":   "technical-support",
		"technical_support":   "technical-support",
		"--web--development-": "web-development",
		"E-Commerce":          "e-commerce",
		"ecommerce":           "e-commerce",
		"mobile apps":         "mobile-apps",
		"":                    "",
		"  ":                  "",
	} {
		if got := NormalizeCategory(in); got != want {
			t.Errorf("NormalizeCategory(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range Categories {
		if NormalizeCategory(c) != c || !ValidCategory(c) {
			t.Errorf("category %q is not canonical", c)
		}
	}
	if ValidCategory("plumbing") {
		t.Error("plumbing is not a category")
	}
}

func TestStatusValid(t *testing.T) {
	for _, s := range []Status{StatusPlanning, StatusActive, StatusCancelled, StatusUnsuccessful, StatusComplete} {
		if !s.Valid() {
			t.Errorf("%s invalid", s)
		}
	}
	if Status("closed").Valid() || Status("").Valid() {
		t.Error("unknown status valid")
	}
	for _, s := range []BidStatus{BidSubmitted, BidDelivered, BidReceived, BidWithdrawn, BidAccepted, BidRejected, BidLate} {
		if !s.Valid() {
			t.Errorf("%s invalid", s)
		}
	}
	if BidStatus("pending").Valid() {
		t.Error("unknown bid status valid")
	}
}
