// Command riskd is Fengqiao's daemon: it takes in signals, scores subjects
// into five colours and serves the API. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"fengqiao/internal/app"
	"fengqiao/internal/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "riskd:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "", "YAML configuration file (see fixtures/riskd.yaml)")
	listen := flag.String("listen", "", "HTTP listen address; overrides the file and FENGQIAO_LISTEN")
	flag.Parse()

	cfg, err := config.Load(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	base := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	log := base.With("component", "riskd")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, base, time.Now)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.DemoToken != "" {
		// The secret goes to a file only its owner can read, never to the log.
		path := filepath.Join(os.TempDir(), "fengqiao-demo-token")
		if err := os.WriteFile(path, []byte(a.DemoToken+"\n"), 0o600); err != nil {
			return fmt.Errorf("write the demo token: %w", err)
		}
		log.Warn("demo admin token for the embedded store written to "+path+": export FENGQIAO_TOKEN=$(cat "+path+")", "path", path)
	}
	if a.Embedded() && cfg.DemoSignals != "" {
		n, err := a.LoadDemoSignals(ctx, cfg.DemoSignals)
		if err != nil {
			return fmt.Errorf("load sample signals: %w", err)
		}
		log.Info("sample signals sent", "count", n, "dir", cfg.DemoSignals)
	}
	if a.Embedded() && cfg.DemoCases != "" {
		n, err := a.LoadDemoCases(ctx, cfg.DemoCases)
		if err != nil {
			return fmt.Errorf("load sample cases: %w", err)
		}
		log.Info("sample cases registered", "count", n, "file", cfg.DemoCases)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			_ = a.ReloadRules()  // failures are logged; the old ruleset stays
			_ = a.ReloadPolicy() // and the old escalation policy
		}
	}()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set -listen or FENGQIAO_LISTEN to use another address)", cfg.Listen, err)
	}
	return a.Run(ctx, ln)
}
