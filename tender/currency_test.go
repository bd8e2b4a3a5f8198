package tender

import (
	"math"
	"testing"
)

// wantErr fails the test unless err is an *Error with the given code and field.
func wantErr(t *testing.T, err error, code, field string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %s error on field %q, got nil", code, field)
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	if e.Code != code || e.Field != field {
		t.Fatalf("want code %q field %q, got code %q field %q (%v)", code, field, e.Code, e.Field, err)
	}
}

func TestCurrencyTable(t *testing.T) {
	if n := len(currencyDecimals); n < 150 {
		t.Errorf("only %d currencies", n)
	}
	for code, d := range currencyDecimals {
		if len(code) != 3 || NormalizeCurrency(code) != code {
			t.Errorf("bad code %q", code)
		}
		if d < 0 || d > 4 {
			t.Errorf("%s: exponent %d", code, d)
		}
	}
	for code, want := range map[string]int{"EUR": 2, "USD": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "CHF": 2, "UYW": 4} {
		if d, ok := CurrencyDecimals(code); !ok || d != want {
			t.Errorf("%s: got %d %v, want %d", code, d, ok, want)
		}
	}
	for _, c := range []string{"", "eur", "EURO", "XXX", "HRK", "ABC"} {
		if ValidCurrency(c) {
			t.Errorf("ValidCurrency(%q) = true", c)
		}
	}
	if got := NormalizeCurrency(" eur "); got != "EUR" {
		t.Errorf("NormalizeCurrency = %q", got)
	}
	cs := Currencies()
	if len(cs) != len(currencyDecimals) || cs[0] > cs[1] {
		t.Errorf("Currencies() not sorted/complete")
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in, cur string
		want    int64
		field   string // "" = no error
	}{
		{"12000", "EUR", 1200000, ""},
		{"12000.5", "EUR", 1200050, ""},
		{"12000.50", "EUR", 1200050, ""},
		{"0.01", "EUR", 1, ""},
		{"0", "EUR", 0, ""},
		{"007", "EUR", 700, ""},
		{"1200", "JPY", 1200, ""},
		{"1.234", "KWD", 1234, ""},
		{"1.2", "KWD", 1200, ""},
		{"1.2345", "UYW", 12345, ""},
		{"92233720368547758.07", "EUR", math.MaxInt64, ""},
		{"92233720368547758.08", "EUR", 0, "amount"},
		{"99999999999999999999", "JPY", 0, "amount"},
		{"", "EUR", 0, "amount"},
		{"-1", "EUR", 0, "amount"},
		{"-0.5", "EUR", 0, "amount"},
		{"+1", "EUR", 0, "amount"},
		{"12,000.50", "EUR", 0, "amount"},
		{"12 000", "EUR", 0, "amount"},
		{" 12", "EUR", 0, "amount"},
		{"12.", "EUR", 0, "amount"},
		{".5", "EUR", 0, "amount"},
		{"1.2.3", "EUR", 0, "amount"},
		{"1e3", "EUR", 0, "amount"},
		{"12.505", "EUR", 0, "amount"},
		{"1200.0", "JPY", 0, "amount"},
		{"١٢", "EUR", 0, "amount"}, // non-ASCII digits
		{"12", "eur", 0, "currency"},
		{"12", "", 0, "currency"},
		{"12", "XYZ", 0, "currency"},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in, tt.cur)
		if tt.field == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseAmount(%q, %q) = %d, %v; want %d", tt.in, tt.cur, got, err, tt.want)
			}
			continue
		}
		t.Run(tt.in+"/"+tt.cur, func(t *testing.T) { wantErr(t, err, EInvalid, tt.field) })
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		minor int64
		cur   string
		want  string
	}{
		{1200050, "EUR", "12000.50"},
		{1200000, "EUR", "12000.00"},
		{5, "EUR", "0.05"},
		{0, "EUR", "0.00"},
		{1200, "JPY", "1200"},
		{0, "JPY", "0"},
		{1234, "KWD", "1.234"},
		{7, "KWD", "0.007"},
		{-150, "EUR", "-1.50"},
		{math.MinInt64, "EUR", "-92233720368547758.08"},
		{math.MaxInt64, "JPY", "9223372036854775807"},
		{199, "???", "1.99"}, // unknown: two decimals
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.minor, tt.cur); got != tt.want {
			t.Errorf("FormatAmount(%d, %q) = %q, want %q", tt.minor, tt.cur, got, tt.want)
		}
	}
}

func TestAmountRoundTrip(t *testing.T) {
	values := []int64{0, 1, 9, 10, 99, 100, 101, 12345, 1200050, math.MaxInt64}
	for code := range currencyDecimals {
		for _, v := range values {
			s := FormatAmount(v, code)
			got, err := ParseAmount(s, code)
			if err != nil || got != v {
				t.Fatalf("%s: %d -> %q -> %d, %v", code, v, s, got, err)
			}
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range [][2]string{{"12.50", "EUR"}, {"1200", "JPY"}, {"1.234", "KWD"}, {"-1", "EUR"}, {"12,000.50", "EUR"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, s, cur string) {
		v, err := ParseAmount(s, cur)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Code != EInvalid || (e.Field != "amount" && e.Field != "currency") {
				t.Fatalf("ParseAmount(%q, %q): bad error %#v", s, cur, err)
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseAmount(%q, %q) = %d < 0", s, cur, v)
		}
		out := FormatAmount(v, cur)
		back, err := ParseAmount(out, cur)
		if err != nil || back != v {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, v, out, back, err)
		}
		if FormatAmount(back, cur) != out {
			t.Fatalf("FormatAmount not canonical for %q", out)
		}
	})
}
