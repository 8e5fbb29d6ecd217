// Package peer holds what every benchmark server shares: the endpoint
// defaults and argument parsing, and a channel-based topic hub of the
// kind a competent fasthttp or net/http user writes (one goroutine per
// subscriber draining its own queue).
package peer

import (
	"strconv"
	"sync"
)

// Defaults of GET /chunked and of the topic parameter.
const (
	DefaultSize  = 64 << 20
	DefaultChunk = 16 << 10
	MaxChunk     = 16 << 20
	DefaultTopic = "bench"
	// MaxUpload is the POST /upload body limit of the peers that set one
	// themselves (net/http's http.MaxBytesReader, nbio): streamd's parser
	// default. fasthttp keeps its own default (4 MiB).
	MaxUpload = 1 << 20
	// SubQueue is how many messages a subscriber buffers before it is
	// considered slow and misses messages.
	SubQueue = 64
)

// SizeArgs parses the size and chunk query values of GET /chunked,
// falling back to the defaults for missing or invalid values.
func SizeArgs(sizeS, chunkS string) (size, chunk int) {
	size, chunk = DefaultSize, DefaultChunk
	if v, err := strconv.Atoi(sizeS); err == nil && v >= 0 {
		size = v
	}
	if v, err := strconv.Atoi(chunkS); err == nil && v > 0 && v <= MaxChunk {
		chunk = v
	}
	return size, chunk
}

// Topic returns t, or DefaultTopic when t is empty.
func Topic(t string) string {
	if t == "" {
		return DefaultTopic
	}
	return t
}

// Sub is one subscriber's queue.
type Sub chan []byte

// Hub is a set of topics, each a set of subscriber queues behind a mutex.
type Hub struct {
	mu     sync.Mutex
	topics map[string]map[Sub]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{topics: make(map[string]map[Sub]struct{})} }

// Subscribe adds a subscriber to topic.
func (h *Hub) Subscribe(topic string) Sub {
	s := make(Sub, SubQueue)
	h.mu.Lock()
	set := h.topics[topic]
	if set == nil {
		set = make(map[Sub]struct{})
		h.topics[topic] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Unsubscribe removes s from topic.
func (h *Hub) Unsubscribe(topic string, s Sub) {
	h.mu.Lock()
	delete(h.topics[topic], s)
	h.mu.Unlock()
}

// Publish hands msg to every subscriber of topic without blocking; a
// subscriber whose queue is full misses the message.
func (h *Hub) Publish(topic string, msg []byte) {
	h.mu.Lock()
	for s := range h.topics[topic] {
		select {
		case s <- msg:
		default:
		}
	}
	h.mu.Unlock()
}
