package wsframe

import (
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"
)

// deflateTail is the empty stored block that ends a sync flush. RFC 7692,
// Section 7.2.1 strips it from every compressed message; the receiver
// appends it back before inflating (Section 7.2.2).
var deflateTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// Flate writers are big (klauspost v1.20.3 allocates about 800 KB for a
// level-1 writer, 1.1–1.4 MB at levels 2–9, 750 KB windowed: hash tables
// plus a 64 KiB block buffer), so sockets without context takeover borrow
// one per message. A writer's level and window are fixed at creation, hence one
// pool per level (window 15) and one per smaller window (bits 8–14, which
// always use the windowed level-5 encoder).
var (
	writerPools       [10]sync.Pool // index: level 1–9
	windowWriterPools [16]sync.Pool // index: window bits 8–14
	readerPool        sync.Pool     // io.ReadCloser implementing flate.Resetter
)

func getWriter(level, windowBits int, w io.Writer) *flate.Writer {
	pool := &writerPools[level]
	if windowBits < 15 {
		pool = &windowWriterPools[windowBits]
	}
	if fw, ok := pool.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	var fw *flate.Writer
	var err error
	if windowBits < 15 {
		fw, err = flate.NewWriterWindow(w, 1<<windowBits)
	} else {
		fw, err = flate.NewWriter(w, level)
	}
	if err != nil {
		panic("BUG: wsframe: flate writer: " + err.Error())
	}
	return fw
}

func putWriter(level, windowBits int, fw *flate.Writer) {
	fw.Reset(nil) // drop the reference to the destination
	if windowBits < 15 {
		windowWriterPools[windowBits].Put(fw)
	} else {
		writerPools[level].Put(fw)
	}
}

// appendWriter is an io.Writer appending to a slice the caller owns.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Compressor compresses outgoing messages for one connection as agreed in
// [DeflateParams] (RFC 7692, Section 7.2.1).
//
// Memory: with server context takeover the Compressor keeps its flate
// writer from the first compressed message until [Compressor.Reset]:
// about 800 KB at level 1 and up to 1.4 MB at level 9 per socket with
// klauspost/compress v1.20.3. That does not scale to 10k sockets; prefer
// server_no_context_takeover ([DeflateConfig.ServerNoContextTakeover]),
// under which the Compressor holds nothing between messages: writers come
// from a sync.Pool for the duration of one call.
//
// klauspost's fast levels (1–6 and windowed) send a flush under 128 bytes
// as a stored or Huffman-only block and drop their history, so context
// takeover only pays off for messages of 128 bytes and more.
//
// # Concurrency
//
// A Compressor is not safe for concurrent use. With context takeover its
// output depends on every earlier message, so messages must be compressed
// in the order they are sent. It must not be copied after first use.
type Compressor struct {
	_  noCopy
	p  DeflateParams
	fw *flate.Writer // kept only with context takeover
	w  appendWriter
}

// Init prepares c for a connection that agreed p. It allocates nothing.
func (c *Compressor) Init(p DeflateParams) {
	c.Reset()
	p.ServerMaxWindowBits = clampBits(p.ServerMaxWindowBits)
	if p.Level < 1 || p.Level > 9 {
		p.Level = 1
	}
	if p.Threshold == 0 {
		p.Threshold = DefaultCompressionThreshold
	}
	c.p = p
}

// Reset drops the compression context and releases the flate writer.
func (c *Compressor) Reset() {
	if c.fw != nil {
		putWriter(c.p.Level, c.p.ServerMaxWindowBits, c.fw)
		c.fw = nil
	}
	c.w.b = nil
}

// ShouldCompress reports whether a payload of n bytes is worth compressing
// under the configured threshold.
func (c *Compressor) ShouldCompress(n int) bool { return n >= c.p.Threshold }

// AppendCompressed appends payload compressed as one message (deflate
// data, sync-flushed, with the 0x00 0x00 0xff 0xff tail removed) to dst.
func (c *Compressor) AppendCompressed(dst, payload []byte) []byte {
	fw := c.fw
	if fw == nil {
		fw = getWriter(c.p.Level, c.p.ServerMaxWindowBits, &c.w)
	}
	c.w.b = dst
	// Writing to appendWriter cannot fail, so neither can these.
	fw.Write(payload)
	fw.Flush()
	dst = c.w.b
	c.w.b = nil
	if n := len(dst); n >= 4 && [4]byte(dst[n-4:]) == deflateTail {
		dst = dst[:n-4]
	}
	if c.p.ServerNoContextTakeover {
		putWriter(c.p.Level, c.p.ServerMaxWindowBits, fw)
	} else {
		c.fw = fw
	}
	return dst
}

// AppendMessage appends payload as one unfragmented data frame of type op
// (OpText or OpBinary): compressed with RSV1 set when it reaches the
// threshold, plain otherwise. It compresses straight into dst behind a
// reserved header and then slides the data down if the header turned out
// shorter, so it needs no scratch buffer.
func (c *Compressor) AppendMessage(dst []byte, op Opcode, payload []byte) []byte {
	if !c.ShouldCompress(len(payload)) {
		return AppendFrame(dst, op, true, false, payload)
	}
	start := len(dst)
	dst = append(dst, make([]byte, 10)...) // reserved header, no allocation when dst has room
	dst = c.AppendCompressed(dst, payload)
	n := len(dst) - start - 10
	hl := frameHeaderLen(n)
	AppendFrameHeader(dst[start:start], op, true, true, n)
	if hl < 10 {
		copy(dst[start+hl:], dst[start+10:])
		dst = dst[:start+hl+n]
	}
	return dst
}

// sliceReader feeds a compressed message and then the deflate tail to a
// flate reader. It implements io.ByteReader, so flate reads it directly
// instead of wrapping it in a bufio.Reader.
type sliceReader struct {
	p    []byte
	tail int // bytes of deflateTail already read
}

func (r *sliceReader) Read(b []byte) (int, error) {
	if len(r.p) > 0 {
		n := copy(b, r.p)
		r.p = r.p[n:]
		return n, nil
	}
	if r.tail == len(deflateTail) {
		return 0, io.EOF
	}
	n := copy(b, deflateTail[r.tail:])
	r.tail += n
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if len(r.p) > 0 {
		c := r.p[0]
		r.p = r.p[1:]
		return c, nil
	}
	if r.tail == len(deflateTail) {
		return 0, io.EOF
	}
	c := deflateTail[r.tail]
	r.tail++
	return c, nil
}

func getReader() io.ReadCloser {
	if fr, ok := readerPool.Get().(io.ReadCloser); ok {
		return fr
	}
	return flate.NewReader(nil)
}

// inflate appends the decompression of the message src (tail stripped) to
// dst, with dict as the preset window (context takeover). It fails with the
// 1009 error as soon as the output would exceed limit bytes, so a
// decompression bomb costs at most limit bytes of memory, and with the 1007
// error on corrupt data.
func inflate(dst, src, dict []byte, limit int64, r *sliceReader) ([]byte, error) {
	*r = sliceReader{p: src}
	fr := getReader()
	defer readerPool.Put(fr)
	fr.(flate.Resetter).Reset(r, dict)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			if int64(len(dst)-start) > limit {
				return dst, errTooBig
			}
			// Grow geometrically, but never past limit+1: one byte beyond
			// the limit is enough to detect a bomb.
			grow := max(cap(dst)-start, 512)
			grow = int(min(int64(grow), limit+1-int64(len(dst)-start)))
			dst = slices.Grow(dst, grow)
		}
		n, err := fr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limit {
			return dst, errTooBig
		}
		switch err {
		case nil:
			continue
		case io.EOF:
			// A final block (BFINAL=1) ended the stream; RFC 7692,
			// Section 7.2.3.3 allows it.
			return dst, nil
		case io.ErrUnexpectedEOF:
			// The normal end: the input, including the appended tail,
			// ran out at a block boundary after a sync flush.
			if len(r.p) == 0 && r.tail == len(deflateTail) {
				return dst, nil
			}
		}
		return dst, errInflate
	}
}
