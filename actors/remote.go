package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// remoteDoc is the part of a remote actor (or key) document we read. Many
// properties may be a string, an object or an array, so they stay raw.
type remoteDoc struct {
	Context           json.RawMessage `json:"@context"`
	ID                string          `json:"id"`
	Type              json.RawMessage `json:"type"`
	PreferredUsername string          `json:"preferredUsername"`
	Name              string          `json:"name"`
	Summary           string          `json:"summary"`
	URL               json.RawMessage `json:"url"`
	Inbox             string          `json:"inbox"`
	Followers         string          `json:"followers"`
	Endpoints         struct {
		SharedInbox string `json:"sharedInbox"`
	} `json:"endpoints"`
	PublicKey    json.RawMessage `json:"publicKey"`
	Owner        string          `json:"owner"`
	PublicKeyPem string          `json:"publicKeyPem"`
}

type keyDoc struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// actorTypes are the ActivityStreams actor types we accept.
var actorTypes = map[string]bool{"Person": true, "Organization": true, "Service": true, "Application": true, "Group": true}

func firstString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		for _, it := range list {
			if s := firstString(it); s != "" {
				return s
			}
		}
	}
	var obj struct {
		Href string `json:"href"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Href
	}
	return ""
}

func keys(raw json.RawMessage) []keyDoc {
	var one keyDoc
	if json.Unmarshal(raw, &one) == nil && one.ID != "" {
		return []keyDoc{one}
	}
	var many []keyDoc
	_ = json.Unmarshal(raw, &many)
	return many
}

// ParseActor reads a remote actor document fetched from iri. Its id must be
// iri (no actor may speak for another URL) and its inbox on the same
// origin; the key returned is the one whose id is keyID when keyID is set,
// else the first.
func ParseActor(iri string, body []byte) (*storage.RemoteActor, error) {
	var d remoteDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, tender.Errorf(tender.EInvalid, "actor %s: malformed JSON: %v", iri, err)
	}
	typ := firstString(d.Type)
	if !actorTypes[typ] {
		return nil, tender.Errorf(tender.EInvalid, "actor %s: type %q is not an actor type", iri, typ)
	}
	if d.ID == "" || d.ID != iri {
		return nil, tender.Errorf(tender.EInvalid, "actor %s: document id %q differs", iri, d.ID)
	}
	if d.Inbox == "" || !federation.SameOrigin(d.Inbox, d.ID) {
		return nil, tender.Errorf(tender.EInvalid, "actor %s: inbox %q is missing or on another host", iri, d.Inbox)
	}
	u, err := url.Parse(d.ID)
	if err != nil {
		return nil, tender.Errorf(tender.EInvalid, "actor %s: bad id", iri)
	}
	r := &storage.RemoteActor{
		IRI: d.ID, Type: typ, Username: d.PreferredUsername, Host: u.Host,
		Name: d.Name, Summary: d.Summary, URL: firstString(d.URL),
		Inbox: d.Inbox, Followers: d.Followers, Raw: body,
		Coopnet: bytes.Contains(d.Context, []byte(federation.Namespace)),
	}
	if si := d.Endpoints.SharedInbox; si != "" && federation.SameOrigin(si, d.ID) {
		r.SharedInbox = si
	}
	for _, k := range keys(d.PublicKey) {
		if k.Owner == d.ID && k.PublicKeyPem != "" && federation.SameOrigin(k.ID, d.ID) {
			r.KeyID, r.PublicKeyPEM = k.ID, k.PublicKeyPem
			break
		}
	}
	return r, nil
}

// Fetch GETs a remote actor (signed by the instance actor), stores it in
// the cache and returns it.
func (s *Service) Fetch(ctx context.Context, iri string) (*storage.RemoteActor, error) {
	if s.IsLocal(iri) {
		return nil, tender.Errorf(tender.EInvalid, "%s is a local actor", iri)
	}
	signer, err := s.InstanceSigner(ctx)
	if err != nil {
		return nil, err
	}
	body, err := s.Client.Get(ctx, iri, signer)
	if err != nil {
		return nil, fmt.Errorf("fetch actor %s: %w", iri, err)
	}
	r, err := ParseActor(iri, body)
	if err != nil {
		return nil, err
	}
	r.Fetched = s.Now().UTC()
	if err := s.DB.PutRemoteActor(ctx, r); err != nil {
		return nil, err
	}
	s.forgetKeys(r.IRI)
	return r, nil
}

// Remote returns a remote actor from the cache, fetching it when absent or
// when refresh is set.
func (s *Service) Remote(ctx context.Context, iri string, refresh bool) (*storage.RemoteActor, error) {
	if !refresh {
		r, err := s.DB.RemoteActor(ctx, iri)
		if err == nil {
			return r, nil
		}
		if tender.ErrorCode(err) != tender.ENotFound {
			return nil, err
		}
	}
	return s.Fetch(ctx, iri)
}

// ResolveKey implements federation.KeyResolver. A keyId may be a fragment
// of its actor (Mastodon) or a URL of its own (GoToSocial), and fetching it
// may return the key object or the whole actor: either way the key whose
// id equals keyID is found and its owner checked against the actor.
func (s *Service) ResolveKey(ctx context.Context, keyID string, refresh bool) (*federation.PublicKey, error) {
	if !refresh {
		if k := s.cachedKey(keyID); k != nil {
			return k, nil
		}
		if r, err := s.DB.RemoteActorByKey(ctx, keyID); err == nil {
			k, err := publicKey(r)
			if err == nil {
				s.cacheKey(k)
			}
			return k, err
		}
	}
	k, err := s.fetchKey(ctx, keyID)
	if err == nil {
		s.cacheKey(k)
	}
	return k, err
}

// keyTTL bounds how long a parsed key is trusted from memory. A rotated
// key is picked up sooner anyway: a failed verification refetches.
const keyTTL = 10 * time.Minute

// maxCachedKeys bounds the memory cache; it is emptied when full, which
// costs only a database read per key.
const maxCachedKeys = 10000

type cachedKey struct {
	key     *federation.PublicKey
	expires time.Time
}

// cachedKey returns a parsed key from memory: the inbox verifies every
// POST, and reading and parsing the PEM each time was a fifth of its CPU.
func (s *Service) cachedKey(keyID string) *federation.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.keyCache[keyID]
	if !ok || time.Now().After(c.expires) {
		return nil
	}
	return c.key
}

func (s *Service) cacheKey(k *federation.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyCache == nil || len(s.keyCache) >= maxCachedKeys {
		s.keyCache = map[string]cachedKey{}
	}
	s.keyCache[k.ID] = cachedKey{key: k, expires: time.Now().Add(keyTTL)}
}

func (s *Service) forgetKeys(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.keyCache {
		if c.key.Owner == owner {
			delete(s.keyCache, id)
		}
	}
}

func (s *Service) fetchKey(ctx context.Context, keyID string) (*federation.PublicKey, error) {
	docURL, _, _ := strings.Cut(keyID, "#")
	if s.IsLocal(docURL) {
		// Our own actors (one node's CLI posting to its own inbox never
		// happens, but a misconfigured peer may claim our keys).
		return s.localKey(ctx, keyID)
	}
	signer, err := s.InstanceSigner(ctx)
	if err != nil {
		return nil, err
	}
	body, err := s.Client.Get(ctx, docURL, signer)
	if err != nil {
		return nil, fmt.Errorf("fetch key %s: %w", keyID, err)
	}
	var d remoteDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, tender.Errorf(tender.EUnauthorized, "key %s: malformed JSON", keyID)
	}
	owner := d.ID
	if !actorTypes[firstString(d.Type)] {
		// A key document: find its owner and read the key from there, so
		// that the owner confirms the key is theirs.
		if d.Owner == "" || !federation.SameOrigin(d.Owner, keyID) {
			return nil, tender.Errorf(tender.EUnauthorized, "key %s: no owner on its host", keyID)
		}
		owner = d.Owner
		body, err = s.Client.Get(ctx, owner, signer)
		if err != nil {
			return nil, fmt.Errorf("fetch key owner %s: %w", owner, err)
		}
	}
	r, err := ParseActor(owner, body)
	if err != nil {
		return nil, err
	}
	if r.KeyID != keyID {
		return nil, tender.Errorf(tender.EUnauthorized, "key %s is not published by %s", keyID, owner)
	}
	r.Fetched = s.Now().UTC()
	if err := s.DB.PutRemoteActor(ctx, r); err != nil {
		return nil, err
	}
	return publicKey(r)
}

func (s *Service) localKey(ctx context.Context, keyID string) (*federation.PublicKey, error) {
	docURL, _, _ := strings.Cut(keyID, "#")
	user := s.UsernameFromURL(docURL)
	if user == "" || keyID != s.KeyID(user) {
		return nil, tender.Errorf(tender.EUnauthorized, "unknown key %s", keyID)
	}
	a, err := s.Get(ctx, user)
	if err != nil {
		return nil, tender.Errorf(tender.EUnauthorized, "unknown key %s", keyID)
	}
	k, err := federation.ParsePublicKeyPEM(a.PublicKeyPEM)
	if err != nil {
		return nil, err
	}
	return &federation.PublicKey{ID: keyID, Owner: s.ActorURL(user), Key: k}, nil
}

func publicKey(r *storage.RemoteActor) (*federation.PublicKey, error) {
	if r.PublicKeyPEM == "" {
		return nil, tender.Errorf(tender.EUnauthorized, "actor %s publishes no key", r.IRI)
	}
	k, err := federation.ParsePublicKeyPEM(r.PublicKeyPEM)
	if err != nil {
		return nil, tender.Errorf(tender.EUnauthorized, "actor %s: bad key: %v", r.IRI, err)
	}
	return &federation.PublicKey{ID: r.KeyID, Owner: r.IRI, Key: k}, nil
}

// Lookup resolves a handle (@user@host) or an actor URL to a remote actor.
func (s *Service) Lookup(ctx context.Context, who string) (*storage.RemoteActor, error) {
	if strings.HasPrefix(who, "http://") || strings.HasPrefix(who, "https://") {
		return s.Remote(ctx, who, true)
	}
	iri, err := s.Client.WebFinger(ctx, who)
	if tender.ErrorCode(err) == tender.ENotFound {
		return nil, tender.Errorf(tender.ENotFound, "%s: no such account (its server's WebFinger answered 404)", who)
	}
	if err != nil {
		return nil, fmt.Errorf("webfinger %s: %w", who, err)
	}
	return s.Remote(ctx, iri, true)
}
