package actors

import (
	"html"
	"strings"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
)

// PublicKeyDoc is the publicKey of an actor document.
type PublicKeyDoc struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// Endpoints is the endpoints object of an actor document.
type Endpoints struct {
	SharedInbox string `json:"sharedInbox"`
}

// Image is an icon.
type Image struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// PropertyValue is one row of Mastodon's profile metadata table.
type PropertyValue struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ActorDoc is the ActivityPub document of a local actor. Field order is
// the order peers see, so keep it stable: golden files compare it.
type ActorDoc struct {
	Context                   any             `json:"@context"`
	ID                        string          `json:"id"`
	Type                      string          `json:"type"`
	PreferredUsername         string          `json:"preferredUsername"`
	Name                      string          `json:"name"`
	Summary                   string          `json:"summary"`
	URL                       string          `json:"url"`
	Inbox                     string          `json:"inbox"`
	Outbox                    string          `json:"outbox"`
	Followers                 string          `json:"followers"`
	Following                 string          `json:"following"`
	Endpoints                 Endpoints       `json:"endpoints"`
	PublicKey                 PublicKeyDoc    `json:"publicKey"`
	ManuallyApprovesFollowers bool            `json:"manuallyApprovesFollowers"`
	Discoverable              bool            `json:"discoverable"`
	Indexable                 bool            `json:"indexable"`
	Published                 string          `json:"published"`
	Updated                   string          `json:"updated,omitempty"`
	Icon                      *Image          `json:"icon,omitempty"`
	Attachment                []PropertyValue `json:"attachment"`
	Regions                   []string        `json:"regions"`
	Categories                []string        `json:"categories"`
	Languages                 []string        `json:"languages"`
}

// Document builds the actor document of a.
func (s *Service) Document(a *storage.LocalActor) *ActorDoc {
	id := s.ActorURL(a.Username)
	typ := "Organization"
	if a.Username == InstanceUsername {
		typ = "Application"
	}
	d := &ActorDoc{
		Context:                   federation.Context(),
		ID:                        id,
		Type:                      typ,
		PreferredUsername:         a.Username,
		Name:                      a.Name,
		Summary:                   TextToHTML(a.Summary),
		URL:                       id,
		Inbox:                     s.InboxURL(a.Username),
		Outbox:                    s.OutboxURL(a.Username),
		Followers:                 s.FollowersURL(a.Username),
		Following:                 s.FollowingURL(a.Username),
		Endpoints:                 Endpoints{SharedInbox: s.SharedInboxURL()},
		PublicKey:                 PublicKeyDoc{ID: s.KeyID(a.Username), Owner: id, PublicKeyPem: a.PublicKeyPEM},
		ManuallyApprovesFollowers: a.ManualApproval,
		Discoverable:              a.Username != InstanceUsername,
		Indexable:                 a.Username != InstanceUsername,
		Published:                 a.Published.UTC().Format(time.RFC3339),
		Attachment:                []PropertyValue{},
		Regions:                   nonNil(a.Regions),
		Categories:                nonNil(a.Categories),
		Languages:                 nonNil(a.Languages),
	}
	if a.Username == InstanceUsername {
		d.PreferredUsername = s.Host()
	}
	if !a.Updated.Equal(a.Published) {
		d.Updated = a.Updated.UTC().Format(time.RFC3339)
	}
	if a.Icon != "" {
		d.Icon = &Image{Type: "Image", URL: a.Icon}
	}
	for _, f := range []struct {
		name  string
		items []string
	}{{"Regions", a.Regions}, {"Work", a.Categories}, {"Languages", a.Languages}} {
		if len(f.items) > 0 {
			d.Attachment = append(d.Attachment, PropertyValue{Type: "PropertyValue", Name: f.name, Value: html.EscapeString(strings.Join(f.items, ", "))})
		}
	}
	return d
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// TextToHTML turns plain text typed by staff into the HTML fediverse
// servers expect in summary and content: escaped, paragraphs kept.
func TextToHTML(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br>"))
		b.WriteString("</p>")
	}
	return b.String()
}

// Tombstone is what a deleted actor's URL answers, with 410.
type Tombstone struct {
	Context    any    `json:"@context"`
	ID         string `json:"id"`
	Type       string `json:"type"`
	FormerType string `json:"formerType,omitempty"`
	Deleted    string `json:"deleted,omitempty"`
}

// TombstoneDoc builds the Tombstone of a deleted local actor.
func (s *Service) TombstoneDoc(a *storage.LocalActor) *Tombstone {
	return &Tombstone{Context: federation.ActivityStreamsContext, ID: s.ActorURL(a.Username), Type: "Tombstone", FormerType: "Organization", Deleted: a.Deleted.UTC().Format(time.RFC3339)}
}

// JRDLink is one link of a WebFinger answer.
type JRDLink struct {
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
	Href string `json:"href,omitempty"`
}

// JRD is a WebFinger answer.
type JRD struct {
	Subject string    `json:"subject"`
	Aliases []string  `json:"aliases"`
	Links   []JRDLink `json:"links"`
}

// WebFinger builds the JRD for a local actor.
func (s *Service) WebFinger(a *storage.LocalActor) *JRD {
	id := s.ActorURL(a.Username)
	user := a.Username
	if user == InstanceUsername {
		user = s.Host()
	}
	return &JRD{
		Subject: "acct:" + user + "@" + s.Host(),
		Aliases: []string{id},
		Links: []JRDLink{
			{Rel: "self", Type: federation.ContentTypeActivity, Href: id},
			{Rel: "http://webfinger.net/rel/profile-page", Type: "text/html", Href: id},
		},
	}
}
