package natsbroker

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestAppendToken(t *testing.T) {
	tests := []struct {
		topic, token string
	}{
		{"room-1", "room-1"},
		{"Room_A", "Room_A"},
		{"a.b", "a%2Eb"},
		{"*", "%2A"},
		{">", "%3E"},
		{"a b\tc", "a%20b%09c"},
		{"100%", "100%25"},
		{"café", "caf%C3%A9"},
		{"\x00\xff", "%00%FF"},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			if got := string(appendToken(nil, tt.topic)); got != tt.token {
				t.Errorf("appendToken(%q) = %q; want %q", tt.topic, got, tt.token)
			}
			if got, ok := parseToken(tt.token); !ok || got != tt.topic {
				t.Errorf("parseToken(%q) = %q, %v; want %q", tt.token, got, ok, tt.topic)
			}
		})
	}
}

func TestParseTokenRejectsNonCanonical(t *testing.T) {
	for _, tok := range []string{"", "a.b", "%2e", "%41", "%4", "%", "a%zz", "a b", "*", ">", "é"} {
		if got, ok := parseToken(tok); ok {
			t.Errorf("parseToken(%q) = %q, true; want false", tok, got)
		}
	}
}

// FuzzToken: every topic maps to one valid subject token that maps back.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"room-1", "a.b", "café ☕", "%", "\x00", strings.Repeat("x", MaxTopicLen)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		if topic == "" {
			return
		}
		tok := string(appendToken(nil, topic))
		if !server.IsValidLiteralSubject("streamd.t."+tok) || !server.IsValidSubject("streamd.t."+tok) ||
			strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Fatalf("appendToken(%q) = %q: not a valid literal subject token", topic, tok)
		}
		if got, ok := parseToken(tok); !ok || got != topic {
			t.Fatalf("parseToken(appendToken(%q)) = %q, %v", topic, got, ok)
		}
		if got, ok := parseToken(topic); ok && string(appendToken(nil, got)) != topic {
			t.Fatalf("parseToken(%q) = %q, not canonical", topic, got)
		}
	})
}
