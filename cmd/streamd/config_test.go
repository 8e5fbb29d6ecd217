package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseConfig(-h) error = %v; want flag.ErrHelp", err)
	}
	usage := out.String()
	for _, want := range []string{
		"streamd serves long-lived HTTP connections", // the description
		"Usage:\n  streamd [flags]",
		"-addr address", "STREAMD_ADDR", `(default ":8080")`,
		"-loops number", "STREAMD_LOOPS",
		"-log-level level", "STREAMD_LOG_LEVEL",
		"-shutdown-timeout duration", "STREAMD_SHUTDOWN_TIMEOUT",
		"-max-conns-per-ip number", "STREAMD_MAX_CONNS_PER_IP",
		"-read-timeout duration", "STREAMD_READ_TIMEOUT",
		"-access-log", "STREAMD_ACCESS_LOG",
		"-nats urls", "STREAMD_NATS",
		"-nats-replicas number", "STREAMD_NATS_REPLICAS", `(default "1")`,
		"-version",
		"Examples:\n  streamd\n",
		"streamd -addr 127.0.0.1:9000 -loops 2 -access-log",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
}

func TestParseConfigAccessLog(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string // STREAMD_ACCESS_LOG
		want    bool
		wantErr string
	}{
		{name: "off by default", want: false},
		{name: "flag", args: []string{"-access-log"}, want: true},
		{name: "flag false", args: []string{"-access-log=false"}, env: "true", want: false},
		{name: "env true", env: "true", want: true},
		{name: "env 1", env: "1", want: true},
		{name: "env false", env: "false", want: false},
		{name: "bad env", env: "yes please", wantErr: `invalid STREAMD_ACCESS_LOG "yes please"`},
		{name: "flag wins over bad env", args: []string{"-access-log"}, env: "yes please", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "STREAMD_ACCESS_LOG" {
					return tt.env
				}
				return ""
			}
			cfg, err := parseConfig(tt.args, getenv, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig(%q) with STREAMD_ACCESS_LOG=%q error = %v; want %q", tt.args, tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.accessLog != tt.want {
				t.Errorf("parseConfig(%q) with STREAMD_ACCESS_LOG=%q = accessLog %v, %v; want %v, nil", tt.args, tt.env, cfg.accessLog, err, tt.want)
			}
		})
	}
}

func TestParseConfigVersion(t *testing.T) {
	// -version wins over other flags, even invalid ones: it only prints.
	for _, args := range [][]string{{"-version"}, {"-loops", "lots", "-version"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); !errors.Is(err, errVersion) {
			t.Errorf("parseConfig(%q) error = %v; want errVersion", args, err)
		}
	}
}

func TestVersionText(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/streamd/streamd", Version: "v0.0.0-20261201195912-0b069b2203ef+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0b069b2203ef7db1b30b0eb08790db67498a38f8"},
			{Key: "vcs.time", Value: "2026-12-01T19:59:12Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{name: "VCS stamped", bi: stamped, ok: true, want: "streamd v0.0.0-20261201195912-0b069b2203ef+dirty go1.26.8 " + platform + "\n" +
			"module:   github.com/streamd/streamd\n" +
			"revision: 0b069b2203ef7db1b30b0eb08790db67498a38f8\n" +
			"time:     2026-12-01T19:59:12Z\n" +
			"modified: true\n"},
		{name: "no VCS", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/streamd/streamd", Version: "(devel)"}}, ok: true,
			want: "streamd (devel) go1.26.8 " + platform + "\n" +
				"module:   github.com/streamd/streamd\n" +
				"revision: unknown (built without VCS information)\n"},
		{name: "no build info", ok: false, want: "streamd (no build information) " + runtime.Version() + " " + platform + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionText(tt.bi, tt.ok); got != tt.want {
				t.Errorf("versionText() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestBinaryVersionAndHelp runs the real binary: -version prints its build
// information on stdout and -h the usage on stderr, both exiting 0; a bad
// flag exits 2.
func TestBinaryVersionAndHelp(t *testing.T) {
	bin := binaryPath(t)
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		var o, e bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Fatalf("streamd %q: %v", args, err)
		}
		return o.String(), e.String(), code
	}

	out, errOut, code := run("-version")
	if code != 0 || !strings.HasPrefix(out, "streamd ") || !strings.Contains(out, runtime.Version()) ||
		!strings.Contains(out, "\nrevision: ") || errOut != "" {
		t.Errorf("streamd -version = exit %d, stdout %q, stderr %q; want exit 0 and the build information on stdout", code, out, errOut)
	}
	out, errOut, code = run("-h")
	if code != 0 || out != "" || !strings.Contains(errOut, "Usage:") || !strings.Contains(errOut, "Examples:") {
		t.Errorf("streamd -h = exit %d, stdout %q, stderr %q; want exit 0 and the usage on stderr", code, out, errOut)
	}
	_, errOut, code = run("-no-such-flag")
	if code != 2 || !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") {
		t.Errorf("streamd -no-such-flag = exit %d, stderr %q; want exit 2 and the error", code, errOut)
	}
}
