// Command rawsock is the ceiling for the chunked scenario: a plain blocking TCP
// server (goroutine per conn, no HTTP library) that writes exactly the bytes of
// a chunked /chunked response — head, then "<hex>\r\n<data>\r\n" per chunk, up to
// 256 KiB of frames per write(2), then "0\r\n\r\n" — so the same client measures it. It also
// answers /hello so the driver can tell it is up. Nothing else.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"log"
	"net"
	"net/url"
	"runtime"
	"strconv"
)

const (
	defaultSize  = 64 << 20
	defaultChunk = 16 << 10
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "parallelism (GOMAXPROCS)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	var batch []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		fields := bytes.Fields(line)
		if len(fields) < 2 {
			return
		}
		target := string(fields[1])
		for { // skip headers; requests have no body
			h, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(bytes.TrimRight(h, "\r\n")) == 0 {
				break
			}
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		switch u.Path {
		case "/hello":
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")); err != nil {
				return
			}
		case "/chunked":
			size, chunk := defaultSize, defaultChunk
			if v, err := strconv.Atoi(u.Query().Get("size")); err == nil && v >= 0 {
				size = v
			}
			if v, err := strconv.Atoi(u.Query().Get("chunk")); err == nil && v > 0 && v <= 16<<20 {
				chunk = v
			}
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")); err != nil {
				return
			}
			// As fast as plain write(2) goes: up to 256 KiB of ready-made
			// frames per call.
			one := appendFrame(nil, chunk)
			k := max(1, (256<<10)/len(one))
			batch = batch[:0]
			for range k {
				batch = append(batch, one...)
			}
			nFull, tail := size/chunk, size%chunk
			for nFull > 0 {
				m := min(nFull, k)
				if _, err := c.Write(batch[:m*len(one)]); err != nil {
					return
				}
				nFull -= m
			}
			end := []byte("0\r\n\r\n")
			if tail > 0 {
				end = append(appendFrame(nil, tail), end...)
			}
			if _, err := c.Write(end); err != nil {
				return
			}
		default:
			c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
		}
	}
}

// appendFrame appends one chunk of n 'x' bytes with its framing.
func appendFrame(dst []byte, n int) []byte {
	dst = strconv.AppendUint(dst, uint64(n), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, bytes.Repeat([]byte{'x'}, n)...)
	return append(dst, '\r', '\n')
}
