package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/outpostsync/outpost"
)

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(usage())
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chat: %v (see --help)\n", err)
		os.Exit(2)
	}
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run opens the SDK client (after starting the demo world, in demo mode),
// runs the chat screen until the user quits, and closes everything.
func run(ctx context.Context, cfg config) (err error) {
	if cfg.demo {
		var d *demo
		d, err = startDemo(ctx, cfg.user, demoBotEvery)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer func() { err = errors.Join(err, d.Close()) }()
		cfg.server = d.URL
		if cfg.token, err = d.Token(cfg.user); err != nil {
			return err
		}
		if cfg.db == "" {
			cfg.db = filepath.Join(d.Dir, cfg.user+".db")
		}
	}
	// Open does not wait for the network: the screen shows at once,
	// offline if need be, and the status bar says when the connection is
	// up.
	c, err := outpost.Open(ctx, outpost.Config{
		ServerURL: cfg.server, UserID: cfg.user, Token: cfg.token, DBPath: cfg.db,
	})
	if err != nil {
		return err
	}
	defer func() {
		// A bounded last try to send what is still in the outbox.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = errors.Join(err, c.Close(ctx))
	}()
	m := newModel(c)
	defer m.close()
	_, err = tea.NewProgram(m, tea.WithAltScreen()).Run()
	return err
}
