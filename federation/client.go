package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// Client defaults. Documents (actors, tenders) are small; a megabyte is
// generous and still bounds what a hostile peer can make us read.
const (
	// DefaultTimeout bounds a whole request when ClientConfig.Timeout is 0.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBody bounds a fetched document when ClientConfig.MaxBody is 0.
	DefaultMaxBody = 1 << 20
	// DefaultMaxConcurrent caps requests in flight when
	// ClientConfig.MaxConcurrent is 0.
	DefaultMaxConcurrent = 32
	// DefaultUserAgent is sent when ClientConfig.UserAgent is empty; nodes
	// should set their own, with their URL, so peer admins can reach them.
	DefaultUserAgent = "coopnet (+https://w3id.org/coopnet)"
	// maxRedirects bounds a fetch's redirect chain.
	maxRedirects = 5
	// maxPostResponse is how much of a delivery's response we read: only
	// the status matters, the rest is drained so the connection is reused.
	maxPostResponse = 64 << 10
)

// ClientConfig configures the outgoing HTTP client. The zero value is the
// production setting (public HTTPS peers only, default limits); tests and
// local demos set AllowPrivate and AllowInsecureHTTP.
type ClientConfig struct {
	// AllowPrivate lets requests reach loopback, private, link-local and
	// other non-public addresses. Off in production: a peer must never be
	// able to make us fetch from our own network (SSRF).
	AllowPrivate bool
	// AllowInsecureHTTP allows http:// URLs (loopback tests, demos).
	AllowInsecureHTTP bool
	// Timeout bounds a whole request, body included; DefaultTimeout if 0.
	Timeout time.Duration
	// MaxBody bounds a fetched document; DefaultMaxBody if 0.
	MaxBody int64
	// UserAgent is sent on every request; DefaultUserAgent if empty.
	// Include the node's URL so peer admins can find us.
	UserAgent string
	// MaxConcurrent caps requests in flight through this client;
	// DefaultMaxConcurrent if 0.
	MaxConcurrent int
	// Now is the clock used to sign (Date header); time.Now if nil.
	Now func() time.Time
	// Blocked, when set, refuses every request (fetch, delivery, redirect
	// hop) to a host it reports: domain blocks and the allowlist. It gets
	// Host(url).
	Blocked func(host string) bool
}

// Client is the one way coopnet talks to other servers: signed fetches,
// signed deliveries and WebFinger, all behind the SSRF guard, timeouts and
// size limits. Safe for concurrent use.
type Client struct {
	cfg       ClientConfig
	transport *http.Transport
	sem       chan struct{}
	// allowAddr decides whether a resolved address may be dialled; tests
	// replace it to tell two loopback servers apart by port.
	allowAddr func(netip.AddrPort) bool
}

// NewClient builds a Client from cfg, filling in defaults.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent)}
	allowPrivate := cfg.AllowPrivate
	c.allowAddr = func(ap netip.AddrPort) bool { return AllowedAddr(ap.Addr(), allowPrivate) }
	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		// The check runs on the resolved address of every connection,
		// including those made for redirects and by Happy Eyeballs, so DNS
		// answers pointing at private addresses are caught too.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return tender.Errorf(tender.EForbidden, "address %s is not allowed", address)
			}
			if !c.allowAddr(ap) {
				return tender.Errorf(tender.EForbidden, "address %s is not allowed", ap.Addr())
			}
			return nil
		},
	}
	c.transport = &http.Transport{
		// No proxy from the environment: it would dial on our behalf and
		// bypass the address check.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return c
}

// CloseIdleConnections closes kept-alive connections; for shutdown and
// tests.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// AllowedIP reports whether ip may be dialled: with allowPrivate false,
// only globally routable unicast addresses are. See AllowedAddr.
func AllowedIP(ip net.IP, allowPrivate bool) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return AllowedAddr(addr, allowPrivate)
}

// AllowedAddr is AllowedIP for netip.Addr. Unspecified and multicast
// addresses are refused even with allowPrivate, since no peer can live
// there (and 0.0.0.0 reaches the local host on Linux). Otherwise, without
// allowPrivate, it refuses loopback, RFC 1918, unique-local, link-local,
// CGNAT, documentation, benchmarking and reserved ranges, and IPv6 forms
// embedding an IPv4 address (mapped, compatible, 6to4, NAT64) are judged by
// the IPv4 address they carry.
func AllowedAddr(addr netip.Addr, allowPrivate bool) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	if addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	if allowPrivate {
		return true
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() {
		return false
	}
	if addr.Is6() {
		if v4, ok := embeddedIPv4(addr); ok {
			return AllowedAddr(v4, false)
		}
	}
	for _, p := range forbiddenPrefixes() {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// forbiddenPrefixes lists the special-purpose ranges (IANA registries)
// not covered by the netip predicates. Built per call: it is small, and
// keeps the package free of shared state.
func forbiddenPrefixes() []netip.Prefix {
	list := []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // CGNAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved
		"::/96",           // IPv4-compatible (deprecated)
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/32",       // Teredo (hides an IPv4 address)
		"2001:db8::/32",   // documentation
		"fec0::/10",       // site-local (deprecated)
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// embeddedIPv4 extracts the IPv4 address carried by NAT64 (64:ff9b::/96)
// and 6to4 (2002::/16) addresses.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	b := addr.As16()
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case netip.MustParsePrefix("2002::/16").Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// StatusError is a non-2xx answer from a peer. Callers look at Code (404
// and 410 for deleted actors and objects, 429 and 5xx to retry later); its
// Unwrap gives the matching *tender.Error so tender.ErrorCode works too.
type StatusError struct {
	Code int
	URL  string
	// RetryAfter is the peer's Retry-After, when it sent one (429, 503).
	RetryAfter time.Duration
}

// Error names the URL and status, for logs; it carries no response body,
// which a hostile peer controls.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Unwrap maps the status to our error codes.
func (e *StatusError) Unwrap() error {
	code := tender.EUnavailable
	switch {
	case e.Code == http.StatusNotFound:
		code = tender.ENotFound
	case e.Code == http.StatusGone:
		code = tender.EGone
	case e.Code == http.StatusUnauthorized:
		code = tender.EUnauthorized
	case e.Code == http.StatusForbidden:
		code = tender.EForbidden
	case e.Code == http.StatusRequestEntityTooLarge:
		code = tender.ETooLarge
	case e.Code == http.StatusTooManyRequests:
		code = tender.ERateLimited
	case e.Code >= 400 && e.Code < 500 && e.Code != http.StatusRequestTimeout:
		code = tender.EInvalid
	}
	return tender.Errorf(code, "peer answered %d", e.Code)
}

// Response is a fetched document with the URL it finally came from, which
// differs from the requested one after a redirect: origin checks must use
// URL, not the IRI asked for.
type Response struct {
	URL         string
	ContentType string
	Body        []byte
}

// Get fetches an ActivityStreams document, signed by signer when it is not
// nil (in production it never is: GoToSocial and secure-mode Mastodon
// answer unsigned fetches with 401). The answer must be an ActivityPub
// media type and at most MaxBody bytes. Use Fetch when the final URL
// matters.
func (c *Client) Get(ctx context.Context, iri string, signer *Signer) ([]byte, error) {
	resp, err := c.Fetch(ctx, iri, signer)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Fetch is Get returning the final URL and content type as well.
func (c *Client) Fetch(ctx context.Context, iri string, signer *Signer) (*Response, error) {
	resp, err := c.get(ctx, iri, AcceptActivity, signer)
	if err != nil {
		return nil, err
	}
	if !IsActivityJSON(resp.ContentType) {
		return nil, tender.Errorf(tender.EInvalid, "%s is not an ActivityStreams document (%q)", iri, resp.ContentType)
	}
	return resp, nil
}

// GetJSON fetches a JSON document that is not ActivityStreams (WebFinger
// JRD, NodeInfo) with the given Accept header. The answer must be a JSON
// media type (application/json or any +json).
func (c *Client) GetJSON(ctx context.Context, iri, accept string, signer *Signer) ([]byte, error) {
	resp, err := c.get(ctx, iri, accept, signer)
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(resp.ContentType)
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, tender.Errorf(tender.EInvalid, "%s is not JSON (%q)", iri, resp.ContentType)
	}
	return resp.Body, nil
}

// get does a GET with redirects re-checked and re-signed.
func (c *Client) get(ctx context.Context, iri, accept string, signer *Signer) (*Response, error) {
	u, err := c.checkURL(iri)
	if err != nil {
		return nil, err
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", iri, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if signer != nil {
		if err := signer.SignRequest(req, nil, c.cfg.Now()); err != nil {
			return nil, fmt.Errorf("get %s: %w", iri, err)
		}
	}
	hc := &http.Client{
		Transport: c.transport,
		Timeout:   c.cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return tender.Errorf(tender.EInvalid, "too many redirects")
			}
			prev := via[len(via)-1].URL
			if prev.Scheme == "https" && req.URL.Scheme != "https" {
				return tender.Errorf(tender.EForbidden, "redirect from https to %s refused", req.URL.Scheme)
			}
			if _, err := c.checkURL(req.URL.String()); err != nil {
				return err
			}
			// The copied signature covers the old target and host: sign
			// again for the new one.
			req.Header.Del("Signature")
			req.Header.Del("Host")
			req.Header.Del("Date")
			if signer != nil {
				return signer.SignRequest(req, nil, c.cfg.Now())
			}
			return nil
		},
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(iri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPostResponse))
		return nil, c.statusError(iri, resp)
	}
	body, err := readLimited(resp, c.cfg.MaxBody)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", iri, err)
	}
	return &Response{URL: resp.Request.URL.String(), ContentType: resp.Header.Get("Content-Type"), Body: body}, nil
}

// Post delivers body to an inbox, signed by signer at the moment it is
// sent. It returns the peer's status whenever there was an answer, so the
// delivery worker can decide whether to retry; a non-2xx answer also
// returns a *StatusError. Redirects are not followed (a delivery is not
// re-sent somewhere else). Transport failures carry EUnavailable, except
// refused addresses (EForbidden): those will not get better by retrying.
func (c *Client) Post(ctx context.Context, inbox string, body []byte, signer Signer) (int, error) {
	u, err := c.checkURL(inbox)
	if err != nil {
		return 0, err
	}
	if err := c.acquire(ctx); err != nil {
		return 0, err
	}
	defer c.release()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("post %s: %w", inbox, err)
	}
	req.Header.Set("Content-Type", ContentTypeActivity)
	req.Header.Set("Accept", AcceptActivity)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if body == nil {
		body = []byte{}
	}
	if err := signer.SignRequest(req, body, c.cfg.Now()); err != nil {
		return 0, fmt.Errorf("post %s: %w", inbox, err)
	}
	hc := &http.Client{
		Transport: c.transport,
		Timeout:   c.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, transportError(inbox, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPostResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, c.statusError(inbox, resp)
	}
	return resp.StatusCode, nil
}

// checkURL refuses what we never request: other schemes, http unless
// allowed, missing hosts, and user:password@ (credentials in an IRI are
// never legitimate in ActivityPub and would be sent as Basic auth).
func (c *Client) checkURL(iri string) (*url.URL, error) {
	u, err := url.Parse(iri)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tender.Errorf(tender.EInvalid, "malformed URL"), err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.cfg.AllowInsecureHTTP {
			return nil, tender.Errorf(tender.EForbidden, "http URL %s not allowed", iri)
		}
	default:
		return nil, tender.Errorf(tender.EInvalid, "unsupported URL scheme %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, tender.Errorf(tender.EInvalid, "URL %s has no host", iri)
	}
	if u.User != nil {
		return nil, tender.Errorf(tender.EInvalid, "URL with credentials not allowed")
	}
	if c.cfg.Blocked != nil && c.cfg.Blocked(Host(iri)) {
		return nil, tender.Errorf(tender.EForbidden, "host %s is blocked", Host(iri))
	}
	return u, nil
}

func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a connection slot: %w", ctx.Err())
	}
}

func (c *Client) release() { <-c.sem }

// readLimited reads at most max bytes of the body, refusing more.
func readLimited(resp *http.Response, max int64) ([]byte, error) {
	if resp.ContentLength > max {
		return nil, tender.Errorf(tender.ETooLarge, "response larger than %d bytes", max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tender.Errorf(tender.EUnavailable, "reading response failed"), err)
	}
	if int64(len(body)) > max {
		return nil, tender.Errorf(tender.ETooLarge, "response larger than %d bytes", max)
	}
	return body, nil
}

// transportError gives a failed request a code: refusals by our own
// guards keep theirs, anything else (timeouts, refused connections, TLS)
// is EUnavailable, worth a retry later.
func transportError(iri string, err error) error {
	var te *tender.Error
	if errors.As(err, &te) {
		return fmt.Errorf("request to %s: %w", iri, err)
	}
	return fmt.Errorf("%w: %w", tender.Errorf(tender.EUnavailable, "%s unreachable", Host(iri)), err)
}

func (c *Client) statusError(iri string, resp *http.Response) *StatusError {
	return &StatusError{Code: resp.StatusCode, URL: iri, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())}
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 if absent/bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
