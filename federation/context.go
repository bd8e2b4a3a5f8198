// Package federation holds coopnet's protocol mechanics and nothing else:
// HTTP signatures (signing, and verification with the checks go-fed/httpsig
// leaves to us), the outgoing HTTP client (timeouts, size limits, SSRF
// guard), WebFinger, and the JSON-LD context of our documents. It keeps no
// state of its own beyond caches and rate limiters owned by its values:
// where it needs a key it asks through KeyResolver, which the actors package
// implements.
package federation

import (
	"mime"
	"strings"
)

// JSON-LD context IRIs and well-known addresses. They are fixed by the
// specifications (and, for Namespace, by us: it must be the same IRI on
// every node so that peers recognise each other's documents).
const (
	// ActivityStreamsContext is the ActivityStreams 2.0 context, first in
	// every document we emit.
	ActivityStreamsContext = "https://www.w3.org/ns/activitystreams"
	// SecurityContext defines publicKey/publicKeyPem, which Mastodon and
	// GoToSocial read to verify our signatures.
	SecurityContext = "https://w3id.org/security/v1"
	// Namespace is the coopnet vocabulary IRI (prefix "coop"). A peer is a
	// coopnet peer when its actor document uses it.
	Namespace = "https://w3id.org/coopnet/ns#"
	// PublicAddress is the special collection that makes an activity public.
	PublicAddress = "https://www.w3.org/ns/activitystreams#Public"
	// MastodonNamespace is the "toot" prefix Mastodon uses for its
	// extensions (discoverable, featured…).
	MastodonNamespace = "http://joinmastodon.org/ns#"
	// SchemaNamespace is the schema.org prefix as Mastodon spells it (http,
	// with '#'), used for PropertyValue profile fields.
	SchemaNamespace = "http://schema.org#"
	// XSDNamespace is the XML Schema datatypes prefix, for typed literals
	// such as dates.
	XSDNamespace = "http://www.w3.org/2001/XMLSchema#"
)

// Media types of ActivityPub documents. Both are equivalent on the wire;
// servers differ in which they send, so we accept both and send the first.
const (
	// ContentTypeActivity is what we send and serve.
	ContentTypeActivity = "application/activity+json"
	// ContentTypeLDJSON is the form the ActivityPub specification names;
	// GoToSocial sends it on deliveries.
	ContentTypeLDJSON = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
	// AcceptActivity is the Accept header of our document fetches: some
	// servers only answer with JSON when they see one of the two types.
	AcceptActivity = ContentTypeActivity + ", " + ContentTypeLDJSON
)

// IsActivityJSON reports whether a Content-Type value, or any acceptable
// media range of an Accept value, is an ActivityPub JSON type. Content
// negotiation (JSON or HTML page) and the refusal of fetched documents that
// are not ActivityStreams (a defence against uploaded files posing as
// actors) both hinge on it. application/ld+json is accepted with any
// profile; a media range with q=0 is not acceptable and does not count.
func IsActivityJSON(contentTypeOrAccept string) bool {
	for _, part := range splitHeaderList(contentTypeOrAccept) {
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			// Be lenient with broken parameters: the type alone decides.
			mt = strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
			params = nil
		}
		if mt != "application/activity+json" && mt != "application/ld+json" {
			continue
		}
		if q, ok := params["q"]; ok && isZeroQ(q) {
			continue
		}
		return true
	}
	return false
}

// isZeroQ reports whether a q parameter value means "not acceptable".
func isZeroQ(q string) bool {
	q = strings.TrimSpace(q)
	if q == "" {
		return false
	}
	return strings.Trim(q, "0.") == "" && strings.HasPrefix(q, "0")
}

// splitHeaderList splits a comma-separated header value, leaving commas
// inside quoted strings alone (a profile parameter may be quoted).
func splitHeaderList(s string) []string {
	var parts []string
	inQuote, escaped := false, false
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	parts = append(parts, s[start:])
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// terms returns the inline term definitions of our context. It builds a
// fresh map on every call so that no caller can change what another sees.
// Adding a term here adds it to every document and to /ns at once.
func terms() map[string]any {
	coop := func(name string) string { return "coop:" + name }
	iri := func(name string) map[string]any {
		return map[string]any{"@id": "coop:" + name, "@type": "@id"}
	}
	return map[string]any{
		"coop":   Namespace,
		"toot":   MastodonNamespace,
		"schema": SchemaNamespace,
		"xsd":    XSDNamespace,

		// Types.
		"Tender": coop("Tender"),
		"Bid":    coop("Bid"),
		"Lot":    coop("Lot"),
		"Award":  coop("Award"),

		// Tender and bid properties.
		"lots":           map[string]any{"@id": "coop:lots", "@container": "@list"},
		"regions":        coop("regions"),
		"categories":     coop("categories"),
		"languages":      coop("languages"),
		"budget":         coop("budget"),
		"minAmount":      coop("minAmount"),
		"maxAmount":      coop("maxAmount"),
		"deadline":       map[string]any{"@id": "coop:deadline", "@type": "xsd:dateTime"},
		"acceptingBids":  coop("acceptingBids"),
		"status":         coop("status"),
		"amount":         coop("amount"),
		"currency":       coop("currency"),
		"price":          coop("price"),
		"lot":            iri("lot"),
		"award":          coop("award"),
		"eligibility":    coop("eligibility"),
		"deliveryPeriod": coop("deliveryPeriod"),
		"deliveryPlan":   coop("deliveryPlan"),
		"parent":         iri("parent"),
		"winner":         iri("winner"),
		"bid":            iri("bid"),
		"reason":         coop("reason"),
		"cancelReason":   coop("cancelReason"),
		"question":       coop("question"),
		"answer":         coop("answer"),
		"startDate":      map[string]any{"@id": "schema:startDate", "@type": "xsd:dateTime"},
		"endDate":        map[string]any{"@id": "schema:endDate", "@type": "xsd:dateTime"},
		"indexable":      "toot:indexable",

		// Mastodon's actor extensions, spelt as Mastodon spells them.
		"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
		"discoverable":              "toot:discoverable",
		"PropertyValue":             "schema:PropertyValue",
		"value":                     "schema:value",
	}
}

// Context returns the @context of every document we emit: the
// ActivityStreams and security contexts by reference, then our terms
// inline (as Mastodon does with toot:), so a peer needs no fetch of /ns to
// understand a tender. go-fed streams builds @context only from its own
// vocabulary, so documents must set this themselves.
func Context() []any {
	return []any{ActivityStreamsContext, SecurityContext, terms()}
}

// NamespaceDocument returns the JSON-LD document served at /ns, so that the
// namespace IRI dereferences to the definitions every document carries
// inline.
func NamespaceDocument() map[string]any {
	t := terms()
	// Standalone, the document must define the "as" prefix that the
	// ActivityStreams context provides inline.
	t["as"] = ActivityStreamsContext + "#"
	return map[string]any{"@context": t}
}
