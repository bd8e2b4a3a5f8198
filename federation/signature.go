package federation

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-fed/httpsig"
	"golang.org/x/time/rate"

	"github.com/coopnet/coopnet/tender"
)

// DefaultMaxSkew is how far a signed Date may be from our clock. Mastodon
// allows about an hour either way; so do we, which is also why deliveries
// are signed when sent and never when queued.
const DefaultMaxSkew = time.Hour

// maxSignatureHeader bounds the Signature header we parse: real ones are
// well under 2 KiB (a 4096-bit RSA signature is 684 base64 bytes).
const maxSignatureHeader = 8 << 10

// Signer signs outgoing requests as one actor. It is a plain value so the
// delivery worker can build one per delivery from stored keys; the
// httpsig signer it uses internally is not goroutine-safe and is created
// per call.
type Signer struct {
	KeyID string          // the keyId peers fetch, e.g. https://node/users/x#main-key
	Key   *rsa.PrivateKey // RSA only: Mastodon and GoToSocial verify nothing else
}

// SignRequest signs r with the cavage HTTP signature peers expect: headers
// (request-target) host date, plus digest when there is a body (or the
// method is POST). It sets Host and Date itself (Date from now, so callers
// sign at send time) and lets httpsig compute Digest over body, which must
// be exactly the bytes sent. Any Digest or Signature already on r is
// replaced, so a request can be re-signed when a redirect is followed.
func (s Signer) SignRequest(r *http.Request, body []byte, now time.Time) error {
	if s.Key == nil || s.KeyID == "" {
		return errors.New("sign request: signer has no key")
	}
	if r.URL == nil {
		return errors.New("sign request: request has no URL")
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if host == "" {
		return errors.New("sign request: request has no host")
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set("Host", host)
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	r.Header.Del("Digest")
	r.Header.Del("Signature")

	headers := []string{httpsig.RequestTarget, "host", "date"}
	if body == nil && r.Method == http.MethodPost {
		body = []byte{}
	}
	if body != nil {
		headers = append(headers, "digest")
	}
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, httpsig.Signature, 0)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	// httpsig writes r.URL.Path, the decoded path, into (request-target);
	// the wire carries the escaped one. Sign a shallow copy whose Path is
	// the escaped form; its Header map is r's, so the headers land on r.
	cp := *r
	u := *r.URL
	u.Path, u.RawPath = r.URL.EscapedPath(), ""
	cp.URL = &u
	if err := signer.SignRequest(s.Key, s.KeyID, &cp, body); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	return nil
}

// PublicKey is a peer's signing key as the actors package resolved it:
// the key object whose id equals the signature's keyId, with the actor
// that owns it. The inbox compares Owner with the activity's actor.
type PublicKey struct {
	ID    string
	Owner string
	Key   crypto.PublicKey
}

// ParsePublicKeyPEM parses an RSA public key in the two PEM forms seen in
// the fediverse: SPKI ("PUBLIC KEY", what Mastodon and we publish) and
// PKCS#1 ("RSA PUBLIC KEY", some older servers). Other key types are
// refused because no peer we talk to verifies them.
func ParsePublicKeyPEM(s string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, tender.Errorf(tender.EInvalid, "public key is not PEM")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", tender.Errorf(tender.EInvalid, "public key cannot be parsed"), err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, tender.Errorf(tender.EInvalid, "public key is not RSA")
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		rk, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", tender.Errorf(tender.EInvalid, "public key cannot be parsed"), err)
		}
		return rk, nil
	default:
		return nil, tender.Errorf(tender.EInvalid, "unsupported PEM block %q", block.Type)
	}
}

// EncodePublicKeyPEM encodes an actor's key the way Mastodon publishes
// it (SPKI, "BEGIN PUBLIC KEY"), the one form every peer parses.
func EncodePublicKeyPEM(k *rsa.PublicKey) (string, error) {
	if k == nil {
		return "", errors.New("encode public key: nil key")
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// KeyResolver finds the public key named by a signature's keyId. The
// actors package implements it with its remote actor cache: the keyId may
// be a fragment of the actor (Mastodon) or a URL of its own (GoToSocial),
// and fetching it may return a key object or the actor; the resolver
// returns the key whose id equals keyID, with its owner. refresh=true
// bypasses the cache, for a key that may have been rotated.
type KeyResolver interface {
	ResolveKey(ctx context.Context, keyID string, refresh bool) (*PublicKey, error)
}

// Verifier checks incoming signed requests: the signature itself (through
// httpsig) and the rules httpsig leaves to us (signed headers, Digest,
// Date window). Create it with NewVerifier, or fill the fields; a zero
// MaxSkew, Now or RefetchLimiter gets the default. Safe for concurrent use;
// do not copy after first use.
type Verifier struct {
	Keys KeyResolver
	// Now is the clock the Date header is checked against (tests set it to
	// a fixture's Date).
	Now func() time.Time
	// MaxSkew bounds |Date - Now|; DefaultMaxSkew when zero.
	MaxSkew time.Duration
	// RefetchLimiter limits key refetches after a failed verification, per
	// keyId host, so forged signatures cannot make us fetch in a loop.
	RefetchLimiter *HostLimiter

	once sync.Once
}

// NewVerifier returns a Verifier with the defaults: the real clock,
// DefaultMaxSkew, and one key refetch per host every 10 s (burst 3).
func NewVerifier(keys KeyResolver) *Verifier {
	v := &Verifier{Keys: keys}
	v.init()
	return v
}

func (v *Verifier) init() {
	v.once.Do(func() {
		if v.Now == nil {
			v.Now = time.Now
		}
		if v.MaxSkew <= 0 {
			v.MaxSkew = DefaultMaxSkew
		}
		if v.RefetchLimiter == nil {
			v.RefetchLimiter = NewHostLimiter(rate.Every(10*time.Second), 3)
		}
	})
}

// unauthorized builds the 401 error every refusal returns; reasons are
// short and safe to show to the sender.
func unauthorized(reason string) error {
	return tender.Errorf(tender.EUnauthorized, "%s", reason)
}

// Verify checks r's HTTP signature and returns the key that made it. body
// must be the exact bytes read from r (the caller has already limited its
// size). It does not check that the key's owner is the activity's actor:
// the inbox does, with SameOrigin, once it has parsed the body. Refusals
// are *tender.Error with EUnauthorized; a resolver error that already
// carries a code (EUnavailable when our storage fails, say) keeps it.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (*PublicKey, error) {
	v.init()
	if v.Keys == nil {
		return nil, errors.New("verify signature: no key resolver")
	}
	sigValues := r.Header.Values("Signature")
	if len(sigValues) == 0 || strings.TrimSpace(sigValues[0]) == "" {
		return nil, unauthorized("missing signature")
	}
	if len(sigValues) > 1 {
		return nil, unauthorized("more than one signature")
	}
	params, err := ParseSignatureHeader(sigValues[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", unauthorized("malformed signature"), err)
	}
	keyID, sig := params["keyId"], params["signature"]
	if keyID == "" {
		return nil, unauthorized("signature has no keyId")
	}
	if sig == "" {
		return nil, unauthorized("signature has no signature value")
	}
	if alg, ok := params["algorithm"]; ok {
		switch strings.ToLower(alg) {
		case "hs2019", "rsa-sha256":
		default:
			return nil, unauthorized("unsupported signature algorithm")
		}
	}
	signed := signedHeaders(params)
	for _, h := range []string{"(request-target)", "host", "date"} {
		if !signed[h] {
			return nil, unauthorized("signed headers must include " + h)
		}
	}
	needDigest := len(body) > 0 || r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
	if needDigest && !signed["digest"] {
		return nil, unauthorized("signed headers must include digest")
	}
	if needDigest || len(r.Header.Values("Digest")) > 0 {
		if err := checkDigest(r.Header.Values("Digest"), body); err != nil {
			return nil, err
		}
	}
	if err := v.checkDate(r.Header.Get("Date")); err != nil {
		return nil, err
	}

	hv, err := newHTTPSigVerifier(r, params)
	if err != nil {
		return nil, err
	}

	key, err := v.resolve(ctx, keyID, false)
	if err != nil {
		return nil, err
	}
	if verifyWith(hv, key) == nil {
		return key, nil
	}
	// The key may have been rotated since we cached it: fetch it again,
	// once, unless this host has used up its refetches.
	if !v.RefetchLimiter.Allow(Host(keyID), v.Now()) {
		return nil, unauthorized("signature does not verify")
	}
	fresh, err := v.resolve(ctx, keyID, true)
	if err != nil {
		return nil, err
	}
	if verifyWith(hv, fresh) == nil {
		return fresh, nil
	}
	return nil, unauthorized("signature does not verify")
}

// resolve asks the resolver for keyID and checks what comes back.
func (v *Verifier) resolve(ctx context.Context, keyID string, refresh bool) (*PublicKey, error) {
	key, err := v.Keys.ResolveKey(ctx, keyID, refresh)
	if err != nil {
		var te *tender.Error
		if errors.As(err, &te) && te.Code != tender.ENotFound && te.Code != tender.EGone && te.Code != tender.EInvalid {
			return nil, fmt.Errorf("resolve signing key: %w", err)
		}
		return nil, fmt.Errorf("%w: %w", unauthorized("signing key could not be resolved"), err)
	}
	if key == nil || key.Key == nil {
		return nil, unauthorized("signing key could not be resolved")
	}
	if key.ID != "" && key.ID != keyID {
		return nil, unauthorized("signing key id does not match keyId")
	}
	if key.Owner == "" {
		return nil, unauthorized("signing key has no owner")
	}
	if _, ok := key.Key.(*rsa.PublicKey); !ok {
		return nil, unauthorized("signing key is not RSA")
	}
	return key, nil
}

// verifyWith runs httpsig's RSA-SHA256 verification. httpsig ignores the
// algorithm parameter; we have checked it is hs2019 or rsa-sha256 and the
// key is RSA, which is what hs2019 means for every server we talk to.
func verifyWith(hv httpsig.Verifier, key *PublicKey) error {
	return hv.Verify(key.Key, httpsig.RSA_SHA256)
}

// newHTTPSigVerifier prepares httpsig's verifier on a copy of r, so that
// r is left untouched and httpsig sees exactly what we checked: the
// Signature header rebuilt from our parse (httpsig's own parser splits on
// every comma and keeps a space-prefixed name as a different one, which
// could make it verify a header list other than the one we checked), the
// Host header (Go moves it to r.Host on the server side), and the escaped
// path (httpsig writes URL.Path into (request-target)).
func newHTTPSigVerifier(r *http.Request, params map[string]string) (httpsig.Verifier, error) {
	canonical, err := canonicalSignatureHeader(params)
	if err != nil {
		return nil, err
	}
	cp := *r
	cp.Header = r.Header.Clone()
	if cp.Header == nil {
		cp.Header = make(http.Header)
	}
	cp.Header.Set("Signature", canonical)
	cp.Header.Del("Authorization")
	if len(cp.Header.Values("Host")) == 0 && r.Host != "" {
		cp.Header.Set("Host", r.Host)
	}
	if r.URL == nil {
		return nil, unauthorized("request has no target")
	}
	u := *r.URL
	u.Path, u.RawPath = r.URL.EscapedPath(), ""
	cp.URL = &u
	hv, err := httpsig.NewVerifier(&cp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", unauthorized("malformed signature"), err)
	}
	if hv.KeyId() != params["keyId"] {
		return nil, unauthorized("malformed signature")
	}
	return hv, nil
}

// canonicalSignatureHeader rebuilds a Signature header from parsed
// parameters in the one form httpsig parses as we do. Values containing a
// comma, a quote, a backslash (httpsig does not unescape) or anything but
// printable ASCII cannot be expressed faithfully in that form and are
// refused; no real keyId or header list contains them.
func canonicalSignatureHeader(params map[string]string) (string, error) {
	var b strings.Builder
	for _, name := range []string{"keyId", "algorithm", "created", "expires", "headers", "signature"} {
		val, ok := params[name]
		if !ok {
			continue
		}
		if strings.ContainsAny(val, `,"\\`) || !printableASCII(val) {
			return "", unauthorized("malformed signature")
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if name == "created" || name == "expires" {
			if val == "" || strings.Trim(val, "0123456789") != "" {
				return "", unauthorized("malformed signature")
			}
			b.WriteString(name + "=" + val)
			continue
		}
		if name == "headers" {
			val = strings.Join(strings.Fields(strings.ToLower(val)), " ")
		}
		b.WriteString(name + `="` + val + `"`)
	}
	return b.String(), nil
}

// signedHeaders returns the set of lower-cased names in the headers
// parameter; per the cavage draft, an absent parameter means "date" only.
func signedHeaders(params map[string]string) map[string]bool {
	list, ok := params["headers"]
	if !ok {
		list = "date"
	}
	set := make(map[string]bool)
	for _, h := range strings.Fields(strings.ToLower(list)) {
		set[h] = true
	}
	return set
}

// checkDigest checks Digest header values (RFC 3230: a comma-separated
// list of algorithm=value, algorithm names case-insensitive): SHA-256 must
// be present and equal the hash of body. Other algorithms are ignored.
func checkDigest(values []string, body []byte) error {
	if len(values) == 0 {
		return unauthorized("missing digest")
	}
	sum := sha256.Sum256(body)
	found := false
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			alg, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(alg), "SHA-256") {
				continue
			}
			found = true
			got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
			if err != nil || subtle.ConstantTimeCompare(got, sum[:]) != 1 {
				return unauthorized("digest mismatch")
			}
		}
	}
	if !found {
		return unauthorized("digest must include SHA-256")
	}
	return nil
}

// checkDate refuses a missing Date or one outside ±MaxSkew of Now: a
// captured request cannot be replayed later.
func (v *Verifier) checkDate(value string) error {
	if value == "" {
		return unauthorized("missing date")
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return unauthorized("malformed date")
	}
	d := v.Now().Sub(t)
	if d > v.MaxSkew || d < -v.MaxSkew {
		return unauthorized("date outside the allowed window")
	}
	return nil
}

// ParseSignatureHeader parses the parameters of a cavage Signature header
// (keyId, algorithm, headers, signature, created, expires…). We need it
// because httpsig exposes the keyId but not the list of signed headers,
// and that list is what our rules are about. It accepts quoted values with
// backslash escapes, bare token values, and optional whitespace around
// commas and '='; it refuses duplicate or empty parameters and anything
// longer than 8 KiB. Parameter names are case-sensitive, as in the draft.
func ParseSignatureHeader(s string) (map[string]string, error) {
	if len(s) > maxSignatureHeader {
		return nil, errors.New("signature header too long")
	}
	params := make(map[string]string)
	i, n := 0, len(s)
	skipSpace := func() {
		for i < n && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skipSpace()
		if i >= n {
			if len(params) == 0 {
				return nil, errors.New("empty signature header")
			}
			return params, nil
		}
		start := i
		for i < n && isTokenChar(s[i]) {
			i++
		}
		name := s[start:i]
		if name == "" {
			return nil, fmt.Errorf("expected a parameter name at offset %d", start)
		}
		skipSpace()
		if i >= n || s[i] != '=' {
			return nil, fmt.Errorf("parameter %q has no value", name)
		}
		i++
		skipSpace()
		var val string
		if i < n && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < n {
				c := s[i]
				if c == '\\' && i+1 < n {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("parameter %q has an unterminated quote", name)
			}
			val = b.String()
		} else {
			start := i
			for i < n && isTokenChar(s[i]) {
				i++
			}
			val = s[start:i]
			if val == "" {
				return nil, fmt.Errorf("parameter %q has no value", name)
			}
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("duplicate parameter %q", name)
		}
		params[name] = val
		skipSpace()
		if i >= n {
			return params, nil
		}
		if s[i] != ',' {
			return nil, fmt.Errorf("unexpected %q at offset %d", s[i], i)
		}
		i++
		skipSpace()
		if i >= n {
			return nil, errors.New("trailing comma")
		}
	}
}

// isTokenChar reports whether c may appear in an RFC 7230 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// formatSignatureParams writes params back as a Signature header value,
// quoting every value; used to check that parsing is lossless.
func formatSignatureParams(params map[string]string, order []string) string {
	var b strings.Builder
	for _, name := range order {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		val := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(params[name])
		b.WriteString(name + `="` + val + `"`)
	}
	return b.String()
}

// SameOrigin reports whether two IRIs have the same scheme, host and port
// (default ports made explicit). The inbox uses it to check that a key's
// owner, an activity's id and the objects it creates belong to the actor's
// server. Unparsable or relative IRIs are never the same origin.
func SameOrigin(a, b string) bool {
	oa, ok := origin(a)
	if !ok {
		return false
	}
	ob, ok := origin(b)
	return ok && oa == ob
}

// Host returns the lower-cased host of an IRI, with the port only when it
// is not the scheme's default, or "" when the IRI has none. It keys the
// per-host limits (key refetch, delivery concurrency) and domain blocks.
func Host(iri string) string {
	u, err := url.Parse(iri)
	if err != nil || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	scheme := strings.ToLower(u.Scheme)
	if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// origin returns scheme://host:port with the default port filled in.
func origin(iri string) (string, bool) {
	u, err := url.Parse(iri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port, true
}

// HostLimiter is a set of token buckets, one per host, with a bound on
// how many hosts it tracks (so random keyId hosts cannot grow it without
// limit). Idle buckets are dropped when the bound is reached; if all are
// busy, new hosts are refused, which for key refetches means "don't fetch".
type HostLimiter struct {
	limit    rate.Limit
	burst    int
	maxHosts int

	mu    sync.Mutex
	hosts map[string]*rate.Limiter
}

// NewHostLimiter returns a limiter allowing each host r events per second
// with the given burst, tracking at most 10 000 hosts.
func NewHostLimiter(r rate.Limit, burst int) *HostLimiter {
	return &HostLimiter{limit: r, burst: burst, maxHosts: 10000, hosts: make(map[string]*rate.Limiter)}
}

// Allow reports whether host may have one more event at time now, and
// takes a token if so.
func (l *HostLimiter) Allow(host string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.hosts[host]
	if !ok {
		if len(l.hosts) >= l.maxHosts {
			for h, hl := range l.hosts {
				if hl.TokensAt(now) >= float64(l.burst) {
					delete(l.hosts, h)
				}
			}
			if len(l.hosts) >= l.maxHosts {
				return false
			}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.hosts[host] = lim
	}
	return lim.AllowN(now, 1)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
