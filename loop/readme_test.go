package loop_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEEmbedding keeps the README's embedding program and
// Example_embedding the same code: the README says so, and only the
// Example is compiled. Both files are gofmt-ed first, so indentation and
// alignment do not matter; then the imports (as sets) and the function
// bodies (line by line, comments included) must match. The wrappers
// differ by design: "package main" and "func main()" in the README,
// "package loop_test" and "func Example_embedding()" with a doc comment
// here.
func TestREADMEEmbedding(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section, snippet, err := embeddingSnippet(readme)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	readmeImports, readmeBody, err := funcSource("README.md (## Embedding)", snippet, "main")
	if err != nil {
		t.Fatal(err)
	}

	file, example, err := findExample("Example_embedding")
	if err != nil {
		t.Fatal(err)
	}
	exampleImports, exampleBody, err := funcSource(file, example, "Example_embedding")
	if err != nil {
		t.Fatal(err)
	}

	// The README names the file, for readers who go looking.
	if want := "loop/" + file; !bytes.Contains(section, []byte(want)) {
		t.Errorf("README.md's Embedding section does not name %s, where Example_embedding is", want)
	}
	if !slices.Equal(readmeImports, exampleImports) {
		t.Errorf("imports differ:\nREADME.md:  %s\n%s: %s",
			strings.Join(readmeImports, " "), file, strings.Join(exampleImports, " "))
	}
	if d := lineDiff(readmeBody, exampleBody); d != "" {
		t.Errorf("the body of func main in README.md's Embedding section and of Example_embedding in %s differ "+
			"(- README.md, + %s, numbered from the function's opening line):\n%s", file, file, d)
	}
}

// embeddingSnippet returns the README's "## Embedding" section and the
// first ```go block in it.
func embeddingSnippet(readme []byte) (section, code []byte, err error) {
	const heading = "\n## Embedding\n"
	i := bytes.Index(readme, []byte(heading))
	if i < 0 {
		return nil, nil, fmt.Errorf("no %q heading", strings.TrimSpace(heading))
	}
	section = readme[i+len(heading):]
	if j := bytes.Index(section, []byte("\n## ")); j >= 0 {
		section = section[:j]
	}
	const open, end = "\n```go\n", "\n```\n"
	j := bytes.Index(section, []byte(open))
	if j < 0 {
		return nil, nil, fmt.Errorf("no ```go block in the Embedding section")
	}
	code = section[j+len(open):]
	k := bytes.Index(code, []byte(end))
	if k < 0 {
		return nil, nil, fmt.Errorf("the ```go block in the Embedding section is not closed")
	}
	return section, code[:k+1], nil
}

// findExample returns the _test.go file of this package that declares
// the function name, and its source.
func findExample(name string) (file string, src []byte, err error) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		return "", nil, err
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return "", nil, err
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.SkipObjectResolution)
		if err != nil {
			return "", nil, err
		}
		if funcDecl(af, name) != nil {
			return f, src, nil
		}
	}
	return "", nil, fmt.Errorf("no _test.go file here declares func %s", name)
}

// funcSource gofmt-s src and returns its import specs, sorted, each as
// "path" or "name path", and the lines of the body of the top-level
// function name, from its opening to its closing brace.
func funcSource(what string, src []byte, name string) (imports, body []string, err error) {
	src, err = format.Source(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: gofmt: %v", what, err)
	}
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, what, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", what, err)
	}
	for _, im := range af.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if im.Name != nil {
			path = im.Name.Name + " " + path
		}
		imports = append(imports, path)
	}
	slices.Sort(imports)
	fd := funcDecl(af, name)
	if fd == nil || fd.Body == nil {
		return nil, nil, fmt.Errorf("%s: no func %s", what, name)
	}
	from, to := fset.Position(fd.Body.Lbrace).Offset, fset.Position(fd.Body.Rbrace).Offset
	for line := range strings.SplitSeq(string(src[from:to+1]), "\n") {
		body = append(body, strings.TrimRight(line, " \t"))
	}
	return imports, body, nil
}

func funcDecl(f *ast.File, name string) *ast.FuncDecl {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name {
			return fd
		}
	}
	return nil
}

// lineDiff returns a minimal line diff of a and b ("-" lines only in a,
// "+" only in b, with their line numbers), or "" if they are equal.
func lineDiff(a, b []string) string {
	// lcs[i][j]: the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "-%3d: %s\n", i+1, a[i])
			i++
		default:
			fmt.Fprintf(&out, "+%3d: %s\n", j+1, b[j])
			j++
		}
	}
	return out.String()
}
