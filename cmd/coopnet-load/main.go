// Command coopnet-load measures a running coopnet node from the outside,
// the way the fediverse loads it. It plays its own remote actors: loopback
// HTTP servers (127.0.0.1, random ports) that serve actor documents with
// RSA-2048 keys, so the node fetches and caches their keys for real, and
// that accept (and count) what the node delivers to them.
//
// Usage:
//
//	coopnet-load inbox  [flags]   signed activities to the node's shared inbox
//	coopnet-load fanout [flags]   one broadcast to F followers on H hosts
//	coopnet-load sign   [flags]   this machine's RSA-2048 signing bound
//
// Every mode prints progress on stderr and one final key=value line on
// stdout that a script can parse, e.g.
//
//	inbox sent=30000 accepted=30000 rate=5012.3/s p50=3.1ms p90=7.2ms p99=15.0ms max=40.2ms errors=0 status_202=30000
//
// The node's per-host inbox rate limit must be off for the inbox mode
// (limits.inbox_per_host = 0, or COOPNET_LIMITS_INBOX_PER_HOST=0), and the
// node must allow loopback peers (federation.allow_private_addresses and
// allow_insecure_http). See docs/performance.md for the whole procedure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one mode and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "inbox":
		err = runInbox(ctx, args[1:], stdout, stderr)
	case "fanout":
		err = runFanout(ctx, args[1:], stdout, stderr)
	case "sign":
		err = runSign(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "coopnet-load: unknown mode %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "coopnet-load %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// parseFlags parses a mode's flags; help is true when -h was asked for
// (the flag package has printed the flags), and the mode should stop
// without an error.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, err
	}
	return false, nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: coopnet-load MODE [flags]   (coopnet-load MODE -h for the flags)

Modes:
  inbox    send signed Create{Note} replies, Offer{Tender} and Follow activities
           to a node's shared inbox; report accepted/s and latency percentiles
  fanout   make F fake followers on H fake hosts follow a local actor, trigger
           one broadcast with the coopnet CLI, and time its delivery to every host
  sign     measure this machine's RSA-2048 signing bound (N signatures on all cores)
`)
}
