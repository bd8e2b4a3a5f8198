package tender

import (
	"testing"
	"time"
)

func TestFilterMatches(t *testing.T) {
	x := activeTender(t)
	x.Lots[1].Region = "Flanders"
	yes, no := true, false
	after := x.Deadline.Add(time.Hour)
	tests := []struct {
		name string
		f    Filter
		at   time.Time
		want bool
	}{
		{"zero filter", Filter{}, now, true},
		{"category exact", Filter{Category: "web-development"}, now, true},
		{"category loose", Filter{Category: "Web Development"}, now, true},
		{"category other", Filter{Category: "hosting"}, now, false},
		{"region case-insensitive", Filter{Region: "wallonia"}, now, true},
		{"region of a lot", Filter{Region: "FLANDERS"}, now, true},
		{"region other", Filter{Region: "Brussels"}, now, false},
		{"language", Filter{Language: "FR"}, now, true},
		{"language other", Filter{Language: "de"}, now, false},
		{"open now", Filter{Open: &yes}, now, true},
		{"closed now", Filter{Open: &no}, now, false},
		{"open after deadline", Filter{Open: &yes}, after, false},
		{"closed after deadline", Filter{Open: &no}, after, true},
		{"all constraints", Filter{Category: "web development", Region: "Wallonia", Language: "en", Open: &yes}, now, true},
		{"one constraint fails", Filter{Category: "web development", Region: "Wallonia", Language: "de", Open: &yes}, now, false},
	}
	for _, tt := range tests {
		if got := tt.f.Matches(x, tt.at); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
	x.Status = StatusCancelled
	if (Filter{Open: &yes}).Matches(x, now) {
		t.Error("cancelled tender is open")
	}
	if (Filter{}).Matches(nil, now) {
		t.Error("nil tender matches")
	}
}
