package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/harness"
)

// TestClusterSmoke runs every cluster scenario at smoke size (200
// subscribers over two nodes, 1 s of publishing, 600 streams over three
// SO_REUSEPORT nodes; ≈ 15 s) with real processes: nats-server, the
// streamd benchmark server with -nats, the load clients. It checks that each
// run worked and delivered everything; it asserts no timings. Without a
// nats-server binary (it is built from benchmarks/go.mod's tool
// requirement, which needs the module cache or the proxy) it skips, except
// in CI (CI=true), where that is a failure.
func TestClusterSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server, streamd and load client processes")
	}
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	env, err := setup(root, map[string]bool{"streamd": true}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(env.tmp)
	if env.bins["streamd"] == "" {
		t.Fatalf("streamd did not build: %s", env.buildErr["streamd"])
	}
	natsBin, err := buildNATS(root, env.tmp)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot build nats-server (%s): %v", natsPkg, err)
		}
		t.Skipf("skipping the cluster smoke run: cannot build nats-server (%s; go mod download in benchmarks/ fetches it): %v", natsPkg, firstLine(err.Error()))
	}
	start := time.Now()
	rep := runCluster(env, natsBin, clusterSmokePlan, nil, nil)
	t.Logf("cluster smoke run took %s", time.Since(start).Round(time.Millisecond))
	seen := map[string]bool{}
	for _, r := range rep.Runs {
		seen[r.Scenario] = true
		name := r.Scenario + ": " + r.Config
		if r.Err != "" {
			t.Errorf("%s: %s", name, r.Err)
			continue
		}
		if d, ok := r.Figures["delivered"]; ok && d != 100 {
			t.Errorf("%s: delivered %.2f%%, want 100%%; notes: %s", name, d, strings.Join(r.Notes, "; "))
		}
		switch r.Scenario {
		case clusterFanout, clusterC45k:
			if _, ok := r.Figures["delivered"]; !ok {
				t.Errorf("%s: no delivered figure", name)
			}
		case clusterPublish:
			if r.Figures["pps"] <= 0 {
				t.Errorf("%s: no acknowledged publish", name)
			}
		}
		if r.Scenario == clusterC45k && r.Figures["held"] != r.Figures["conns"] {
			t.Errorf("%s: nodes hold %v streams, %v opened", name, r.Figures["held"], r.Figures["conns"])
		}
	}
	for _, sc := range clusterNames {
		if !seen[sc] {
			t.Errorf("scenario %s did not run", sc)
		}
	}
	md := renderCluster(rep, "")
	if !strings.HasPrefix(md, clusterStart) || !strings.Contains(md, clusterEnd) || !strings.Contains(md, "p99") {
		t.Errorf("rendered section lacks its markers or the fan-out table:\n%s", md)
	}
}

// TestSpliceCluster checks that the cluster section replaces its old self
// and that a -full report keeps it (clusterSection).
func TestSpliceCluster(t *testing.T) {
	sec := func(s string) string { return clusterStart + "\n" + s + "\n" + clusterEnd + "\n" }
	doc := []byte("# results\n\nbody\n")
	got := spliceCluster(doc, sec("one"))
	if want := "# results\n\nbody\n\n" + sec("one"); string(got) != want {
		t.Fatalf("append: got %q, want %q", got, want)
	}
	got2 := spliceCluster(append(got, "tail\n"...), sec("two"))
	if want := "# results\n\nbody\n\n" + sec("two") + "tail\n"; string(got2) != want {
		t.Fatalf("replace: got %q, want %q", got2, want)
	}
	if cs := clusterSection(got2); cs != sec("two") {
		t.Fatalf("clusterSection = %q, want %q", cs, sec("two"))
	}
	if cs := clusterSection(doc); cs != "" {
		t.Fatalf("clusterSection of a doc without one = %q", cs)
	}
}
