// Command apilisting guards Outpost's exported Go API: it lists every
// exported identifier of the public packages, one line each with its
// signature, sorted, in the manner of Go's own api/go1.*.txt files, and
// compares that listing with the checked-in api/outpost.txt. CI runs the
// check, so every change of the public API shows up as a diff of that
// file in the same commit.
//
//	go run ./internal/tools/apilisting          # check; exit 1 with a diff if the API changed
//	go run ./internal/tools/apilisting -w       # write api/outpost.txt on purpose
//	go run ./internal/tools/apilisting -counts  # exported identifiers per package
//
// A public package is one of the module's packages that is not under an
// internal/ directory, not a command (package main), and not a test
// helper (a package that imports "testing", such as server/storetest).
//
// Each line reads "pkg PATH, DECL": a constant with its type and value, a
// variable or function with its type, a type with its kind, and one more
// line for each exported field of a struct, each method of an interface,
// and each exported method in a named type's method set (promoted ones
// included, since callers can use them). Types are read from the
// compiler's export data (`go list -export`), so the listing needs only
// the standard library and the go command.
package main
