package main

import (
	"fmt"
	"image"
	"image/color"
	"strings"

	"gioui.org/font/gofont"
	"gioui.org/io/key"
	"gioui.org/layout"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/text"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"
)

// Colours of the window.
var (
	colOnline  = color.NRGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
	colOffline = color.NRGBA{R: 0x9e, G: 0x9e, B: 0x9e, A: 0xff}
	colBarOn   = color.NRGBA{R: 0xe8, G: 0xf5, B: 0xe9, A: 0xff}
	colBarOff  = color.NRGBA{R: 0xff, G: 0xf3, B: 0xe0, A: 0xff}
	colFailed  = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	colFailBg  = color.NRGBA{R: 0xff, G: 0xeb, B: 0xee, A: 0xff}
	colPending = color.NRGBA{R: 0xef, G: 0x6c, B: 0x00, A: 0xff}
	colMuted   = color.NRGBA{R: 0x75, G: 0x75, B: 0x75, A: 0xff}
	colSide    = color.NRGBA{R: 0xf5, G: 0xf5, B: 0xf5, A: 0xff}
)

type (
	C = layout.Context
	D = layout.Dimensions
)

// UI draws a Model's view and turns the user's clicks and keys into the
// model's actions. It holds only widget state (what is typed, what is
// hovered, which task is being renamed); everything shown comes from
// Model.View. Its methods run on the window's goroutine.
type UI struct {
	m  *Model
	th *material.Theme

	input    widget.Editor // the new task's title, or a task's new title
	renaming string        // the task being renamed, "" for none
	focused  bool          // the input got the focus once, at start
	say      widget.Editor // a line for the list's chat
	chat     widget.List
	newList  widget.Editor
	addList  widget.Clickable
	online   widget.Clickable
	lists    widget.List
	tasks    widget.List
	failures widget.List

	drawn View // the view of the last frame

	listBtns map[string]*widget.Clickable
	rows     map[string]*taskRow
	fails    map[string]*failRow
}

type taskRow struct {
	check       widget.Bool
	rename, del widget.Clickable
}

type failRow struct{ retry, dismiss widget.Clickable }

// NewUI returns the window's UI over m.
func NewUI(m *Model) *UI {
	th := material.NewTheme()
	th.Shaper = text.NewShaper(text.NoSystemFonts(), text.WithCollection(gofont.Collection()))
	u := &UI{m: m, th: th,
		listBtns: map[string]*widget.Clickable{},
		rows:     map[string]*taskRow{},
		fails:    map[string]*failRow{},
	}
	u.input.SingleLine, u.input.Submit = true, true
	u.newList.SingleLine, u.newList.Submit = true, true
	u.say.SingleLine, u.say.Submit = true, true
	u.lists.Axis, u.tasks.Axis, u.failures.Axis, u.chat.Axis = layout.Vertical, layout.Vertical, layout.Vertical, layout.Vertical
	u.chat.ScrollToEnd = true // the latest line in sight
	return u
}

// Draft returns what is typed in the new task field and the chat field
// and not yet added or said (no task while a task is being renamed).
func (u *UI) Draft() Draft {
	d := Draft{Chat: u.say.Text()}
	if u.renaming == "" {
		d.Task = u.input.Text()
	}
	return d
}

// SetDraft puts a draft's text in the new task field and the chat field.
func (u *UI) SetDraft(d Draft) {
	setText(&u.input, d.Task)
	setText(&u.say, d.Chat)
}

// setText puts text in e, the caret at its end.
func setText(e *widget.Editor, text string) {
	e.SetText(text)
	n := len([]rune(text))
	e.SetCaret(n, n)
}

// Drawn returns the view the last frame drew.
func (u *UI) Drawn() View { return u.drawn }

// Layout handles the input of the last frame and draws the next one.
func (u *UI) Layout(gtx C) D {
	v := u.m.View()
	u.update(gtx, v)
	v = u.m.View() // the actions above may have changed it (Select)
	u.drawn = v
	paint.Fill(gtx.Ops, color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff})
	if v.OpenError != "" {
		return u.message(gtx, "Could not open the task store", v.OpenError)
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx C) D { return u.statusBar(gtx, v) }),
		layout.Rigid(func(gtx C) D { return u.progress(gtx, v) }),
		layout.Rigid(func(gtx C) D { return u.banner(gtx, v.Status.Fatal, "Not syncing: ") }),
		layout.Rigid(func(gtx C) D { return u.banner(gtx, v.Error, "") }),
		layout.Rigid(func(gtx C) D { return u.failed(gtx, v) }),
		layout.Flexed(1, func(gtx C) D {
			return layout.Flex{}.Layout(gtx,
				layout.Rigid(func(gtx C) D { return u.sidebar(gtx, v) }),
				layout.Flexed(1, func(gtx C) D { return u.listPane(gtx, v) }),
			)
		}),
	)
}

// update turns the last frame's input into actions.
func (u *UI) update(gtx C, v View) {
	for {
		ev, ok := gtx.Event(key.Filter{Name: "O", Required: key.ModShortcut})
		if !ok {
			break
		}
		if e, ok := ev.(key.Event); ok && e.State == key.Press {
			u.m.SetOnline(takenOffline(v))
		}
	}
	for u.online.Clicked(gtx) {
		u.m.SetOnline(takenOffline(v))
	}
	for {
		ev, ok := gtx.Event(key.Filter{Focus: &u.input, Name: key.NameEscape})
		if !ok {
			break
		}
		if e, ok := ev.(key.Event); ok && e.State == key.Press && u.renaming != "" {
			u.renaming = ""
			u.input.SetText("")
		}
	}
	for {
		ev, ok := u.input.Update(gtx)
		if !ok {
			break
		}
		if e, ok := ev.(widget.SubmitEvent); ok && strings.TrimSpace(e.Text) != "" {
			if u.renaming != "" {
				u.m.Rename(u.renaming, e.Text)
				u.renaming = ""
			} else {
				u.m.AddTask(e.Text)
			}
			u.input.SetText("")
		}
	}
	for {
		ev, ok := u.say.Update(gtx)
		if !ok {
			break
		}
		if e, ok := ev.(widget.SubmitEvent); ok && strings.TrimSpace(e.Text) != "" {
			u.m.Say(e.Text)
			u.say.SetText("")
		}
	}
	submitList := u.addList.Clicked(gtx)
	for {
		ev, ok := u.newList.Update(gtx)
		if !ok {
			break
		}
		if _, ok := ev.(widget.SubmitEvent); ok {
			submitList = true
		}
	}
	if submitList && strings.TrimSpace(u.newList.Text()) != "" {
		u.m.CreateList(u.newList.Text())
		u.newList.SetText("")
	}
	for _, l := range v.Lists {
		if b := u.listBtns[l.ID]; b != nil && b.Clicked(gtx) {
			u.m.Select(l.ID)
		}
	}
	for _, t := range v.Tasks {
		r := u.rows[t.ID]
		if r == nil {
			continue
		}
		if r.check.Update(gtx) {
			u.m.Toggle(t.ID)
		}
		if r.rename.Clicked(gtx) {
			u.renaming = t.ID
			setText(&u.input, t.Title)
			gtx.Execute(key.FocusCmd{Tag: &u.input})
		}
		if r.del.Clicked(gtx) {
			u.m.Delete(t.ID)
		}
	}
	for _, f := range v.Failed {
		r := u.fails[f.ID]
		if r == nil {
			continue
		}
		if r.retry.Clicked(gtx) {
			u.m.Retry(f.ID)
		}
		if r.dismiss.Clicked(gtx) {
			u.m.Dismiss(f.ID)
		}
	}
}

// takenOffline says whether the user took the app offline, so the online
// button and Ctrl+O bring it back.
func takenOffline(v View) bool {
	return v.Status.UserOffline
}

func (u *UI) message(gtx C, title, body string) D {
	return layout.UniformInset(unit.Dp(32)).Layout(gtx, func(gtx C) D {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(material.H5(u.th, title).Layout),
			layout.Rigid(layout.Spacer{Height: unit.Dp(12)}.Layout),
			layout.Rigid(material.Body1(u.th, body).Layout),
		)
	})
}

func (u *UI) statusBar(gtx C, v View) D {
	st := v.Status
	bg, dotCol, word := colBarOff, colOffline, "Offline"
	if st.Online {
		bg, dotCol, word = colBarOn, colOnline, "Online"
	}
	line := word
	switch {
	case v.Opening:
		line = "Opening the local store…"
	case st.Why != "":
		line += ": " + st.Why
	}
	var counts []string
	if !v.Opening && !st.Syncer {
		counts = append(counts, "another process on this store syncs")
	}
	if st.Pending > 0 {
		counts = append(counts, fmt.Sprintf("%d waiting to send", st.Pending))
	}
	if st.Failed > 0 {
		counts = append(counts, fmt.Sprintf("%d refused", st.Failed))
	}
	if st.Online && st.Syncing {
		counts = append(counts, "syncing")
	} else if !st.LastSyncedAt.IsZero() {
		counts = append(counts, "synced "+st.LastSyncedAt.Local().Format("15:04:05"))
	}
	btn := "Go offline"
	if takenOffline(v) {
		btn = "Go online"
	}
	return layout.Background{}.Layout(gtx, fill(bg), func(gtx C) D {
		return layout.UniformInset(unit.Dp(8)).Layout(gtx, func(gtx C) D {
			return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
				layout.Rigid(func(gtx C) D { return dot(gtx, dotCol) }),
				layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout),
				layout.Flexed(1, func(gtx C) D {
					l := material.Body1(u.th, line)
					l.MaxLines = 2
					return l.Layout(gtx)
				}),
				layout.Rigid(func(gtx C) D {
					l := material.Body2(u.th, strings.Join(counts, " · "))
					l.Color = colMuted
					return layout.Inset{Left: unit.Dp(8), Right: unit.Dp(8)}.Layout(gtx, l.Layout)
				}),
				layout.Rigid(func(gtx C) D {
					return smallButton(u.th, &u.online, btn, u.th.Palette.ContrastBg).Layout(gtx)
				}),
				layout.Rigid(func(gtx C) D {
					l := material.Body2(u.th, v.User)
					l.Font.Weight = 600
					return layout.Inset{Left: unit.Dp(8)}.Layout(gtx, l.Layout)
				}),
			)
		})
	})
}

// progress shows the progress of the first sync, or of a catch-up that
// takes more than one page. The server does not say how much is left, so
// the bar fills by pages applied toward a full bar it never reaches, and
// the words say the counts.
func (u *UI) progress(gtx C, v View) D {
	st := v.Status
	what := "Catching up"
	if st.FirstSync {
		what = "First sync"
	}
	if !st.Syncing || (!st.FirstSync && st.Pages < 2) {
		return D{}
	}
	frac := float32(st.Pages) / float32(st.Pages+1)
	return layout.Inset{Left: unit.Dp(8), Right: unit.Dp(8), Top: unit.Dp(4)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(material.ProgressBar(u.th, frac).Layout),
			layout.Rigid(material.Caption(u.th, fmt.Sprintf("%s: %d events in %d pages so far", what, st.Events, st.Pages)).Layout),
		)
	})
}

func (u *UI) banner(gtx C, msg, prefix string) D {
	if msg == "" {
		return D{}
	}
	return layout.Background{}.Layout(gtx, fill(colFailBg), func(gtx C) D {
		return layout.UniformInset(unit.Dp(8)).Layout(gtx, func(gtx C) D {
			gtx.Constraints.Min.X = gtx.Constraints.Max.X
			l := material.Body2(u.th, prefix+msg)
			l.Color = colFailed
			return l.Layout(gtx)
		})
	})
}

// failed lists the writes the server refused, each with Retry and
// Dismiss.
func (u *UI) failed(gtx C, v View) D {
	if len(v.Failed) == 0 {
		return D{}
	}
	keep := map[string]bool{}
	for _, f := range v.Failed {
		keep[f.ID] = true
		if u.fails[f.ID] == nil {
			u.fails[f.ID] = new(failRow)
		}
	}
	for id := range u.fails {
		if !keep[id] {
			delete(u.fails, id)
		}
	}
	gtx.Constraints.Max.Y = min(gtx.Constraints.Max.Y, gtx.Dp(150))
	return layout.Background{}.Layout(gtx, fill(colFailBg), func(gtx C) D {
		return material.List(u.th, &u.failures).Layout(gtx, len(v.Failed), func(gtx C, i int) D {
			f := v.Failed[i]
			r := u.fails[f.ID]
			return layout.UniformInset(unit.Dp(6)).Layout(gtx, func(gtx C) D {
				return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
					layout.Flexed(1, func(gtx C) D {
						l := material.Body2(u.th, "Refused by the server: "+f.What+": "+f.Why)
						l.Color = colFailed
						return l.Layout(gtx)
					}),
					layout.Rigid(smallButton(u.th, &r.retry, "Retry", colPending).Layout),
					layout.Rigid(layout.Spacer{Width: unit.Dp(6)}.Layout),
					layout.Rigid(smallButton(u.th, &r.dismiss, "Dismiss", colMuted).Layout),
				)
			})
		})
	})
}

func (u *UI) sidebar(gtx C, v View) D {
	gtx.Constraints.Min.X, gtx.Constraints.Max.X = gtx.Dp(190), gtx.Dp(190)
	gtx.Constraints.Min.Y = gtx.Constraints.Max.Y
	for _, l := range v.Lists {
		if u.listBtns[l.ID] == nil {
			u.listBtns[l.ID] = new(widget.Clickable)
		}
	}
	return layout.Background{}.Layout(gtx, fill(colSide), func(gtx C) D {
		return layout.UniformInset(unit.Dp(8)).Layout(gtx, func(gtx C) D {
			return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
				layout.Rigid(material.H6(u.th, "Lists").Layout),
				layout.Rigid(layout.Spacer{Height: unit.Dp(6)}.Layout),
				layout.Flexed(1, func(gtx C) D {
					if len(v.Lists) == 0 {
						l := material.Body2(u.th, "No lists yet. Make one below (it needs the network).")
						l.Color = colMuted
						return l.Layout(gtx)
					}
					return material.List(u.th, &u.lists).Layout(gtx, len(v.Lists), func(gtx C, i int) D {
						l := v.Lists[i]
						return material.Clickable(gtx, u.listBtns[l.ID], func(gtx C) D {
							gtx.Constraints.Min.X = gtx.Constraints.Max.X
							lbl := material.Body1(u.th, l.Name)
							if l.ID == v.List {
								lbl.Font.Weight = 700
								lbl.Color = u.th.Palette.ContrastBg
							}
							lbl.MaxLines = 1
							return layout.UniformInset(unit.Dp(6)).Layout(gtx, lbl.Layout)
						})
					})
				}),
				layout.Rigid(func(gtx C) D {
					return border(gtx, func(gtx C) D {
						return material.Editor(u.th, &u.newList, "New list").Layout(gtx)
					})
				}),
				layout.Rigid(layout.Spacer{Height: unit.Dp(4)}.Layout),
				layout.Rigid(smallButton(u.th, &u.addList, "Make list", u.th.Palette.ContrastBg).Layout),
			)
		})
	})
}

func (u *UI) listPane(gtx C, v View) D {
	keep := map[string]bool{}
	for _, t := range v.Tasks {
		keep[t.ID] = true
		r := u.rows[t.ID]
		if r == nil {
			r = new(taskRow)
			u.rows[t.ID] = r
		}
		r.check.Value = t.Done
	}
	for id := range u.rows {
		if !keep[id] {
			delete(u.rows, id)
		}
	}
	if u.renaming != "" && !keep[u.renaming] {
		u.renaming = ""
	}
	hint := "New task: type it and press Enter"
	if u.renaming != "" {
		hint = "New title: Enter saves, Esc cancels"
	}
	return layout.UniformInset(unit.Dp(10)).Layout(gtx, func(gtx C) D {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(material.H5(u.th, v.ListName()).Layout),
			layout.Rigid(layout.Spacer{Height: unit.Dp(8)}.Layout),
			layout.Rigid(func(gtx C) D {
				return border(gtx, func(gtx C) D {
					d := material.Editor(u.th, &u.input, hint).Layout(gtx)
					if !u.focused {
						// Typing goes to the new task from the start.
						gtx.Execute(key.FocusCmd{Tag: &u.input})
						u.focused = true
					}
					return d
				})
			}),
			layout.Rigid(layout.Spacer{Height: unit.Dp(8)}.Layout),
			layout.Flexed(2, func(gtx C) D {
				if v.List != "" && len(v.Tasks) == 0 {
					l := material.Body2(u.th, "No tasks yet.")
					l.Color = colMuted
					return l.Layout(gtx)
				}
				return material.List(u.th, &u.tasks).Layout(gtx, len(v.Tasks), func(gtx C, i int) D {
					return u.taskRow(gtx, v.Tasks[i])
				})
			}),
			layout.Flexed(1, func(gtx C) D {
				if v.List == "" {
					return D{}
				}
				return u.chatPane(gtx, v)
			}),
		)
	})
}

// chatPane is the selected list's chat, below its tasks (which get twice
// its height): its latest lines and a field to say one.
func (u *UI) chatPane(gtx C, v View) D {
	gtx.Constraints.Min.Y = gtx.Constraints.Max.Y
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx C) D {
			l := material.Caption(u.th, "Chat")
			l.Font.Weight = 600
			return layout.Inset{Top: unit.Dp(6), Bottom: unit.Dp(2)}.Layout(gtx, l.Layout)
		}),
		layout.Flexed(1, func(gtx C) D {
			return layout.Background{}.Layout(gtx, fill(colSide), func(gtx C) D {
				gtx.Constraints.Min = gtx.Constraints.Max
				return material.List(u.th, &u.chat).Layout(gtx, len(v.Chat), func(gtx C, i int) D {
					return u.chatLine(gtx, v.Chat[i])
				})
			})
		}),
		layout.Rigid(layout.Spacer{Height: unit.Dp(4)}.Layout),
		layout.Rigid(func(gtx C) D {
			return border(gtx, material.Editor(u.th, &u.say, "Say something to the list").Layout)
		}),
	)
}

func (u *UI) chatLine(gtx C, l ChatLine) D {
	return layout.Inset{Left: unit.Dp(6), Right: unit.Dp(6), Top: unit.Dp(1), Bottom: unit.Dp(1)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{Alignment: layout.Baseline}.Layout(gtx,
			layout.Rigid(func(gtx C) D {
				by := material.Body2(u.th, l.By+": ")
				by.Font.Weight = 600
				return by.Layout(gtx)
			}),
			layout.Flexed(1, material.Body2(u.th, l.Text).Layout),
			layout.Rigid(func(gtx C) D {
				gtx.Constraints.Max.X /= 3
				return markLabel(u.th, l.Mark, l.Why, "").Layout(gtx)
			}),
		)
	})
}

func (u *UI) taskRow(gtx C, t Task) D {
	r := u.rows[t.ID]
	return layout.Inset{Top: unit.Dp(2), Bottom: unit.Dp(2)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Flexed(1, func(gtx C) D {
				cb := material.CheckBox(u.th, &r.check, t.Title)
				cb.TextSize = u.th.TextSize
				if t.Done {
					cb.Color = colMuted
				}
				return cb.Layout(gtx)
			}),
			layout.Rigid(func(gtx C) D {
				// The mark gets at most a third of the row: the banner above
				// says the whole of a refusal.
				gtx.Constraints.Max.X /= 3
				return layout.Inset{Left: unit.Dp(8), Right: unit.Dp(8)}.Layout(gtx, markLabel(u.th, t.Mark, t.Why, t.By).Layout)
			}),
			layout.Rigid(smallButton(u.th, &r.rename, "Rename", colMuted).Layout),
			layout.Rigid(layout.Spacer{Width: unit.Dp(4)}.Layout),
			layout.Rigid(smallButton(u.th, &r.del, "Delete", colMuted).Layout),
		)
	})
}

// markLabel is the mark of a task or chat line: pending, refused and
// why, or else synced (the words of synced, if any).
func markLabel(th *material.Theme, m Mark, why, synced string) material.LabelStyle {
	var l material.LabelStyle
	switch m {
	case Pending:
		l = material.Caption(th, "pending")
		l.Color = colPending
	case Failed:
		l = material.Caption(th, "refused: "+why)
		l.Color = colFailed
		l.MaxLines = 1
	default:
		l = material.Caption(th, synced)
		l.Color = colMuted
	}
	return l
}

func smallButton(th *material.Theme, c *widget.Clickable, label string, bg color.NRGBA) material.ButtonStyle {
	b := material.Button(th, c, label)
	b.Background = bg
	b.TextSize = th.TextSize * 0.8
	b.Inset = layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(4), Left: unit.Dp(8), Right: unit.Dp(8)}
	return b
}

func border(gtx C, w layout.Widget) D {
	return widget.Border{Color: colOffline, CornerRadius: unit.Dp(4), Width: unit.Dp(1)}.Layout(gtx, func(gtx C) D {
		return layout.UniformInset(unit.Dp(6)).Layout(gtx, w)
	})
}

// fill paints its whole area with c.
func fill(c color.NRGBA) layout.Widget {
	return func(gtx C) D {
		paint.FillShape(gtx.Ops, c, clip.Rect{Max: gtx.Constraints.Min}.Op())
		return D{Size: gtx.Constraints.Min}
	}
}

// dot draws the online indicator.
func dot(gtx C, c color.NRGBA) D {
	d := gtx.Dp(12)
	paint.FillShape(gtx.Ops, c, clip.Ellipse{Max: image.Pt(d, d)}.Op(gtx.Ops))
	return D{Size: image.Pt(d, d)}
}
