package tender

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// currencyDecimals maps each active ISO 4217 currency code to its minor-unit
// exponent. Amounts are stored as integers of minor units, so the exponent is
// what lets "12000.50" and 1200050 be the same thing; it is kept here rather
// than fetched so that validation never depends on the network.
//
// Fund codes (BOV, CLF, CHE, …), precious metals (XAU, …), testing codes and
// withdrawn currencies (HRK, ANG, SLL, ZWL, …) are left out on purpose: nobody
// tenders in them, and refusing them catches typos.
var currencyDecimals = map[string]int{
	"AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2,
	"AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3,
	"BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2,
	"BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLP": 0,
	"CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0,
	"DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2,
	"FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2,
	"GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
	"IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2,
	"JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2,
	"KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2,
	"LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2,
	"MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2,
	"MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
	"NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2,
	"PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2,
	"RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
	"SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2,
	"SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2,
	"TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2,
	"UYU": 2, "UYW": 4, "UZS": 2, "VED": 2, "VES": 2, "VND": 0, "VUV": 0,
	"WST": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0, "YER": 2,
	"ZAR": 2, "ZMW": 2, "ZWG": 2,
}

// ValidCurrency reports whether code is an active ISO 4217 code we accept.
// It is exact (upper case): remote documents must already be canonical, and
// local input goes through NormalizeCurrency first.
func ValidCurrency(code string) bool {
	_, ok := currencyDecimals[code]
	return ok
}

// CurrencyDecimals returns the minor-unit exponent of code (2 for EUR, 0 for
// JPY, 3 for KWD) and whether the code is known, so that callers rendering
// amounts in other formats (OCDS, HTML) agree with ParseAmount.
func CurrencyDecimals(code string) (int, bool) {
	d, ok := currencyDecimals[code]
	return d, ok
}

// Currencies returns the accepted codes, for help texts and completion.
func Currencies() []string {
	out := make([]string, 0, len(currencyDecimals))
	for c := range currencyDecimals {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// NormalizeCurrency trims and upper-cases a code typed by a person, so that
// "eur " is accepted at the edges while the domain only ever stores "EUR".
func NormalizeCurrency(code string) string {
	return strings.ToUpper(strings.TrimSpace(code))
}

// ParseAmount turns a decimal major-unit amount ("12000", "12000.5",
// "12000.50") into minor units of currency. It accepts only ASCII digits with
// an optional '.' followed by at most the currency's number of decimals: no
// sign, no thousands separators, no exponent, no spaces, because a separator
// that means "thousands" in one locale means "decimals" in another, and a
// misread price in a tender is worse than a refused one.
//
// Errors are EInvalid with Field "amount" (or "currency" for an unknown
// code); callers parsing a budget may relabel the Field.
func ParseAmount(s, currency string) (int64, error) {
	dec, ok := currencyDecimals[currency]
	if !ok {
		return 0, FieldErrorf("currency", "%q is not an ISO 4217 currency code", currency)
	}
	if s == "" {
		return 0, FieldErrorf("amount", "required")
	}
	if s[0] == '-' {
		return 0, FieldErrorf("amount", "must not be negative")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return 0, FieldErrorf("amount", "%q is not a plain decimal number (digits, optionally '.' and decimals)", s)
	}
	if len(frac) > dec {
		if dec == 0 {
			return 0, FieldErrorf("amount", "%s has no minor unit; give a whole number", currency)
		}
		return 0, FieldErrorf("amount", "%s allows at most %d decimals", currency, dec)
	}
	var v int64
	for _, c := range intPart + frac + strings.Repeat("0", dec-len(frac)) {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, FieldErrorf("amount", "too large")
		}
		v = v*10 + d
	}
	return v, nil
}

// FormatAmount renders minor units as the canonical decimal string that
// ParseAmount reads back to the same value ("12000.50" for EUR, "1200" for
// JPY). Unknown currencies are rendered with two decimals, the common case,
// rather than failing, because formatting is for display.
func FormatAmount(minor int64, currency string) string {
	dec, ok := currencyDecimals[currency]
	if !ok {
		dec = 2
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u // two's complement: correct even for math.MinInt64
	}
	digits := strconv.FormatUint(u, 10)
	if dec > 0 {
		if len(digits) <= dec {
			digits = strings.Repeat("0", dec-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-dec] + "." + digits[len(digits)-dec:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
