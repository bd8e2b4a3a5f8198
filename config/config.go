// Package config loads and validates a node's TOML configuration, with
// COOPNET_<SECTION>_<KEY> environment variables applied on top so that the
// same file can serve several deployments.
package config

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is a node's whole configuration. Field tags name the TOML keys,
// which are a public contract: extend them, never rename them.
type Config struct {
	Server     Server        `toml:"server"`
	Storage    Storage       `toml:"storage"`
	Federation Federation    `toml:"federation"`
	Delivery   Delivery      `toml:"delivery"`
	Limits     Limits        `toml:"limits"`
	Log        Log           `toml:"log"`
	Actors     []ActorConfig `toml:"actors"`
}

// Server is the [server] section.
type Server struct {
	// Listen is the address:port the HTTP listener binds.
	Listen string `toml:"listen"`
	// BaseURL is the public URL actor ids are built from. It is never taken
	// from request headers, because signatures and ids must not depend on
	// what a client claims the host is.
	BaseURL string `toml:"base_url"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `toml:"trusted_proxies"`
	// ReadTimeout, WriteTimeout and IdleTimeout bound slow clients.
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// Storage is the [storage] section.
type Storage struct {
	// Path is the SQLite database file.
	Path string `toml:"path"`
}

// Federation is the [federation] section.
type Federation struct {
	// AllowPrivateAddresses lets outgoing requests reach loopback and
	// private addresses: for tests and local demos only.
	AllowPrivateAddresses bool `toml:"allow_private_addresses"`
	// AllowInsecureHTTP lets WebFinger and fetches use plain http.
	AllowInsecureHTTP bool `toml:"allow_insecure_http"`
	// Allowlist, when non-empty, is the only set of hosts that may federate.
	Allowlist []string `toml:"allowlist"`
	// UserAgent is sent on every outgoing request.
	UserAgent string `toml:"user_agent"`
	// FetchTimeout bounds every outgoing fetch and delivery.
	FetchTimeout Duration `toml:"fetch_timeout"`
}

// Delivery is the [delivery] section.
type Delivery struct {
	// Workers is the number of concurrent delivery workers.
	Workers int `toml:"workers"`
	// PerHost bounds concurrent deliveries to one host.
	PerHost int `toml:"per_host"`
	// GiveUpAfter is how long a failing delivery is retried.
	GiveUpAfter Duration `toml:"give_up_after"`
	// Poll is how often serve reads its delivery queue unprompted: for
	// retries that came due, and for activities queued by commands (coopnet
	// tender publish, follow...) when the wake socket next to the database
	// cannot be used. Commands normally wake serve at once.
	Poll Duration `toml:"poll"`
}

// Limits is the [limits] section.
type Limits struct {
	// InboxPerHost is inbox POSTs per second per remote host; 0 turns the
	// limit off.
	InboxPerHost float64 `toml:"inbox_per_host"`
	// InboxBurst is the burst allowed above InboxPerHost.
	InboxBurst int `toml:"inbox_burst"`
	// GetPerIP is GETs per second per client IP of the documents that
	// cost a query (WebFinger, NodeInfo, actors, collections, objects,
	// pages); 0 turns the limit off.
	GetPerIP float64 `toml:"get_per_ip"`
	// GetBurst is the burst allowed above GetPerIP.
	GetBurst int `toml:"get_burst"`
}

// Log is the [log] section.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text or json.
	Format string `toml:"format"`
}

// ActorConfig declares a local co-op that serve creates if it is absent.
type ActorConfig struct {
	Username       string   `toml:"username"`
	Name           string   `toml:"name"`
	Summary        string   `toml:"summary"`
	Regions        []string `toml:"regions"`
	Categories     []string `toml:"categories"`
	Languages      []string `toml:"languages"`
	ManualApproval bool     `toml:"manual_approval"`
	Icon           string   `toml:"icon"`
}

// Duration is a time.Duration written in TOML as a string such as "30s".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the configuration used for keys a file leaves out.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			ReadTimeout:     Duration{15 * time.Second},
			WriteTimeout:    Duration{30 * time.Second},
			IdleTimeout:     Duration{120 * time.Second},
			ShutdownTimeout: Duration{10 * time.Second},
		},
		Storage:    Storage{Path: "coopnet.db"},
		Federation: Federation{UserAgent: "coopnet", FetchTimeout: Duration{10 * time.Second}},
		Delivery:   Delivery{Workers: 16, PerHost: 4, GiveUpAfter: Duration{72 * time.Hour}, Poll: Duration{time.Second}},
		Limits:     Limits{InboxPerHost: 100, InboxBurst: 1000, GetPerIP: 50, GetBurst: 500},
		Log:        Log{Level: "info", Format: "text"},
	}
}

// Load reads the file at path (which must exist), applies the environment
// over it and validates the result. Warnings (unknown COOPNET_ variables)
// are returned rather than logged so that the caller decides where they go.
func Load(path string, environ []string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, environ)
}

// Parse is Load on bytes already read.
func Parse(data []byte, environ []string) (*Config, []string, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, nil, fmt.Errorf("config: unknown key %q", und[0].String())
	}
	warnings, err := applyEnv(&c, environ)
	if err != nil {
		return nil, warnings, err
	}
	if err := c.Validate(); err != nil {
		return nil, warnings, err
	}
	return &c, warnings, nil
}

// Validate checks every key and names the first one at fault.
func (c *Config) Validate() error {
	if c.Server.Listen == "" {
		return fmt.Errorf("config: server.listen is required")
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		return fmt.Errorf("config: server.listen: %q is not address:port", c.Server.Listen)
	}
	if c.Server.BaseURL == "" {
		return fmt.Errorf("config: server.base_url is required")
	}
	u, err := url.Parse(c.Server.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("config: server.base_url: %q is not an absolute http(s) URL without a path", c.Server.BaseURL)
	}
	c.Server.BaseURL = strings.TrimSuffix(c.Server.BaseURL, "/")
	for _, p := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return fmt.Errorf("config: server.trusted_proxies: %q is not a CIDR", p)
			}
		}
	}
	// Zero or negative would silently mean "no timeout" to net/http (or an
	// immediate cut-off at shutdown): exactly what these keys exist to stop.
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"server.read_timeout", c.Server.ReadTimeout}, {"server.write_timeout", c.Server.WriteTimeout},
		{"server.idle_timeout", c.Server.IdleTimeout}, {"server.shutdown_timeout", c.Server.ShutdownTimeout},
	} {
		if d.v.Duration <= 0 {
			return fmt.Errorf("config: %s must be positive", d.key)
		}
	}
	if c.Storage.Path == "" {
		return fmt.Errorf("config: storage.path is required")
	}
	for _, h := range c.Federation.Allowlist {
		if h == "" || strings.ContainsAny(h, "/ @") {
			return fmt.Errorf("config: federation.allowlist: %q is not a host", h)
		}
	}
	if c.Federation.FetchTimeout.Duration <= 0 {
		return fmt.Errorf("config: federation.fetch_timeout must be positive")
	}
	if c.Delivery.Workers < 1 || c.Delivery.Workers > 1024 {
		return fmt.Errorf("config: delivery.workers must be between 1 and 1024")
	}
	if c.Delivery.PerHost < 1 {
		return fmt.Errorf("config: delivery.per_host must be at least 1")
	}
	if c.Delivery.GiveUpAfter.Duration < 48*time.Hour {
		return fmt.Errorf("config: delivery.give_up_after must be at least 48h")
	}
	if c.Delivery.Poll.Duration < 10*time.Millisecond || c.Delivery.Poll.Duration > time.Hour {
		return fmt.Errorf("config: delivery.poll must be between 10ms and 1h")
	}
	// NaN and Inf parse as floats (TOML nan/inf, or the environment) but
	// mean nothing as a rate; NaN would also slip past every comparison.
	if c.Limits.InboxPerHost < 0 || math.IsNaN(c.Limits.InboxPerHost) || math.IsInf(c.Limits.InboxPerHost, 0) {
		return fmt.Errorf("config: limits.inbox_per_host must be a number, not negative")
	}
	if c.Limits.InboxBurst < 0 || (c.Limits.InboxPerHost > 0 && c.Limits.InboxBurst < 1) {
		return fmt.Errorf("config: limits.inbox_burst must be at least 1 when limits.inbox_per_host is set")
	}
	if c.Limits.GetPerIP < 0 || math.IsNaN(c.Limits.GetPerIP) || math.IsInf(c.Limits.GetPerIP, 0) {
		return fmt.Errorf("config: limits.get_per_ip must be a number, not negative")
	}
	if c.Limits.GetBurst < 0 || (c.Limits.GetPerIP > 0 && c.Limits.GetBurst < 1) {
		return fmt.Errorf("config: limits.get_burst must be at least 1 when limits.get_per_ip is set")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format: %q is not text or json", c.Log.Format)
	}
	seen := map[string]bool{}
	for i, a := range c.Actors {
		if a.Username == "" {
			return fmt.Errorf("config: actors[%d].username is required", i)
		}
		if seen[a.Username] {
			return fmt.Errorf("config: actors[%d].username: %q declared twice", i, a.Username)
		}
		seen[a.Username] = true
		if a.Icon != "" {
			if u, err := url.Parse(a.Icon); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("config: actors[%d].icon: %q is not an absolute http(s) URL", i, a.Icon)
			}
		}
	}
	return nil
}

// Host returns the host[:port] of the base URL, the domain part of handles.
func (c *Config) Host() string {
	u, _ := url.Parse(c.Server.BaseURL)
	return u.Host
}

// envKey is one settable scalar: its variable name, TOML key and field.
type envKey struct {
	name, key string
	field     reflect.Value
}

// envKeys lists every scalar key as COOPNET_<SECTION>_<KEY>, derived from
// the struct tags so that a new key is settable from the environment
// without another list to keep in step.
func envKeys(c *Config) []envKey {
	var keys []envKey
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sec := t.Field(i)
		if sec.Type.Kind() != reflect.Struct {
			continue
		}
		secName := sec.Tag.Get("toml")
		sv := v.Field(i)
		for j := 0; j < sec.Type.NumField(); j++ {
			f := sec.Type.Field(j)
			k := f.Tag.Get("toml")
			keys = append(keys, envKey{
				name:  "COOPNET_" + strings.ToUpper(secName) + "_" + strings.ToUpper(k),
				key:   secName + "." + k,
				field: sv.Field(j),
			})
		}
	}
	return keys
}

var durationType = reflect.TypeOf(Duration{})

func applyEnv(c *Config, environ []string) ([]string, error) {
	keys := map[string]envKey{}
	for _, k := range envKeys(c) {
		keys[k.name] = k
	}
	var warnings []string
	names := make([]string, 0, len(environ))
	vals := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "COOPNET_") {
			continue
		}
		names = append(names, name)
		vals[name] = val
	}
	sort.Strings(names)
	for _, name := range names {
		val := vals[name]
		k, ok := keys[name]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("environment variable %s names no configuration key; ignored", name))
			continue
		}
		if err := setField(k.field, val); err != nil {
			return warnings, fmt.Errorf("config: %s (from %s): %w", k.key, name, err)
		}
	}
	return warnings, nil
}

func setField(f reflect.Value, val string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("%q is not a duration", val)
		}
		f.Set(reflect.ValueOf(Duration{d}))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%q is not true or false", val)
		}
		f.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		f.SetInt(int64(n))
	case reflect.Float64:
		n, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", val)
		}
		f.SetFloat(n)
	case reflect.Slice:
		// Lists are comma-separated, so trusted_proxies and allowlist can
		// be set by a deployment script as well.
		var items []string
		for _, s := range strings.Split(val, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
