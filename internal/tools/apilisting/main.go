package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// listingFile is where the listing is checked in, relative to the module
// root.
const listingFile = "api/outpost.txt"

const header = "# The exported API of Outpost's public packages, one line per identifier.\n" +
	"# Generated: go run ./internal/tools/apilisting -w (CI checks it is current).\n"

func main() {
	os.Exit(run(os.Args[1:], ".", os.Stdout, os.Stderr))
}

// run is the command with its arguments, the module root and its
// outputs; it returns the exit code.
func run(args []string, root string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apilisting", flag.ContinueOnError)
	fs.SetOutput(stderr)
	write := fs.Bool("w", false, "write "+listingFile+" instead of checking it")
	counts := fs.Bool("counts", false, "print the number of exported identifiers per package")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apilisting: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	lines, err := listing(root)
	if err != nil {
		fmt.Fprintf(stderr, "apilisting: %v\n", err)
		return 1
	}
	path := filepath.Join(root, listingFile)
	switch {
	case *counts:
		printCounts(stdout, lines)
		return 0
	case *write:
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintf(stderr, "apilisting: %v\n", err)
			return 1
		}
		data := header + strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			fmt.Fprintf(stderr, "apilisting: %v\n", err)
			return 1
		}
		return 0
	}
	want, err := readListing(path)
	if err != nil {
		fmt.Fprintf(stderr, "apilisting: %v\n", err)
		return 1
	}
	diff := diffLines(want, lines)
	if len(diff) == 0 {
		return 0
	}
	fmt.Fprintf(stderr, "apilisting: the exported API differs from %s (- listed, + in the code):\n", listingFile)
	for _, l := range diff {
		fmt.Fprintln(stderr, l)
	}
	fmt.Fprintf(stderr, "If the change is on purpose, update the listing in the same commit:\n"+
		"\tgo run ./internal/tools/apilisting -w\n")
	return 1
}

// listedPackage is the part of `go list -json` output used here.
type listedPackage struct {
	ImportPath string
	Name       string
	Export     string
	GoFiles    []string
	Imports    []string
	DepOnly    bool
	Error      *struct{ Err string }
}

// listing returns the sorted lines of the exported API of the public
// packages of the module at root.
func listing(root string) ([]string, error) {
	pkgs, err := goList(root)
	if err != nil {
		return nil, err
	}
	exports := make(map[string]string)
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	})
	var lines []string
	for _, p := range pkgs {
		if !public(p) {
			continue
		}
		tp, err := imp.Import(p.ImportPath)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", p.ImportPath, err)
		}
		lines = append(lines, packageLines(tp)...)
	}
	slices.Sort(lines)
	return slices.Compact(lines), nil
}

// goList runs `go list -export` on the module's packages and their
// dependencies, which compiles them (from the build cache when it can)
// and names each one's export data.
func goList(root string) ([]listedPackage, error) {
	cmd := exec.Command("go", "list", "-export", "-deps",
		"-json=ImportPath,Name,Export,GoFiles,Imports,DepOnly,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// public reports whether p is one of the module's public packages: not
// only a dependency, not under internal/, not a command, not a test
// helper, and with Go files outside its tests.
func public(p listedPackage) bool {
	if p.DepOnly || p.Name == "main" || len(p.GoFiles) == 0 {
		return false
	}
	for _, elem := range strings.Split(p.ImportPath, "/") {
		if elem == "internal" {
			return false
		}
	}
	return !slices.Contains(p.Imports, "testing")
}

// packageLines lists the exported identifiers of pkg.
func packageLines(pkg *types.Package) []string {
	qf := func(other *types.Package) string {
		if other == pkg {
			return ""
		}
		return other.Name()
	}
	typeString := func(t types.Type) string { return types.TypeString(t, qf) }
	var lines []string
	add := func(format string, args ...any) {
		lines = append(lines, "pkg "+pkg.Path()+", "+fmt.Sprintf(format, args...))
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		switch obj := scope.Lookup(name).(type) {
		case *types.Const:
			if obj.Exported() {
				add("const %s %s = %s", name, typeString(obj.Type()), obj.Val().ExactString())
			}
		case *types.Var:
			if obj.Exported() {
				add("var %s %s", name, typeString(obj.Type()))
			}
		case *types.Func:
			if obj.Exported() {
				add("func %s%s", name, signature(obj, qf))
			}
		case *types.TypeName:
			if obj.Exported() {
				typeLines(obj, typeString, qf, add)
			}
		}
	}
	return lines
}

// typeLines lists an exported type: its kind, then its exported struct
// fields or interface methods, then the exported methods of its method
// set.
func typeLines(obj *types.TypeName, typeString func(types.Type) string, qf types.Qualifier, add func(string, ...any)) {
	name := obj.Name()
	if obj.IsAlias() {
		add("type %s = %s", name, typeString(types.Unalias(obj.Type())))
		return
	}
	named, ok := obj.Type().(*types.Named)
	if !ok {
		add("type %s %s", name, typeString(obj.Type().Underlying()))
		return
	}
	var tparams, targs []string
	for tp := range named.TypeParams().TypeParams() {
		tparams = append(tparams, tp.Obj().Name()+" "+typeString(tp.Constraint()))
		targs = append(targs, tp.Obj().Name())
	}
	decl, recv := name, name
	if len(tparams) > 0 {
		decl += "[" + strings.Join(tparams, ", ") + "]"
		recv += "[" + strings.Join(targs, ", ") + "]"
	}
	switch u := named.Underlying().(type) {
	case *types.Struct:
		add("type %s struct", decl)
		for f := range u.Fields() {
			switch {
			case f.Embedded():
				add("type %s struct, embedded %s", name, typeString(f.Type()))
			case f.Exported():
				add("type %s struct, %s %s", name, f.Name(), typeString(f.Type()))
			}
		}
	case *types.Interface:
		if !u.IsMethodSet() {
			add("type %s %s", decl, typeString(u))
			return
		}
		var names []string
		for m := range u.Methods() {
			names = append(names, m.Name())
		}
		slices.Sort(names)
		add("type %s interface { %s }", decl, strings.Join(names, ", "))
		for m := range u.Methods() {
			if m.Exported() {
				add("type %s interface, %s%s", name, m.Name(), signature(m, qf))
			}
		}
		return
	default:
		add("type %s %s", decl, typeString(u))
	}
	values := types.NewMethodSet(named)
	all := types.NewMethodSet(types.NewPointer(named))
	for sel := range all.Methods() {
		m := sel.Obj().(*types.Func)
		if !m.Exported() {
			continue
		}
		r := "*" + recv
		if values.Lookup(m.Pkg(), m.Name()) != nil {
			r = recv
		}
		add("method (%s) %s%s", r, m.Name(), signature(m, qf))
	}
}

// signature is fn's type without the leading "func": its type
// parameters, parameters and results.
func signature(fn *types.Func, qf types.Qualifier) string {
	return strings.TrimPrefix(types.TypeString(fn.Type(), qf), "func")
}

// readListing reads a checked-in listing, without comments and blank
// lines.
func readListing(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines, sc.Err()
}

// diffLines merges two sorted listings into the lines only in want ("-")
// and only in got ("+"), in order.
func diffLines(want, got []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			out = append(out, "-"+want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			out = append(out, "+"+got[j])
			j++
		default:
			i++
			j++
		}
	}
	return out
}

// printCounts prints, per package, its exported identifiers (lines of
// the listing) and how many of them are package-level names.
func printCounts(w io.Writer, lines []string) {
	type count struct{ all, top int }
	counts := make(map[string]*count)
	var pkgs []string
	for _, l := range lines {
		path, decl, _ := strings.Cut(strings.TrimPrefix(l, "pkg "), ", ")
		c, ok := counts[path]
		if !ok {
			c = &count{}
			counts[path] = c
			pkgs = append(pkgs, path)
		}
		c.all++
		if !strings.HasPrefix(decl, "method ") && !strings.Contains(decl, " struct, ") && !strings.Contains(decl, " interface, ") {
			c.top++
		}
	}
	slices.Sort(pkgs)
	var total count
	for _, p := range pkgs {
		fmt.Fprintf(w, "%-50s %5d identifiers (%d package-level)\n", p, counts[p].all, counts[p].top)
		total.all += counts[p].all
		total.top += counts[p].top
	}
	fmt.Fprintf(w, "%-50s %5d identifiers (%d package-level)\n", "total", total.all, total.top)
}
