package chunked

import (
	"strconv"

	"github.com/streamd/streamd/httpcodec"
)

// AppendChunk appends p as one chunk: its size in hex, CRLF, the data,
// CRLF (RFC 9112, Section 7.1). An empty p appends nothing: a zero-length
// chunk would end the body ("it looks like EOF", as net/http puts it).
func AppendChunk(dst, p []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(len(p)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, p...)
	return append(dst, '\r', '\n')
}

// Trailer is one trailer field sent after the last chunk.
type Trailer struct{ Name, Value string }

// AppendLastChunk appends the terminating zero-length chunk, the trailer
// fields and the final CRLF (RFC 9112, Section 7.1.2). Invalid trailer
// names are skipped and CR/LF in values neutralised by
// httpcodec.AppendHeader.
func AppendLastChunk(dst []byte, trailers []Trailer) []byte {
	dst = append(dst, '0', '\r', '\n')
	for _, t := range trailers {
		dst = httpcodec.AppendHeader(dst, t.Name, t.Value)
	}
	return append(dst, '\r', '\n')
}
