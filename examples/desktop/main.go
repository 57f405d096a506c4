package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"gioui.org/app"
	"gioui.org/io/system"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/outpostsync/outpost"
)

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(usage())
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "desktop: %v (see --help)\n", err)
		os.Exit(2)
	}
	go func() {
		if err := run(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "desktop:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}()
	app.Main()
}

// run opens the window at once and the store behind it, runs the window
// until the user closes it, then closes the store: the window never waits
// on the network, and what is typed offline stays in the store's outbox.
func run(cfg config) (err error) {
	if cfg.demo {
		d, err := startDemo(context.Background(), cfg.user)
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
	w := new(app.Window)
	w.Option(app.Title("Outpost tasks: "+cfg.user), app.Size(unit.Dp(620), unit.Dp(560)))

	var c *outpost.Client // set by open, on the model's worker
	open := func(ctx context.Context) (TaskStore, error) {
		oc, s, err := openStore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		c = oc // read after m.Close, which waits for the worker
		return s, nil
	}
	// Ctrl+C in the terminal, or a kill, closes the window the way its
	// close button does, so the closing below runs.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		w.Perform(system.ActionClose)
	}()

	m := NewModel(cfg.user, open, func(View) { w.Invalidate() })
	ui := NewUI(m)
	ui.SetDraft(loadDraft(draftPath(cfg.db)))
	var ops op.Ops
	dumped := -1
	for {
		switch e := w.Event().(type) {
		case app.DestroyEvent:
			m.Close() // runs what the user did last
			if derr := saveDraft(draftPath(cfg.db), ui.Draft()); derr != nil {
				err = fmt.Errorf("keeping the text typed: %w", derr)
			}
			if c != nil {
				// A bounded last try to send what is still in the outbox;
				// what it cannot send stays for the next start.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				err = errors.Join(err, c.Close(ctx))
			}
			return errors.Join(e.Err, err)
		case app.FrameEvent:
			gtx := app.NewContext(&ops, e)
			ui.Layout(gtx)
			e.Frame(gtx.Ops)
			// The dump is what the window drew, not what the model
			// holds: a test reading it reads the screen.
			if v := ui.Drawn(); cfg.dump != "" && v.Version != dumped {
				writeDump(cfg.dump, v)
				dumped = v.Version
			}
		}
	}
}

// openStore opens the SDK on the store cfg names, and the app's
// TaskStore on it. It does not wait for the network (Open connects in the
// background): offline, the app works on what the store holds.
func openStore(ctx context.Context, cfg config) (*outpost.Client, TaskStore, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.db), 0o700); err != nil {
		return nil, nil, err
	}
	c, err := outpost.Open(ctx, outpost.Config{
		ServerURL: cfg.server, UserID: cfg.user, Token: cfg.token, DBPath: cfg.db,
		Sync: cfg.syncOpts,
	})
	if err != nil {
		return nil, nil, err
	}
	s, err := newRecordStore(ctx, c, cfg.share)
	if err != nil {
		return nil, nil, errors.Join(err, c.Close(ctx))
	}
	if cfg.offline {
		s.SetOnline(false)
	}
	return c, s, nil
}

// writeDump writes v as JSON to path, whole: to a temp file renamed over
// it, so a reader never sees half of it. Errors are ignored: the dump is
// for tests and must not stop the app.
func writeDump(path string, v View) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, path)
	}
}
