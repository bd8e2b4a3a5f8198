package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
)

// update rewrites the golden files from what the node serves now: run
// `go test ./node -update` after an intended change and review the diff.
var update = flag.Bool("update", false, "rewrite node/testdata/golden/* from the current output")

// fixedNow is the node's clock in these tests, so published times in the
// golden files do not change from run to run.
var fixedNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testNode is a node served over real HTTP on a loopback port, with its
// database in the test's temporary directory.
type testNode struct {
	*node.Node
	srv  *httptest.Server
	logs *bytes.Buffer
}

// start builds a node whose base_url is its own httptest server. The server
// is created unstarted first, so its URL is known before the config that
// actor ids are built from.
func start(t *testing.T, extraTOML string) *testNode {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	toml := `
[server]
base_url = "` + base + `"
listen = "127.0.0.1:0"
trusted_proxies = ["127.0.0.1/32"]
[storage]
path = "` + filepath.ToSlash(filepath.Join(t.TempDir(), "coopnet.db")) + `"
[federation]
allow_private_addresses = true
allow_insecure_http = true
` + extraTOML
	cfg, warnings, err := config.Parse([]byte(toml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	logs := &bytes.Buffer{}
	n, err := node.New(context.Background(), cfg, node.Options{
		Now: func() time.Time { return fixedNow },
		Log: slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = n.Handler()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return &testNode{Node: n, srv: srv, logs: logs}
}

// lockedWriter keeps the log buffer whole when handlers log concurrently.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (tn *testNode) base() string { return tn.srv.URL }
func (tn *testNode) host() string { return strings.TrimPrefix(tn.srv.URL, "http://") }

// get fetches path (or an absolute URL) with an Accept header.
func (tn *testNode) get(t *testing.T, path, accept string) (*http.Response, []byte) {
	t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = tn.base() + path
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := tn.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func (tn *testNode) createActor(t *testing.T, username string, p actors.Profile) *storage.LocalActor {
	t.Helper()
	a, err := tn.Actors.Create(context.Background(), username, p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// democoop is the profile most tests publish.
var democoop = actors.Profile{
	Name:       "Demo Tech Co-op",
	Summary:    "A worker co-op.\n\nWeb development & hosting.",
	Regions:    []string{"Ontario", "Québec"},
	Categories: []string{"web-development", "hosting"},
	Languages:  []string{"en", "fr", "Go"},
}

const accept = "application/activity+json"

// normalise replaces what differs between runs (the httptest port, the
// generated key) by placeholders and indents the JSON, keeping its field
// order: the order is part of what peers see.
func (tn *testNode) normalise(t *testing.T, body []byte, pems ...string) []byte {
	t.Helper()
	s := string(body)
	for _, p := range pems {
		enc, _ := json.Marshal(p)
		s = strings.ReplaceAll(s, string(enc), `"PEM"`)
	}
	s = strings.ReplaceAll(s, tn.base(), "BASE")
	s = strings.ReplaceAll(s, tn.host(), "HOST")
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(s), "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// golden compares got with testdata/golden/name, or rewrites it under
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./node -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./node -update rewrites it after an intended change)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, body)
	}
	return m
}

// checkActivityJSON checks what every ActivityPub document we serve must
// have: the media type, Vary (the same URL serves HTML), an id equal to the
// URL it was fetched from, and our @context.
func checkActivityJSON(t *testing.T, resp *http.Response, body []byte, url string) map[string]any {
	t.Helper()
	return checkDocument(t, resp, body, url, true)
}

// checkDocument is checkActivityJSON with the @context checked whole
// (fullContext) or as the ActivityStreams one alone.
func checkDocument(t *testing.T, resp *http.Response, body []byte, url string, fullContext bool) map[string]any {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/activity+json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	if v := resp.Header.Get("Vary"); !strings.Contains(v, "Accept") {
		t.Errorf("GET %s: Vary %q, want Accept", url, v)
	}
	doc := decode(t, body)
	if doc["id"] != url {
		t.Errorf("id %v, want the URL %s", doc["id"], url)
	}
	checkContext(t, doc["@context"], fullContext)
	return doc
}

// checkContext checks the @context: the exact ActivityStreams URL first,
// and, for documents with our terms, the security context and an inline
// object defining the coop prefix.
func checkContext(t *testing.T, ctx any, full bool) {
	t.Helper()
	const as = "https://www.w3.org/ns/activitystreams"
	if s, ok := ctx.(string); ok {
		if s != as || full {
			t.Errorf("@context %q", s)
		}
		return
	}
	list, ok := ctx.([]any)
	if !ok || len(list) == 0 || list[0] != as {
		t.Fatalf("@context %v does not start with %s", ctx, as)
	}
	if !full {
		return
	}
	var security, coop bool
	for _, c := range list {
		switch c := c.(type) {
		case string:
			security = security || c == "https://w3id.org/security/v1"
		case map[string]any:
			coop = coop || c["coop"] == "https://w3id.org/coopnet/ns#"
		}
	}
	if !security || !coop {
		t.Errorf("@context %v: security context %v, coop terms %v", ctx, security, coop)
	}
}

func TestActorDocument(t *testing.T) {
	tn := start(t, "")
	a := tn.createActor(t, "democoop", democoop)
	url := tn.base() + "/users/democoop"

	resp, body := tn.get(t, "/users/democoop", accept)
	doc := checkActivityJSON(t, resp, body, url)
	golden(t, "actor.json", tn.normalise(t, body, a.PublicKeyPEM))

	str := func(path ...string) string {
		var v any = doc
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		s, _ := v.(string)
		return s
	}
	for _, f := range []struct{ path, want string }{
		{"type", "Organization"},
		{"preferredUsername", "democoop"},
		{"name", "Demo Tech Co-op"},
		{"summary", "<p>A worker co-op.</p><p>Web development &amp; hosting.</p>"},
		{"url", url},
		{"inbox", url + "/inbox"},
		{"outbox", url + "/outbox"},
		{"followers", url + "/followers"},
		{"following", url + "/following"},
		{"endpoints.sharedInbox", tn.base() + "/inbox"},
		{"publicKey.id", url + "#main-key"},
		{"publicKey.owner", url},
		{"published", "2025-03-01T12:00:00Z"},
	} {
		if got := str(strings.Split(f.path, ".")...); got != f.want {
			t.Errorf("%s = %q, want %q", f.path, got, f.want)
		}
	}
	if pem := str("publicKey", "publicKeyPem"); !strings.HasPrefix(pem, "-----BEGIN PUBLIC KEY-----\n") {
		t.Errorf("publicKeyPem is not SPKI PEM: %.40q", pem)
	}
	if doc["manuallyApprovesFollowers"] != false || doc["discoverable"] != true {
		t.Errorf("manuallyApprovesFollowers %v, discoverable %v", doc["manuallyApprovesFollowers"], doc["discoverable"])
	}
	if _, ok := doc["icon"]; ok {
		t.Error("icon present without one configured")
	}
	// Profile fields as Mastodon profile metadata.
	att, _ := doc["attachment"].([]any)
	if len(att) != 3 {
		t.Fatalf("attachment = %v, want regions, work and languages", doc["attachment"])
	}
	first, _ := att[0].(map[string]any)
	if first["type"] != "PropertyValue" || first["name"] != "Regions" || first["value"] != "Ontario, Québec" {
		t.Errorf("attachment[0] = %v", first)
	}

	// Every URL the document names that is meant for GET answers.
	for _, u := range []string{str("outbox"), str("followers"), str("following")} {
		if resp, body := tn.get(t, u, accept); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
		}
	}
}

// TestActorOptions covers the fields that depend on the profile: an icon
// when configured, manual approval, and empty lists still present.
func TestActorOptions(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "plain", actors.Profile{Icon: "https://cdn.example/logo.png", ManualApproval: true})
	resp, body := tn.get(t, "/users/plain", accept)
	doc := checkActivityJSON(t, resp, body, tn.base()+"/users/plain")
	if doc["name"] != "plain" {
		t.Errorf("name %v, want the username by default", doc["name"])
	}
	if doc["manuallyApprovesFollowers"] != true {
		t.Errorf("manuallyApprovesFollowers %v", doc["manuallyApprovesFollowers"])
	}
	icon, _ := doc["icon"].(map[string]any)
	if icon["type"] != "Image" || icon["url"] != "https://cdn.example/logo.png" {
		t.Errorf("icon %v", doc["icon"])
	}
	for _, k := range []string{"attachment", "regions", "categories", "languages"} {
		if l, ok := doc[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want an empty array", k, doc[k])
		}
	}
}

// TestContentNegotiation: fediverse servers ask with either ActivityPub
// media type; browsers get HTML from the same URL.
func TestContentNegotiation(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "democoop", democoop)
	tests := []struct {
		accept, wantType string
	}{
		{"application/activity+json", "application/activity+json"},
		{`application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, "application/activity+json"},
		{"application/activity+json, application/ld+json", "application/activity+json"},
		{"", "application/activity+json"},
		{"application/json", "application/activity+json"},
		{"text/html", "text/html; charset=utf-8"},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=utf-8"},
		{"text/html, application/activity+json;q=0", "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		resp, body := tn.get(t, "/users/democoop", tt.accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.wantType {
			t.Errorf("Accept %q: %d %q, want %q\n%.200s", tt.accept, resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantType, body)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept") {
			t.Errorf("Accept %q: Vary %q", tt.accept, resp.Header.Get("Vary"))
		}
	}
}

func TestCollections(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "democoop", democoop)
	for _, name := range []string{"outbox", "followers", "following"} {
		url := tn.base() + "/users/democoop/" + name
		resp, body := tn.get(t, url, accept)
		doc := checkCollection(t, resp, body, url)
		if doc["type"] != "OrderedCollection" || doc["totalItems"] != 0.0 {
			t.Errorf("%s: type %v, totalItems %v", name, doc["type"], doc["totalItems"])
		}
		if first, _ := doc["first"].(string); !strings.HasPrefix(first, url+"?page=") {
			t.Errorf("%s: first %q", name, first)
		}
		golden(t, name+".json", tn.normalise(t, body))

		// The first page answers too, empty.
		first := doc["first"].(string)
		resp, body = tn.get(t, first, accept)
		page := checkCollection(t, resp, body, first)
		if page["type"] != "OrderedCollectionPage" || page["partOf"] != url {
			t.Errorf("%s first page: %s", name, body)
		}
		if items, ok := page["orderedItems"].([]any); ok && len(items) != 0 {
			t.Errorf("%s first page has items: %v", name, items)
		}
	}
}

// checkCollection is checkActivityJSON for collections, whose @context is
// the ActivityStreams one alone: they use no term of ours.
func checkCollection(t *testing.T, resp *http.Response, body []byte, url string) map[string]any {
	t.Helper()
	return checkDocument(t, resp, body, url, false)
}

func TestWebFingerDocument(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "democoop", democoop)
	resp, body := tn.get(t, "/.well-known/webfinger?resource="+url.QueryEscape("acct:democoop@"+tn.host()), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jrd+json" {
		t.Errorf("Content-Type %q", ct)
	}
	golden(t, "webfinger.json", tn.normalise(t, body))
	var jrd struct {
		Subject string
		Aliases []string
		Links   []struct{ Rel, Type, Href string }
	}
	if err := json.Unmarshal(body, &jrd); err != nil {
		t.Fatal(err)
	}
	actorURL := tn.base() + "/users/democoop"
	if jrd.Subject != "acct:democoop@"+tn.host() {
		t.Errorf("subject %q", jrd.Subject)
	}
	var self, profile bool
	for _, l := range jrd.Links {
		self = self || (l.Rel == "self" && l.Type == "application/activity+json" && l.Href == actorURL)
		profile = profile || (l.Rel == "http://webfinger.net/rel/profile-page" && l.Href == actorURL)
	}
	if !self || !profile {
		t.Errorf("links %+v: self %v, profile page %v", jrd.Links, self, profile)
	}
}

// TestWebFingerRules is the table of what WebFinger answers: found, not
// here (404) or not a resource at all (400).
func TestWebFingerRules(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "democoop", democoop)
	host := tn.host()
	otherPort := "1"
	if strings.HasSuffix(host, ":1") {
		otherPort = "2"
	}
	tests := []struct {
		name     string
		query    string // the raw query string, after '?'
		status   int
		resource string // raw resource value, escaped by the test when set
	}{
		{name: "acct with port", resource: "acct:democoop@" + host, status: 200},
		{name: "without acct:", resource: "democoop@" + host, status: 200},
		{name: "leading @", resource: "@democoop@" + host, status: 200},
		{name: "upper case", resource: "acct:DemoCoop@" + strings.ToUpper(host), status: 200},
		{name: "actor URL", resource: tn.base() + "/users/democoop", status: 200},
		{name: "instance actor URL", resource: tn.base() + "/actor", status: 200},
		{name: "unknown user", resource: "acct:nobody@" + host, status: 404},
		{name: "instance row by name", resource: "acct:_instance@" + host, status: 404},
		{name: "other host", resource: "acct:democoop@elsewhere.example", status: 404},
		{name: "other port", resource: "acct:democoop@127.0.0.1:" + otherPort, status: 404},
		{name: "port out of range", resource: "acct:democoop@127.0.0.1:99999", status: 400},
		{name: "host without port", resource: "acct:democoop@127.0.0.1", status: 404},
		{name: "URL on another host", resource: "https://elsewhere.example/users/democoop", status: 404},
		{name: "unknown path URL", resource: tn.base() + "/users/democoop/outbox", status: 404},
		{name: "no @", resource: "xx", status: 400},
		{name: "empty user and host", resource: "acct:@", status: 400},
		{name: "empty user", resource: "acct:@" + host, status: 400},
		{name: "two @", resource: "acct:a@b@" + host, status: 400},
		{name: "space in user", resource: "acct:demo coop@" + host, status: 400},
		{name: "empty", query: "resource=", status: 400},
		{name: "missing", query: "", status: 400},
		{name: "other parameter only", query: "rel=self", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.query
			if tt.resource != "" {
				q = "resource=" + url.QueryEscape(tt.resource)
			}
			resp, body := tn.get(t, "/.well-known/webfinger?"+q, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("resource %q: %d %s, want %d", tt.resource, resp.StatusCode, body, tt.status)
			}
			if tt.status == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/jrd+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if !bytes.Contains(body, []byte(`"self"`)) {
					t.Errorf("no self link: %s", body)
				}
			}
		})
	}
}

func TestNodeInfo(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "democoop", democoop)
	tn.createActor(t, "second", actors.Profile{})

	resp, body := tn.get(t, "/.well-known/nodeinfo", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	golden(t, "nodeinfo-links.json", tn.normalise(t, body))
	var links struct{ Links []struct{ Rel, Href string } }
	if err := json.Unmarshal(body, &links); err != nil || len(links.Links) != 1 {
		t.Fatalf("links %s: %v", body, err)
	}
	if links.Links[0].Rel != "http://nodeinfo.diaspora.software/ns/schema/2.1" {
		t.Errorf("rel %q", links.Links[0].Rel)
	}

	resp, body = tn.get(t, links.Links[0].Href, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", links.Links[0].Href, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "nodeinfo.diaspora.software/ns/schema/2.1") {
		t.Errorf("Content-Type %q, want the 2.1 profile", ct)
	}
	golden(t, "nodeinfo.json", tn.normalise(t, body))
	var ni struct {
		Version           string
		Software          struct{ Name, Version string }
		Protocols         []string
		OpenRegistrations *bool
		Usage             struct {
			Users struct{ Total int }
		}
	}
	if err := json.Unmarshal(body, &ni); err != nil {
		t.Fatal(err)
	}
	if ni.Version != "2.1" || ni.Software.Name != "coopnet" || ni.Software.Version != node.Version {
		t.Errorf("nodeinfo %+v", ni)
	}
	if len(ni.Protocols) != 1 || ni.Protocols[0] != "activitypub" {
		t.Errorf("protocols %v", ni.Protocols)
	}
	if ni.OpenRegistrations == nil || *ni.OpenRegistrations {
		t.Errorf("openRegistrations %v, want false", ni.OpenRegistrations)
	}
	// Two co-ops; the instance actor is not a user.
	if ni.Usage.Users.Total != 2 {
		t.Errorf("users.total %d, want 2", ni.Usage.Users.Total)
	}
}

func TestNamespace(t *testing.T) {
	tn := start(t, "")
	resp, body := tn.get(t, "/ns", "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/ld+json" {
		t.Errorf("Content-Type %q", ct)
	}
	golden(t, "ns.json", tn.normalise(t, body))
	doc := decode(t, body)
	ctx, _ := doc["@context"].(map[string]any)
	if ctx["coop"] != "https://w3id.org/coopnet/ns#" || ctx["Tender"] != "coop:Tender" {
		t.Errorf("@context %v", ctx)
	}
}

func TestHostMeta(t *testing.T) {
	tn := start(t, "")
	resp, body := tn.get(t, "/.well-known/host-meta", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xrd+xml") {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var xrd struct {
		XMLName xml.Name `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []struct {
			Rel      string `xml:"rel,attr"`
			Template string `xml:"template,attr"`
		} `xml:"Link"`
	}
	if err := xml.Unmarshal(body, &xrd); err != nil {
		t.Fatalf("not XRD: %v\n%s", err, body)
	}
	if len(xrd.Links) != 1 || xrd.Links[0].Rel != "lrdd" || xrd.Links[0].Template != tn.base()+"/.well-known/webfinger?resource={uri}" {
		t.Errorf("links %+v", xrd.Links)
	}
}

func TestHealthz(t *testing.T) {
	tn := start(t, "")
	resp, body := tn.get(t, "/healthz", "")
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

func TestHTMLPage(t *testing.T) {
	tn := start(t, "")
	p := democoop
	p.Summary = "<script>alert(1)</script> We build <b>sites</b>."
	tn.createActor(t, "democoop", p)
	resp, body := tn.get(t, "/users/democoop", "text/html,application/xhtml+xml,*/*;q=0.8")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	page := string(body)
	for _, want := range []string{"Demo Tech Co-op", "@democoop@" + tn.host(), "Ontario", "Québec", "web-development", "Go",
		`type="application/activity+json"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The summary is shown, but as text: no tag from it reaches the page.
	if strings.Contains(page, "<script>") || strings.Contains(page, "<b>sites") {
		t.Errorf("summary markup reached the page raw:\n%s", page)
	}
	if !strings.Contains(page, "We build") {
		t.Error("summary text missing")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	// The home page lists the co-op.
	resp, body = tn.get(t, "/", "text/html")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "@democoop@"+tn.host()) {
		t.Errorf("home: %d\n%s", resp.StatusCode, body)
	}
}

func TestDeletedActor(t *testing.T) {
	tn := start(t, "")
	a := tn.createActor(t, "gone", democoop)
	if err := tn.Outbox.DeleteActor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	actorURL := tn.base() + "/users/gone"
	resp, body := tn.get(t, actorURL, accept)
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("%d %s, want 410", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/activity+json" {
		t.Errorf("Content-Type %q", ct)
	}
	doc := decode(t, body)
	if doc["type"] != "Tombstone" || doc["id"] != actorURL || doc["formerType"] != "Organization" {
		t.Errorf("tombstone %s", body)
	}
	golden(t, "tombstone.json", tn.normalise(t, body))
	if resp, _ := tn.get(t, actorURL, "text/html"); resp.StatusCode != http.StatusGone {
		t.Errorf("HTML: %d, want 410", resp.StatusCode)
	}
	for _, path := range []string{"/users/gone/outbox", "/users/gone/followers"} {
		if resp, _ := tn.get(t, path, accept); resp.StatusCode != http.StatusGone {
			t.Errorf("%s: %d, want 410", path, resp.StatusCode)
		}
	}
	resp, _ = tn.get(t, "/.well-known/webfinger?resource="+url.QueryEscape("acct:gone@"+tn.host()), "")
	// 410 rather than 404 tells a peer to drop its copy of the actor.
	if resp.StatusCode != http.StatusGone {
		t.Errorf("webfinger of a deleted actor: %d, want 410", resp.StatusCode)
	}
}

func TestUnknownActor(t *testing.T) {
	tn := start(t, "")
	for _, path := range []string{"/users/nobody", "/users/nobody/outbox", "/users/_instance", "/nowhere"} {
		resp, body := tn.get(t, path, accept)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", path, resp.StatusCode, body)
		}
	}
	if resp, _ := tn.get(t, "/users/nobody", "text/html"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HTML: %d, want 404", resp.StatusCode)
	}
}

func TestInstanceActor(t *testing.T) {
	tn := start(t, "")
	url := tn.base() + "/actor"
	resp, body := tn.get(t, url, accept)
	doc := checkActivityJSON(t, resp, body, url)
	if doc["type"] != "Application" || doc["preferredUsername"] != tn.host() {
		t.Errorf("instance actor %s", body)
	}
}

// TestConfigActors: serve creates the actors the config declares, once.
func TestConfigActors(t *testing.T) {
	tn := start(t, `
[[actors]]
username = "democoop"
name = "Demo Tech Co-op"
regions = ["Ontario"]
`)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := tn.EnsureConfigActors(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list, err := tn.DB.LocalActors(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "Demo Tech Co-op" {
		t.Fatalf("LocalActors = %v, %v", list, err)
	}
	if resp, body := tn.get(t, "/users/democoop", accept); resp.StatusCode != 200 {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

// TestIDsFromConfigNotHeaders: ids are built from base_url, never from a
// Host or X-Forwarded-Host a client sends.
func TestIDsFromConfigNotHeaders(t *testing.T) {
	tn := start(t, "")
	tn.createActor(t, "democoop", democoop)
	req, _ := http.NewRequest(http.MethodGet, tn.base()+"/users/democoop", nil)
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Accept", accept)
	resp, err := tn.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(body, []byte("evil.example")) {
		t.Errorf("a request header leaked into the document: %s", body)
	}
	if decode(t, body)["id"] != tn.base()+"/users/democoop" {
		t.Errorf("id from headers: %s", body)
	}
}

// TestTrustedProxies: X-Forwarded-For is believed only from a configured
// proxy; the request log shows which client address was used.
func TestTrustedProxies(t *testing.T) {
	tn := start(t, "")
	tests := []struct {
		remote, xff, want string
	}{
		{"127.0.0.1:5000", "203.0.113.7", "203.0.113.7"},               // through the trusted proxy
		{"127.0.0.1:5000", "198.51.100.1, 203.0.113.7", "203.0.113.7"}, // the last untrusted hop
		{"127.0.0.1:5000", "203.0.113.7, 127.0.0.1", "203.0.113.7"},    // skipping trusted hops
		{"192.0.2.9:5000", "203.0.113.7", "192.0.2.9"},                 // not a proxy: header ignored
		{"127.0.0.1:5000", "", "127.0.0.1"},
	}
	for _, tt := range tests {
		tn.logs.Reset()
		req := httptest.NewRequest(http.MethodGet, "/no-such-page", nil)
		req.RemoteAddr = tt.remote
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		tn.Handler().ServeHTTP(httptest.NewRecorder(), req)
		var entry struct{ IP string }
		if err := json.Unmarshal(tn.logs.Bytes(), &entry); err != nil {
			t.Fatalf("log %q: %v", tn.logs.String(), err)
		}
		if entry.IP != tt.want {
			t.Errorf("remote %s, X-Forwarded-For %q: logged ip %q, want %q", tt.remote, tt.xff, entry.IP, tt.want)
		}
	}
}

// TestTwoNodes: nodes keep no package state, so two in one process serve
// their own actors under their own base URLs.
func TestTwoNodes(t *testing.T) {
	a, b := start(t, ""), start(t, "")
	a.createActor(t, "acoop", actors.Profile{})
	b.createActor(t, "bcoop", actors.Profile{})
	if resp, _ := a.get(t, "/users/bcoop", accept); resp.StatusCode != 404 {
		t.Errorf("node a serves b's actor: %d", resp.StatusCode)
	}
	resp, body := b.get(t, "/users/bcoop", accept)
	checkActivityJSON(t, resp, body, b.base()+"/users/bcoop")
}
