// Package clock lets code that waits on time take its time from a Clock, so
// that tests can drive it with a Fake instead of sleeping.
//
// Production code holds a Clock (Real() when none is configured) and calls
// Now, NewTimer, After and NewTicker on it instead of the time package.
// Tests pass a *Fake, wait until the code under test has armed its timers
// with BlockUntil, and move time forward with Advance; timers whose deadline
// has been reached fire in deadline order, exactly as the time package's
// would, and nothing in the test sleeps.
//
// A Fake never moves on its own: time stands still between Advance calls.
//
// # Concurrency
//
// The Real clock and every method of *Fake and of the timers and tickers
// they return are safe for concurrent use.
package clock
