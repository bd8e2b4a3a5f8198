package tendering

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"

	"github.com/coopnet/coopnet/tender"
)

func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("tendering: encode: %w", err)
	}
	return b, nil
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return tender.Errorf(tender.EInvalid, "malformed document: %v", err)
	}
	return nil
}

// htmlInline escapes text for one paragraph, keeping line breaks.
func htmlInline(s string) string {
	return strings.ReplaceAll(html.EscapeString(strings.TrimSpace(s)), "\n", "<br>")
}
