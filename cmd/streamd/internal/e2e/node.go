package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NodeDir returns the folder of the Node scripts and their package.json.
func NodeDir() string { return filepath.Join(Dir(), "node") }

// Node returns the path of the node binary after checking that the npm
// packages of NodeDir are installed ("npm ci" there); otherwise it skips
// t (or fails it under CI=true).
func Node(t testing.TB, packages ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "node is not installed (apt-get install nodejs)")
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(NodeDir(), "node_modules", p, "package.json")); err != nil {
			Missing(t, "npm package "+p+" is missing: run `npm ci` in "+NodeDir())
		}
	}
	return node
}
