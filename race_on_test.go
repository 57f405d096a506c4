//go:build race

package outpost_test

// raceOn says the race detector is on: tests that run several processes
// or fetch many channels do less work, since each runs several times
// slower.
const raceOn = true
