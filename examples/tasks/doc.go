// Command tasks is the README's "Sync your own data" story in one run: an
// in-process server, Alice and Bob sharing a task list (a collection of
// records in one channel). Alice marks task 1 done while offline; Bob
// renames it online; Alice comes back, and both devices and the server
// show the new title, done: two patches of different fields both
// survive. Then the conflict rule, once: both rename task 2, Alice
// offline, and the later write in the channel's log (Alice's) wins.
//
//	go run ./examples/tasks
package main
