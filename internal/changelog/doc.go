// Package changelog is the local store's change log: a row per write
// transaction that the app hears about, saying what it changed (where it
// came from, the channels and messages concerned, or "many", or "reset"),
// written inside that transaction. Other processes on the store read the
// rows past the last one they saw and deliver them to their change
// listeners, so every process hears every change, and a crash can never
// commit a change without its row. Only the newest Keep rows are kept: a
// reader that fell further behind is told to reread everything.
//
// Note is also how the sync manager accumulates the changes it delivers
// in its own process, so both say the same thing.
package changelog
