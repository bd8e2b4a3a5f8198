package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/tender"
)

func TestAllowedIP(t *testing.T) {
	tests := []struct {
		ip      string
		public  bool // allowed without AllowPrivate
		private bool // allowed with AllowPrivate
	}{
		{"93.184.216.34", true, true},
		{"2606:4700:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"127.8.9.10", false, true},
		{"::1", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"172.31.255.255", false, true},
		{"172.32.0.1", true, true},
		{"192.168.1.1", false, true},
		{"169.254.169.254", false, true}, // cloud metadata
		{"fe80::1", false, true},
		{"fc00::1", false, true},
		{"fd12:3456::1", false, true},
		{"100.64.0.1", false, true},
		{"100.127.255.255", false, true},
		{"100.128.0.1", true, true},
		{"0.1.2.3", false, true},
		{"192.0.2.1", false, true},
		{"198.18.0.1", false, true},
		{"240.0.0.1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"::ffff:10.0.0.1", false, true},
		{"::ffff:93.184.216.34", true, true},
		{"::127.0.0.1", false, true},
		{"64:ff9b::7f00:1", false, true},   // NAT64 of 127.0.0.1
		{"64:ff9b::5db8:d822", true, true}, // NAT64 of a public address
		{"2002:7f00:1::1", false, true},    // 6to4 of 127.0.0.1
		{"2001:db8::1", false, true},
		{"2001:0:1::1", false, true}, // Teredo
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
	}
	for _, tt := range tests {
		ip := net.ParseIP(tt.ip)
		if ip == nil {
			t.Fatalf("bad test IP %q", tt.ip)
		}
		if got := AllowedIP(ip, false); got != tt.public {
			t.Errorf("AllowedIP(%s, false) = %v", tt.ip, got)
		}
		if got := AllowedIP(ip, true); got != tt.private {
			t.Errorf("AllowedIP(%s, true) = %v", tt.ip, got)
		}
	}
	if AllowedIP(nil, true) {
		t.Error("nil IP allowed")
	}
}

func testClient(cfg ClientConfig) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return NewClient(cfg)
}

func serverPort(t *testing.T, srv *httptest.Server) uint16 {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return uint16(p)
}

func activityHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentTypeActivity)
		_, _ = io.WriteString(w, body)
	}
}

func TestClientRefusesPrivateAddress(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	c := testClient(ClientConfig{AllowInsecureHTTP: true})
	_, err := c.Get(context.Background(), srv.URL+"/users/x", nil)
	if err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Fatalf("err = %v, want an address refusal", err)
	}
	if tender.ErrorCode(err) != tender.EForbidden {
		t.Errorf("code %q, want forbidden", tender.ErrorCode(err))
	}
	if hit {
		t.Error("the request reached the server")
	}
	_, err = c.Post(context.Background(), srv.URL+"/inbox", []byte(`{}`), Signer{KeyID: testKeyID, Key: newKey(t)})
	if tender.ErrorCode(err) != tender.EForbidden {
		t.Errorf("Post: %v, want forbidden", err)
	}
}

func TestClientRefusesRedirectToForbiddenAddress(t *testing.T) {
	inner := httptest.NewServer(activityHandler(`{"id":"secret"}`))
	defer inner.Close()
	outer := httptest.NewServer(http.RedirectHandler(inner.URL+"/admin", http.StatusFound))
	defer outer.Close()

	c := testClient(ClientConfig{AllowInsecureHTTP: true})
	// Only the outer server counts as public.
	allowed := serverPort(t, outer)
	c.allowAddr = func(ap netip.AddrPort) bool { return ap.Port() == allowed }

	_, err := c.Get(context.Background(), outer.URL+"/users/x", nil)
	if err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Fatalf("err = %v, want the redirect target refused", err)
	}
}

func TestClientRedirects(t *testing.T) {
	key := newKey(t)
	now := time.Now()
	keys := &fakeKeys{keys: map[string]*PublicKey{testKeyID: {ID: testKeyID, Owner: testOwner, Key: &key.PublicKey}}}
	v := &Verifier{Keys: keys}

	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusMovedPermanently))
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Verify(r.Context(), r, nil); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		activityHandler(`{"id":"x"}`)(w, r)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		http.Redirect(w, r, fmt.Sprintf("/loop?n=%d", n+1), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true, Now: func() time.Time { return now }})

	resp, err := c.Fetch(context.Background(), srv.URL+"/old", &Signer{KeyID: testKeyID, Key: key})
	if err != nil {
		t.Fatalf("signed fetch through a redirect: %v", err)
	}
	if resp.URL != srv.URL+"/new" {
		t.Errorf("final URL %q", resp.URL)
	}

	_, err = c.Get(context.Background(), srv.URL+"/loop", nil)
	if err == nil || !strings.Contains(err.Error(), "too many redirects") {
		t.Errorf("redirect loop: %v", err)
	}
}

func TestClientRefusesHTTPSDowngrade(t *testing.T) {
	plain := httptest.NewServer(activityHandler(`{}`))
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x", http.StatusFound))
	defer tlsSrv.Close()

	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true})
	c.transport.TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	_, err := c.Get(context.Background(), tlsSrv.URL+"/y", nil)
	if err == nil || !strings.Contains(err.Error(), "redirect from https") {
		t.Fatalf("err = %v, want downgrade refused", err)
	}
}

func TestClientRefusesHTTPUnlessAllowed(t *testing.T) {
	c := testClient(ClientConfig{AllowPrivate: true})
	for _, u := range []string{"http://127.0.0.1:1/x", "ftp://a.example/x", "https:///x", "https://user:pw@a.example/x", "::"} {
		if _, err := c.Get(context.Background(), u, nil); err == nil {
			t.Errorf("Get(%q) accepted", u)
		}
	}
}

func TestClientGetErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/big", activityHandler(`{"x":"`+strings.Repeat("a", 2000)+`"}`))
	mux.HandleFunc("/chunked-big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentTypeActivity)
		for i := 0; i < 30; i++ {
			_, _ = io.WriteString(w, strings.Repeat("b", 100))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	mux.HandleFunc("/slow-down", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		http.Error(w, "later", http.StatusTooManyRequests)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<p>hi</p>")
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if !IsActivityJSON(r.Header.Get("Accept")) {
			http.Error(w, "accept", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", ContentTypeLDJSON)
		_, _ = io.WriteString(w, `{"id":"ok"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true, MaxBody: 1000})
	ctx := context.Background()

	if b, err := c.Get(ctx, srv.URL+"/ok", nil); err != nil || string(b) != `{"id":"ok"}` {
		t.Errorf("ok: %q, %v", b, err)
	}
	for _, p := range []string{"/big", "/chunked-big"} {
		if _, err := c.Get(ctx, srv.URL+p, nil); tender.ErrorCode(err) != tender.ETooLarge {
			t.Errorf("%s: %v, want too large", p, err)
		}
	}
	checkStatus := func(path string, code int, tcode string) *StatusError {
		t.Helper()
		_, err := c.Get(ctx, srv.URL+path, nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Fatalf("%s: %v, want status %d", path, err, code)
		}
		if tender.ErrorCode(err) != tcode {
			t.Errorf("%s: code %q, want %q", path, tender.ErrorCode(err), tcode)
		}
		return se
	}
	checkStatus("/gone", 410, tender.EGone)
	checkStatus("/missing", 404, tender.ENotFound)
	if se := checkStatus("/slow-down", 429, tender.ERateLimited); se.RetryAfter != 2*time.Minute {
		t.Errorf("RetryAfter %v", se.RetryAfter)
	}
	if _, err := c.Get(ctx, srv.URL+"/html", nil); tender.ErrorCode(err) != tender.EInvalid {
		t.Errorf("html: %v, want invalid", err)
	}
}

func TestClientTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true, Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.Get(context.Background(), srv.URL, nil)
	if tender.ErrorCode(err) != tender.EUnavailable {
		t.Errorf("slow peer: %v, want unavailable", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("timeout not applied")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, srv.URL, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestClientPostSigned(t *testing.T) {
	key := newKey(t)
	keys := &fakeKeys{keys: map[string]*PublicKey{testKeyID: {ID: testKeyID, Owner: testOwner, Key: &key.PublicKey}}}
	v := &Verifier{Keys: keys}
	var gotUA, gotCT string
	mux := http.NewServeMux()
	mux.HandleFunc("/inbox", func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotCT = r.Header.Get("User-Agent"), r.Header.Get("Content-Type")
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			t.Error(err)
		}
		if _, err := v.Verify(r.Context(), r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("x", 200000), http.StatusInternalServerError)
	})
	mux.Handle("/moved", http.RedirectHandler("/inbox", http.StatusPermanentRedirect))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true, UserAgent: "coopnet-test"})
	ctx := context.Background()
	signer := Signer{KeyID: testKeyID, Key: key}

	status, err := c.Post(ctx, srv.URL+"/inbox", []byte(`{"type":"Offer"}`), signer)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("post: %d, %v", status, err)
	}
	if gotUA != "coopnet-test" || gotCT != ContentTypeActivity {
		t.Errorf("UA %q, CT %q", gotUA, gotCT)
	}
	status, err = c.Post(ctx, srv.URL+"/broken", []byte(`{}`), signer)
	var se *StatusError
	if status != 500 || !errors.As(err, &se) || tender.ErrorCode(err) != tender.EUnavailable {
		t.Errorf("broken: %d, %v", status, err)
	}
	status, _ = c.Post(ctx, srv.URL+"/moved", []byte(`{}`), signer)
	if status != http.StatusPermanentRedirect {
		t.Errorf("redirected delivery: status %d, want 308 returned as is", status)
	}
	// A delivery to a host that is down is worth retrying.
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	status, err = c.Post(ctx, downURL+"/inbox", []byte(`{}`), signer)
	if status != 0 || tender.ErrorCode(err) != tender.EUnavailable {
		t.Errorf("down: %d, %v", status, err)
	}
}

func TestClientMaxConcurrent(t *testing.T) {
	inFlight := make(chan struct{}, 10)
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight <- struct{}{}
		<-gate
		<-inFlight
		activityHandler(`{}`)(w, r)
	}))
	defer srv.Close()
	c := testClient(ClientConfig{AllowInsecureHTTP: true, AllowPrivate: true, MaxConcurrent: 2})
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func() {
			_, err := c.Get(context.Background(), srv.URL, nil)
			errs <- err
		}()
	}
	deadline := time.After(5 * time.Second)
	for len(inFlight) < 2 {
		select {
		case <-deadline:
			t.Fatal("requests never arrived")
		case <-time.After(5 * time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond) // give a third request the chance to arrive
	if n := len(inFlight); n != 2 {
		t.Errorf("%d requests in flight, want 2", n)
	}
	close(gate)
	for i := 0; i < 5; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
