// Package actors manages the co-ops this node hosts (their keys, profiles
// and documents) and the cache of remote actors, which it fetches with
// signed GETs and refreshes when their keys rotate.
package actors

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// InstanceUsername is the row that holds the instance actor, which signs
// fetches made on behalf of the node rather than of one co-op. The leading
// underscore keeps it out of the space of usernames people can pick.
const InstanceUsername = "_instance"

// Service is the actors of one node. It holds no package state, so several
// nodes run side by side in one test process.
type Service struct {
	DB      *storage.DB
	BaseURL string // no trailing slash
	Client  *federation.Client
	Now     func() time.Time
	Log     *slog.Logger

	mu       sync.Mutex
	keys     map[string]*rsa.PrivateKey // parsed private keys by username
	keyCache map[string]cachedKey       // parsed remote public keys by key id
}

// NewService returns a Service for the node at baseURL.
func NewService(db *storage.DB, baseURL string, client *federation.Client, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, BaseURL: strings.TrimSuffix(baseURL, "/"), Client: client, Now: now, Log: log, keys: map[string]*rsa.PrivateKey{}}
}

// Host is the host[:port] of the node: the domain part of its handles.
func (s *Service) Host() string {
	u, err := url.Parse(s.BaseURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// URLs of a local actor. They are built from the configured base URL only,
// never from request headers.

// ActorURL is the actor's id.
func (s *Service) ActorURL(username string) string {
	if username == InstanceUsername {
		return s.BaseURL + "/actor"
	}
	return s.BaseURL + "/users/" + username
}

// InboxURL is the actor's personal inbox.
func (s *Service) InboxURL(username string) string { return s.ActorURL(username) + "/inbox" }

// OutboxURL is the actor's outbox collection.
func (s *Service) OutboxURL(username string) string { return s.ActorURL(username) + "/outbox" }

// FollowersURL is the actor's followers collection.
func (s *Service) FollowersURL(username string) string { return s.ActorURL(username) + "/followers" }

// FollowingURL is the actor's following collection.
func (s *Service) FollowingURL(username string) string { return s.ActorURL(username) + "/following" }

// SharedInboxURL is the node's shared inbox.
func (s *Service) SharedInboxURL() string { return s.BaseURL + "/inbox" }

// KeyID is the id of the actor's public key: a fragment of the actor, as
// Mastodon does, so that fetching it returns the actor document.
func (s *Service) KeyID(username string) string { return s.ActorURL(username) + "#main-key" }

// Handle is user@host[:port].
func (s *Service) Handle(username string) string { return username + "@" + s.Host() }

// UsernameFromURL returns the local username an actor URL of this node
// names, or "" when it is not one.
func (s *Service) UsernameFromURL(iri string) string {
	if iri == s.BaseURL+"/actor" {
		return InstanceUsername
	}
	rest, ok := strings.CutPrefix(iri, s.BaseURL+"/users/")
	if !ok || rest == "" || strings.ContainsAny(rest, "/#?") {
		return ""
	}
	return rest
}

// IsLocal reports whether iri is on this node.
func (s *Service) IsLocal(iri string) bool {
	return federation.SameOrigin(iri, s.BaseURL)
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,29}$`)

// ValidUsername checks a new local username: lower-case letters, digits,
// '_' and '-', 1 to 30 of them, starting with a letter or digit, which every
// fediverse server accepts in a handle and in a URL path.
func ValidUsername(u string) error {
	if !usernameRE.MatchString(u) {
		return tender.FieldErrorf("username", "%q must be 1-30 lower-case letters, digits, '_' or '-', starting with a letter or digit", u)
	}
	return nil
}

// Profile is what a co-op says about itself.
type Profile struct {
	Name           string
	Summary        string
	Regions        []string
	Categories     []string
	Languages      []string
	ManualApproval bool
	Icon           string
}

func (p *Profile) validate() error {
	if len(p.Name) > 100 {
		return tender.FieldErrorf("name", "must be at most 100 characters")
	}
	if len(p.Summary) > 5000 {
		return tender.FieldErrorf("summary", "must be at most 5000 characters")
	}
	for _, l := range []struct {
		field string
		items []string
	}{{"region", p.Regions}, {"category", p.Categories}, {"language", p.Languages}} {
		if len(l.items) > 50 {
			return tender.FieldErrorf(l.field, "at most 50 values")
		}
		for _, it := range l.items {
			if strings.TrimSpace(it) == "" || len(it) > 100 {
				return tender.FieldErrorf(l.field, "values must be 1 to 100 characters")
			}
		}
	}
	if p.Icon != "" {
		if u, err := url.Parse(p.Icon); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return tender.FieldErrorf("icon", "%q is not an absolute http(s) URL", p.Icon)
		}
	}
	return nil
}

// Create makes a local actor with a fresh RSA-2048 key pair. The key is
// generated once and kept: peers cache it, so it is never rotated silently.
func (s *Service) Create(ctx context.Context, username string, p Profile) (*storage.LocalActor, error) {
	if username != InstanceUsername {
		if err := ValidUsername(username); err != nil {
			return nil, err
		}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.Name == "" {
		p.Name = username
	}
	priv, pub, err := newKeyPair()
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	a := &storage.LocalActor{
		Username: username, Name: p.Name, Summary: p.Summary,
		Regions: p.Regions, Categories: p.Categories, Languages: p.Languages,
		ManualApproval: p.ManualApproval, Icon: p.Icon,
		PrivateKeyPEM: priv, PublicKeyPEM: pub, Published: now, Updated: now,
	}
	if err := s.DB.CreateLocalActor(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

func newKeyPair() (privPEM, pubPEM string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("actors: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("actors: encode key: %w", err)
	}
	privPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pubPEM, err = federation.EncodePublicKeyPEM(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("actors: encode public key: %w", err)
	}
	return privPEM, pubPEM, nil
}

// Get returns a live local actor; a deleted one is EGone.
func (s *Service) Get(ctx context.Context, username string) (*storage.LocalActor, error) {
	a, err := s.DB.LocalActor(ctx, username)
	if err != nil {
		return nil, err
	}
	if !a.Deleted.IsZero() {
		return a, &tender.Error{Code: tender.EGone, Message: "actor " + username + " was deleted"}
	}
	return a, nil
}

// Instance returns the instance actor, creating it on first use.
func (s *Service) Instance(ctx context.Context) (*storage.LocalActor, error) {
	a, err := s.DB.LocalActor(ctx, InstanceUsername)
	if err == nil {
		return a, nil
	}
	if tender.ErrorCode(err) != tender.ENotFound {
		return nil, err
	}
	a, err = s.Create(ctx, InstanceUsername, Profile{Name: s.Host()})
	if tender.ErrorCode(err) == tender.EConflict {
		// Another process created it first.
		return s.DB.LocalActor(ctx, InstanceUsername)
	}
	return a, err
}

// Signer returns the signer for a local actor's requests.
func (s *Service) Signer(a *storage.LocalActor) (*federation.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.keys[a.Username]
	if !ok {
		block, _ := pem.Decode([]byte(a.PrivateKeyPEM))
		if block == nil {
			return nil, fmt.Errorf("actors: %s: no PEM private key", a.Username)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("actors: %s: parse private key: %w", a.Username, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("actors: %s: private key is not RSA", a.Username)
		}
		key = rk
		s.keys[a.Username] = key
	}
	return &federation.Signer{KeyID: s.KeyID(a.Username), Key: key}, nil
}

// InstanceSigner signs fetches made for the node as a whole.
func (s *Service) InstanceSigner(ctx context.Context) (*federation.Signer, error) {
	a, err := s.Instance(ctx)
	if err != nil {
		return nil, err
	}
	return s.Signer(a)
}

// ApplyProfile validates p and copies it onto a (not saved: the caller
// saves it with the Update it sends).
func (s *Service) ApplyProfile(a *storage.LocalActor, p Profile) error {
	if err := p.validate(); err != nil {
		return err
	}
	if p.Name == "" {
		p.Name = a.Username
	}
	a.Name, a.Summary, a.Icon, a.ManualApproval = p.Name, p.Summary, p.Icon, p.ManualApproval
	a.Regions, a.Categories, a.Languages = p.Regions, p.Categories, p.Languages
	return nil
}
