package federation

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/tender"
)

func TestParseHandle(t *testing.T) {
	good := []struct{ in, user, host string }{
		{"@alice@gts1.test", "alice", "gts1.test"},
		{"alice@gts1.test", "alice", "gts1.test"},
		{"acct:alice@gts1.test", "alice", "gts1.test"},
		{"ACCT:alice@GTS1.Test", "alice", "gts1.test"},
		{"  @bob.smith-2_x@coop.example.org ", "bob.smith-2_x", "coop.example.org"},
		{"probe@127.0.0.1:8080", "probe", "127.0.0.1:8080"},
		{"probe@[::1]:8080", "probe", "[::1]:8080"},
		{"probe@[0:0::1]", "probe", "[::1]"},
		{"probe@xn--bcher-kva.example", "probe", "xn--bcher-kva.example"},
		{"probe@localhost", "probe", "localhost"},
	}
	for _, tt := range good {
		user, host, err := ParseHandle(tt.in)
		if err != nil || user != tt.user || host != tt.host {
			t.Errorf("ParseHandle(%q) = %q, %q, %v; want %q, %q", tt.in, user, host, err, tt.user, tt.host)
		}
	}
	bad := []string{
		"", "alice", "@alice", "alice@", "@@alice@host", "alice@host@other", "al ice@host", "alice@ho st",
		"alice@host:", "alice@host:0", "alice@host:65536", "alice@host:08", "alice@host:abc", "alice@[::1", "alice@[::1]x",
		"alice@[127.0.0.1]", "alice@-host.example", "alice@host-.example", "alice@host..example", "alice@.host",
		"alice@bücher.example", "al/ice@host", "alice@host/path", "alice@host?x", "acct:@host",
		"alice@[fe80::1%eth0]", strings.Repeat("a", 65) + "@host", "alice@" + strings.Repeat("a.", 130) + "x",
	}
	for _, in := range bad {
		if _, _, err := ParseHandle(in); tender.ErrorCode(err) != tender.EInvalid {
			t.Errorf("ParseHandle(%q) = %v; want invalid", in, err)
		}
	}
}

func TestParseWebFingerResource(t *testing.T) {
	good := []struct {
		in   string
		want WebFingerResource
	}{
		{"acct:alice@gts1.test", WebFingerResource{User: "alice", Host: "gts1.test"}},
		{"acct:alice@127.0.0.1:8080", WebFingerResource{User: "alice", Host: "127.0.0.1:8080"}},
		{"alice@gts1.test", WebFingerResource{User: "alice", Host: "gts1.test"}},
		{"https://Coop.Example/users/alice", WebFingerResource{URL: "https://coop.example/users/alice"}},
		{"http://127.0.0.1:8080/users/alice#main-key", WebFingerResource{URL: "http://127.0.0.1:8080/users/alice"}},
		{"https://coop.example/@alice", WebFingerResource{URL: "https://coop.example/@alice"}},
	}
	for _, tt := range good {
		got, err := ParseWebFingerResource(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseWebFingerResource(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.IsAcct() != (tt.want.User != "") {
			t.Errorf("IsAcct wrong for %q", tt.in)
		}
	}
	for _, in := range []string{"", "acct:", "mailto:alice@host", "https://", "https://user:pw@host/x", "https:///x",
		"https://ho st/x", "ftp://host/x", "acct:alice@host@x", strings.Repeat("x", 3000)} {
		if _, err := ParseWebFingerResource(in); tender.ErrorCode(err) != tender.EInvalid {
			t.Errorf("ParseWebFingerResource(%q) = %v; want invalid", in, err)
		}
	}
}

func TestWebFinger(t *testing.T) {
	captured, err := os.ReadFile(filepath.Join("testdata", "fixtures", "gotosocial", "webfinger-alice.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gotResource string
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/webfinger", func(w http.ResponseWriter, r *http.Request) {
		gotResource = r.URL.Query().Get("resource")
		switch gotResource {
		case "acct:alice@" + r.Host:
			w.Header().Set("Content-Type", "application/jrd+json")
			_, _ = w.Write(captured)
		case "acct:noap@" + r.Host:
			w.Header().Set("Content-Type", "application/jrd+json")
			_, _ = io.WriteString(w, `{"subject":"acct:noap@x","links":[{"rel":"self","type":"text/html","href":"https://x/@noap"}]}`)
		case "acct:garbage@" + r.Host:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"links":`)
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true})

	actor, err := c.WebFinger(ctx, "@alice@"+host)
	if err != nil {
		t.Fatal(err)
	}
	if actor != "http://gts1.test/users/alice" {
		t.Errorf("actor %q", actor)
	}
	if gotResource != "acct:alice@"+host {
		t.Errorf("resource %q", gotResource)
	}
	if _, err := c.WebFinger(ctx, "noap@"+host); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("no AP link: %v", err)
	}
	if _, err := c.WebFinger(ctx, "nobody@"+host); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := c.WebFinger(ctx, "garbage@"+host); tender.ErrorCode(err) != tender.EInvalid {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := c.WebFinger(ctx, "not a handle"); tender.ErrorCode(err) != tender.EInvalid {
		t.Errorf("bad handle: %v", err)
	}

	// Without AllowInsecureHTTP there is no plain-HTTP fallback.
	strict := testClient(ClientConfig{AllowPrivate: true})
	if _, err := strict.WebFinger(ctx, "alice@"+host); err == nil {
		t.Error("fell back to http without AllowInsecureHTTP")
	}
}

func FuzzParseWebFingerResource(f *testing.F) {
	for _, s := range []string{"acct:alice@gts1.test", "alice@127.0.0.1:8080", "@bob@[::1]:8080", "https://coop.example/users/alice", "acct:@", "http://[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseWebFingerResource(s)
		if err != nil {
			if tender.ErrorCode(err) != tender.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		if r.IsAcct() == (r.URL != "") {
			t.Fatalf("exactly one form must be set: %+v", r)
		}
		var again WebFingerResource
		if r.IsAcct() {
			if err := validateUser(r.User); err != nil {
				t.Fatalf("user %q accepted: %v", r.User, err)
			}
			if strings.ToLower(r.Host) != r.Host || strings.ContainsAny(r.Host, "@/?# ") {
				t.Fatalf("host %q accepted", r.Host)
			}
			again, err = ParseWebFingerResource("acct:" + r.User + "@" + r.Host)
		} else {
			u, perr := url.Parse(r.URL)
			if perr != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
				t.Fatalf("URL %q accepted", r.URL)
			}
			again, err = ParseWebFingerResource(r.URL)
		}
		if err != nil || again != r {
			t.Fatalf("normal form %+v does not parse to itself: %+v, %v", r, again, err)
		}
	})
}
