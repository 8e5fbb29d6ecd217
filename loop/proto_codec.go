package loop

import (
	"sync"
	"sync/atomic"
)

// For protocol packages: CodecID names a wire encoding of messages
// registered with RegisterCodec.
type CodecID uint8

type encodeFunc = func(dst []byte, m *Publication) []byte

var (
	codecsMu sync.Mutex
	codecs   []encodeFunc // under codecsMu until frozen
	// frozenCodecs is codecs as of the process's first publish or
	// subscription; RegisterCodec panics afterwards, so every message has
	// a frame for every codec a subscriber can have.
	frozenCodecs atomic.Pointer[[]encodeFunc]
)

// For protocol packages: RegisterCodec registers an encoder of messages (the
// SSE event framing, the WebSocket text frame). Every published message is
// encoded once with every registered codec, when it is published, whether or
// not its topic has subscribers of that codec: the frames are part of the
// immutable message (see Publication), shared by every subscriber and by
// resumes from the history. Encoders read the exported fields and Seq, and
// must not modify m. Call from init: RegisterCodec panics once any hub has
// published a message or added a subscriber. At most 4 codecs.
func RegisterCodec(encode func(dst []byte, m *Publication) []byte) CodecID {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	if frozenCodecs.Load() != nil {
		panic("BUG: loop: RegisterCodec after a hub published or subscribed")
	}
	if len(codecs) == maxCodecs {
		panic("BUG: loop: too many codecs")
	}
	codecs = append(codecs, encode)
	return CodecID(len(codecs) - 1)
}

// encoders returns the registered codecs, freezing the list on first use.
func encoders() []encodeFunc {
	if p := frozenCodecs.Load(); p != nil {
		return *p
	}
	codecsMu.Lock()
	defer codecsMu.Unlock()
	if frozenCodecs.Load() == nil {
		list := codecs[:len(codecs):len(codecs)]
		frozenCodecs.Store(&list)
	}
	return *frozenCodecs.Load()
}

// For protocol packages: Seq is the message's position in its topic, from 1.
func (m *Publication) Seq() uint64 { return m.seq }

// For protocol packages: Frame returns the message encoded by codec, shared
// by every subscriber: do not modify it. It is never nil for a registered
// codec.
func (m *Publication) Frame(codec CodecID) []byte { return m.frames[codec] }
