package loop

import "github.com/streamd/streamd/httpcodec"

// appendResponse appends a complete fixed-length response (the one path
// of Ctx and Deferred): the head h describes, built by httpcodec, and the
// body (sbody, then body) unless the status or a HEAD request rules one
// out. Text's body stays a string: converting it would copy it.
func appendResponse(dst []byte, h *httpcodec.ResponseHead, sbody string, body []byte) []byte {
	dst = httpcodec.AppendResponseHead(dst, h, len(sbody)+len(body))
	if h.HasContent() {
		dst = append(dst, sbody...)
		dst = append(dst, body...)
	}
	return dst
}

// appendHeaderLine appends "name: value\r\n" to dst when both are valid
// (httpcodec.ValidHeaderName, ValidHeaderValue); an invalid one is dropped
// rather than risk response splitting.
func appendHeaderLine(dst []byte, name, value string) []byte {
	if !httpcodec.ValidHeaderName(name) || !httpcodec.ValidHeaderValue(value) {
		return dst
	}
	return httpcodec.AppendHeader(dst, name, value)
}
