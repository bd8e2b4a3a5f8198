package main

import (
	"context"
	"fmt"
	"github.com/coopnet/coopnet/node"
	"time"
)

// blockJSON is the --json shape of blocks: host, reason and created are a
// public contract.
type blockJSON struct {
	Host    string `json:"host"`
	Reason  string `json:"reason"`
	Created string `json:"created"`
}

func cmdBlockDomain(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "block-domain", "block-domain HOST [--reason TEXT]")
	reason := fs.String("reason", "", "why, for the record (shown by coopnet blocks)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		// A running serve sees the block within seconds (it polls the table);
		// the clean-up below is done here, in one transaction.
		res, err := n.BlockDomain(ctx, pos[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "blocked %s: %d follows removed, %d pending deliveries failed, %d unapplied activities dropped\n",
			res.Block.Host, res.FollowsRemoved, res.DeliveriesFailed, res.InboxSkipped)
		return nil
	})
}

func cmdUnblockDomain(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "unblock-domain", "unblock-domain HOST")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		if err := n.UnblockDomain(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "unblocked %s (removed follows are not restored: its actors must follow again)\n", pos[0])
		return nil
	})
}

func cmdBlocks(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "blocks", "blocks [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		list, err := n.DB.Blocks(ctx)
		if err != nil {
			return err
		}
		out := []blockJSON{}
		for _, b := range list {
			out = append(out, blockJSON{Host: b.Host, Reason: b.Reason, Created: b.Created.Format(time.RFC3339)})
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, b := range out {
			rows = append(rows, []string{b.Host, b.Created, b.Reason})
		}
		printTable(env.stdout, []string{"HOST", "CREATED", "REASON"}, rows)
		if al := n.Config.Federation.Allowlist; len(al) > 0 {
			fmt.Fprintf(env.stdout, "\nfederation.allowlist is set: only %v federate\n", al)
		}
		return nil
	})
}
