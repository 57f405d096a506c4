package main

import "runtime"

// goos is runtime.GOOS, a variable so tests can ask for each OS's folder.
var goos = runtime.GOOS
