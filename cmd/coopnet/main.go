// Command coopnet runs a coopnet node and manages it: its co-op actors,
// follows and deliveries. Run "coopnet help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/tender"
)

// command is one CLI command. run gets the arguments after the command's
// name (and after the sub-command's, for groups).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what commands need from the outside world, injected so tests
// run commands in-process with their own output buffers and environment.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}
	code := run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

func commands() []command {
	return []command{
		{"serve", "run the node: HTTP listener, inbox and delivery workers", cmdServe},
		{"actor", "create, list, update and delete the co-ops hosted here", cmdActor},
		{"follow", "follow a remote actor: coopnet follow LOCAL @user@host", cmdFollow},
		{"unfollow", "stop following a remote actor", cmdUnfollow},
		{"followers", "list who follows a local actor", cmdFollowers},
		{"following", "list whom a local actor follows", cmdFollowing},
		{"follow-requests", "list follow requests waiting for approval", cmdFollowRequests},
		{"approve", "approve a follow request: coopnet approve LOCAL REMOTE", cmdApprove},
		{"reject", "reject a follow request: coopnet reject LOCAL REMOTE", cmdReject},
		{"deliveries", "show pending, failed and recent deliveries", cmdDeliveries},
		{"block-domain", "block a domain: coopnet block-domain HOST [--reason TEXT]", cmdBlockDomain},
		{"unblock-domain", "lift a domain block: coopnet unblock-domain HOST", cmdUnblockDomain},
		{"blocks", "list blocked domains", cmdBlocks},
		{"backup", "copy the database while serve runs: coopnet backup FILE", cmdBackup},
		{"tender", "publish, amend, cancel, show and list tenders", cmdTender},
		{"question", "ask about a tender, or answer a question on yours", cmdQuestion},
		{"bid", "submit, withdraw and list sealed bids", cmdBid},
		{"award", "award a bid: coopnet award BID_URL [--reason TEXT]", cmdAward},
		{"notifications", "what arrived for a co-op: follows, questions, bids, awards...", cmdNotifications},
		{"version", "print the version", cmdVersion},
		{"help", "show this help", nil},
	}
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run(ctx, env, []string{args[1], "--help"})
		}
		usage(env.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] || c.run == nil {
			continue
		}
		err := c.run(ctx, env, args[1:])
		if err == nil {
			return 0
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(env.stderr, "coopnet %s: %s\n", c.name, ue.msg)
			return 2
		}
		fmt.Fprintf(env.stderr, "coopnet %s: %s\n", c.name, cliMessage(err))
		return 1
	}
	fmt.Fprintf(env.stderr, "coopnet: unknown command %q (try coopnet help)\n", args[0])
	return 2
}

// cliMessage turns an error into the line shown to an operator: a domain
// error names the flag at fault; others show their chain.
func cliMessage(err error) string {
	var te *tender.Error
	if errors.As(err, &te) {
		if te.Field != "" {
			return "--" + te.Field + ": " + te.Message
		}
		if te.Code == tender.EInternal {
			return err.Error()
		}
		return te.Message
	}
	return err.Error()
}

func usage(w io.Writer) {
	fmt.Fprint(w, `coopnet: a federated tendering network for co-operatives (ActivityPub).

Usage: coopnet COMMAND [flags] [arguments]

Commands:
`)
	cs := commands()
	sort.SliceStable(cs, func(i, j int) bool { return false })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command takes -config FILE (default ./config.toml); COOPNET_<SECTION>_<KEY>
environment variables override the file. Run "coopnet COMMAND --help" for a
command's flags. Flags may come before or after arguments.
`)
}

// usageError is a mistake in the command line itself (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set appends one value. Values are not split on commas: a region such as
// "Ottawa, ON" is one value; repeat the flag for several.
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// helpFlag is -h/-help. The flag package prints usage on the same writer
// for --help and for a bad flag; defining the flag ourselves lets --help
// go to stdout (it is the result asked for) while a mistake's usage goes to
// stderr with the error, keeping stdout clean for scripts.
type helpFlag struct {
	set  bool
	show func()
}

func (h *helpFlag) String() string   { return "false" }
func (h *helpFlag) Set(string) error { h.set = true; return nil }
func (h *helpFlag) IsBoolFlag() bool { return true }

// flagSet makes a FlagSet for a command, with -config on every command.
func flagSet(env *cliEnv, name, synopsis string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("coopnet "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	cfg := fs.String("config", "config.toml", "configuration `file`")
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: coopnet %s\n\nFlags:\n", synopsis)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(env.stderr)
	}
	help := &helpFlag{show: func() { printUsage(env.stdout) }}
	fs.Var(help, "help", "show this help")
	fs.Var(help, "h", "show this help")
	fs.Usage = func() { printUsage(env.stderr) }
	return fs, cfg
}

// parse parses flags and positional arguments in any order and checks the
// number of positional arguments (max < 0: no limit).
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if h, ok := fs.Lookup("help").Value.(*helpFlag); ok && h.set {
			h.show()
			return nil, flag.ErrHelp
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minArgs {
		return nil, usagef("missing argument (see --help)")
	}
	if maxArgs >= 0 && len(pos) > maxArgs {
		return nil, usagef("unexpected argument %q (see --help)", pos[maxArgs])
	}
	return pos, nil
}

// loadConfig reads the config and reports environment warnings on stderr.
func loadConfig(env *cliEnv, path string) (*config.Config, error) {
	cfg, warnings, err := config.Load(path, env.environ)
	for _, w := range warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	return cfg, err
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openNode loads the config and opens the node without serving: what
// every management command does.
func openNode(ctx context.Context, env *cliEnv, cfgPath string) (*node.Node, error) {
	cfg, err := loadConfig(env, cfgPath)
	if err != nil {
		return nil, err
	}
	log := newLogger(env.stderr, cfg)
	if cfg.Log.Level == "info" {
		// Management commands print results, not chatter.
		log = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return node.New(ctx, cfg, node.Options{Log: log})
}

// subcommands dispatches a command group. Flags given before the
// subcommand (coopnet tender -config F publish ...) are passed on to it, so
// flags may stand anywhere, as for every other command.
func subcommands(ctx context.Context, env *cliEnv, group, help string, subs map[string]func(context.Context, *cliEnv, []string) error, args []string) error {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-h" && args[i] != "--help" && args[i] != "-help" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		i++
		if name == "config" && !hasValue {
			i++ // -config FILE
		}
	}
	if i >= len(args) || args[i] == "--help" || args[i] == "-h" || args[i] == "-help" || args[i] == "help" {
		fmt.Fprint(env.stdout, help)
		return nil
	}
	f, ok := subs[args[i]]
	if !ok {
		return usagef("unknown subcommand %q (try coopnet %s --help)", args[i], group)
	}
	rest := append(append([]string{}, args[:i]...), args[i+1:]...)
	return f(ctx, env, rest)
}

// withNode opens the node, runs fn and closes the node again.
func withNode(ctx context.Context, env *cliEnv, cfgPath string, fn func(*node.Node) error) error {
	n, err := openNode(ctx, env, cfgPath)
	if err != nil {
		return err
	}
	defer n.Close()
	return fn(n)
}

func cmdVersion(ctx context.Context, env *cliEnv, args []string) error {
	fs, _ := flagSet(env, "version", "version")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "coopnet %s\n", node.Version)
	return nil
}
