package loop

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// hookPrefix starts the doc of every protocol-facing name (see doc.go).
const hookPrefix = "For protocol packages:"

// TestAPIFence keeps the fence between the application API and the
// protocol hooks (see doc.go) true as the package changes: the hooks are
// declared in proto_*.go files and documented "For protocol packages:",
// nothing else is, the package doc's two sections name each side's types
// and functions, and no application-side function takes or returns a hook
// type.
func TestAPIFence(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	pkg := pkgs["loop"]
	isProto := func(file string) bool { return strings.HasPrefix(file, "proto_") }

	// Which exported types are hooks: those declared in proto files.
	hookTypes := map[string]bool{}
	for name, f := range pkg.Files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					if ts := s.(*ast.TypeSpec); ts.Name.IsExported() && isProto(name) {
						hookTypes[ts.Name.Name] = true
					}
				}
			}
		}
	}

	var appNames, hookNames []string
	var pkgDoc string
	for name, f := range pkg.Files {
		if f.Doc != nil {
			pkgDoc = f.Doc.Text()
		}
		proto := isProto(name)
		for _, d := range f.Decls {
			var ident string
			var doc *ast.CommentGroup
			recv := ""
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				ident, doc = d.Name.Name, d.Doc
				if d.Recv != nil {
					recv = recvType(d.Recv.List[0].Type)
					if !ast.IsExported(recv) {
						continue
					}
				}
				if !proto && !hookTypes[recv] {
					if ht := mentions(d.Type, hookTypes); ht != "" {
						t.Errorf("%s: %s takes or returns the hook type %s; move it to a proto_*.go file", name, qualified(recv, ident), ht)
					}
				}
			case *ast.GenDecl:
				if d.Tok != token.TYPE {
					continue // constants and variables: named by group in the docs
				}
				ts := d.Specs[0].(*ast.TypeSpec)
				if !ts.Name.IsExported() {
					continue
				}
				ident, doc = ts.Name.Name, d.Doc
			default:
				continue
			}
			q := qualified(recv, ident)
			fenced := doc != nil && strings.HasPrefix(doc.Text(), hookPrefix)
			switch {
			case hookTypes[recv]:
				// A method of a hook type: fenced with its type.
				if !proto {
					t.Errorf("%s: %s, a method of the hook type %s, is declared outside the proto_*.go files", name, q, recv)
				}
			case proto:
				if !fenced {
					t.Errorf("%s: the doc of %s does not start with %q", name, q, hookPrefix)
				}
				hookNames = append(hookNames, q)
			default:
				if fenced {
					t.Errorf("%s: %s is documented %q but declared outside the proto_*.go files", name, q, hookPrefix)
				}
				if recv == "" {
					appNames = append(appNames, q)
				}
			}
		}
	}

	apps := section(pkgDoc, "For applications")
	hooks := section(pkgDoc, "For protocol packages")
	sort.Strings(appNames)
	sort.Strings(hookNames)
	for _, n := range appNames {
		if !named(apps, n) {
			t.Errorf("the package doc's section \"For applications\" does not name %s", n)
		}
	}
	for _, n := range hookNames {
		if !named(hooks, n) {
			t.Errorf("the package doc's section \"For protocol packages\" does not name %s", n)
		}
	}
}

func recvType(e ast.Expr) string {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func qualified(recv, name string) string {
	if recv == "" {
		return name
	}
	return recv + "." + name
}

// mentions returns a hook type named in n, or "".
func mentions(n ast.Node, hookTypes map[string]bool) (found string) {
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && hookTypes[id.Name] && found == "" {
			found = id.Name
		}
		return found == ""
	})
	return found
}

// section returns the text of the package doc's section heading.
func section(doc, heading string) string {
	_, rest, ok := strings.Cut(doc, "# "+heading+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n# "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// named reports whether text names name as a whole word.
func named(text, name string) bool {
	return regexp.MustCompile(`(^|[^\w.])` + regexp.QuoteMeta(name) + `($|[^\w])`).MatchString(text)
}
