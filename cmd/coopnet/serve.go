package main

import (
	"context"
	"fmt"
	"net"

	"github.com/coopnet/coopnet/node"
)

func cmdServe(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfgPath := flagSet(env, "serve", "serve [-config FILE]")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(env.stderr, cfg)
	n, err := node.New(ctx, cfg, node.Options{Log: log})
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.EnsureConfigActors(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	log.Info("coopnet serving", "version", node.Version, "listen", l.Addr().String(), "base_url", cfg.Server.BaseURL, "database", cfg.Storage.Path)
	err = n.Serve(ctx, l)
	log.Info("coopnet stopped")
	return err
}
