package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/coopnet/coopnet/tender"
)

// Limits on handle parts. Mastodon caps usernames at 30 characters; we
// allow more for other servers but keep a bound on remote input.
const (
	maxUserLen     = 64
	maxHostLen     = 253
	maxResourceLen = 2048
)

// ParseHandle splits a fediverse handle into user and host. It accepts the
// forms people paste: "@user@host", "user@host" and "acct:user@host"; the
// host may carry a port ("127.0.0.1:8080", "[::1]:8080"), as local demos
// and tests need. The user may hold letters, digits, '_', '.' and '-'; the
// host is returned lower-cased. Errors are EInvalid.
func ParseHandle(s string) (user, host string, err error) {
	s = strings.TrimSpace(s)
	if len(s) > maxResourceLen {
		return "", "", tender.FieldErrorf("handle", "too long")
	}
	if len(s) >= 5 && strings.EqualFold(s[:5], "acct:") {
		s = s[5:]
	} else {
		s = strings.TrimPrefix(s, "@")
	}
	user, host, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(host, "@") {
		return "", "", tender.FieldErrorf("handle", "expected user@host")
	}
	if err := validateUser(user); err != nil {
		return "", "", err
	}
	host, err = normalizeHost(host)
	if err != nil {
		return "", "", err
	}
	return user, host, nil
}

// validateUser checks the local part of a handle.
func validateUser(user string) error {
	if user == "" {
		return tender.FieldErrorf("handle", "user is empty")
	}
	if len(user) > maxUserLen {
		return tender.FieldErrorf("handle", "user is too long")
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return tender.FieldErrorf("handle", "user may contain only letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}

// normalizeHost validates host[:port] (a DNS name, an IPv4 address or a
// bracketed IPv6 address) and returns it lower-cased. Internationalised
// names must be given in their xn-- form.
func normalizeHost(hostport string) (string, error) {
	bad := func(why string) error { return tender.FieldErrorf("host", "%s", why) }
	if hostport == "" {
		return "", bad("host is empty")
	}
	if len(hostport) > maxHostLen+8 {
		return "", bad("host is too long")
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", bad("unterminated IPv6 address")
		}
		host = hostport[1:end]
		rest := hostport[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", bad("malformed host")
			}
			port = rest[1:]
			if port == "" {
				return "", bad("empty port")
			}
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", bad("malformed IPv6 address")
		}
		host = "[" + addr.String() + "]"
	} else {
		if h, p, ok := strings.Cut(hostport, ":"); ok {
			host, port = h, p
			if port == "" {
				return "", bad("empty port")
			}
		}
		if err := validateDNSName(host); err != nil {
			return "", err
		}
		host = strings.ToLower(host)
		if addr, err := netip.ParseAddr(host); err == nil {
			host = addr.String()
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || len(port) > 5 {
			return "", bad("malformed port")
		}
		return host + ":" + port, nil
	}
	return host, nil
}

// validateDNSName checks a host name (or dotted IPv4 address): ASCII
// labels of letters, digits and hyphens, 1–63 bytes, no leading or
// trailing hyphen, at most 253 bytes in all.
func validateDNSName(host string) error {
	bad := func(why string) error { return tender.FieldErrorf("host", "%s", why) }
	if host == "" {
		return bad("host is empty")
	}
	if len(host) > maxHostLen {
		return bad("host is too long")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return bad("malformed host name")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("malformed host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad("malformed host name")
			}
		}
	}
	return nil
}

// WebFingerResource is a parsed ?resource= of a WebFinger query. Peers ask
// either for an account (acct:user@host) or for an actor by URL (Mastodon
// does both), and the server looks the two up differently: exactly one of
// the two forms is set.
type WebFingerResource struct {
	// User and Host are set for an acct: resource (Host lower-cased, with
	// a port when one was given).
	User, Host string
	// URL is set for an http(s) resource: the server finds the local
	// actor whose id or profile URL it is.
	URL string
}

// IsAcct reports whether the resource names an account rather than a URL.
func (r WebFingerResource) IsAcct() bool { return r.User != "" }

// ParseWebFingerResource parses the resource parameter of an incoming
// WebFinger query: "acct:user@host[:port]" (also without "acct:", as some
// clients send), or an absolute http(s) URL. Errors are EInvalid, which
// the server answers with 400.
func ParseWebFingerResource(resource string) (WebFingerResource, error) {
	resource = strings.TrimSpace(resource)
	if resource == "" {
		return WebFingerResource{}, tender.FieldErrorf("resource", "missing")
	}
	if len(resource) > maxResourceLen {
		return WebFingerResource{}, tender.FieldErrorf("resource", "too long")
	}
	lower := strings.ToLower(resource)
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		u, err := url.Parse(resource)
		if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
			return WebFingerResource{}, tender.FieldErrorf("resource", "malformed URL")
		}
		host, err := normalizeHost(u.Host)
		if err != nil {
			return WebFingerResource{}, tender.FieldErrorf("resource", "malformed URL host")
		}
		u.Scheme = strings.ToLower(u.Scheme)
		u.Host = host
		u.Fragment, u.RawFragment = "", ""
		return WebFingerResource{URL: u.String()}, nil
	}
	user, host, err := ParseHandle(resource)
	if err != nil {
		return WebFingerResource{}, err
	}
	return WebFingerResource{User: user, Host: host}, nil
}

// jrd is the part of a WebFinger JSON Resource Descriptor we read.
type jrd struct {
	Subject string `json:"subject"`
	Links   []struct {
		Rel  string `json:"rel"`
		Type string `json:"type"`
		Href string `json:"href"`
	} `json:"links"`
}

// WebFinger resolves a handle to its actor IRI: the "self" link of type
// application/activity+json (or ld+json) in the host's WebFinger answer.
// It queries https; with AllowInsecureHTTP (loopback demos and tests,
// which have no TLS) it falls back to http when the https request cannot
// be made at all, but not when the server answered. The actor may live on
// another host than the handle (Mastodon's WEB_DOMAIN): callers should
// fetch it and check it names this handle before trusting the pair.
func (c *Client) WebFinger(ctx context.Context, handle string) (string, error) {
	user, host, err := ParseHandle(handle)
	if err != nil {
		return "", err
	}
	query := "?resource=" + url.QueryEscape("acct:"+user+"@"+host)
	const accept = "application/jrd+json, application/json"
	body, err := c.GetJSON(ctx, "https://"+host+"/.well-known/webfinger"+query, accept, nil)
	var se *StatusError
	if err != nil && c.cfg.AllowInsecureHTTP && !errors.As(err, &se) && ctx.Err() == nil {
		body, err = c.GetJSON(ctx, "http://"+host+"/.well-known/webfinger"+query, accept, nil)
	}
	if err != nil {
		return "", fmt.Errorf("webfinger %s@%s: %w", user, host, err)
	}
	var doc jrd
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: %w", tender.Errorf(tender.EInvalid, "webfinger answer for %s@%s is not valid JSON", user, host), err)
	}
	for _, l := range doc.Links {
		if l.Rel != "self" || !IsActivityJSON(l.Type) || l.Href == "" {
			continue
		}
		u, err := url.Parse(l.Href)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		return l.Href, nil
	}
	return "", tender.Errorf(tender.ENotFound, "no ActivityPub actor for %s@%s", user, host)
}
