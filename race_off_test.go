//go:build !race

package outpost_test

// raceOn says the race detector is on: tests that run several processes
// do less work, since each runs several times slower.
const raceOn = false
