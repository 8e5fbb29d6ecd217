// Package thirdparty is the root of a nested module of tests that drive
// streamd with clients written by others (fasthttp, gorilla/websocket,
// fasthttp/websocket, coder/websocket), one package per area:
//
//   - loopinterop: loop's HTTP/1.1 with fasthttp's pipelining client;
//   - wsinterop: ws with three WebSocket client libraries, with and
//     without permessage-deflate.
//
// Keeping them in their own go.mod keeps those libraries out of the
// library module's requirements, as coder/websocket does with its own
// internal/thirdparty. The module replaces github.com/streamd/streamd
// with the checkout it sits in (../..), so it always tests this tree.
// Run its tests from the repository root with make test (or
// cd internal/thirdparty && go test -race ./...).
package thirdparty
