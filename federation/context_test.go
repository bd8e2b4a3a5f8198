package federation

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares v, marshalled with indentation, with testdata/name.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
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
		t.Errorf("%s differs from golden file:\n%s", name, got)
	}
}

func TestContextGolden(t *testing.T) {
	golden(t, "context.golden.json", map[string]any{"@context": Context()})
}

func TestNamespaceDocumentGolden(t *testing.T) {
	golden(t, "ns.golden.json", NamespaceDocument())
}

func TestContextIsFresh(t *testing.T) {
	c := Context()
	c[2].(map[string]any)["Tender"] = "changed"
	if Context()[2].(map[string]any)["Tender"] != "coop:Tender" {
		t.Fatal("Context shares state between calls")
	}
}

func TestContextTerms(t *testing.T) {
	c := Context()
	if c[0] != ActivityStreamsContext || c[1] != SecurityContext {
		t.Fatalf("context starts with %v, %v", c[0], c[1])
	}
	terms := c[2].(map[string]any)
	if terms["coop"] != Namespace {
		t.Errorf("coop = %v", terms["coop"])
	}
	lots := terms["lots"].(map[string]any)
	if lots["@container"] != "@list" {
		t.Errorf("lots = %v", lots)
	}
	if terms["discoverable"] != "toot:discoverable" || terms["toot"] != MastodonNamespace {
		t.Errorf("toot terms wrong")
	}
}

func TestIsActivityJSON(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"application/activity+json", true},
		{"application/activity+json; charset=utf-8", true},
		{"Application/Activity+JSON", true},
		{`application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, true},
		{"application/ld+json", true},
		{`application/ld+json; profile="https://example.com/a,b"`, true},
		{"text/html, application/activity+json;q=0.9", true},
		{`text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8`, false},
		{"application/activity+json;q=0", false},
		{"application/activity+json;q=0.0, text/html", false},
		{"application/json", false},
		{"", false},
		{"text/html", false},
		{"application/activity+json;;bad", true},
	}
	for _, tt := range tests {
		if got := IsActivityJSON(tt.in); got != tt.want {
			t.Errorf("IsActivityJSON(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
