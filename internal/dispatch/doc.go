// Package dispatch runs user callbacks in order on a goroutine of their
// own, for the client and the sync manager: never on a network loop, never
// under a lock, and a panicking callback is recovered and logged.
package dispatch
